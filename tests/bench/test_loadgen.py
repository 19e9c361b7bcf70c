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
