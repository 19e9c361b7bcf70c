"""Sessions.use on the refresh hot path: the session is written only when its expiry or
last_used moves by more than the granularity, and an ended session always refuses."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from passgate.clock import FrozenClock
from passgate.provider.sessions import GRANULARITY, Origin, SessionEndedError, Sessions
from passgate.provider.settings import RefreshPolicy
from passgate.storage.memory import MemoryStorage
from passgate.storage.models import Claims, Session

pytestmark = pytest.mark.anyio

START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class CountingStorage(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.updates = 0

    async def update_session(
        self, session_id: str, updater: Callable[[Session], Session]
    ) -> Session:
        self.updates += 1
        return await super().update_session(session_id, updater)


async def started(policy: RefreshPolicy) -> tuple[Sessions, CountingStorage, FrozenClock, str]:
    storage, clock = CountingStorage(), FrozenClock(START)
    sessions = Sessions(storage, clock, token_lifetime=timedelta(hours=1), policy=policy)
    session = await sessions.start(
        claims=Claims(user_id="u1", username="jane"),
        connector_id="local",
        client_id="kubectl",
        scopes=("openid", "offline_access"),
        origin=Origin("10.0.0.1", "kubectl"),
        until=START + timedelta(minutes=2),
        via="code",
    )
    return sessions, storage, clock, session.id


async def test_refreshes_within_a_minute_only_read() -> None:
    sessions, storage, clock, sid = await started(RefreshPolicy(valid_if_not_used_for=DAY))
    first = await sessions.use(sid, refresh=True)
    assert storage.updates == 1
    assert first.expiry == START + DAY + GRANULARITY  # stored a minute beyond the need
    for _ in range(5):
        clock.advance(timedelta(seconds=10))
        assert (await sessions.use(sid, refresh=True)).expiry == first.expiry
    assert storage.updates == 1
    clock.advance(timedelta(seconds=15))  # 65 s after the write: both fields moved
    moved = await sessions.use(sid, refresh=True)
    assert storage.updates == 2
    assert moved.last_used == clock()
    assert moved.expiry == clock() + DAY + GRANULARITY


async def test_unlimited_refresh_writes_only_for_last_used() -> None:
    sessions, storage, clock, sid = await started(RefreshPolicy())
    assert (await sessions.use(sid, refresh=True)).expiry is None
    clock.advance(timedelta(seconds=30))
    await sessions.use(sid, refresh=True)
    assert storage.updates == 1
    clock.advance(GRANULARITY)
    assert (await sessions.use(sid, refresh=True)).last_used == clock()
    assert storage.updates == 2


async def test_an_ended_session_refuses_even_without_a_write() -> None:
    sessions, storage, clock, sid = await started(RefreshPolicy())
    await sessions.use(sid, refresh=True)
    await storage.update_session(
        sid, lambda old: dataclasses.replace(old, revoked_at=clock(), revoked_by="admin:ops")
    )
    clock.advance(timedelta(seconds=1))
    with pytest.raises(SessionEndedError):
        await sessions.use(sid, refresh=True)
    with pytest.raises(SessionEndedError):
        await sessions.use("no-such-session", refresh=True)
