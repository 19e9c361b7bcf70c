"""Who calls the admin API, and the one helper that audits every admin call: an event
with outcome ``success``, or ``failure`` and the error, whatever happens inside."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog

from passgate.admin.errors import AdminError, BadRequestError, UnavailableError
from passgate.provider.audit import AuditLog
from passgate.storage.base import Storage, StorageError
from passgate.storage.models import AuditEvent, AuditFilter

__all__ = ["MAX_AUDIT_PAGE", "Actor", "AuditQuery", "Auditor", "Entry"]

_log = structlog.get_logger("passgate.admin")

MAX_AUDIT_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Actor:
    """An authenticated admin: ``name`` is the audit actor (``admin:<name>``)."""

    name: str
    remote_addr: str = ""


@dataclass(slots=True)
class Entry:
    """What the event will say about the call; filled in while the call runs."""

    subject: str = ""
    user_id: str = ""
    client_id: str = ""
    connector_id: str = ""
    session_id: str = ""
    details: dict[str, str] = field(default_factory=dict)


class Auditor:
    """Wraps each admin operation: ``async with auditor.call(action, actor) as entry``."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    @contextlib.asynccontextmanager
    async def call(
        self,
        action: str,
        actor: Actor,
        *,
        subject: str = "",
        user_id: str = "",
        client_id: str = "",
        connector_id: str = "",
        session_id: str = "",
    ) -> AsyncIterator[Entry]:
        entry = Entry(subject, user_id, client_id, connector_id, session_id)
        try:
            yield entry
        except AdminError as error:
            await self.record(action, actor, entry, error=error.error)
            raise
        except StorageError as error:
            # Storage down or a conflict it could not settle: retryable, never a 500.
            _log.error("admin call failed in storage", action=action, error=type(error).__name__)
            await self.record(action, actor, entry, error=UnavailableError.error)
            raise UnavailableError("storage is not available; try again") from error
        except BaseException:
            await self.record(action, actor, entry, error="server_error")
            raise
        await self.record(action, actor, entry)

    async def record(
        self, action: str, actor: Actor, entry: Entry | None = None, *, error: str = ""
    ) -> AuditEvent:
        """One event; ``error`` makes it a failure."""
        entry = entry or Entry()
        details = dict(entry.details)
        if error:
            details["error"] = error
        return await self._log.record(
            action,
            actor.name,
            outcome="failure" if error else "success",
            subject=entry.subject,
            user_id=entry.user_id,
            client_id=entry.client_id,
            connector_id=entry.connector_id,
            session_id=entry.session_id,
            remote_addr=actor.remote_addr,
            details=details,
        )


class AuditQuery:
    """Reads the audit log, newest first, a page at a time (``before_seq`` cursor)."""

    def __init__(self, storage: Storage, auditor: Auditor) -> None:
        self._storage = storage
        self._auditor = auditor

    async def events(self, which: AuditFilter, actor: Actor) -> list[AuditEvent]:
        async with self._auditor.call("admin.audit.list", actor) as entry:
            entry.details.update(
                {
                    key: value
                    for key, value in (
                        # "filter_" keeps them apart from the event's own fields in logs
                        ("filter_action", which.action),
                        ("filter_actor", which.actor),
                        ("limit", str(which.limit)),
                    )
                    if value
                }
            )
            if not 1 <= which.limit <= MAX_AUDIT_PAGE:
                raise BadRequestError(f"limit must be between 1 and {MAX_AUDIT_PAGE}")
            if which.since and which.until and which.since > which.until:
                raise BadRequestError("since must not be after until")
            events = await self._storage.list_audit_events(which)
        return events
