import argparse
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from bench.compare import Servers, measure_side, one_window, signed_in_answer
from bench.launcher import Server, ServerError
from bench.loadgen import LoadSpec, run_load
from bench.peerserver import peer_target
from bench.run import main, parse_args
from bench.scenarios import COMPARED, worker_factory
from bench.target import Target, discover
from fakepeer import FakePeer, serve_peer

from bench import compare

SPEC = LoadSpec(concurrency=2, duration_s=30, max_requests=6, warmup_s=0)


def target_of(peer: FakePeer) -> Target:
    """What the comparison asks of the peer, pointed at the fake one's port."""
    return peer_target(int(peer.issuer.rsplit(":", 1)[1]))


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compare, "online_cpus", lambda: frozenset({0, 1}))
    monkeypatch.delenv("PASSGATE_TEST_POSTGRES_DSN", raising=False)


def test_peer_defaults(two_cpus: None) -> None:
    args = parse_args(["--peer"])
    assert args.scenarios == list(COMPARED)
    assert COMPARED == ("discovery", "jwks", "client_credentials", "refresh_token", "login")
    assert args.bcrypt_cost == compare.PEER_BCRYPT_COST == 4
    assert (args.server_cpus, args.load_cpu, args.cores) == ({0}, 1, (0, 1))
    assert (args.storage, args.steal_limit, args.steal_retries) == ("sqlite", 5.0, 3)
    assert args.markdown is None


def test_peer_options(two_cpus: None, tmp_path: Path) -> None:
    argv = ["--peer", "--scenarios", "jwks,login", "--bcrypt-cost", "10", "--server-cpus", "1"]
    args = parse_args([*argv, "--markdown", str(tmp_path / "r.md"), "--steal-retries", "0"])
    assert args.scenarios == ["jwks", "login"]
    assert args.bcrypt_cost == 10
    assert (args.server_cpus, args.load_cpu, args.cores) == ({1}, 0, (1, 0))
    assert args.markdown == tmp_path / "r.md"
    assert parse_args([]).bcrypt_cost == 10  # the plain bench keeps Dex's cost


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--scenarios", "tokenreview"], "not tokenreview"),
        (["--issuer", "http://127.0.0.1:5556/dex"], "no --issuer"),
        (["--storage", "postgres"], "PASSGATE_TEST_POSTGRES_DSN"),
        (["--steal-limit", "150"], "percentage"),
    ],
)
def test_peer_refusals(
    two_cpus: None, argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--peer", *argv])
    assert says in capsys.readouterr().err


def test_no_cpu_left_for_the_load(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(compare, "online_cpus", lambda: frozenset({0}))
    with pytest.raises(SystemExit):
        parse_args(["--peer", "--server-cpus", str(min(os.sched_getaffinity(0)))])
    assert "no CPU left for the load generator" in capsys.readouterr().err


def test_a_missing_peer_says_where_and_fails(
    two_cpus: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compare.shutil, "which", lambda name: f"/usr/bin/{name}")  # node, npm
    affinity = os.sched_getaffinity(0)
    assert main(["--peer", "--peer-dir", str(tmp_path / "nowhere")]) == 2
    assert "the performance peer is missing" in capsys.readouterr().err
    assert os.sched_getaffinity(0) == affinity  # nothing was pinned


@pytest.mark.anyio
@pytest.mark.parametrize(("compared", "form"), [(True, {}), (False, {"scope": "openid"})])
async def test_client_credentials_asks_the_peer_for_one_token(
    compared: bool, form: dict[str, str]
) -> None:
    async with serve_peer() as peer, httpx.AsyncClient() as http:
        target = target_of(peer)
        endpoints = await discover(http, target.issuer)
        factory = worker_factory("client_credentials", target, endpoints, compared=compared)
        outcome = await run_load(factory, SPEC)
    assert (len(outcome.latencies_ms), outcome.errors) == (6, 0), outcome.error_samples
    assert peer.forms == [{"grant_type": "client_credentials", **form}] * 6


@pytest.mark.anyio
async def test_refresh_signs_in_through_login_and_consent_then_chains_rotated_tokens() -> None:
    async with serve_peer() as peer, httpx.AsyncClient() as http:
        target = target_of(peer)
        endpoints = await discover(http, target.issuer)
        factory = worker_factory("refresh_token", target, endpoints, compared=True)
        outcome = await run_load(factory, SPEC)
    assert (len(outcome.latencies_ms), outcome.errors) == (6, 0), outcome.error_samples
    assert sorted(peer.pages) == ["consent"] * 2 + ["login"] * 2  # a sign-in per connection
    grants = [f["grant_type"] for f in peer.forms]
    assert sorted(grants) == ["authorization_code"] * 2 + ["refresh_token"] * 6
    assert all("code_verifier" in f for f in peer.forms if f["grant_type"] == "authorization_code")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("auto_consent", "pages"), [(False, ["login", "consent"]), (True, ["login"])]
)
async def test_login_is_one_whole_sign_in(auto_consent: bool, pages: list[str]) -> None:
    async with serve_peer(auto_consent) as peer, httpx.AsyncClient() as http:
        target = target_of(peer)
        endpoints = await discover(http, target.issuer)
        spec = LoadSpec(concurrency=1, duration_s=30, max_requests=3, warmup_s=0)
        outcome = await run_load(worker_factory("login", target, endpoints, compared=True), spec)
    assert (len(outcome.latencies_ms), outcome.errors) == (3, 0), outcome.error_samples
    assert peer.pages == pages * 3
    assert [f["grant_type"] for f in peer.forms] == ["authorization_code"] * 3


def _args(**overrides: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "timeout": 10.0,
        "client": "raw",
        "spec": SPEC,
        "cores": (0,),
        "steal_limit": 100.0,
        "steal_retries": 0,
    }
    return argparse.Namespace(**(values | overrides))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("scenario", "signed"),
    [("discovery", None), ("client_credentials", 1), ("refresh_token", 1), ("login", 1)],
)
async def test_signed_tokens_are_counted_in_one_answer(scenario: str, signed: int | None) -> None:
    async with serve_peer(auto_consent=True) as peer, httpx.AsyncClient() as http:
        target = target_of(peer)
        endpoints = await discover(http, target.issuer)
        assert await signed_in_answer(_args(), scenario, endpoints, target) == signed


class _ThisProcess(Server):
    """A "server" whose CPU time is the test's own: the fake peer runs in it."""

    def __init__(self) -> None:
        super().__init__(["true"], Path(os.devnull))

    @property
    def pid(self) -> int:
        return os.getpid()


@pytest.mark.anyio
async def test_one_window_measures_the_load_and_the_cores() -> None:
    async with serve_peer() as peer, httpx.AsyncClient() as http:
        target = target_of(peer)
        endpoints = await discover(http, target.issuer)
        window = await one_window(_args(), "peer", "jwks", _ThisProcess(), target, endpoints)
    assert (window.result.ok, window.result.errors, window.result.backend) == (6, 0, "peer")
    assert list(window.cores) == [0]
    assert window.result.server_cpu_s is not None


class _FakeServers(Servers):
    """Servers whose start is the fake peer already running, or a start that fails."""

    def __init__(self, target: Target | None) -> None:
        self.args = _args()
        self.target = target

    @contextlib.asynccontextmanager
    async def started(self, name: str) -> AsyncIterator[tuple[Server, Target]]:
        if self.target is None:
            raise ServerError("exited with 1:\nno config")
        yield _ThisProcess(), self.target


@pytest.mark.anyio
async def test_measure_side_keeps_a_window_and_counts_signatures() -> None:
    async with serve_peer() as peer:
        side = await measure_side(_FakeServers(target_of(peer)), "peer", "client_credentials")
    assert side.failure == ""
    assert side.signed == 1
    assert side.measured is not None
    assert side.measured.kept.result.ok == 6
    assert side.measured.discarded == ()


@pytest.mark.anyio
async def test_a_server_that_does_not_start_is_reported() -> None:
    side = await measure_side(_FakeServers(None), "passgate", "jwks")
    assert side.measured is None
    assert side.failure == "ServerError: exited with 1:"
