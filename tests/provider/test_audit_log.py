"""The audit log: stored in order, exported as JSON lines whatever the log level, details
kept apart from the event's own fields, and a storage failure never breaks the action."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import anyio
import pytest
import structlog

from passgate.clock import FrozenClock
from passgate.logs import configure
from passgate.provider.audit import LOGIN_SUCCESS, AuditLog
from passgate.storage.base import StorageUnavailableError
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import AuditEvent, AuditFilter

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _reset_logging() -> object:
    yield None
    structlog.reset_defaults()


async def test_events_are_stored_with_their_fields() -> None:
    storage = MemoryStorage()
    log = AuditLog(storage, FrozenClock(NOW), log_events=False)
    first = await log.record(LOGIN_SUCCESS, "jane@example.com", user_id="u1", client_id="app")
    second = await log.record("logout", "jane@example.com", session_id="s1")
    assert (first.seq, second.seq) == (1, 2)
    stored = await storage.list_audit_events(AuditFilter())
    assert [event.action for event in stored] == ["logout", LOGIN_SUCCESS]
    assert stored[1].time == NOW
    assert (stored[1].user_id, stored[1].client_id) == ("u1", "app")


async def test_export_survives_a_warn_level_and_nests_details(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("warn", "json")
    log = AuditLog(MemoryStorage(), FrozenClock(NOW))
    await log.record(LOGIN_SUCCESS, "jane", remote_addr="10.0.0.1", details={"action": "forged"})
    [line] = capsys.readouterr().err.splitlines()
    exported = json.loads(line)
    assert exported["event"] == "audit"
    assert exported["action"] == LOGIN_SUCCESS  # a detail cannot overwrite it
    assert exported["details"] == {"action": "forged"}
    assert (exported["actor"], exported["remote"], exported["seq"]) == ("jane", "10.0.0.1", 1)


class BrokenStorage(MemoryStorage):
    async def append_audit_events(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        raise OSError("disk full")


async def test_a_storage_failure_is_logged_not_raised(capsys: pytest.CaptureFixture[str]) -> None:
    configure("info", "json")
    event = await AuditLog(BrokenStorage(), FrozenClock(NOW)).record("logout", "jane")
    assert event.seq == 0
    [line] = capsys.readouterr().err.splitlines()
    failure = json.loads(line)
    assert failure["event"] == "audit event not stored"
    assert failure["level"] == "error"
    assert "disk full" in failure["error"]


class CountingStorage(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    async def append_audit_events(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        self.writes.append(len(events))
        await anyio.sleep(0.01)  # a commit takes time; events queue meanwhile
        return await super().append_audit_events(events)


async def test_concurrent_events_share_commits_and_each_waits_for_its_own() -> None:
    storage = CountingStorage()
    log = AuditLog(storage, FrozenClock(NOW), log_events=False)
    stored: list[AuditEvent] = []

    async def one(index: int) -> None:
        stored.append(await log.record("token.issue", f"client-{index}"))

    async with anyio.create_task_group() as group:
        for index in range(50):
            group.start_soon(one, index)
    assert sorted(event.seq for event in stored) == list(range(1, 51))
    assert sum(storage.writes) == 50
    assert len(storage.writes) < 10  # group commit: far fewer writes than events
    kept = await storage.list_audit_events(AuditFilter(limit=100))
    assert {event.actor for event in kept} == {f"client-{index}" for index in range(50)}


class OneBadEventStorage(MemoryStorage):
    async def append_audit_events(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        if any(event.actor == "bad" for event in events):
            raise ValueError("refused")
        return await super().append_audit_events(events)


async def test_a_refused_event_does_not_take_its_batch_down() -> None:
    storage = OneBadEventStorage()
    log = AuditLog(storage, FrozenClock(NOW), log_events=False)
    results: dict[str, int] = {}

    async def one(actor: str) -> None:
        results[actor] = (await log.record("logout", actor)).seq

    async with anyio.create_task_group() as group:
        for actor in ("a", "bad", "b", "c"):
            group.start_soon(one, actor)
    assert results["bad"] == 0  # logged as not stored, not raised
    assert all(results[actor] > 0 for actor in "abc")


class OutageStorage(MemoryStorage):
    """The database is down until ``up`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.up = False

    async def append_audit_events(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        if not self.up:
            raise StorageUnavailableError("PostgreSQL: connection refused")
        return await super().append_audit_events(events)


async def test_events_of_an_outage_are_stored_when_the_database_is_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("info", "json")
    storage = OutageStorage()
    log = AuditLog(storage, FrozenClock(NOW))
    for actor in ("jane", "joe", "ann"):
        assert (await log.record("logout", actor)).seq == 0  # the action went on
    assert log.backlog == 3
    assert await log.store_backlog() == 0  # still down: kept
    storage.up = True
    assert await log.store_backlog() == 3
    stored = await storage.list_audit_events(AuditFilter())
    assert [event.actor for event in reversed(stored)] == ["jane", "joe", "ann"]  # in order
    exported = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["actor"] for line in exported if line["event"] == "audit"] == [
        "jane", "joe", "ann",
    ]  # fmt: skip


async def test_events_left_at_shutdown_are_logged_whole(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("info", "json")
    log = AuditLog(OutageStorage(), FrozenClock(NOW))
    await log.record("logout", "jane", session_id="s1", details={"reason": "lost laptop"})
    capsys.readouterr()
    await log.close()
    [line] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert line["level"] == "error"
    assert (line["actor"], line["session_id"], line["details"]) == (
        "jane", "s1", {"reason": "lost laptop"},
    )  # fmt: skip
    assert log.backlog == 0
