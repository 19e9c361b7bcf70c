"""The benchmark of DESIGN §6: start Passgate (SQLite, and PostgreSQL when a DSN is given),
load it over loopback, and print a Markdown table of requests per second and latency.

    python -m bench.run [--duration 5] [--concurrency 16] [--scenarios discovery,jwks]
    python -m bench.run --scenarios forward_auth --rate 1000 --server-cpus 1
    python -m bench.run --postgres-dsn postgresql://postgres@127.0.0.1:5432/postgres
    python -m bench.run --issuer http://127.0.0.1:5556/dex   # another issuer, for comparison

By default each connection sends its next request as soon as the last one is answered
(closed loop: the throughput the server sustains). ``--rate N`` instead offers N requests
per second across all connections (open loop) and times each from when it was due, which
answers "what latency at this load".

The load generator runs on the same machine as the server, so on a small machine it competes
for CPU; the "server CPU %" and "bench CPU %" columns show how busy each was (100 = one core
busy), which tells whether the server or the generator was the limit. ``--server-cpus``
keeps them apart: the server runs on those CPUs only, the generator on the others.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a file (bench/run.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.compare import add_arguments as add_peer_arguments
from bench.compare import check_arguments as check_peer_arguments
from bench.compare import main as compare_peer
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
from bench.loadgen import LoadOutcome, LoadSpec, Meter, run_async, run_load
from bench.scenarios import COMPARED, SCENARIOS, skip_reason, worker_factory
from bench.seed import DEFAULT_SESSIONS, seed_sessions
from bench.stats import ScenarioResult, ServerStats, percentile, results_table, server_table
from bench.stored import SECRET_KINDS, STORED_CLIENT_ID, admin_access, create_stored_client
from bench.target import Target, discover
from bench.webhook import WebhookSkipped, webhook_target


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def is_loopback(url: str) -> bool:
    """Load goes to this machine only: a loopback address literal or ``localhost``."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def default_passgate() -> str:
    beside = Path(sys.executable).with_name("passgate")
    return str(beside) if beside.exists() else shutil.which("passgate") or "passgate"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Start Passgate, load it over loopback, print requests/s and latency.",
    )
    p.add_argument("--duration", type=float, default=5.0, help="seconds per scenario (5)")
    p.add_argument("--requests", type=int, default=None, help="stop a scenario after N ops")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first (1)")
    p.add_argument("--concurrency", type=int, default=16, help="connections (16)")
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="offer N requests/s across all connections, timed from when each was due "
        "(open loop; default: closed loop, each connection as fast as it is answered)",
    )
    p.add_argument("--timeout", type=float, default=10.0, help="per-request timeout (10 s)")
    p.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="HTTP client of the hot loops: the lean built-in one (raw), or httpx",
    )
    p.add_argument("--scenarios", help="comma-separated subset (default: all, or --peer's)")
    p.add_argument("--backends", default=None, help="sqlite,postgres (default: what is available)")
    p.add_argument(
        "--postgres-dsn",
        default=os.environ.get("PASSGATE_TEST_POSTGRES_DSN"),
        help="PostgreSQL to create a scratch database in (default $PASSGATE_TEST_POSTGRES_DSN)",
    )
    p.add_argument("--passgate", default=default_passgate(), help="the passgate executable")
    p.add_argument(
        "--server-cpus",
        default=None,
        help="run the server on these CPUs only (taskset -c: 1, 0,2, 0-3) and the "
        "benchmark on the others",
    )
    p.add_argument("--bcrypt-cost", type=int, help="cost of the user's hash (10; --peer: 4)")
    p.add_argument("--skip-approval", action="store_true", help="oauth2.skipApprovalScreen")
    p.add_argument(
        "--client-secret-kind",
        choices=SECRET_KINDS,
        default="static",
        help="the token scenarios' confidential client: the config file's (static), or one "
        "made through the admin API with a secret set by hand (set) or generated (generated)",
    )
    p.add_argument("--log-level", default="info", help="the server's logger.level (info)")
    p.add_argument(
        "--sessions",
        type=int,
        default=DEFAULT_SESSIONS,
        help=f"sessions seeded before tokenreview runs ({DEFAULT_SESSIONS})",
    )
    other = p.add_argument_group("another issuer (instead of starting Passgate)")
    other.add_argument("--issuer", help="issuer URL on this machine")
    other.add_argument("--label", default="other", help="backend column for it (other)")
    for name in ("client-id", "client-secret", "redirect-uri", "username", "password"):
        other.add_argument(f"--{name}", help="enables the scenarios that need it")
    add_peer_arguments(p)
    args = p.parse_args(argv)
    chosen = args.scenarios or ",".join(COMPARED if args.peer else SCENARIOS)
    args.scenarios = [s.strip() for s in chosen.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    if args.issuer and not is_loopback(args.issuer):
        p.error("--issuer must be on this machine (127.0.0.0/8, [::1] or localhost)")
    if args.backends is None:
        args.backends = ["sqlite", "postgres"] if args.postgres_dsn else ["sqlite"]
    else:
        args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(args.backends) - {"sqlite", "postgres"}:
        p.error("--backends takes sqlite and/or postgres")
    if "postgres" in args.backends and not args.postgres_dsn:
        p.error("the postgres backend needs --postgres-dsn or PASSGATE_TEST_POSTGRES_DSN")
    try:
        args.spec = LoadSpec(args.concurrency, args.duration, args.requests, args.warmup, args.rate)
        args.server_cpus = None if args.server_cpus is None else parse_cpus(args.server_cpus)
    except ValueError as exc:
        p.error(str(exc))
    if args.server_cpus is not None and not args.server_cpus <= os.sched_getaffinity(0):
        p.error(f"--server-cpus: this machine offers CPUs {sorted(os.sched_getaffinity(0))}")
    if args.server_cpus is not None and not shutil.which("taskset"):
        p.error("--server-cpus needs taskset (util-linux)")
    if args.peer:
        check_peer_arguments(p, args)
    args.bcrypt_cost = 10 if args.bcrypt_cost is None else args.bcrypt_cost
    return args


async def measure(
    target: Target,
    backend: str,
    args: argparse.Namespace,
    server: Server | None = None,
) -> list[ScenarioResult]:
    async with httpx.AsyncClient(timeout=args.timeout) as client:
        endpoints = await discover(client, target.issuer)
    results = []
    for scenario in args.scenarios:
        reason = skip_reason(scenario, target)
        if scenario == "tokenreview" and target.client_id == STORED_CLIENT_ID:
            reason = "the webhook maps the config file's client (--client-secret-kind static)"
        scenario_target = target
        if reason is None and scenario == "tokenreview":
            try:
                scenario_target = await tokenreview_target(target, args.timeout)
            except WebhookSkipped as skipped:
                reason = str(skipped)
        if reason is not None:
            log(f"  {scenario}: skipped, {reason}")
            continue
        meters: dict[str, Meter] = {"bench": time.process_time}
        if server is not None:
            meters["server"] = partial(cpu_seconds, server.pid)
        factory = worker_factory(scenario, scenario_target, endpoints, args.timeout, args.client)
        outcome = await run_load(factory, args.spec, meters)
        result = ScenarioResult.of(outcome, scenario, backend, args.spec.rate)
        log(f"  {scenario}: {result.rps:,.1f}/s, {result.ok} ok, {result.errors} errors")
        if args.spec.rate is not None:
            log(f"    {lateness(outcome)}")
        for sample in outcome.error_samples:
            log(f"    error: {sample}")
        results.append(result)
    return results


async def tokenreview_target(target: Target, request_timeout: float) -> Target:
    """Whose tokens ``tokenreview`` sends (:mod:`bench.webhook`), said when not the
    target's own client."""
    async with httpx.AsyncClient(timeout=request_timeout) as client:
        found = await webhook_target(client, target, free_port())
    if found.note:
        log(f"  tokenreview: {found.note}")
    return found.target


async def bench_passgate(
    backend: str,
    setup: BenchSetup,
    config: Path,
    args: argparse.Namespace,
    admin_token: str | None = None,
) -> tuple[list[ScenarioResult], ServerStats]:
    command = pinned([args.passgate, "serve", str(config)], args.server_cpus)
    server = Server(command, config.with_name("server.log"))
    startup = await server.start(setup.target.issuer.rstrip("/") + "/healthz")
    log(f"{backend}: passgate healthy after {startup * 1000:.0f} ms at {setup.target.issuer}")
    try:
        target = setup.target
        if admin_token is not None and args.client_secret_kind != "static":
            target = await create_stored_client(target, admin_token, args.client_secret_kind)
            log(f"{backend}: client {target.client_id} in storage ({args.client_secret_kind})")
        results = await measure(target, backend, args, server)
        stats = ServerStats(backend=backend, startup_s=startup, peak_rss_kib=server.peak_rss())
    finally:
        await server.stop()
    return results, stats


def lateness(outcome: LoadOutcome) -> str:
    """Open loop: how late requests were sent after they were due, and how many never
    were. Microseconds mean the generator kept time; milliseconds mean every connection
    was busy waiting for answers (add --concurrency) or the generator ran out of CPU."""
    lags = sorted(outcome.send_lags_ms)
    text = (
        f"sent after due: p50 {percentile(lags, 50):.3f} ms, p99 {percentile(lags, 99):.3f} ms, "
        f"max {percentile(lags, 100):.3f} ms"
    )
    if outcome.unsent:
        text += f"; {outcome.unsent} due but never sent (every connection was busy)"
    return text


def pin_benchmark(server_cpus: frozenset[int] | None) -> None:
    """Keep the benchmark off the server's CPUs, when there are others."""
    if server_cpus is None:
        return
    others = os.sched_getaffinity(0) - server_cpus
    if others:
        os.sched_setaffinity(0, others)
        log(f"server on CPUs {sorted(server_cpus)}, benchmark on {sorted(others)}")
    else:
        log(f"server on CPUs {sorted(server_cpus)}; no other CPU left for the benchmark")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.peer:
        return compare_peer(args, argv)
    if not args.issuer:
        pin_benchmark(args.server_cpus)
    results: list[ScenarioResult] = []
    servers: list[ServerStats] = []
    failed = False
    if args.issuer:
        target = Target(
            issuer=args.issuer,
            client_id=args.client_id,
            client_secret=args.client_secret,
            redirect_uri=args.redirect_uri,
            username=args.username,
            password=args.password,
        )
        log(f"{args.label}: {args.issuer}")
        results = run_async(lambda: measure(target, args.label, args))
    for backend in [] if args.issuer else args.backends:
        with tempfile.TemporaryDirectory(prefix=f"passgate-bench-{backend}-") as tmp:
            directory = Path(tmp)
            with contextlib.ExitStack() as stack:
                storage = bench_storage(backend, directory, args.postgres_dsn, stack)
                access = admin_access() if args.client_secret_kind != "static" else None
                setup = make_setup(
                    storage,
                    bcrypt_cost=args.bcrypt_cost,
                    skip_approval=args.skip_approval,
                    log_level=args.log_level,
                    admin=access.section if access else None,
                )
                config = write_config(setup, directory)
                if "tokenreview" in args.scenarios and args.sessions > 0:
                    rules = run_async(partial(seed_sessions, storage, args.sessions))
                    log(f"{backend}: seeded {args.sessions} sessions, {rules} revoked")
                try:
                    token = access.token if access else None
                    run = partial(bench_passgate, backend, setup, config, args, token)
                    found, stats = run_async(run)
                except ServerError as exc:
                    log(f"{backend}: passgate did not start: {exc}")
                    failed = True
                    continue
            results.extend(found)
            servers.append(stats)
    print(f"\n## Passgate benchmark\n\n{describe(args)}\n")
    if results:
        print(results_table(results))
    if servers:
        print()
        print(server_table(servers))
    errors = sum(r.errors for r in results)
    if errors:
        log(f"\n{errors} operations failed (see the errors above)")
    return 1 if failed or errors or not results else 0


def describe(args: argparse.Namespace) -> str:
    limit = f", at most {args.requests} operations" if args.requests else ""
    text = (
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{args.concurrency} connections ({args.client} client), "
        f"{args.duration:g} s per scenario{limit} "
        f"after {args.warmup:g} s warm-up; times in ms."
    )
    if args.rate is not None:
        text += (
            f" Open loop: {args.rate:,g} requests/s offered across the connections, each "
            "timed from when it was due to be sent (rps is the rate achieved)."
        )
    if args.server_cpus is not None and not args.issuer:
        cpus = ",".join(map(str, sorted(args.server_cpus)))
        text += f" Server pinned to CPU{'s' if len(args.server_cpus) > 1 else ''} {cpus}."
    if args.client_secret_kind != "static" and not args.issuer:
        text += (
            f" The token scenarios' client is kept in storage, its secret "
            f"{'set by hand' if args.client_secret_kind == 'set' else 'generated by Passgate'}."
        )
    if "tokenreview" in args.scenarios and not args.issuer:
        text += f" tokenreview: {args.sessions} sessions seeded, a tenth of them revoked."
    if "login" in args.scenarios or "refresh_token" in args.scenarios:
        text += " login = the whole authorization-code flow plus the code exchange"
        if not args.issuer:
            approval = "approval skipped" if args.skip_approval else "approval screen"
            text += f" (password connector, bcrypt cost {args.bcrypt_cost}, {approval})"
        text += "."
    return text


if __name__ == "__main__":
    sys.exit(main())
