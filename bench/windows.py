"""Measured windows and the rule that throws away the ones the host disturbed: a window
in which any watched core lost more than the steal limit to the hypervisor is run again,
a bounded number of times, and every discard is kept for the report."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bench.cores import CoreShare
from bench.stats import ScenarioResult

#: Steal above this share of a core's window discards the window (5 %).
STEAL_LIMIT = 0.05
#: Windows run again after the first one was discarded, at most.
STEAL_RETRIES = 3


@dataclass(frozen=True, slots=True)
class Window:
    """One measured run of one scenario on one server, and what each watched core did."""

    result: ScenarioResult
    cores: Mapping[int, CoreShare]

    @property
    def steal(self) -> float:
        """The largest steal share of any watched core (0 when none was watched)."""
        return max((c.steal for c in self.cores.values()), default=0.0)


@dataclass(frozen=True, slots=True)
class Measured:
    """The window kept for a scenario on a server, and the ones discarded before it."""

    kept: Window
    discarded: tuple[Window, ...]
    steal_limit: float = STEAL_LIMIT

    @property
    def over_limit(self) -> bool:
        """Every try had too much steal: the kept window is the least disturbed of them."""
        return self.kept.steal > self.steal_limit


async def measure_window(
    run: Callable[[], Awaitable[Window]],
    steal_limit: float = STEAL_LIMIT,
    retries: int = STEAL_RETRIES,
    log: Callable[[str], None] = lambda _: None,
) -> Measured:
    """Run ``run`` until a window's steal is within ``steal_limit``, ``retries`` more times
    at most; when none is, keep the one with the least steal and say so."""
    if retries < 0:
        raise ValueError("retries must not be negative")
    tried: list[Window] = []
    for attempt in range(retries + 1):
        window = await run()
        if window.steal <= steal_limit:
            return Measured(window, tuple(tried), steal_limit)
        tried.append(window)
        again = "running it again" if attempt < retries else "no retries left"
        log(f"    window discarded: {window.steal:.1%} steal > {steal_limit:.0%}, {again}")
    kept = min(tried, key=lambda w: w.steal)
    return Measured(kept, tuple(w for w in tried if w is not kept), steal_limit)
