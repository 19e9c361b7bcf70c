"""The audit log: append assigns increasing sequence numbers (also to concurrent appends),
listing is newest first with every filter, paging and limit, and retention deletes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import anyio
import pytest

from conformance import samples
from conformance.base import Conformance, StorageFactory
from passgate.storage.base import AlreadyExistsError, Storage
from passgate.storage.models import AuditEvent, AuditFilter

NOW = samples.NOW
MINUTE = timedelta(minutes=1)


def _ids(events: list[AuditEvent]) -> list[str]:
    return [e.id for e in events]


async def _log(storage: Storage) -> list[AuditEvent]:
    """A small log, one event a minute from NOW; returned as stored (with seq)."""
    event = samples.audit_event
    events = [
        event("e0", action="login.success"),
        event("e1", action="login.failure", actor="mallory", user_id=""),
        event("e2", action="token.refresh", actor="client-2", client_id="client-2"),
        event("e3", action="logout", session_id="sess-2"),
        event("e4", action="admin.client.create", actor="admin:ops", user_id="",
              client_id="client-3", session_id=""),
        event("e5", action="loginx", user_id="user-2"),
        event("e6", action="a_b%c*d?[e]"),
        event("e7", action="aXbYc"),
        event("e8", action="Login.success"),
    ]  # fmt: skip
    events = [dataclasses.replace(e, time=NOW + i * MINUTE) for i, e in enumerate(events)]
    return [await storage.append_audit_event(e) for e in events]


class AuditConformance(Conformance):
    async def test_append_assigns_increasing_seq_and_round_trips(self, storage: Storage) -> None:
        assert await storage.list_audit_events(AuditFilter()) == []
        event = samples.audit_event(time=NOW.astimezone(samples.MINUS_0800))
        # Whatever seq the caller set, storage assigns its own.
        first = await storage.append_audit_event(dataclasses.replace(event, seq=999_999))
        assert first.seq > 0
        assert first == dataclasses.replace(event, seq=first.seq)
        bare = AuditEvent(id="ev-2", time=NOW, action="x", actor="system")
        second = await storage.append_audit_event(bare)
        assert second.seq > first.seq
        assert second == dataclasses.replace(bare, seq=second.seq)
        assert await storage.list_audit_events(AuditFilter()) == [second, first]
        assert (await storage.list_audit_events(AuditFilter()))[1].details == event.details

    async def test_a_batch_is_appended_in_order_all_or_none(self, storage: Storage) -> None:
        batch = [samples.audit_event(f"b{i}", action=f"batch.{i}") for i in range(3)]
        stored = await storage.append_audit_events(batch)
        assert [e.id for e in stored] == ["b0", "b1", "b2"]
        assert stored[0].seq < stored[1].seq < stored[2].seq
        pairs = zip(batch, stored, strict=True)
        assert stored == [dataclasses.replace(e, seq=s.seq) for e, s in pairs]
        assert await storage.append_audit_events([]) == []
        # One taken id refuses the whole batch: nothing of it is kept.
        clash = [samples.audit_event("c0"), samples.audit_event("b1")]
        with pytest.raises(AlreadyExistsError):
            await storage.append_audit_events(clash)
        assert _ids(await storage.list_audit_events(AuditFilter())) == ["b2", "b1", "b0"]

    async def test_returned_details_are_copies(self, storage: Storage) -> None:
        appended = await storage.append_audit_event(samples.audit_event())
        appended.details.clear()
        (listed,) = await storage.list_audit_events(AuditFilter())
        assert listed.details == samples.audit_event().details
        listed.details.clear()
        (again,) = await storage.list_audit_events(AuditFilter())
        assert again.details == samples.audit_event().details

    async def test_duplicate_ids_are_refused(self, storage: Storage) -> None:
        first = await storage.append_audit_event(samples.audit_event())
        with pytest.raises(AlreadyExistsError):
            await storage.append_audit_event(samples.audit_event(action="other"))
        assert await storage.list_audit_events(AuditFilter()) == [first]
        later = await storage.append_audit_event(samples.audit_event("ev-2"))
        assert later.seq > first.seq

    async def test_every_filter(self, storage: Storage) -> None:
        stored = await _log(storage)
        assert _ids(stored) == [f"e{i}" for i in range(9)]
        assert [e.seq for e in stored] == sorted({e.seq for e in stored})

        async def listed(**which: Any) -> list[str]:
            return _ids(await storage.list_audit_events(AuditFilter(**which)))

        every = [f"e{i}" for i in reversed(range(9))]
        assert await listed() == every
        assert await storage.list_audit_events(AuditFilter()) == stored[::-1]
        # ``action`` is a case-sensitive prefix; SQL wildcard characters are literal.
        assert await listed(action="login.") == ["e1", "e0"]
        assert await listed(action="login") == ["e5", "e1", "e0"]
        assert await listed(action="login.success") == ["e0"]
        assert await listed(action="Login") == ["e8"]
        assert await listed(action="log") == ["e5", "e3", "e1", "e0"]
        assert await listed(action="a_b") == ["e6"]
        assert await listed(action="a_b%c*d?[e]") == ["e6"]
        assert await listed(action="a%") == []
        assert await listed(action="a*") == []
        assert await listed(action="a?b") == []
        assert await listed(action="admin.") == ["e4"]
        assert await listed(action="login.success.more") == []
        # Equality filters.
        assert await listed(actor="mallory") == ["e1"]
        assert await listed(actor="admin") == []
        assert await listed(user_id="user-2") == ["e5"]
        assert await listed(client_id="client-2") == ["e2"]
        assert await listed(client_id="client-3") == ["e4"]
        assert await listed(session_id="sess-2") == ["e3"]
        # Time window: since inclusive, until exclusive, instants in any zone.
        since = (NOW + 2 * MINUTE).astimezone(samples.PLUS_0530)
        until = (NOW + 4 * MINUTE).astimezone(samples.MINUS_0800)
        assert await listed(since=since) == ["e8", "e7", "e6", "e5", "e4", "e3", "e2"]
        assert await listed(until=until) == ["e3", "e2", "e1", "e0"]
        assert await listed(since=since, until=until) == ["e3", "e2"]
        assert await listed(since=until, until=since) == []
        # Paging cursor and limit.
        assert await listed(before_seq=stored[3].seq) == ["e2", "e1", "e0"]
        assert await listed(before_seq=stored[0].seq) == []
        assert await listed(limit=2) == ["e8", "e7"]
        assert await listed(limit=0) == []
        assert await listed(limit=-1) == []
        assert await listed(limit=1000) == every
        # Every set field must match.
        assert await listed(action="login", user_id="user-1", client_id="client-1") == ["e0"]
        assert await listed(action="login", session_id="sess-1", limit=1) == ["e5"]
        assert await listed(user_id="user-1", before_seq=stored[4].seq, since=NOW + MINUTE) == [
            "e3", "e2",
        ]  # fmt: skip

    async def test_paging_walks_the_whole_log(self, storage: Storage) -> None:
        stored = await _log(storage)
        seen: list[AuditEvent] = []
        cursor: int | None = None
        while page := await storage.list_audit_events(AuditFilter(before_seq=cursor, limit=2)):
            assert len(page) <= 2
            seen += page
            cursor = page[-1].seq
        assert seen == stored[::-1]
        # Filtered paging.
        cursor, found = None, []
        while page := await storage.list_audit_events(
            AuditFilter(action="log", before_seq=cursor, limit=1)
        ):
            found += _ids(page)
            cursor = page[-1].seq
        assert found == ["e5", "e3", "e1", "e0"]

    async def test_delete_before(self, storage: Storage) -> None:
        stored = await _log(storage)
        assert await storage.delete_audit_events(NOW) == 0
        # Older than ``before`` only: e0..e2; e3 (at exactly ``before``) stays.
        before = (NOW + 3 * MINUTE).astimezone(samples.PLUS_0530)
        assert await storage.delete_audit_events(before) == 3
        assert await storage.list_audit_events(AuditFilter(limit=1000)) == stored[:2:-1]
        assert await storage.delete_audit_events(before) == 0
        # Deleting every event, the newest too, does not reuse sequence numbers or ids.
        assert await storage.delete_audit_events(NOW + 60 * MINUTE) == 6
        assert await storage.list_audit_events(AuditFilter()) == []
        again = await storage.append_audit_event(samples.audit_event("e0"))
        assert again.seq > stored[-1].seq
        assert await storage.list_audit_events(AuditFilter()) == [again]


TASKS = 4
APPENDS = 15


async def _append_concurrently(storages: list[Storage]) -> None:
    """Several writers append at once: every seq is distinct, each writer's increase,
    and the log lists every event exactly once, newest (highest seq) first."""
    returned: dict[int, list[AuditEvent]] = {}

    async def writer(task: int) -> None:
        storage = storages[task % len(storages)]
        events = returned.setdefault(task, [])
        for i in range(APPENDS):
            event = samples.audit_event(f"t{task}-{i}", time=NOW + i * MINUTE)
            events.append(await storage.append_audit_event(event))

    async with anyio.create_task_group() as tg:
        for task in range(TASKS):
            tg.start_soon(writer, task)

    for events in returned.values():
        seqs = [e.seq for e in events]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == len(seqs)
    every = sorted((e for events in returned.values() for e in events), key=lambda e: -e.seq)
    assert len({e.seq for e in every}) == TASKS * APPENDS
    for storage in storages:
        assert await storage.list_audit_events(AuditFilter(limit=1000)) == every


class AuditConcurrencyConformance(Conformance):
    async def test_concurrent_appends_get_distinct_increasing_seqs(self, storage: Storage) -> None:
        await _append_concurrently([storage])


class SharedAuditConformance(Conformance):
    async def test_concurrent_appends_across_replicas(
        self, storage: Storage, storage_factory: StorageFactory
    ) -> None:
        await _append_concurrently([storage, await storage_factory()])
