"""Sessions as the admin API lists them: grants (one person signed in at one client) and
browser sessions (one person signed in at one browser, shared by every client that signed
in through it), and ending a browser session, which ends every grant, token and
forward-auth cookie made through it."""

from __future__ import annotations

from passgate.admin.audit import Actor, Auditor
from passgate.admin.errors import NotFoundError
from passgate.clock import Clock
from passgate.provider.revocation import Revoker
from passgate.storage import base as storage_errors
from passgate.storage.base import Storage
from passgate.storage.models import BrowserSession, BrowserSessionFilter, Session, SessionFilter

__all__ = ["SessionService"]


class SessionService:
    def __init__(self, storage: Storage, clock: Clock, auditor: Auditor, revoker: Revoker) -> None:
        self._storage = storage
        self._clock = clock
        self._auditor = auditor
        self._revoker = revoker

    async def list_sessions(self, which: SessionFilter, actor: Actor) -> list[Session]:
        """Newest first; revoked and expired ones only with ``include_revoked``."""
        async with self._auditor.call(
            "admin.session.list",
            actor,
            user_id=which.user_id,
            client_id=which.client_id,
            connector_id=which.connector_id,
            session_id=which.browser_session_id,
        ):
            sessions = await self._storage.list_sessions(which, self._clock())
        return sessions

    async def list_browser_sessions(
        self, which: BrowserSessionFilter, actor: Actor
    ) -> list[BrowserSession]:
        """Newest first; ended ones only with ``include_revoked``."""
        async with self._auditor.call(
            "admin.browser_session.list",
            actor,
            user_id=which.user_id,
            connector_id=which.connector_id,
        ):
            sessions = await self._storage.list_browser_sessions(which, self._clock())
        return sessions

    async def get_browser_session(self, session_id: str, actor: Actor) -> BrowserSession:
        async with self._auditor.call(
            "admin.browser_session.get", actor, subject=session_id, session_id=session_id
        ):
            return await self._find(session_id)

    async def end_browser_session(self, session_id: str, reason: str, actor: Actor) -> bool:
        """End it (False: it had ended already); ``NotFoundError`` when there is none."""
        async with self._auditor.call(
            "admin.browser_session.end", actor, subject=session_id, session_id=session_id
        ) as entry:
            session = await self._find(session_id)
            entry.user_id = session.user_id
            if reason:
                entry.details["reason"] = reason
            ended = await self._revoker.end_browser_session(
                session_id, actor=actor.name, reason=reason
            )
            entry.details["ended"] = "true" if ended else "false"
        return ended

    async def _find(self, session_id: str) -> BrowserSession:
        try:
            return await self._storage.get_browser_session(session_id)
        except storage_errors.NotFoundError:
            raise NotFoundError(f"no browser session {session_id!r}") from None
