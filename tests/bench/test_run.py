import os
import shutil

import pytest
from bench.loadgen import LoadOutcome, LoadSpec
from bench.run import describe, is_loopback, lateness, main, measure, parse_args
from bench.scenarios import SCENARIOS
from bench.target import Target
from fakeissuer import serve_live


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("http://127.0.0.1:5556/dex", True),
        ("http://127.1.2.3/dex", True),
        ("http://[::1]:5556/dex", True),
        ("http://localhost:5556", True),
        ("https://sso.example.com/dex", False),
        ("http://10.0.0.1/dex", False),
        ("http://192.168.1.1/dex", False),
        ("http://localhost.example.com/", False),
    ],
)
def test_only_loopback_issuers(url: str, ok: bool) -> None:
    assert is_loopback(url) is ok


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASSGATE_TEST_POSTGRES_DSN", raising=False)
    args = parse_args([])
    assert args.scenarios == list(SCENARIOS)
    assert args.backends == ["sqlite"]
    assert args.spec == LoadSpec(concurrency=16, duration_s=5.0, max_requests=None, warmup_s=1.0)


def test_postgres_joins_when_a_dsn_is_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PASSGATE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1/postgres")
    assert parse_args([]).backends == ["sqlite", "postgres"]
    assert parse_args(["--backends", "postgres"]).backends == ["postgres"]


def test_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASSGATE_TEST_POSTGRES_DSN", raising=False)
    args = parse_args(
        ["--scenarios", "jwks, login", "--requests", "100", "--duration", "2", "--warmup", "0"]
    )
    assert args.scenarios == ["jwks", "login"]
    assert args.spec == LoadSpec(concurrency=16, duration_s=2.0, max_requests=100, warmup_s=0)
    assert args.server_cpus is None


def test_fixed_rate_and_pinning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PASSGATE_TEST_POSTGRES_DSN", raising=False)
    cpu = min(os.sched_getaffinity(0))
    args = parse_args(["--scenarios", "forward_auth", "--rate", "1000", "--server-cpus", str(cpu)])
    assert args.spec == LoadSpec(concurrency=16, duration_s=5.0, warmup_s=1.0, rate=1000.0)
    assert args.server_cpus == {cpu}
    text = describe(args)
    assert "Open loop: 1,000 requests/s offered" in text
    assert f"Server pinned to CPU {cpu}." in text
    assert "Open loop" not in describe(parse_args([]))


def test_lateness_of_an_open_loop_run() -> None:
    outcome = LoadOutcome(send_lags_ms=[float(v) / 100 for v in range(1, 101)])
    assert lateness(outcome) == "sent after due: p50 0.500 ms, p99 0.990 ms, max 1.000 ms"
    outcome.unsent = 3
    assert lateness(outcome).endswith("; 3 due but never sent (every connection was busy)")


@pytest.mark.anyio
async def test_another_issuer_skips_forward_auth_with_a_note(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PASSGATE_TEST_POSTGRES_DSN", raising=False)
    async with serve_live() as issuer:
        argv = ["--issuer", issuer.issuer, "--scenarios", "forward_auth,jwks"]
        args = parse_args([*argv, "--requests", "3", "--warmup", "0", "--concurrency", "1"])
        # What main() makes of --issuer and the credential flags: no forward-auth site.
        target = Target(issuer.issuer, username="me@example.com", password="pw")
        results = await measure(target, "other", args)
    assert [r.scenario for r in results] == ["jwks"]
    err = capsys.readouterr().err
    assert "forward_auth: skipped, needs the forwardAuth section the bench writes" in err
    assert "(not available with --issuer)" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scenarios", "nope"], "unknown scenarios"),
        (["--issuer", "https://sso.example.com/dex"], "must be on this machine"),
        (["--backends", "mysql"], "sqlite and/or postgres"),
        (["--backends", "postgres"], "needs --postgres-dsn"),
        (["--concurrency", "0"], "concurrency"),
        (["--requests", "0"], "max_requests"),
        (["--rate", "0"], "rate must be a positive number"),
        (["--server-cpus", "one"], "not a CPU list"),
        (["--server-cpus", "4096"], "this machine offers CPUs"),
    ],
)
def test_bad_arguments_are_refused(
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("PASSGATE_TEST_POSTGRES_DSN", raising=False)
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_the_benchmark_runs_against_passgate(capsys: pytest.CaptureFixture[str]) -> None:
    """Every scenario, briefly, against a real ``passgate serve`` (and PostgreSQL when
    PASSGATE_TEST_POSTGRES_DSN is set): the benchmark must not rot as the server changes."""
    argv = ["--duration", "0.3", "--warmup", "0", "--concurrency", "2", "--bcrypt-cost", "4"]
    status = main(argv)
    out, err = capsys.readouterr()
    assert status == 0, err
    backends = ["sqlite"]
    if os.environ.get("PASSGATE_TEST_POSTGRES_DSN"):
        backends.append("postgres")
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in out.splitlines()]
    measured = {(r[0], r[1]): r for r in rows if len(r) == 10}
    for backend in backends:
        for scenario in SCENARIOS:
            row = measured[scenario, backend]
            assert float(row[2].replace(",", "")) > 0, row  # rps
            assert row[7] == "0", row  # errors
    servers = {r[0] for r in rows if len(r) == 4 and r[1].replace(",", "").isdigit()}
    assert servers == set(backends)


@pytest.mark.slow
def test_forward_auth_at_a_fixed_rate_against_passgate(capsys: pytest.CaptureFixture[str]) -> None:
    """The open loop end to end: forward_auth offered 200 requests/s for half a second."""
    argv = ["--scenarios", "forward_auth", "--rate", "200", "--duration", "0.5", "--warmup", "0"]
    argv += ["--concurrency", "2", "--bcrypt-cost", "4", "--backends", "sqlite"]
    if shutil.which("taskset") and len(os.sched_getaffinity(0)) > 1:
        argv += ["--server-cpus", str(max(os.sched_getaffinity(0)))]
    before = os.sched_getaffinity(0)
    try:
        status = main(argv)
    finally:
        os.sched_setaffinity(0, before)  # main() moved this process off the server's CPU
    out, err = capsys.readouterr()
    assert status == 0, err
    [row] = [line for line in out.splitlines() if line.startswith("| forward_auth")]
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[0].startswith("forward_auth (200/s offered")
    assert 150 <= float(cells[2]) <= 210, cells  # the rate achieved
    assert cells[7] == "0", cells  # errors
    assert "sent after due: p50" in err


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["set", "generated"])
def test_token_scenarios_with_a_client_kept_in_storage(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--client-secret-kind: the client is made through the admin API and authenticates
    at the token endpoint; tokenreview, which maps the config file's client, is skipped."""
    argv = ["--scenarios", "client_credentials,refresh_token,tokenreview", "--duration", "0.3"]
    argv += ["--warmup", "0", "--concurrency", "2", "--bcrypt-cost", "4", "--backends", "sqlite"]
    status = main([*argv, "--sessions", "0", "--client-secret-kind", kind])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "client bench-stored in storage" in err
    assert "tokenreview: skipped" in err
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in out.splitlines()]
    measured = {r[0]: r for r in rows if len(r) == 10 and r[1] == "sqlite"}
    for scenario in ("client_credentials", "refresh_token"):
        assert float(measured[scenario][2].replace(",", "")) > 0
        assert measured[scenario][7] == "0"
    assert "kept in storage" in out
