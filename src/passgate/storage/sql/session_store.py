"""The SQL side of sessions, browser sessions, revocation rules and the audit log."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime

from passgate.storage.base import AlreadyExistsError
from passgate.storage.models import (
    AuditEvent,
    AuditFilter,
    BrowserSession,
    BrowserSessionFilter,
    Revocation,
    SessionFilter,
)
from passgate.storage.models import Session as SessionRecord
from passgate.storage.sql import audit_records as audit
from passgate.storage.sql.records_base import SQLRecords
from passgate.storage.sql.session import Session


class SessionStore(SQLRecords):
    """Sessions, browser sessions, revocation rules and audit events."""

    # -- sessions ------------------------------------------------------------------------
    async def create_session(self, session: SessionRecord) -> None:
        await self._create(audit.SESSIONS, session)

    async def get_session(self, session_id: str) -> SessionRecord:
        return await self._get(audit.SESSIONS, session_id)

    async def list_sessions(self, which: SessionFilter, now: datetime) -> list[SessionRecord]:
        query, params = audit.list_sessions(self._flavour, which, now)
        return [audit.SESSIONS.decode(self._flavour, r) for r in await self._query(query, params)]

    async def update_session(
        self, session_id: str, updater: Callable[[SessionRecord], SessionRecord]
    ) -> SessionRecord:
        return await self._update(audit.SESSIONS, updater, session_id)

    async def revoke_sessions(
        self, which: SessionFilter, revoked_at: datetime, revoked_by: str
    ) -> list[str]:
        query, params = audit.revoke_sessions(self._flavour, which, revoked_at, revoked_by)
        return await self._marked(query, params)

    # -- browser sessions ----------------------------------------------------------------
    async def create_browser_session(self, session: BrowserSession) -> None:
        await self._create(audit.BROWSER_SESSIONS, session)

    async def get_browser_session(self, session_id: str) -> BrowserSession:
        return await self._get(audit.BROWSER_SESSIONS, session_id)

    async def list_browser_sessions(
        self, which: BrowserSessionFilter, now: datetime
    ) -> list[BrowserSession]:
        query, params = audit.list_browser_sessions(self._flavour, which, now)
        rows = await self._query(query, params)
        return [audit.BROWSER_SESSIONS.decode(self._flavour, r) for r in rows]

    async def update_browser_session(
        self, session_id: str, updater: Callable[[BrowserSession], BrowserSession]
    ) -> BrowserSession:
        return await self._update(audit.BROWSER_SESSIONS, updater, session_id)

    async def revoke_browser_sessions(
        self, which: BrowserSessionFilter, revoked_at: datetime, revoked_by: str
    ) -> list[str]:
        query, params = audit.revoke_browser_sessions(self._flavour, which, revoked_at, revoked_by)
        return await self._marked(query, params)

    # -- revocation rules ----------------------------------------------------------------
    async def add_revocation(self, revocation: Revocation) -> None:
        await self._create(audit.REVOCATIONS, revocation)

    async def list_revocations(self, since: datetime | None = None) -> list[Revocation]:
        query, params = audit.list_revocations(self._flavour, since)
        rows = await self._query(query, params)
        return [audit.REVOCATIONS.decode(self._flavour, r) for r in rows]

    # -- audit log -----------------------------------------------------------------------
    async def append_audit_events(self, events: Sequence[AuditEvent]) -> list[AuditEvent]:
        encoded = [audit.AUDIT_EVENTS.encode(self._flavour, event) for event in events]

        async def body(session: Session) -> list[int]:
            if self._flavour.xact_lock:
                # Sequence numbers are handed out at INSERT, not COMMIT: taken under one
                # lock, the order of seq is the order of commits, so a reader paging by
                # seq never skips an event that commits late.
                await session.fetch(self._flavour.xact_lock, {"lock_name": "passgate.audit"})
            seqs = []
            for event, params in zip(events, encoded, strict=True):
                rows = await session.fetch(audit.APPEND_AUDIT, params)
                if not rows:  # ON CONFLICT DO NOTHING: the id is taken; roll all back
                    raise AlreadyExistsError(f"audit_events: {event.id}")
                seqs.append(int(rows[0]["seq"]))
            return seqs

        seqs = await self._transact(body)
        return [
            dataclasses.replace(event, seq=seq, details=dict(event.details))
            for event, seq in zip(events, seqs, strict=True)
        ]

    async def list_audit_events(self, which: AuditFilter) -> list[AuditEvent]:
        query, params = audit.list_audit_events(self._flavour, which)
        rows = await self._query(query, params)
        return [audit.AUDIT_EVENTS.decode(self._flavour, r) for r in rows]

    async def delete_audit_events(self, before: datetime) -> int:
        params = {"before": self._flavour.time(before)}

        async def body(session: Session) -> int:
            return await session.execute(audit.DELETE_AUDIT, params)

        return await self._transact(body)
