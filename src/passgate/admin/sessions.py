"""Sessions (one sign-in of one person at one client) as the admin API lists them."""

from __future__ import annotations

from passgate.admin.audit import Actor, Auditor
from passgate.clock import Clock
from passgate.storage.base import Storage
from passgate.storage.models import Session, SessionFilter

__all__ = ["SessionService"]


class SessionService:
    def __init__(self, storage: Storage, clock: Clock, auditor: Auditor) -> None:
        self._storage = storage
        self._clock = clock
        self._auditor = auditor

    async def list_sessions(self, which: SessionFilter, actor: Actor) -> list[Session]:
        """Newest first; revoked and expired ones only with ``include_revoked``."""
        async with self._auditor.call(
            "admin.session.list",
            actor,
            user_id=which.user_id,
            client_id=which.client_id,
            connector_id=which.connector_id,
        ):
            sessions = await self._storage.list_sessions(which, self._clock())
        return sessions
