"""Who a forward-auth cookie stands for, answered from memory: the browser sessions it
points at are cached per replica (a storage read on the first request and every ``ttl``
after), revocation rules come from the in-memory revocation cache (so a sign-out or an
admin revocation on any replica ends the cookie within a second), and the connector is
asked again about the person every ``refresh_interval``, once per session however many
requests arrive meanwhile. While the database is down, the sessions in memory stand (the
revocation rules are in memory too)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from passgate.clock import Clock
from passgate.provider.revocation_cache import RevocationCache, TokenFacts
from passgate.provider.sessions import GRANULARITY
from passgate.provider.sso import SingleSignOn
from passgate.storage.base import StorageUnavailableError
from passgate.storage.filters import is_active
from passgate.storage.models import BrowserSession

__all__ = ["SessionCache"]

#: After an upstream that could not answer, how long before it is asked again.
RETRY_AFTER = timedelta(seconds=30)


@dataclass(slots=True)
class _Entry:
    session: BrowserSession | None  # None: no such session (remembered briefly)
    fetched: datetime


class SessionCache:
    def __init__(
        self,
        sso: SingleSignOn,
        revocations: RevocationCache,
        clock: Clock,
        *,
        client_id: str,
        refresh_interval: timedelta,
        ttl: timedelta = timedelta(seconds=30),
        max_entries: int = 50_000,
    ) -> None:
        self._sso = sso
        self._browser = sso.browser
        self._revocations = revocations
        self._clock = clock
        self._client_id = client_id
        self._refresh_interval = refresh_interval
        self._ttl = ttl
        self._max = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._refreshing: dict[str, asyncio.Task[BrowserSession | None]] = {}
        self._retry_at: dict[str, datetime] = {}

    async def person(self, sid: str, issued_at: datetime) -> BrowserSession | None:
        """The active session behind a cookie issued at ``issued_at``, with a fresh
        enough identity; None when it ended, was revoked, or the upstream refused."""
        session = await self._get(sid, issued_at)
        now = self._clock()
        if session is None or not is_active(session, now):
            return None
        if not session.with_groups:
            # Renewed by a sign-in that did not ask for groups: it cannot answer a site's
            # groups, so the person signs in again (forward-auth asks for them).
            return None
        facts = TokenFacts(
            issued_at=issued_at,
            session_id=sid,
            user_id=session.user_id,
            connector_id=session.connector_id,
            clients=(self._client_id,),
            client_id=self._client_id,
        )
        if self._revocations.is_revoked(facts):
            return None
        if now - session.refreshed_at >= self._refresh_interval:
            retry = self._retry_at.get(sid)
            if retry is None or retry <= now:
                return await self._refreshed(session)
        if now - session.last_used >= GRANULARITY:
            # Forward-auth traffic keeps the browser session from going idle (best effort:
            # a database outage must not turn signed-in people away).
            with contextlib.suppress(StorageUnavailableError):
                session = await self._browser.use(session)
                self._put(session)
        return session

    def forget(self, sid: str) -> None:
        self._entries.pop(sid, None)

    async def _get(self, sid: str, issued_at: datetime) -> BrowserSession | None:
        """The session from memory, unless older than ``ttl`` or than the cookie (made
        after a sign-in this replica has not seen: the copy in memory may predate it)."""
        entry = self._entries.get(sid)
        now = self._clock()
        if entry is not None and now - entry.fetched < self._ttl and entry.fetched > issued_at:
            self._entries.move_to_end(sid)
            return entry.session
        try:
            session = await self._browser.get(sid)
        except StorageUnavailableError:
            if entry is None:
                raise
            return entry.session  # the database is down: what was known stands
        self._remember(sid, session)
        return session

    def _put(self, session: BrowserSession) -> None:
        self._remember(session.id, session)

    def _remember(self, sid: str, session: BrowserSession | None) -> None:
        self._entries[sid] = _Entry(session, self._clock())
        self._entries.move_to_end(sid)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def _refreshed(self, session: BrowserSession) -> BrowserSession | None:
        """One upstream refresh per session at a time; the others wait for its answer."""
        task = self._refreshing.get(session.id)
        if task is None:
            task = asyncio.ensure_future(self._refresh(session))
            self._refreshing[session.id] = task
            task.add_done_callback(lambda _: self._refreshing.pop(session.id, None))
        return await asyncio.shield(task)

    def _later(self, sid: str) -> None:
        """Ask again after :data:`RETRY_AFTER` (a bounded memory of who to wait for)."""
        if len(self._retry_at) >= self._max:
            self._retry_at.clear()
        self._retry_at[sid] = self._clock() + RETRY_AFTER

    async def _refresh(self, session: BrowserSession) -> BrowserSession | None:
        try:
            recheck = await self._sso.recheck(session)
        except StorageUnavailableError:
            self._later(session.id)  # the database is down: ask again later
            return session
        if recheck.session is None:
            self.forget(session.id)
            return None
        if not recheck.answered:
            self._later(session.id)
            return recheck.session
        self._retry_at.pop(session.id, None)
        self._put(recheck.session)
        return recheck.session if is_active(recheck.session, self._clock()) else None
