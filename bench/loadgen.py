"""A bounded load generator: N workers, each one connection, until a deadline or a request
budget runs out, in one of two modes.

- Closed loop (the default): each worker issues its next operation as soon as the previous
  one finished, as ``wrk`` and ``hey`` do. It measures the throughput the server sustains
  at that concurrency, and latency under that load.
- Open loop (``rate``): operations are due at a fixed rate across all workers, the k-th at
  ``start + k / rate``, and the next free worker sends the next due one. Latency counts
  from the scheduled send time (as ``wrk2`` does), so a stall shows up in every operation
  that was due during it, not only in the one that stalled ("coordinated omission").
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

# A worker whose operations keep failing is broken (a refresh chain that lost its token);
# stop it instead of spinning.
MAX_CONSECUTIVE_ERRORS = 5
# The event loop's timers wake up to a millisecond late (epoll and libuv count whole
# milliseconds), which at 1,000/s would be most of the latency measured. So an open-loop
# worker sleeps until this close to its operation's time, then yields in a loop until it
# is due: exact to a few microseconds, at the cost of keeping the generator's core busy.
SPIN_S = 0.002


class Worker(Protocol):
    """One simulated client. ``step`` is the measured operation and raises on failure."""

    async def setup(self) -> None: ...

    async def step(self) -> None: ...

    async def close(self) -> None: ...


T = TypeVar("T")
WorkerFactory = Callable[[int], Worker]
Meter = Callable[[], float]  # a counter sampled when measuring starts and ends (CPU time)


@dataclass(frozen=True, slots=True)
class LoadSpec:
    concurrency: int = 16
    duration_s: float = 5.0
    max_requests: int | None = None  # measured operations, across all workers
    warmup_s: float = 1.0
    rate: float | None = None  # operations per second across all workers (None: closed loop)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.duration_s <= 0:
            raise ValueError("duration must be positive")
        if self.max_requests is not None and self.max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        if self.warmup_s < 0:
            raise ValueError("warm-up must not be negative")
        if self.rate is not None and not (0 < self.rate < math.inf):
            raise ValueError("rate must be a positive number of requests per second")


@dataclass(slots=True)
class LoadOutcome:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0
    error_samples: list[str] = field(default_factory=list)
    meters: dict[str, float] = field(default_factory=dict)  # growth during the measured time
    # Open loop only: how late each operation was sent after its scheduled time (the
    # generator's own lateness plus any wait for a free worker), and how many operations
    # came due before the deadline but were never sent (every worker was busy).
    send_lags_ms: list[float] = field(default_factory=list)
    unsent: int = 0

    def record_error(self, exc: BaseException) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{type(exc).__name__}: {exc}")


class _Budget:
    """Operations left to start; unlimited when ``None``. Safe without locks: one event loop."""

    def __init__(self, limit: int | None) -> None:
        self._left = limit

    def take(self) -> bool:
        if self._left is None:
            return True
        if self._left <= 0:
            return False
        self._left -= 1
        return True


class _Schedule:
    """Open loop: operation k is due at ``start + k / rate``; a free worker takes the next
    one. Nothing is taken once the deadline has passed, even when due earlier: an
    overloaded server does not stretch the run (the operations left are ``unsent``)."""

    def __init__(self, start: float, rate: float, until: float, budget: _Budget) -> None:
        self.start, self.rate, self.until = start, rate, until
        self._budget = budget
        self.taken = 0

    def take(self) -> float | None:
        """The time the next operation is due, or None when the run is over."""
        due = self.start + self.taken / self.rate
        if due >= self.until or time.perf_counter() >= self.until or not self._budget.take():
            return None
        self.taken += 1
        return due

    def due_before_deadline(self, limit: int | None) -> int:
        """How many operations fall due before the deadline: every k with ``start + k / rate
        < until``, computed as ``take`` computes due times (``ceil((until - start) * rate)``
        counts one too many when rounding leaves the product just above a whole number)."""
        count = math.floor((self.until - self.start) * self.rate)
        while self.start + count / self.rate < self.until:
            count += 1
        while count and self.start + (count - 1) / self.rate >= self.until:
            count -= 1
        return count if limit is None else min(count, limit)


async def _sleep_until(when: float) -> None:
    delay = when - time.perf_counter()
    if delay > SPIN_S:
        await asyncio.sleep(delay - SPIN_S)
    while time.perf_counter() < when:  # noqa: ASYNC110 - the spin of SPIN_S, on purpose
        await asyncio.sleep(0)


async def _timed(worker: Worker, since: float, outcome: LoadOutcome | None) -> bool:
    """One step, its latency counted from ``since`` into ``outcome`` (``None``: warm-up,
    not recorded); False when it failed."""
    try:
        await worker.step()
    except Exception as exc:  # any failure counts as an error; the run goes on
        if outcome is not None:
            outcome.record_error(exc)
        return False
    if outcome is not None:
        outcome.latencies_ms.append((time.perf_counter() - since) * 1000)
    return True


async def _drive(
    worker: Worker, until: float, budget: _Budget, outcome: LoadOutcome | None
) -> None:
    """Closed loop: run steps back to back until ``until``."""
    consecutive = 0
    while time.perf_counter() < until and (outcome is None or budget.take()):
        if await _timed(worker, time.perf_counter(), outcome):
            consecutive = 0
        else:
            consecutive += 1
            if consecutive >= MAX_CONSECUTIVE_ERRORS:
                return


async def _pace(worker: Worker, schedule: _Schedule, outcome: LoadOutcome | None) -> None:
    """Open loop: take the next due operation, send it on time, time it from its due time."""
    consecutive = 0
    while (due := schedule.take()) is not None:
        await _sleep_until(due)
        if outcome is not None:
            outcome.send_lags_ms.append((time.perf_counter() - due) * 1000)
        if await _timed(worker, due, outcome):
            consecutive = 0
        else:
            consecutive += 1
            if consecutive >= MAX_CONSECUTIVE_ERRORS:
                return


async def _run(
    workers: list[Worker], spec: LoadSpec, seconds: float, outcome: LoadOutcome | None
) -> float:
    """Load for ``seconds`` in the spec's mode (``outcome`` None: warm-up, no budget).
    Returns the seconds the operations sent were spread over by the schedule (open loop:
    a run whose last answer came early still offered its rate for that long; closed: 0)."""
    limit = spec.max_requests if outcome is not None else None
    budget = _Budget(limit)
    start = time.perf_counter()
    until = start + seconds
    if spec.rate is None:
        await asyncio.gather(*(_drive(w, until, budget, outcome) for w in workers))
        return 0.0
    schedule = _Schedule(start, spec.rate, until, budget)
    await asyncio.gather(*(_pace(w, schedule, outcome) for w in workers))
    due = max(schedule.taken, schedule.due_before_deadline(limit))
    if outcome is not None:
        outcome.unsent = due - schedule.taken
    return due / spec.rate


async def run_load(
    factory: WorkerFactory, spec: LoadSpec, meters: Mapping[str, Meter] | None = None
) -> LoadOutcome:
    """Set up ``spec.concurrency`` workers, warm them up, then measure; ``meters`` are read
    at the start and end of the measured time only, so set-up and warm-up don't count."""
    meters = meters or {}
    workers = [factory(i) for i in range(spec.concurrency)]
    outcome = LoadOutcome()
    try:
        setups = await asyncio.gather(*(w.setup() for w in workers), return_exceptions=True)
        ready = []
        for worker, result in zip(workers, setups, strict=True):
            if isinstance(result, BaseException):
                outcome.record_error(result)
            else:
                ready.append(worker)
        if not ready:
            return outcome
        if spec.warmup_s > 0:
            await _run(ready, spec, spec.warmup_s, None)
        before = {name: meter() for name, meter in meters.items()}
        start = time.perf_counter()
        scheduled = await _run(ready, spec, spec.duration_s, outcome)
        outcome.elapsed_s = max(time.perf_counter() - start, scheduled)
        outcome.meters = {name: meter() - before[name] for name, meter in meters.items()}
    finally:
        await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)
    return outcome


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine on uvloop when it is installed: a cheaper load generator."""
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(factory())
