"""How busy each core was during a measured window, and how much of it the hypervisor
took (steal), from two samples of Linux's ``/proc/stat``.

A server pinned to one core of a virtual machine is only measured fairly when that core
was really there: steal time is time the vCPU wanted to run and the host ran someone
else, so a window with much steal measures the neighbours, not the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True, slots=True)
class CoreTicks:
    """One ``cpuN`` line of ``/proc/stat``: cumulative clock ticks by kind (proc(5))."""

    user: int = 0
    nice: int = 0
    system: int = 0
    idle: int = 0
    iowait: int = 0
    irq: int = 0
    softirq: int = 0
    steal: int = 0

    @property
    def busy(self) -> int:
        """Ticks the core ran something (guest time is already inside user and nice)."""
        return self.user + self.nice + self.system + self.irq + self.softirq

    @property
    def total(self) -> int:
        return self.busy + self.idle + self.iowait + self.steal


Sample = Mapping[int, CoreTicks]  # core number -> its ticks at one moment


@dataclass(frozen=True, slots=True)
class CoreShare:
    """What one core did over a window, as fractions of the window's ticks (0..1)."""

    busy: float
    steal: float


def parse_stat(text: str) -> dict[int, CoreTicks]:
    """The per-core lines of ``/proc/stat`` (the ``cpu`` total line is left out)."""
    cores: dict[int, CoreTicks] = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or not name[3:].isdigit():
            continue
        fields = [int(v) for v in rest.split()[:8]]
        fields += [0] * (8 - len(fields))  # old kernels: no steal column
        cores[int(name[3:])] = CoreTicks(*fields)
    return cores


def read_sample(path: Path = PROC_STAT) -> dict[int, CoreTicks]:
    return parse_stat(path.read_text())


def shares(before: Sample, after: Sample, cores: Iterable[int]) -> dict[int, CoreShare]:
    """Each core's busy and steal share between two samples; a core whose counters did not
    move (a window shorter than one tick) counts as idle."""
    result: dict[int, CoreShare] = {}
    for core in cores:
        old, new = before[core], after[core]
        total = new.total - old.total
        if total <= 0:
            result[core] = CoreShare(busy=0.0, steal=0.0)
            continue
        result[core] = CoreShare(
            busy=(new.busy - old.busy) / total, steal=(new.steal - old.steal) / total
        )
    return result


class CoreMeter:
    """A load-generator meter (:data:`bench.loadgen.Meter`) that keeps each ``/proc/stat``
    sample it takes: run_load reads it when the measured time starts and when it ends, so
    the last two samples bracket exactly the window, without warm-up or set-up."""

    def __init__(self, path: Path = PROC_STAT) -> None:
        self.path = path
        self.samples: list[dict[int, CoreTicks]] = []

    def __call__(self) -> float:
        sample = read_sample(self.path)
        self.samples.append(sample)
        return float(sum(t.total for t in sample.values()))

    def window(self, cores: Iterable[int]) -> dict[int, CoreShare]:
        """The shares between the last two samples (empty before there are two)."""
        if len(self.samples) < 2:
            return {}
        return shares(self.samples[-2], self.samples[-1], cores)
