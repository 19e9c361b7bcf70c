"""Passgate beside the performance peer (panva's oidc-provider), asked the same things:
each server pinned to one core in turn, the load generator pinned to another, one table
of both figures and their ratio, with each core's busy and steal share per window.

    python -m bench.run --peer [--storage postgres] [--markdown PATH]

For each scenario, Passgate and then the peer: start the server alone on its core
(``taskset``), count the signed tokens in one answer, measure a window (run again while a
core's steal passes the limit), stop it. The two runs of a scenario follow each other, so
the host's load drifts less between them than it would across a whole run of each.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx

from bench.cores import CoreMeter
from bench.launcher import (
    BenchSetup,
    Server,
    ServerError,
    bench_storage,
    cpu_seconds,
    free_port,
    make_setup,
    parse_cpus,
    pinned,
    write_config,
)
from bench.loadgen import Meter, run_async, run_load
from bench.peerreport import SERVERS, Comparison, RunInfo, Side, report, signed_jwts
from bench.peerserver import (
    DEFAULT_CACHE,
    DEFAULT_PEER_DIR,
    PeerError,
    PeerSetup,
    install,
    peer_target,
    prepare_run_dir,
)
from bench.scenarios import COMPARED, worker_factory
from bench.stats import ScenarioResult
from bench.target import Endpoints, FlowError, Target, discover, discovery_url
from bench.windows import Window, measure_window

#: The peer checks no password; Passgate's hash at the least bcrypt cost keeps the login
#: comparable (``--bcrypt-cost`` sets another).
PEER_BCRYPT_COST = 4


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("comparison with the performance peer (--peer)")
    g.add_argument(
        "--peer",
        action="store_true",
        help="measure Passgate and the peer (../shared/peers/oidc-provider) in turn, each "
        "pinned to --server-cpus (0), the load on the next CPU; one table with the ratio",
    )
    g.add_argument("--peer-dir", type=Path, default=DEFAULT_PEER_DIR, help="the peer's folder")
    g.add_argument(
        "--peer-cache", type=Path, default=DEFAULT_CACHE, help="npm ci results (var/bench-peer)"
    )
    g.add_argument("--storage", choices=["sqlite", "postgres"], default="sqlite")
    g.add_argument("--markdown", type=Path, help="also write the report to this file")
    g.add_argument("--steal-limit", type=float, default=5.0, help="%% steal that discards (5)")
    g.add_argument("--steal-retries", type=int, default=3, help="windows run again, at most")


def online_cpus() -> frozenset[int]:
    """The machine's CPUs, not only this process's: ``make bench-peer`` starts the bench
    pinned to the server's core, so that PostgreSQL started beside it stays there."""
    with contextlib.suppress(OSError, ValueError):
        return parse_cpus(Path("/sys/devices/system/cpu/online").read_text().strip())
    return frozenset(os.sched_getaffinity(0))


def check_arguments(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The options of a peer comparison; sets ``load_cpu`` and ``cores`` (both watched)."""
    if args.issuer:
        p.error("--peer starts both servers itself: it takes no --issuer")
    unknown = set(args.scenarios) - set(COMPARED)
    if unknown:
        p.error(f"--peer compares {', '.join(COMPARED)}; not {', '.join(sorted(unknown))}")
    if args.storage == "postgres" and not args.postgres_dsn:
        p.error("--storage postgres needs --postgres-dsn or PASSGATE_TEST_POSTGRES_DSN")
    if not 0 <= args.steal_limit <= 100 or args.steal_retries < 0:
        p.error("--steal-limit is a percentage and --steal-retries a count")
    if not shutil.which("taskset"):
        p.error("--peer pins the servers with taskset (util-linux)")
    if args.bcrypt_cost is None:
        args.bcrypt_cost = PEER_BCRYPT_COST
    args.server_cpus = args.server_cpus or frozenset({0})
    others = sorted(online_cpus() - args.server_cpus)
    if not others:
        p.error(f"no CPU left for the load generator beside {sorted(args.server_cpus)}")
    args.load_cpu = others[0]
    args.cores = (*sorted(args.server_cpus), args.load_cpu)


@dataclass(slots=True)
class Servers:
    """How to start each server: Passgate's config, the peer's copied script."""

    args: argparse.Namespace
    setup: BenchSetup
    config: Path
    peer: PeerSetup
    directory: Path

    @contextlib.asynccontextmanager
    async def started(self, name: str) -> AsyncIterator[tuple[Server, Target]]:
        """``name`` running alone on the server CPUs until the block ends."""
        cpus = self.args.server_cpus
        if name == "passgate":
            command = pinned([self.args.passgate, "serve", str(self.config)], cpus)
            server = Server(command, self.directory / "passgate.log")
            target = self.setup.target
            health = target.issuer.rstrip("/") + "/healthz"
        else:
            port = free_port()
            server = self.peer.server(port, cpus, self.directory / "peer.log")
            target = peer_target(port)
            health = discovery_url(target.issuer)
        startup = await server.start(health)
        log(f"  {name}: up after {startup * 1000:.0f} ms at {target.issuer}")
        try:
            yield server, target
        finally:
            await server.stop()


async def one_window(
    args: argparse.Namespace,
    name: str,
    scenario: str,
    server: Server,
    target: Target,
    endpoints: Endpoints,
) -> Window:
    """One warmed-up, measured run; the cores' shares cover the measured part only."""
    cores = CoreMeter()
    meters: dict[str, Meter] = {
        "cores": cores,
        "server": partial(cpu_seconds, server.pid),
        "bench": time.process_time,
    }
    factory = worker_factory(scenario, target, endpoints, args.timeout, args.client, compared=True)
    outcome = await run_load(factory, args.spec, meters)
    result = ScenarioResult.of(outcome, scenario, name, args.spec.rate)
    window = Window(result, cores.window(args.cores))
    shares = ", ".join(f"{c}: {s.busy:.0%}/{s.steal:.1%}" for c, s in window.cores.items())
    log(f"    {result.rps:,.1f}/s, {result.errors} errors; cores busy/steal {shares}")
    for sample in outcome.error_samples:
        log(f"    error: {sample}")
    return window


async def signed_in_answer(
    args: argparse.Namespace, scenario: str, endpoints: Endpoints, target: Target
) -> int | None:
    """Signed JWTs in one answer, asked exactly as the scenario's workers ask."""
    make = worker_factory(scenario, target, endpoints, args.timeout, args.client, compared=True)
    worker = make(0)
    try:
        await worker.setup()
        await worker.step()
        answer = getattr(worker, "answer", None)  # what the token scenarios' workers keep
    finally:
        await worker.close()
    return signed_jwts(answer) if isinstance(answer, Mapping) and answer else None


async def measure_side(servers: Servers, name: str, scenario: str) -> Side:
    args = servers.args
    try:
        async with servers.started(name) as (server, target):
            async with httpx.AsyncClient(timeout=args.timeout) as client:
                endpoints = await discover(client, target.issuer)
            signed = await signed_in_answer(args, scenario, endpoints, target)
            run = partial(one_window, args, name, scenario, server, target, endpoints)
            measured = await measure_window(run, args.steal_limit / 100, args.steal_retries, log)
    except (ServerError, FlowError, httpx.HTTPError, OSError) as exc:
        log(f"  {name}: {scenario} failed: {exc}")
        return Side(failure=f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}")
    return Side(measured, signed)


async def compare_all(servers: Servers) -> list[Comparison]:
    comparisons = []
    for scenario in servers.args.scenarios:
        log(f"{scenario}:")
        comparison = Comparison(scenario)
        for name in SERVERS:
            comparison.sides[name] = await measure_side(servers, name, scenario)
        comparisons.append(comparison)
    return comparisons


def main(args: argparse.Namespace, argv: Sequence[str]) -> int:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        log("error: --peer needs node and npm on PATH (make setup installs them)")
        return 2
    try:
        node_modules = install(args.peer_dir, npm, args.peer_cache, log)
    except PeerError as exc:
        log(f"error: {exc}")
        return 2
    os.sched_setaffinity(0, {args.load_cpu})
    log(f"servers on CPU {','.join(map(str, sorted(args.server_cpus)))}, load on {args.load_cpu}")
    with tempfile.TemporaryDirectory(prefix="passgate-bench-peer-") as tmp:
        directory = Path(tmp)
        (directory / "peer").mkdir()
        script = prepare_run_dir(args.peer_dir, node_modules, directory / "peer")
        with contextlib.ExitStack() as stack:
            storage = bench_storage(args.storage, directory, args.postgres_dsn, stack)
            setup = make_setup(
                storage,
                bcrypt_cost=args.bcrypt_cost,
                skip_approval=args.skip_approval,
                log_level=args.log_level,
            )
            peer = PeerSetup(node, script, auto_consent=args.skip_approval)
            servers = Servers(args, setup, write_config(setup, directory), peer, directory)
            comparisons = run_async(partial(compare_all, servers))
    info = RunInfo.gather(args, argv, node, node_modules)
    text = report(comparisons, info)
    print(text)
    if args.markdown is not None:
        args.markdown.write_text(text + "\n")
        log(f"written to {args.markdown}")
    sides = [side for c in comparisons for side in c.sides.values()]
    failed = any(s.failure or s.measured is None or s.measured.kept.result.errors for s in sides)
    return 1 if failed or not sides else 0
