import asyncio
import math

import anyio
import anyio.lowlevel
import pytest
from bench.loadgen import MAX_CONSECUTIVE_ERRORS, LoadSpec, Worker, run_load


class Counting:
    """A worker that succeeds, fails on chosen steps, and remembers its life cycle."""

    def __init__(self, fail_steps: set[int] | None = None, fail_setup: bool = False) -> None:
        self.steps = 0
        self.closed = False
        self.fail_steps = fail_steps or set()
        self.fail_setup = fail_setup

    async def setup(self) -> None:
        if self.fail_setup:
            raise RuntimeError("no token")

    async def step(self) -> None:
        self.steps += 1
        await anyio.lowlevel.checkpoint()
        if self.steps in self.fail_steps:
            raise RuntimeError(f"step {self.steps}")

    async def close(self) -> None:
        self.closed = True


def test_spec_is_validated() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        LoadSpec(concurrency=0)
    with pytest.raises(ValueError, match="duration"):
        LoadSpec(duration_s=0)
    with pytest.raises(ValueError, match="max_requests"):
        LoadSpec(max_requests=0)
    with pytest.raises(ValueError, match="warm-up"):
        LoadSpec(warmup_s=-1)


@pytest.mark.anyio
async def test_request_budget_bounds_the_measured_operations() -> None:
    workers = [Counting() for _ in range(4)]
    spec = LoadSpec(concurrency=4, duration_s=30, max_requests=50, warmup_s=0)
    outcome = await run_load(lambda i: workers[i], spec)
    assert len(outcome.latencies_ms) == 50
    assert outcome.errors == 0
    assert sum(w.steps for w in workers) == 50
    assert all(w.closed for w in workers)
    assert 0 < outcome.elapsed_s < 30


@pytest.mark.anyio
async def test_duration_bounds_the_run_and_warmup_is_not_recorded() -> None:
    workers = [Counting() for _ in range(2)]
    spec = LoadSpec(concurrency=2, duration_s=0.1, warmup_s=0.05)
    outcome = await run_load(lambda i: workers[i], spec)
    assert 0.1 <= outcome.elapsed_s < 1
    assert 0 < len(outcome.latencies_ms) < sum(w.steps for w in workers)


@pytest.mark.anyio
async def test_errors_are_counted_and_a_broken_worker_stops() -> None:
    flaky = Counting(fail_steps={2})
    broken = Counting(fail_steps=set(range(1, 1000)))
    workers: list[Worker] = [flaky, broken]
    spec = LoadSpec(concurrency=2, duration_s=30, max_requests=40, warmup_s=0)
    outcome = await run_load(lambda i: workers[i], spec)
    assert broken.steps == MAX_CONSECUTIVE_ERRORS
    assert outcome.errors == MAX_CONSECUTIVE_ERRORS + 1
    assert len(outcome.latencies_ms) == 40 - outcome.errors
    assert outcome.error_samples[0].startswith("RuntimeError: step ")
    assert len(outcome.error_samples) == 5


@pytest.mark.anyio
async def test_failed_setup_is_an_error_and_the_worker_sits_out() -> None:
    ok, bad = Counting(), Counting(fail_setup=True)
    workers = [ok, bad]
    spec = LoadSpec(concurrency=2, duration_s=30, max_requests=10, warmup_s=0)
    outcome = await run_load(lambda i: workers[i], spec)
    assert outcome.errors == 1
    assert outcome.error_samples == ["RuntimeError: no token"]
    assert (ok.steps, bad.steps) == (10, 0)
    assert bad.closed


@pytest.mark.anyio
async def test_nothing_measured_when_every_setup_fails() -> None:
    worker = Counting(fail_setup=True)
    outcome = await run_load(lambda i: worker, LoadSpec(concurrency=1, warmup_s=0))
    assert outcome.latencies_ms == []
    assert outcome.elapsed_s == 0
    assert worker.closed


@pytest.mark.anyio
async def test_meters_cover_only_the_measured_time() -> None:
    ticks = iter(range(100))
    readings: list[int] = []

    def meter() -> float:
        readings.append(next(ticks))
        return float(readings[-1] * 10)

    worker = Counting()
    spec = LoadSpec(concurrency=1, duration_s=30, max_requests=3, warmup_s=0.01)
    outcome = await run_load(lambda i: worker, spec, {"cpu": meter})
    assert readings == [0, 1]  # read once when measuring starts, once when it ends
    assert outcome.meters == {"cpu": 10.0}


class Timed:
    """A worker whose steps take ``seconds`` (``stalls``: step number -> a longer time)."""

    def __init__(self, seconds: float = 0.0, stalls: dict[int, float] | None = None) -> None:
        self.seconds = seconds
        self.stalls = stalls or {}
        self.steps = 0

    async def setup(self) -> None:
        pass

    async def step(self) -> None:
        self.steps += 1
        await asyncio.sleep(self.stalls.get(self.steps, self.seconds))

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("rate", [0, -5, math.inf, math.nan])
def test_a_rate_must_be_a_positive_number(rate: float) -> None:
    with pytest.raises(ValueError, match="rate"):
        LoadSpec(rate=rate)


@pytest.mark.anyio
async def test_open_loop_sends_at_the_rate_asked_and_on_time() -> None:
    workers = [Timed() for _ in range(3)]
    spec = LoadSpec(concurrency=3, duration_s=0.25, warmup_s=0.05, rate=200)
    outcome = await run_load(lambda i: workers[i], spec)
    # 200/s for 0.25 s: operations 0..49 are due before the deadline; warm-up is not kept.
    assert len(outcome.latencies_ms) + outcome.unsent == 50
    assert len(outcome.latencies_ms) >= 48
    assert sum(w.steps for w in workers) > len(outcome.latencies_ms)
    assert 0.25 <= outcome.elapsed_s < 0.5
    lags = sorted(outcome.send_lags_ms)
    assert len(lags) == len(outcome.latencies_ms)
    assert lags[0] >= 0  # never early
    assert lags[len(lags) // 2] < 1  # and, spinning the last stretch, not late either


@pytest.mark.anyio
async def test_open_loop_counts_a_stall_in_every_request_due_during_it() -> None:
    # 100/s on one connection; the third request takes 100 ms. A closed loop records one
    # slow request; the open loop also counts the wait of the ones due meanwhile.
    closed = await run_load(
        lambda i: Timed(stalls={3: 0.1}), LoadSpec(concurrency=1, duration_s=0.5, warmup_s=0)
    )
    assert sum(ms > 40 for ms in closed.latencies_ms) == 1
    spec = LoadSpec(concurrency=1, duration_s=0.5, warmup_s=0, rate=100)
    paced = await run_load(lambda i: Timed(stalls={3: 0.1}), spec)
    assert sum(ms > 40 for ms in paced.latencies_ms) >= 5
    assert max(paced.latencies_ms) >= 100
    assert len(paced.latencies_ms) + paced.unsent == 50


@pytest.mark.anyio
async def test_an_overloaded_server_does_not_stretch_an_open_loop_run() -> None:
    # 1,000/s asked of one connection that manages about 200/s: the wait grows with every
    # request, and what could not be sent by the deadline is counted, not sent later.
    spec = LoadSpec(concurrency=1, duration_s=0.2, warmup_s=0, rate=1000)
    outcome = await run_load(lambda i: Timed(0.005), spec)
    assert outcome.elapsed_s < 0.3
    assert outcome.unsent > 100
    assert len(outcome.latencies_ms) + outcome.unsent == 200
    assert outcome.latencies_ms[-1] > outcome.latencies_ms[0] + 50


@pytest.mark.anyio
async def test_the_request_budget_bounds_an_open_loop_run() -> None:
    workers = [Timed() for _ in range(2)]
    spec = LoadSpec(concurrency=2, duration_s=30, max_requests=10, warmup_s=0, rate=1000)
    outcome = await run_load(lambda i: workers[i], spec)
    assert (len(outcome.latencies_ms), outcome.unsent, outcome.errors) == (10, 0, 0)
    assert sum(w.steps for w in workers) == 10
    assert outcome.elapsed_s < 1


def test_operations_due_before_the_deadline_count_as_the_schedule_takes_them() -> None:
    """0.2 s at 1,000/s is 200 operations whatever the clock reads: at 12345.678 the
    float difference is a hair above 0.2 and a bare ceil said 201 (one phantom unsent)."""
    from bench.loadgen import _Budget, _Schedule

    for start in (12345.678, 777.777, 987654.321, 0.0):
        schedule = _Schedule(start, 1000, start + 0.2, _Budget(None))
        assert schedule.due_before_deadline(None) == 200
        assert schedule.due_before_deadline(50) == 50
