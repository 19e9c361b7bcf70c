import os

import pytest
from bench.loadgen import LoadSpec
from bench.run import is_loopback, main, parse_args
from bench.scenarios import SCENARIOS


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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scenarios", "nope"], "unknown scenarios"),
        (["--issuer", "https://sso.example.com/dex"], "must be on this machine"),
        (["--backends", "mysql"], "sqlite and/or postgres"),
        (["--backends", "postgres"], "needs --postgres-dsn"),
        (["--concurrency", "0"], "concurrency"),
        (["--requests", "0"], "max_requests"),
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
    measured = {(r[0], r[1]): r for r in rows if len(r) == 9}
    for backend in backends:
        for scenario in SCENARIOS:
            row = measured[scenario, backend]
            assert float(row[2].replace(",", "")) > 0, row  # rps
            assert row[6] == "0", row  # errors
    servers = {r[0] for r in rows if len(r) == 4 and r[1].replace(",", "").isdigit()}
    assert servers == set(backends)
