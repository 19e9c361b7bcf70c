import argparse
import os

import pytest
from bench.cores import CoreShare
from bench.loadgen import LoadSpec
from bench.peerreport import (
    Comparison,
    RunInfo,
    Side,
    describe,
    flag_notes,
    ratio,
    report,
    signed_jwts,
    table,
)
from bench.stats import ScenarioResult
from bench.windows import Measured, Window
from fakepeer import jws

from bench import peerreport
from testenv import missing


def side(
    rps: int,
    *,
    errors: int = 0,
    steal: float = 0.0,
    discarded: int = 0,
    signed: int | None = None,
    server_cpu: float | None = 0.95,
    server_busy: float = 0.987,
    load_busy: float = 0.4,
) -> Side:
    """A side whose kept window answered ``rps`` operations in one second, each in 1-100 ms."""
    latencies = tuple(float(1 + i % 100) for i in range(rps))
    result = ScenarioResult("x", "x", latencies, errors, elapsed_s=1.0, server_cpu_s=server_cpu)
    kept = Window(result, {0: CoreShare(server_busy, steal), 1: CoreShare(load_busy, 0.0)})
    noisy = Window(result, {0: CoreShare(0.9, 0.2)})
    return Side(Measured(kept, (noisy,) * discarded), signed)


def test_signed_jwts_counts_signed_compact_tokens_only() -> None:
    answer: dict[str, object] = {
        "access_token": jws(),
        "id_token": jws("ES256"),
        "refresh_token": "opaque.but.dotted",  # three parts, not a JOSE header
        "unsigned": jws("none"),
        "expires_in": 3600,
        "scope": "openid",
    }
    assert signed_jwts(answer) == 2
    assert signed_jwts({"access_token": "opaque"}) == 0


@pytest.mark.parametrize(
    ("passgate", "peer", "expected"),
    [(1000.0, 500.0, 2.0), (250.0, 1000.0, 0.25), (None, 5.0, None), (5.0, 0.0, None)],
)
def test_ratio_is_passgate_over_the_peer(
    passgate: float | None, peer: float | None, expected: float | None
) -> None:
    assert ratio(passgate, peer) == expected


def test_table_rows() -> None:
    comparisons = [
        Comparison("discovery", {"passgate": side(2000), "peer": side(4000)}),
        Comparison(
            "client_credentials",
            {"passgate": side(900, signed=1, discarded=1), "peer": side(1200, signed=1)},
        ),
        Comparison(
            "refresh_token",
            {
                "passgate": Side(failure="ServerError: exited with 1:"),
                "peer": side(800, errors=2, steal=0.07, discarded=3, signed=1, server_cpu=None),
            },
        ),
    ]
    lines = table(comparisons).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == peerreport.HEADER
    assert lines[1].startswith("| ---")  # the scenario column is left-aligned, the rest right
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert cells[0] == [
        "discovery",
        "2,000.0",
        "4,000.0",
        "0.50",
        "50.00 / 99.00",
        "50.00 / 99.00",
        "–",
        "0: 99 / 0.0, 1: 40 / 0.0 (server 95)",
        "0: 99 / 0.0, 1: 40 / 0.0 (server 95)",
        "0 / 0",
    ]
    assert cells[1][3] == "0.75"
    assert (cells[1][6], cells[1][9]) == ("1 / 1", "1 / 0")
    assert cells[2][1:4] == ["failed", "800.0 (2 errors)", "–"]
    assert (cells[2][4], cells[2][6]) == ("–", "– / 1")
    assert (cells[2][7], cells[2][8]) == ("–", "0: 99 / 7.0, 1: 40 / 0.0")
    assert cells[2][9] == "– / 3*"  # every try passed the limit: the least bad one is shown


def test_cores_cell_adds_the_servers_and_the_benchs_own_cpu() -> None:
    result = ScenarioResult("x", "x", (1.0,), 0, elapsed_s=2.0, server_cpu_s=1.5, client_cpu_s=1)
    measured = Measured(Window(result, {0: CoreShare(0.8, 0.01)}), ())
    assert peerreport.cores_cell(Side(measured)) == "0: 80 / 1.0 (server 75, bench 50)"


def test_windows_the_load_generator_limited_are_named() -> None:
    comparisons = [
        Comparison(
            "jwks",
            {
                "passgate": side(10),
                "peer": side(20, server_busy=0.5, server_cpu=0.45, load_busy=0.97),
            },
        ),
        Comparison("login", {"passgate": side(10, load_busy=0.95), "peer": side(20)}),
        Comparison(
            "discovery",
            {
                "passgate": side(10, server_busy=0.6, server_cpu=0.55, load_busy=0.9),
                "peer": Side(failure="x"),
            },
        ),
    ]
    # login: the load's core was busy, but so was the server's (98.7 %): the server's limit.
    assert flag_notes(comparisons) == [
        "Load generator's core at least 90 % busy while the server's was not: jwks (peer), "
        "discovery (passgate); those rates are what the load generator reached, not the "
        "server's limit."
    ]
    assert flag_notes(comparisons[1:2]) == []
    unwatched = Window(ScenarioResult("x", "x", (), 0, elapsed_s=1.0), {})
    assert not peerreport.load_bound(Side(Measured(unwatched, ())))
    assert not peerreport.shared_core(Side(Measured(unwatched, ())))


def test_windows_whose_server_core_ran_others_are_named() -> None:
    comparisons = [
        # the server used 20 of its core's 95 %: others had 75 points of it
        Comparison(
            "login", {"passgate": side(10), "peer": side(5, server_busy=0.95, server_cpu=0.2)}
        ),
        # 98.7 - 90 = 8.7 points: within what a window may lose to others
        Comparison(
            "jwks", {"passgate": side(10, server_cpu=0.9), "peer": side(5, server_cpu=None)}
        ),
    ]
    assert flag_notes(comparisons) == [
        "Server's core busier than the server by more than 10 points: login (peer); other "
        "processes ran there (PostgreSQL's backends, or other work on the machine, which "
        "steal does not count)."
    ]


def _args(**overrides: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "server_cpus": frozenset({0}),
        "load_cpu": 1,
        "storage": "sqlite",
        "postgres_dsn": None,
        "skip_approval": False,
        "spec": LoadSpec(concurrency=16, duration_s=5.0, warmup_s=1.0),
        "concurrency": 16,
        "client": "raw",
        "duration": 5.0,
        "warmup": 1.0,
        "log_level": "info",
        "bcrypt_cost": 4,
        "steal_limit": 5.0,
        "steal_retries": 3,
    }
    return argparse.Namespace(**(values | overrides))


def test_describe_says_where_each_part_ran() -> None:
    text = describe(_args())
    assert "Each server alone on CPU 0 (taskset), the load generator on CPU 1" in text
    assert "16 connections (raw client, closed loop)" in text
    assert "Passgate on SQLite" in text
    assert "bcrypt cost 4 (the peer checks no password)" in text
    assert "consent shown and accepted" in text
    assert "steal passed 5 % was run again, 3 times at most" in text


def test_describe_postgres_and_skipped_consent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peerreport, "postgres_cpus", lambda dsn: f"its backends on CPU 0 ({dsn})")
    rate = LoadSpec(concurrency=16, duration_s=5.0, warmup_s=1.0, rate=500.0)
    args = _args(storage="postgres", postgres_dsn="pg", skip_approval=True, spec=rate)
    text = describe(args)
    assert "Passgate on PostgreSQL (its backends on CPU 0 (pg))" in text
    assert "consent skipped (AUTO_CONSENT=1)" in text
    assert "open loop at 500/s offered" in text


@pytest.mark.postgres
def test_postgres_cpus_of_a_server_on_this_machine() -> None:
    dsn = os.environ.get("PASSGATE_TEST_POSTGRES_DSN")
    if not dsn:
        missing("POSTGRES", "PASSGATE_TEST_POSTGRES_DSN is unset (scripts/with-test-services)")
    assert peerreport.postgres_cpus(dsn).startswith("its backends on CPU ")


def test_postgres_cpus_unknown_without_a_server() -> None:
    dsn = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"
    assert peerreport.postgres_cpus(dsn) == "its CPUs unknown: not a process of this machine"


def test_report_names_the_command_and_explains_the_columns() -> None:
    info = RunInfo(
        command="python -m bench.run --peer --duration 2",
        revision="abc1234",
        when="2026-12-08 00:00 UTC",
        machine="2 CPUs",
        setup="Each server alone on CPU 0.",
    )
    text = report([Comparison("jwks", {"passgate": side(10), "peer": side(20)})], info)
    lines = text.splitlines()
    assert lines[0] == "## Passgate and the oidc-provider peer"
    assert lines[2] == (
        "`python -m bench.run --peer --duration 2` at abc1234, 2026-12-08 00:00 UTC; 2 CPUs."
    )
    assert "| jwks " in text
    assert lines[-1].startswith("ratio = Passgate ÷ peer.")  # no window was load-bound
    bound = Comparison(
        "jwks", {"passgate": side(10), "peer": side(20, server_busy=0.2, load_busy=1)}
    )
    assert report([bound], info).splitlines()[-1].startswith("Load generator's core")
