"""The report of a peer comparison (bench/compare.py): what was run, on what, and one
Markdown table of both servers' figures, their ratio and each window's cores, ready to
paste into bench/RESULTS.md with the command that produced it."""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import datetime
import json
import os
import platform
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.stats import markdown_table, number
from bench.windows import Measured

REPO = Path(__file__).resolve().parent.parent
#: A core this busy is at its limit (%).
SATURATED = 90.0
#: Points of the server's core that others may take before the window says so.
SHARED = 10.0
#: The servers of a comparison, in the order they run and are shown.
SERVERS = ("passgate", "peer")


@dataclass(frozen=True, slots=True)
class Side:
    """One server's part of a scenario: the window kept, or why there is none."""

    measured: Measured | None = None
    signed: int | None = None  # signed JWTs in one answer (None: not a token answer)
    failure: str = ""


@dataclass(slots=True)
class Comparison:
    scenario: str
    sides: dict[str, Side] = field(default_factory=dict)  # by name in SERVERS


def signed_jwts(answer: Mapping[str, object]) -> int:
    """How many values of a token answer are compact JWS whose header names a signing
    algorithm (RFC 7515 §7.1): the signatures the server computed for it."""
    count = 0
    for value in answer.values():
        if not isinstance(value, str) or value.count(".") != 2:
            continue
        header = value.split(".", 1)[0]
        with contextlib.suppress(binascii.Error, ValueError, UnicodeDecodeError):
            decoded = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
            alg = decoded.get("alg") if isinstance(decoded, dict) else None
            if isinstance(alg, str) and alg != "none":
                count += 1
    return count


def ratio(passgate: float | None, peer: float | None) -> float | None:
    """Passgate's rate over the peer's (above 1: Passgate answered more)."""
    if passgate is None or peer is None or peer <= 0:
        return None
    return passgate / peer


def _rps(side: Side) -> float | None:
    return side.measured.kept.result.rps if side.measured is not None else None


def rate_cell(side: Side) -> str:
    if side.measured is None:
        return "failed"
    result = side.measured.kept.result
    errors = f" ({result.errors} errors)" if result.errors else ""
    return number(result.rps, 1) + errors


def latency_cell(side: Side) -> str:
    if side.measured is None:
        return "–"
    result = side.measured.kept.result
    return f"{number(result.latency(50), 2)} / {number(result.latency(99), 2)}"


def cores_cell(side: Side) -> str:
    """Each watched core's busy / steal share of the kept window, in %, and the server's and
    the load generator's own CPU time: a busy core they did not fill ran someone else."""
    if side.measured is None:
        return "–"
    window = side.measured.kept
    cores = ", ".join(
        f"{c}: {s.busy * 100:.0f} / {s.steal * 100:.1f}" for c, s in window.cores.items()
    )
    result = window.result
    own = [
        f"{who} {percent:.0f}"
        for who, percent in (
            ("server", result.server_cpu_percent),
            ("bench", result.client_cpu_percent),
        )
        if percent is not None
    ]
    return cores + (f" ({', '.join(own)})" if own else "")


def load_bound(side: Side) -> bool:
    """The load generator's core, not the server's, was the limit: it was busy while the
    server's core had room, so the server's rate is a floor, not its ceiling. Cores, not
    processes: PostgreSQL's backends share the server's core, and whatever else runs on
    the machine takes from the core it lands on."""
    if side.measured is None or len(side.measured.kept.cores) < 2:
        return False
    *server, load = side.measured.kept.cores.values()  # the load's core last (compare.py)
    return load.busy * 100 >= SATURATED and all(c.busy * 100 < SATURATED for c in server)


def shared_core(side: Side) -> bool:
    """The server's core ran others for more than :data:`SHARED` points of its window:
    steal does not count processes inside the machine, which a pinned server still meets
    on its core (PostgreSQL's backends, by design; anything else, by chance)."""
    if side.measured is None or len(side.measured.kept.cores) < 2:
        return False
    *server_cores, _ = side.measured.kept.cores.values()
    server = side.measured.kept.result.server_cpu_percent
    if server is None:
        return False
    return sum(c.busy for c in server_cores) * 100 - server > SHARED


def _flagged(comparisons: Sequence[Comparison], flag: Callable[[Side], bool]) -> str:
    """``scenario (server, ...)`` for each scenario where ``flag`` holds for a side."""
    return ", ".join(
        f"{c.scenario} ({' and '.join(n for n in SERVERS if flag(c.sides[n]))})"
        for c in comparisons
        if any(flag(c.sides[n]) for n in SERVERS)
    )


def flag_notes(comparisons: Sequence[Comparison]) -> list[str]:
    """A line for each kind of window whose rate is not the server's alone to answer for."""
    notes = []
    if bound := _flagged(comparisons, load_bound):
        notes.append(
            f"Load generator's core at least {SATURATED:.0f} % busy while the server's was "
            f"not: {bound}; those rates are what the load generator reached, not the "
            "server's limit."
        )
    if shared := _flagged(comparisons, shared_core):
        notes.append(
            f"Server's core busier than the server by more than {SHARED:.0f} points: "
            f"{shared}; other processes ran there (PostgreSQL's backends, or other work on "
            "the machine, which steal does not count)."
        )
    return notes


def discarded_cell(measured: Measured | None) -> str:
    if measured is None:
        return "–"
    return f"{len(measured.discarded)}{'*' if measured.over_limit else ''}"


def signed_cell(passgate: Side, peer: Side) -> str:
    if passgate.signed is None and peer.signed is None:
        return "–"
    return f"{number(passgate.signed, 0)} / {number(peer.signed, 0)}"


HEADER = [
    "scenario",
    "Passgate /s",
    "peer /s",
    "ratio",
    "Passgate p50 / p99 ms",
    "peer p50 / p99 ms",
    "JWTs signed",
    "Passgate: cores busy / steal %",
    "peer: cores busy / steal %",
    "discarded",
]


def table(comparisons: Sequence[Comparison]) -> str:
    rows = []
    for c in comparisons:
        passgate, peer = c.sides["passgate"], c.sides["peer"]
        rows.append(
            [
                c.scenario,
                rate_cell(passgate),
                rate_cell(peer),
                number(ratio(_rps(passgate), _rps(peer)), 2),
                latency_cell(passgate),
                latency_cell(peer),
                signed_cell(passgate, peer),
                cores_cell(passgate),
                cores_cell(peer),
                f"{discarded_cell(passgate.measured)} / {discarded_cell(peer.measured)}",
            ]
        )
    return markdown_table(HEADER, rows, left=1)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What the report says about how and where it was measured."""

    command: str
    revision: str
    when: str
    machine: str
    setup: str

    @classmethod
    def gather(
        cls, args: argparse.Namespace, argv: Sequence[str], node: str, node_modules: Path
    ) -> RunInfo:
        return cls(
            command=shlex.join(["python", "-m", "bench.run", *argv]),
            revision=_run(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
            when=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            machine=(
                f"{os.cpu_count()} CPUs, Linux {platform.release()}, "
                f"Python {platform.python_version()}, node {_run([node, '--version'])}, "
                f"oidc-provider {_package_version(node_modules / 'oidc-provider')}"
            ),
            setup=describe(args),
        )


def describe(args: argparse.Namespace) -> str:
    servers = ",".join(map(str, sorted(args.server_cpus)))
    storage = "SQLite"
    if args.storage == "postgres":
        storage = f"PostgreSQL ({postgres_cpus(args.postgres_dsn)})"
    consent = "skipped (AUTO_CONSENT=1)" if args.skip_approval else "shown and accepted"
    loop = (
        f"open loop at {args.spec.rate:,g}/s offered"
        if args.spec.rate is not None
        else "closed loop"
    )
    return (
        f"Each server alone on CPU {servers} (taskset), the load generator on CPU "
        f"{args.load_cpu}: {args.concurrency} connections ({args.client} client, {loop}), "
        f"{args.duration:g} s measured after {args.warmup:g} s warm-up per window. "
        f"Passgate on {storage}, logger.level {args.log_level}, password hash bcrypt cost "
        f"{args.bcrypt_cost} (the peer checks no password); the peer in memory. "
        f"login = one whole sign-in (authorize, login form, login post, consent {consent}, "
        "code exchange with PKCE). A window in which a core's steal passed "
        f"{args.steal_limit:g} % was run again, {args.steal_retries} times at most."
    )


NOTES = (
    "ratio = Passgate ÷ peer. JWTs signed: signed tokens in one answer, Passgate / peer. "
    "cores: busy / steal share of each watched core over the measured window (the "
    "server's CPU first, then the load generator's), in %, then the server's and the load "
    "generator's own CPU time in % of one core. discarded: windows run again "
    "for steal, Passgate / peer; * = every try passed the limit, the least disturbed is "
    "shown."
)


def report(comparisons: Sequence[Comparison], info: RunInfo) -> str:
    return "\n".join(
        [
            "## Passgate and the oidc-provider peer",
            "",
            f"`{info.command}` at {info.revision}, {info.when}; {info.machine}.",
            "",
            info.setup,
            "",
            table(comparisons),
            "",
            NOTES,
            *(line for note in flag_notes(comparisons) for line in ("", note)),
        ]
    )


def postgres_cpus(dsn: str) -> str:
    """Where PostgreSQL's backends may run, read from one backend's CPU affinity: the
    server's cost includes them only when they share its core."""
    with contextlib.suppress(psycopg.Error, OSError), psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        if row is not None:  # asked while the backend lives: it ends with the connection
            cpus = sorted(os.sched_getaffinity(int(row[0])))
            return f"its backends on CPU {','.join(map(str, cpus))}"
    return "its CPUs unknown: not a process of this machine"


def _package_version(folder: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        return str(json.loads((folder / "package.json").read_text())["version"])
    return "?"


def _run(command: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        if done.returncode == 0:
            return done.stdout.strip()
    return "?"
