"""The garbage collector: uses the injected clock, logs what it removed, and keeps
running after a failed collection until it is cancelled."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import anyio
import pytest
import structlog.testing

from passgate.clock import FrozenClock
from passgate.storage.gc import GarbageCollector, structlog_log
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import AuditEvent, AuditFilter, Claims, GCResult, Session

pytestmark = pytest.mark.anyio

START = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
TICK = timedelta(milliseconds=5)


class Recorder:
    def __init__(self) -> None:
        self.entries: list[tuple[int, str, dict[str, object]]] = []
        self.event = anyio.Event()
        self.wanted = 1

    def __call__(self, level: int, event: str, /, **fields: object) -> None:
        self.entries.append((level, event, fields))
        if len(self.entries) >= self.wanted:
            self.event.set()


class FlakyStorage(MemoryStorage):
    """Fails its first garbage collection, like a database that blinked."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[datetime] = []

    async def garbage_collect(self, now: datetime) -> GCResult:
        self.calls.append(now)
        if len(self.calls) == 1:
            raise ConnectionError("server closed the connection")
        return await super().garbage_collect(now)


async def test_run_once_uses_the_clock() -> None:
    storage = MemoryStorage()
    clock = FrozenClock(START)
    await storage.revoke_token("jti", START + timedelta(minutes=1))
    gc = GarbageCollector(storage, clock, timedelta(minutes=5), Recorder())

    assert await gc.run_once() == GCResult()
    clock.advance(timedelta(minutes=2))
    assert await gc.run_once() == GCResult(revoked_tokens=1)
    assert not await storage.is_token_revoked("jti")


async def test_audit_retention_applies_only_when_set() -> None:
    storage = MemoryStorage()
    clock = FrozenClock(START)
    for i, age in enumerate((timedelta(days=91), timedelta(days=90), timedelta(days=1))):
        event = AuditEvent(id=f"ev-{i}", time=START - age, action="login.success", actor="a")
        await storage.append_audit_event(event)
    await storage.create_session(
        Session("s", "u", "local", "c", (), Claims("u", "u"), START, START, expiry=START)
    )

    kept = GarbageCollector(storage, clock, timedelta(minutes=5), Recorder())
    clock.advance(timedelta(seconds=1))
    assert await kept.run_once() == GCResult(sessions=1)
    assert len(await storage.list_audit_events(AuditFilter())) == 3

    retained = GarbageCollector(
        storage, clock, timedelta(minutes=5), Recorder(), audit_retention=timedelta(days=90)
    )
    # Older than now - 90 days: 91 days and, one second later now, the one of 90 days.
    assert await retained.run_once() == GCResult(audit_events=2)
    assert [e.id for e in await storage.list_audit_events(AuditFilter())] == ["ev-2"]
    assert await retained.run_once() == GCResult()


async def test_run_forever_logs_counts_only_when_something_was_removed() -> None:
    storage = MemoryStorage()
    await storage.revoke_token("a", START - timedelta(seconds=1))
    await storage.revoke_token("b", START - timedelta(seconds=1))
    log = Recorder()
    gc = GarbageCollector(storage, FrozenClock(START), TICK, log)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(gc.run_forever)
            await log.event.wait()
            # Several more (empty) rounds, which must stay silent.
            await anyio.sleep(TICK.total_seconds() * 5)
            tg.cancel_scope.cancel()

    assert log.entries == [
        (
            logging.INFO,
            "garbage collection",
            {
                "auth_requests": 0,
                "auth_codes": 0,
                "device_requests": 0,
                "device_tokens": 0,
                "revoked_tokens": 2,
                "login_attempts": 0,
                "sessions": 0,
                "revocations": 0,
                "audit_events": 0,
                "browser_sessions": 0,
            },
        )
    ]


async def test_a_failed_collection_is_logged_and_the_loop_goes_on() -> None:
    storage = FlakyStorage()
    await storage.revoke_token("a", START - timedelta(seconds=1))
    log = Recorder()
    log.wanted = 2
    gc = GarbageCollector(storage, FrozenClock(START), TICK, log)

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(gc.run_forever)
            await log.event.wait()
            tg.cancel_scope.cancel()

    (error_level, error_event, error_fields), (info_level, _, info_fields) = log.entries[:2]
    assert (error_level, error_event) == (logging.ERROR, "garbage collection failed")
    assert error_fields["error"] == "ConnectionError: server closed the connection"
    assert isinstance(error_fields["exc_info"], ConnectionError)
    assert info_level == logging.INFO
    assert info_fields["revoked_tokens"] == 1
    assert len(storage.calls) >= 2


async def test_run_forever_is_cancellable_while_sleeping() -> None:
    gc = GarbageCollector(MemoryStorage(), FrozenClock(START), timedelta(hours=1), Recorder())
    with anyio.fail_after(5), anyio.move_on_after(0.05) as scope:
        await gc.run_forever()
    assert scope.cancelled_caught


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        GarbageCollector(MemoryStorage(), FrozenClock(START), timedelta(0))


def test_default_log_is_the_structured_log() -> None:
    with structlog.testing.capture_logs() as logs:
        structlog_log(logging.INFO, "garbage collection", revoked_tokens=3)
    assert logs == [{"event": "garbage collection", "log_level": "info", "revoked_tokens": 3}]
