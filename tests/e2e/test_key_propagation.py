"""Acceptance (publish first, sign later): two replicas on one real PostgreSQL, each with
its own pool, background loops and clock, mint ID tokens without pause while both JWKS
are polled every 50 ms, through scheduled rotations, a rotation asked of one replica and
(separately) the emergency path. Every token must verify against both replicas' JWKS:
any set fetched after the token was issued, and any set fetched up to ``max-age`` before
(what a cache that honours ``Cache-Control`` may still hold).

Replicas run in this process so that each can have its own injected clock; they share
nothing but the database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import anyio
import httpx
import jwt
import pytest
from bench.launcher import postgres_storage

from passgate.admin.auth import hash_token
from passgate.cli.compose import Runtime, build
from passgate.clock import Clock, system_clock
from passgate.config import parse_config
from server.harness import CLIENT_ID, EMAIL, ISSUER, PASSWORD, basic, bearer, config_text

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.anyio]

ADMIN_TOKEN = "pgadm_key-propagation-0123456789abcdef"
# Short, so that a test sees whole rotations: the delay is the minimum these allow.
RELOAD = 1.0
MAX_AGE = 1.0
DELAY = 2 * RELOAD + MAX_AGE
PERIOD = 10.0
POLL = 0.05


def replica_config(dsn: str) -> str:
    storage = postgres_storage(dsn)["config"]
    lines = "\n".join(f"    {name}: {value!r}" for name, value in storage.items() if name != "ssl")
    text = config_text(
        extra=f"""
signer:
  type: local
  config:
    keysRotationPeriod: {PERIOD}s
    keysReloadInterval: {RELOAD}s
    jwksMaxAge: {MAX_AGE}s
    propagationDelay: {DELAY}s
admin:
  tokens:
  - name: ops
    hash: "{hash_token(ADMIN_TOKEN)}"
""",
    )
    return text.replace(
        "storage:\n  type: memory\n",
        f"storage:\n  type: postgres\n  config:\n{lines}\n    ssl:\n      mode: disable\n",
        1,
    )


def offset_clock(seconds: float) -> Clock:
    def clock() -> datetime:
        return system_clock() + timedelta(seconds=seconds)

    return clock


@dataclasses.dataclass(frozen=True, slots=True)
class Snapshot:
    replica: str
    fetched: float  # time.monotonic() when the request was sent
    keys: dict[str, dict[str, Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class Minted:
    replica: str
    sent: float
    received: float
    id_token: str

    @property
    def kid(self) -> str:
        return str(jwt.get_unverified_header(self.id_token)["kid"])


@dataclasses.dataclass
class Replica:
    name: str
    runtime: Runtime
    http: httpx.AsyncClient

    async def jwks(self) -> Snapshot:
        sent = time.monotonic()
        response = await self.http.get("/dex/keys")
        assert response.status_code == 200, response.text
        assert (
            response.headers["cache-control"] == f"public, max-age={int(MAX_AGE)}, must-revalidate"
        )
        keys = {str(key["kid"]): key for key in response.json()["keys"]}
        return Snapshot(self.name, sent, keys)

    async def token(self, data: dict[str, str]) -> dict[str, Any]:
        response = await self.http.post("/dex/token", data=data, headers=basic())
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def rotate(self, *, now: bool = False) -> dict[str, Any]:
        response = await self.http.post(
            "/dex/admin/v1/keys/rotate",
            params={"now": "true"} if now else {},
            headers=bearer(ADMIN_TOKEN),
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@contextlib.asynccontextmanager
async def replicas(dsn: str, offsets: tuple[float, float]) -> AsyncIterator[list[Replica]]:
    """Two replicas started at the same instant (they race to create the first key)."""
    config = parse_config(replica_config(dsn), environ={})
    runtimes: list[Runtime] = [None, None]  # type: ignore[list-item]

    async def start(index: int) -> None:
        runtimes[index] = await build(config, clock=offset_clock(offsets[index]))

    async with anyio.create_task_group() as group:
        for index in range(2):
            group.start_soon(start, index)
    async with contextlib.AsyncExitStack() as stack, anyio.create_task_group() as loops:
        started = []
        for name, runtime in zip("AB", runtimes, strict=True):
            stack.push_async_callback(runtime.close)
            for loop in runtime.background:
                loops.start_soon(loop)
            transport = httpx.ASGITransport(app=runtime.app)
            http = httpx.AsyncClient(transport=transport, base_url=ISSUER.removesuffix("/dex"))
            await stack.enter_async_context(http)
            started.append(Replica(name, runtime, http))
        yield started
        loops.cancel_scope.cancel()


@dataclasses.dataclass
class Run:
    """Both JWKS polled and tokens minted on both replicas while ``during`` runs."""

    snapshots: list[Snapshot] = dataclasses.field(default_factory=list)
    minted: list[Minted] = dataclasses.field(default_factory=list)


async def observe(pair: list[Replica], during: Callable[[], Any]) -> Run:
    run = Run()
    done = anyio.Event()

    async def poll(replica: Replica) -> None:
        while not done.is_set():
            run.snapshots.append(await replica.jwks())
            await anyio.sleep(POLL)

    async def mint(replica: Replica) -> None:
        first = await replica.token(
            {"grant_type": "password", "username": EMAIL, "password": PASSWORD,
             "scope": "openid email offline_access"}
        )  # fmt: skip
        refresh = first["refresh_token"]
        while not done.is_set():
            sent = time.monotonic()
            body = await replica.token({"grant_type": "refresh_token", "refresh_token": refresh})
            run.minted.append(Minted(replica.name, sent, time.monotonic(), body["id_token"]))
            refresh = body["refresh_token"]
            await anyio.sleep(0.02)

    async with anyio.create_task_group() as group:
        for replica in pair:
            group.start_soon(poll, replica)
            group.start_soon(mint, replica)
        await during()
        done.set()
    return run


def verify(minted: Minted, snapshot: Snapshot) -> None:
    """PyJWT, with the key the snapshot publishes under the token's kid."""
    assert minted.kid in snapshot.keys, (
        f"a token of replica {minted.replica} (kid {minted.kid}) does not verify against "
        f"replica {snapshot.replica}'s JWKS fetched {snapshot.fetched - minted.sent:+.2f}s "
        f"after it was asked for (published: {sorted(snapshot.keys)})"
    )
    jwt.decode(
        minted.id_token,
        jwt.PyJWK(snapshot.keys[minted.kid]).key,
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=ISSUER,
        leeway=30,  # one replica's clock is off on purpose
    )


def failures(
    run: Run, *, exempt: Callable[[Minted, Snapshot], bool] = lambda m, s: False
) -> list[str]:
    """Every (token, JWKS) pair that must verify and does not. A token must verify against
    each replica's sets fetched after it was issued, and those fetched up to ``max-age``
    before it was asked for. The first set of each replica after it is checked in full
    (signature included); the others by kid."""
    found: list[str] = []
    for minted in run.minted:
        checked: set[str] = set()
        for snapshot in run.snapshots:
            if snapshot.fetched < minted.sent - MAX_AGE or exempt(minted, snapshot):
                continue
            try:
                if snapshot.fetched >= minted.received and snapshot.replica not in checked:
                    checked.add(snapshot.replica)
                    verify(minted, snapshot)
                else:
                    assert minted.kid in snapshot.keys, (
                        f"kid {minted.kid} of replica {minted.replica} missing from replica "
                        f"{snapshot.replica}'s JWKS fetched {snapshot.fetched - minted.sent:+.2f}s"
                    )
            except (AssertionError, jwt.InvalidTokenError) as error:
                found.append(str(error))
    return found


def timeline(run: Run) -> str:
    """When each kid was first and last published and used, by replica (for failures)."""
    start = min(s.fetched for s in run.snapshots)

    def span(times: list[float]) -> str:
        return f"{min(times, default=-1):.2f}..{max(times, default=-1):.2f}"

    lines = []
    kids = dict.fromkeys(k for s in run.snapshots for k in s.keys)
    kids.update(dict.fromkeys(m.kid for m in run.minted))
    for kid in kids:
        for name in "AB":
            seen = [s.fetched - start for s in run.snapshots if s.replica == name and kid in s.keys]
            used = [m.sent - start for m in run.minted if m.replica == name and m.kid == kid]
            lines.append(f"{kid[:8]} {name}: published {span(seen)}, signing {span(used)}")
    return "\n".join(lines)


@pytest.mark.parametrize("offset", [0.0, 5.0], ids=["same-clock", "clock-5s-ahead"])
async def test_every_token_verifies_on_both_replicas_through_rotations(
    postgres_dsn: str, offset: float
) -> None:
    async with replicas(postgres_dsn, (0.0, offset)) as (first, second):
        asked: dict[str, Any] = {}

        async def during() -> None:
            # A scheduled rotation and a half, then a rotation asked of one replica,
            # which the other only learns about through the database.
            await anyio.sleep(PERIOD * 1.5)
            asked.update(await first.rotate())
            await anyio.sleep(DELAY + RELOAD + 1.0)

        run = await observe([first, second], during)

    problems = failures(run)
    assert not problems, f"{len(problems)} failures, first: {problems[:3]}\n{timeline(run)}"
    kids = [minted.kid for minted in sorted(run.minted, key=lambda m: m.sent)]
    signing = list(dict.fromkeys(kids))
    # The first key, at least one scheduled rotation, and the one asked for.
    assert len(signing) >= 3, signing
    assert asked["next_key"]["kid"] == signing[-1]
    assert {m.replica for m in run.minted if m.kid == signing[-1]} == {"A", "B"}
    assert len(run.snapshots) > 2 * (PERIOD * 1.5) / (POLL + 0.05)
    assert len(run.minted) > 100


async def test_the_emergency_rotation_fails_verifiers_only_in_its_window(
    postgres_dsn: str,
) -> None:
    async with replicas(postgres_dsn, (0.0, 0.0)) as (first, second):
        before = await first.jwks()
        rotated: dict[str, Any] = {}

        async def during() -> None:
            await anyio.sleep(1.0)
            rotated["at"] = time.monotonic()
            rotated.update(await first.rotate(now=True))
            rotated["done"] = time.monotonic()
            await anyio.sleep(RELOAD + 2.0)

        run = await observe([first, second], during)

    new = rotated["signing_key"]["kid"]
    (compromised,) = before.keys
    assert rotated["next_key"] is None
    # The documented window: until the other replica re-reads the keys (one reload
    # interval) and a verifier's cached set expires (max-age).
    window_end = rotated["done"] + RELOAD + MAX_AGE + 0.5

    def exempt(minted: Minted, snapshot: Snapshot) -> bool:
        if minted.kid == compromised and snapshot.fetched >= rotated["at"]:
            return True  # the point: tokens of the dropped key stop verifying
        return rotated["at"] - MAX_AGE <= max(minted.sent, snapshot.fetched) <= window_end

    problems = failures(run, exempt=exempt)
    assert not problems, f"{len(problems)} failures, first: {problems[:3]}\n{timeline(run)}"
    # The replica that rotated signs with the new key at once and drops the old one.
    after_first = [m for m in run.minted if m.replica == "A" and m.sent > rotated["done"]]
    assert after_first
    assert {m.kid for m in after_first} == {new}
    assert all(
        compromised not in s.keys
        for s in run.snapshots
        if s.replica == "A" and s.fetched > rotated["done"]
    )
    # The other one within the window.
    late = [s for s in run.snapshots if s.fetched > window_end]
    assert late
    assert all(set(s.keys) == {new} for s in late)
    assert all(m.kid == new for m in run.minted if m.sent > window_end)
