"""A bounded closed-loop load generator: N workers, each one connection, each issuing its next
operation as soon as the previous one finished, until a deadline or a request budget runs out.

Closed loop (rather than a fixed arrival rate) is what ``wrk`` and ``hey`` do; it measures the
throughput the server sustains at that concurrency, and latency under that load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

# A worker whose operations keep failing is broken (a refresh chain that lost its token);
# stop it instead of spinning.
MAX_CONSECUTIVE_ERRORS = 5


class Worker(Protocol):
    """One simulated client. ``step`` is the measured operation and raises on failure."""

    async def setup(self) -> None: ...

    async def step(self) -> None: ...

    async def close(self) -> None: ...


WorkerFactory = Callable[[int], Worker]
Meter = Callable[[], float]  # a counter sampled when measuring starts and ends (CPU time)


@dataclass(frozen=True, slots=True)
class LoadSpec:
    concurrency: int = 16
    duration_s: float = 5.0
    max_requests: int | None = None  # measured operations, across all workers
    warmup_s: float = 1.0

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.duration_s <= 0:
            raise ValueError("duration must be positive")
        if self.max_requests is not None and self.max_requests < 1:
            raise ValueError("max_requests must be at least 1")
        if self.warmup_s < 0:
            raise ValueError("warm-up must not be negative")


@dataclass(slots=True)
class LoadOutcome:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0
    error_samples: list[str] = field(default_factory=list)
    meters: dict[str, float] = field(default_factory=dict)  # growth during the measured time

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


async def _drive(
    worker: Worker, until: float, budget: _Budget, outcome: LoadOutcome | None
) -> None:
    """Run steps until ``until``; record them in ``outcome`` (``None``: warm-up, not recorded)."""
    consecutive = 0
    while time.perf_counter() < until and (outcome is None or budget.take()):
        started = time.perf_counter()
        try:
            await worker.step()
        except Exception as exc:  # any failure counts as an error; the run goes on
            consecutive += 1
            if outcome is not None:
                outcome.record_error(exc)
            if consecutive >= MAX_CONSECUTIVE_ERRORS:
                return
            continue
        consecutive = 0
        if outcome is not None:
            outcome.latencies_ms.append((time.perf_counter() - started) * 1000)


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
            until = time.perf_counter() + spec.warmup_s
            await asyncio.gather(*(_drive(w, until, _Budget(None), None) for w in ready))
        budget = _Budget(spec.max_requests)
        before = {name: meter() for name, meter in meters.items()}
        start = time.perf_counter()
        until = start + spec.duration_s
        await asyncio.gather(*(_drive(w, until, budget, outcome) for w in ready))
        outcome.elapsed_s = time.perf_counter() - start
        outcome.meters = {name: meter() - before[name] for name, meter in meters.items()}
    finally:
        await asyncio.gather(*(w.close() for w in workers), return_exceptions=True)
    return outcome
