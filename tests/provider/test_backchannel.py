"""Back-Channel Logout delivery against a real relying party: a Starlette app on a loopback
port (uvicorn in a thread) that validates every logout token as BCL 1.0 §2.6 tells an RP
to, with PyJWT (not the joserfc that signed it), and answers from a script."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import jwt as pyjwt
import pytest
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.fakeserver import serve_app
from e2e.support import free_port
from passgate.clock import FrozenClock, system_clock
from passgate.keys import KeyManager
from passgate.provider import backchannel
from passgate.provider.audit import AuditLog
from passgate.provider.backchannel import (
    BACKCHANNEL_LOGOUT,
    LOGOUT_EVENT,
    BackchannelNotifier,
    LogoutTarget,
)
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import AuditEvent, AuditFilter, Keys

pytestmark = pytest.mark.anyio

ISSUER = "https://sso.example.com/dex"
SID = "session-1"
SUB = "CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs"


@dataclass(frozen=True, slots=True)
class Answer:
    """One scripted answer: wait ``delay`` seconds (or until the OP hangs up), then reply."""

    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Received:
    client_id: str
    header: dict[str, Any]
    claims: dict[str, Any]
    token: str
    at: float  # time.monotonic() on arrival


class RelyingParty:
    """Back-channel logout endpoints ``/logout/{client_id}``: §2.6 validation, then the
    next scripted answer for that client (200 once the script runs out)."""

    def __init__(self) -> None:
        self.base = ""
        self.jwks: dict[str, Any] = {}
        self.scripts: dict[str, list[Answer]] = {}
        self.received: list[Received] = []
        self.errors: list[str] = []
        self.seen_jti: set[str] = set()
        self.release = threading.Event()  # ends every pending delay at teardown

    def reset(self) -> None:
        self.scripts, self.received, self.errors = {}, [], []
        self.seen_jti = set()
        self.release = threading.Event()

    def uri(self, client_id: str) -> str:
        return f"{self.base}/logout/{client_id}"

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/logout/{client_id}", self.logout, methods=["POST"])])

    async def logout(self, request: Request) -> Response:
        client_id = request.path_params["client_id"]
        try:
            received = await self._validate(request, client_id)
        except Exception as exc:  # §2.8: an invalid token is answered 400
            self.errors.append(f"{client_id}: {type(exc).__name__}: {exc}")
            return Response(status_code=400, headers={"cache-control": "no-store"})
        self.received.append(received)
        script = self.scripts.get(client_id, [])
        answer = script.pop(0) if script else Answer()
        deadline, release = time.monotonic() + answer.delay, self.release
        while time.monotonic() < deadline and not release.is_set():
            if await request.is_disconnected():
                break
            await asyncio.sleep(0.01)
        return Response(status_code=answer.status, headers=answer.headers)

    async def _validate(self, request: Request, client_id: str) -> Received:
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        form = await request.form()
        assert list(form) == ["logout_token"]
        token = form["logout_token"]
        assert isinstance(token, str)
        header = pyjwt.get_unverified_header(token)
        assert header["typ"] == "logout+jwt"  # §2.6 step 3 (explicit typing)
        key = pyjwt.PyJWKSet.from_dict(self.jwks)[header["kid"]].key
        # §2.6 step 2: signature, iss, aud, iat (and exp) as for an ID token.
        claims: dict[str, Any] = pyjwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=client_id,
            issuer=ISSUER,
            options={"require": ["iss", "aud", "iat", "exp", "jti", "events"]},
        )
        assert "sub" in claims or "sid" in claims  # step 4
        assert claims["sid"] == SID  # this RP registered backchannel_logout_session_required
        assert claims["events"][LOGOUT_EVENT] == {}  # step 5: a JSON object
        assert "nonce" not in claims  # step 6
        assert claims["jti"] not in self.seen_jti  # step 7: no replays
        self.seen_jti.add(claims["jti"])
        return Received(client_id, header, claims, token, time.monotonic())

    def for_client(self, client_id: str) -> list[Received]:
        return [r for r in self.received if r.client_id == client_id]


@dataclass
class World:
    rp: RelyingParty
    clock: FrozenClock
    storage: MemoryStorage
    keys: KeyManager
    audit: AuditLog

    def notifier(self, **settings: Any) -> BackchannelNotifier:
        settings = {"first_delay": 0.01, "timeout": 1.0} | settings
        return BackchannelNotifier(
            issuer=ISSUER, keys=self.keys, clock=self.clock, audit=self.audit, **settings
        )

    async def events(self) -> list[AuditEvent]:
        """The back-channel audit events, oldest first."""
        newest_first = await self.storage.list_audit_events(AuditFilter(action=BACKCHANNEL_LOGOUT))
        return newest_first[::-1]

    async def event_of(self, client_id: str) -> AuditEvent:
        (event,) = [e for e in await self.events() if e.client_id == client_id]
        return event


@pytest.fixture(scope="module")
def rp_server() -> Iterator[RelyingParty]:
    party = RelyingParty()
    with serve_app(party.app()) as base:
        party.base = base
        yield party


@pytest.fixture
def rp(rp_server: RelyingParty) -> Iterator[RelyingParty]:
    """The module's relying party, with a clean slate for each test."""
    rp_server.reset()
    try:
        yield rp_server
    finally:
        rp_server.release.set()
    assert rp_server.errors == []


@pytest.fixture
async def world(rp: RelyingParty, anyio_backend: str) -> World:
    # Real time in whole seconds, standing still: PyJWT checks iat and exp against the
    # real clock, and the test checks them against this one.
    clock = FrozenClock(system_clock().replace(microsecond=0))
    storage = MemoryStorage()
    keys = KeyManager(
        storage, clock, rotation_period=timedelta(hours=6), id_token_lifetime=timedelta(hours=1)
    )
    await keys.start()
    rp.jwks = await keys.jwks()
    return World(rp, clock, storage, keys, AuditLog(storage, clock, log_events=False))


def target(rp: RelyingParty, client_id: str) -> LogoutTarget:
    return LogoutTarget(client_id, rp.uri(client_id))


async def test_each_client_gets_its_own_valid_logout_token(world: World) -> None:
    rp, notifier = world.rp, world.notifier()
    secret_query = LogoutTarget("app-b", f"{rp.uri('app-b')}?tenant=t1&key=s3cret")
    notifier.notify(
        [target(rp, "app-a"), secret_query], sid=SID, subject=SUB, user_id="u1",
        connector_id="local", actor="jane@example.com",
    )  # fmt: skip
    await notifier.drain()
    await notifier.close()

    a, b = rp.for_client("app-a"), rp.for_client("app-b")
    assert len(a) == len(b) == 1
    iat = int(world.clock().timestamp())
    for received, aud in ((a[0], "app-a"), (b[0], "app-b")):
        assert set(received.claims) == {"iss", "sub", "aud", "iat", "exp", "jti", "events", "sid"}
        assert received.claims["aud"] == aud
        assert (received.claims["sub"], received.claims["iss"]) == (SUB, ISSUER)
        assert (received.claims["iat"], received.claims["exp"]) == (iat, iat + 120)
        assert set(received.header) == {"typ", "alg", "kid"}
    assert a[0].claims["jti"] != b[0].claims["jti"]

    events = await world.events()
    assert {e.client_id for e in events} == {"app-a", "app-b"}
    for event in events:
        assert (event.outcome, event.actor, event.user_id) == ("success", "jane@example.com", "u1")
        assert (event.session_id, event.connector_id) == (SID, "local")
        assert (event.details["status"], event.details["attempts"]) == ("200", "1")
    assert (await world.event_of("app-b")).details["uri"] == rp.uri("app-b")  # no query


async def test_5xx_is_retried_with_a_fresh_token_until_success(world: World) -> None:
    world.rp.scripts["app"] = [Answer(503), Answer(503), Answer(200)]
    notifier = world.notifier()
    notifier.notify([target(world.rp, "app")], sid=SID, subject=SUB)
    await notifier.drain()
    await notifier.close()
    received = world.rp.for_client("app")
    assert len(received) == 3
    assert len({r.claims["jti"] for r in received}) == 3  # the RP's replay check passed
    # Backoff doubles: 10 ms, then 20 ms.
    assert received[2].at - received[1].at >= 0.015
    event = await world.event_of("app")
    assert (event.outcome, event.actor) == ("success", "system")
    assert (event.details["status"], event.details["attempts"]) == ("200", "3")


@pytest.mark.parametrize("answer", [Answer(400), Answer(302, headers={"location": "/logout/x"})])
async def test_a_refusal_or_redirect_is_final(world: World, answer: Answer) -> None:
    world.rp.scripts["app"] = [answer]
    # A client that would follow redirects: the notifier refuses to, per request.
    async with httpx.AsyncClient(follow_redirects=True) as http:
        notifier = world.notifier(http=http)
        with structlog.testing.capture_logs() as logs:
            notifier.notify([target(world.rp, "app")], sid=SID, subject=SUB)
            await notifier.drain()
        await notifier.close()
        assert not http.is_closed  # not the notifier's to close
    assert len(world.rp.received) == 1
    event = await world.event_of("app")
    assert event.outcome == "failure"
    assert (event.details["status"], event.details["attempts"]) == (str(answer.status), "1")
    [line] = [log for log in logs if log["event"] == "backchannel logout failed"]
    assert line["log_level"] == "warning"
    assert (line["client_id"], line["status"], line["attempts"]) == ("app", str(answer.status), 1)


async def test_a_refused_connection_fails_after_every_attempt(world: World) -> None:
    nowhere = LogoutTarget("gone", f"http://127.0.0.1:{free_port()}/logout")
    notifier = world.notifier(attempts=3)
    notifier.notify([nowhere], sid=SID, subject=SUB)
    await notifier.drain()
    await notifier.close()
    event = await world.event_of("gone")
    assert event.outcome == "failure"
    assert (event.details["status"], event.details["attempts"]) == ("ConnectError", "3")


async def test_a_slow_rp_counts_as_a_failed_attempt(world: World) -> None:
    world.rp.scripts["late-once"] = [Answer(delay=5)]
    world.rp.scripts["late-always"] = [Answer(delay=5), Answer(delay=5)]
    notifier = world.notifier(attempts=2, timeout=0.2)
    started = time.monotonic()
    notifier.notify(
        [target(world.rp, "late-once"), target(world.rp, "late-always")], sid=SID, subject=SUB
    )
    await notifier.drain()
    await notifier.close()
    assert time.monotonic() - started < 2
    once, always = await world.event_of("late-once"), await world.event_of("late-always")
    assert (once.outcome, once.details["attempts"]) == ("success", "2")
    assert (always.outcome, always.details["status"]) == ("failure", "timeout")
    assert always.details["attempts"] == "2"


async def test_retry_after_is_honoured(world: World) -> None:
    world.rp.scripts["app"] = [Answer(429, headers={"retry-after": "1"})]
    notifier = world.notifier()
    notifier.notify([target(world.rp, "app")], sid=SID, subject=SUB)
    await notifier.drain()
    await notifier.close()
    first, second = world.rp.for_client("app")
    assert second.at - first.at >= 0.95  # not the 10 ms backoff
    event = await world.event_of("app")
    assert (event.outcome, event.details["attempts"]) == ("success", "2")


async def test_retry_after_is_capped(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backchannel, "MAX_DELAY", 0.2)
    world.rp.scripts["app"] = [Answer(503, headers={"retry-after": "3600"})]
    notifier = world.notifier()
    notifier.notify([target(world.rp, "app")], sid=SID, subject=SUB)
    with pytest.raises(TimeoutError):  # still waiting: the cap is not the backoff
        async with asyncio.timeout(0.1):
            await notifier.drain()
    await notifier.drain()
    await notifier.close()
    first, second = world.rp.for_client("app")
    assert 0.15 <= second.at - first.at < 1


async def test_notify_returns_before_delivery(world: World) -> None:
    world.rp.scripts["app"] = [Answer(delay=0.3)]
    notifier = world.notifier()
    started = time.monotonic()
    notifier.notify([target(world.rp, "app")], sid=SID, subject=SUB)
    assert time.monotonic() - started < 0.05
    assert await world.events() == []
    await notifier.drain()
    assert (await world.event_of("app")).outcome == "success"
    await notifier.close()


async def test_close_cancels_a_stuck_delivery_and_audits_it(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.rp.scripts["stuck"] = [Answer(delay=30)]
    notifier = world.notifier(timeout=30)
    notifier.notify([target(world.rp, "stuck")], sid=SID, subject=SUB)
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await notifier.close(grace=0.1)
    assert time.monotonic() - started < 1
    event = await world.event_of("stuck")
    assert (event.outcome, event.details["status"]) == ("failure", "cancelled")
    # Closed: later notices are dropped (and logged), no task is started.
    with structlog.testing.capture_logs() as logs:
        notifier.notify([target(world.rp, "late")], sid=SID, subject=SUB)
    assert [log["event"] for log in logs] == ["backchannel logout dropped: shutting down"]
    await notifier.drain()
    gc.collect()  # a task destroyed while pending would complain now
    assert [r for r in caplog.records if r.name == "asyncio"] == []


class KeylessStorage(MemoryStorage):
    async def get_keys(self) -> Keys:
        raise ConnectionError("storage is down")


async def test_a_crash_inside_a_delivery_is_logged_and_audited(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    hour = timedelta(hours=1)
    keys = KeyManager(KeylessStorage(), world.clock, rotation_period=hour, id_token_lifetime=hour)
    notifier = BackchannelNotifier(issuer=ISSUER, keys=keys, clock=world.clock, audit=world.audit)
    with structlog.testing.capture_logs() as logs:
        notifier.notify([target(world.rp, "app")], sid=SID, subject=SUB)
        await notifier.drain()
    await notifier.close()
    assert world.rp.received == []
    event = await world.event_of("app")
    assert (event.outcome, event.details["status"]) == ("failure", "ConnectionError")
    crashed = [log for log in logs if log["event"] == "backchannel logout crashed"]
    assert crashed[0]["error"] == "ConnectionError: storage is down"
    assert "exc_info" not in crashed[0]
    assert [r for r in caplog.records if r.name == "asyncio"] == []


async def test_the_token_is_never_logged_or_audited(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world.rp.scripts["flaky"] = [Answer(503), Answer(200)]
    world.rp.scripts["refusing"] = [Answer(400)]
    audit = AuditLog(world.storage, world.clock)  # with log lines, as in production
    notifier = BackchannelNotifier(
        issuer=ISSUER, keys=world.keys, clock=world.clock, audit=audit, first_delay=0.01
    )
    with structlog.testing.capture_logs() as logs:
        notifier.notify(
            [target(world.rp, "flaky"), target(world.rp, "refusing")], sid=SID, subject=SUB
        )
        await notifier.drain()
    await notifier.close()
    assert any(log["event"] == "audit" for log in logs)
    assert any(log["event"] == "backchannel logout failed" for log in logs)
    tokens = [r.token for r in world.rp.received]
    assert len(tokens) == 3
    written = repr(logs) + caplog.text + repr(await world.events())
    for token in tokens:
        assert token.rsplit(".", 1)[1] not in written  # not even the signature


async def test_settings_and_arguments_are_checked(world: World) -> None:
    for bad in ({"attempts": 0}, {"max_concurrent": 0}, {"first_delay": -1},
                {"timeout": 0}, {"timeout": 120}, {"token_lifetime": timedelta(0)}):  # fmt: skip
        with pytest.raises(ValueError, match="must"):
            world.notifier(**bad)
    notifier = world.notifier()
    with pytest.raises(ValueError, match="sid or a subject"):
        notifier.notify([target(world.rp, "app")], sid="", subject="")
    await notifier.close()
