"""Numbers the benchmark reports and the Markdown it prints them as."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Self

from bench.loadgen import LoadOutcome


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (``q`` in 0..100) of already sorted values; NaN if empty.

    Nearest rank never interpolates, so p99 is a latency that some request really had."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class ScenarioResult:
    """One scenario against one backend: ``latencies_ms`` of the successful operations."""

    scenario: str
    backend: str
    latencies_ms: tuple[float, ...]
    errors: int
    elapsed_s: float
    server_cpu_s: float | None = None
    client_cpu_s: float | None = None  # the load generator's own CPU time
    note: str = ""
    rate: float | None = None  # open loop: the operations per second offered
    unsent: int = 0  # open loop: operations due that no free worker could send in time

    @classmethod
    def of(cls, outcome: LoadOutcome, scenario: str, backend: str, rate: float | None) -> Self:
        """The result of one load run; its meters ``server`` and ``bench`` (CPU seconds),
        when it had them, become the server's and the load generator's CPU time."""
        return cls(
            scenario=scenario,
            backend=backend,
            latencies_ms=tuple(outcome.latencies_ms),
            errors=outcome.errors,
            elapsed_s=outcome.elapsed_s,
            server_cpu_s=outcome.meters.get("server"),
            client_cpu_s=outcome.meters.get("bench"),
            rate=rate,
            unsent=outcome.unsent,
        )

    @property
    def label(self) -> str:
        """The scenario, with the rate offered (open loop) and any note."""
        notes = [self.note] if self.note else []
        if self.rate is not None:
            notes.insert(0, f"{self.rate:,.0f}/s offered")
            if self.unsent:
                notes.insert(1, f"{self.unsent} unsent")
        return self.scenario + (f" ({', '.join(notes)})" if notes else "")

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def latency(self, q: float) -> float:
        return percentile(sorted(self.latencies_ms), q)

    @property
    def server_cpu_percent(self) -> float | None:
        return self._percent(self.server_cpu_s)

    @property
    def client_cpu_percent(self) -> float | None:
        return self._percent(self.client_cpu_s)

    def _percent(self, cpu_s: float | None) -> float | None:
        """CPU time as a share of one core over the measured time (100 = one core busy)."""
        if cpu_s is None or self.elapsed_s <= 0:
            return None
        return 100 * cpu_s / self.elapsed_s


@dataclass(frozen=True, slots=True)
class ServerStats:
    """What one started server cost: time to a healthy ``/healthz`` and peak memory."""

    backend: str
    startup_s: float
    peak_rss_kib: tuple[int, ...]  # VmHWM of each server process (one per worker)


def number(value: float | None, digits: int) -> str:
    """A table cell: thousands separated, a dash for nothing measured."""
    if value is None or math.isnan(value):
        return "–"
    return f"{value:,.{digits}f}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], left: int = 2) -> str:
    """A GitHub-flavoured Markdown table; columns after the first ``left`` are right-aligned."""
    all_rows = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * w if i < left else "-" * (w - 1) + ":" for i, w in enumerate(widths)]
    return "\n".join([line(all_rows[0]), line(rule), *(line(r) for r in all_rows[1:])])


def results_table(results: Iterable[ScenarioResult]) -> str:
    header = ["scenario", "backend", "rps", "p50 ms", "p99 ms", "max ms", "ok", "errors"]
    header += ["server CPU %", "bench CPU %"]
    rows = [
        [
            r.label,
            r.backend,
            number(r.rps, 1),
            number(r.latency(50), 2),
            number(r.latency(99), 2),
            number(r.latency(100), 2),
            str(r.ok),
            str(r.errors),
            number(r.server_cpu_percent, 0),
            number(r.client_cpu_percent, 0),
        ]
        for r in results
    ]
    return markdown_table(header, rows)


def server_table(stats: Iterable[ServerStats]) -> str:
    header = ["backend", "start-up ms", "peak RSS MiB", "processes"]
    rows = [
        [
            s.backend,
            number(s.startup_s * 1000, 0),
            number(max(s.peak_rss_kib) / 1024 if s.peak_rss_kib else None, 1),
            str(len(s.peak_rss_kib)),
        ]
        for s in stats
    ]
    return markdown_table(header, rows, left=1)
