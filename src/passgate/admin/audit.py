"""Who calls the admin API, and the one helper that audits every admin call: an event
with outcome ``success``, or ``failure`` and the error, whatever happens inside."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import structlog

from passgate.admin.errors import AdminError, BadRequestError, UnavailableError
from passgate.provider.audit import AuditLog
from passgate.storage.base import Storage, StorageError
from passgate.storage.models import AuditEvent, AuditFilter

__all__ = ["MAX_AUDIT_EXPORT", "MAX_AUDIT_PAGE", "Actor", "AuditQuery", "Auditor", "Entry"]

_log = structlog.get_logger("passgate.admin")

MAX_AUDIT_PAGE = 1000
#: An export stops after this many events (narrow it with since/until for more): one
#: download must not hold a database connection busy for minutes.
MAX_AUDIT_EXPORT = 100_000


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
            entry.details.update(_filter_details(which, with_limit=True))
            _check(which)
            if not 1 <= which.limit <= MAX_AUDIT_PAGE:
                raise BadRequestError(f"limit must be between 1 and {MAX_AUDIT_PAGE}")
            events = await self._storage.list_audit_events(which)
        return events

    async def export(
        self, which: AuditFilter, actor: Actor, *, most: int = MAX_AUDIT_EXPORT
    ) -> AsyncIterator[list[AuditEvent]]:
        """Every event ``which`` matches (its limit and cursor aside), newest first, in
        pages, at most ``most``. The first page is read before this returns, so a refusal
        or an outage comes before a download starts; one audit event records the export."""
        first = dataclasses.replace(which, before_seq=None, limit=min(most, MAX_AUDIT_PAGE))
        async with self._auditor.call("admin.audit.export", actor) as entry:
            entry.details.update(_filter_details(which, with_limit=False))
            _check(which)
            page = await self._storage.list_audit_events(first)
        return self._pages(first, page, most)

    async def _pages(
        self, which: AuditFilter, page: list[AuditEvent], most: int
    ) -> AsyncIterator[list[AuditEvent]]:
        left = most
        while page:
            yield page
            left -= len(page)
            if left <= 0 or len(page) < which.limit:
                return
            older = dataclasses.replace(
                which, before_seq=page[-1].seq, limit=min(left, MAX_AUDIT_PAGE)
            )
            page = await self._storage.list_audit_events(older)


def _filter_details(which: AuditFilter, *, with_limit: bool) -> dict[str, str]:
    """The filter as event details ("filter_" keeps them apart from the event's own
    fields in logs)."""
    named = [
        ("filter_action", which.action),
        ("filter_actor", which.actor),
        ("filter_user_id", which.user_id),
        ("filter_client_id", which.client_id),
        ("filter_session_id", which.session_id),
        ("filter_since", which.since.isoformat() if which.since else ""),
        ("filter_until", which.until.isoformat() if which.until else ""),
    ]
    if with_limit:
        named.append(("limit", str(which.limit)))
    return {key: value for key, value in named if value}


def _check(which: AuditFilter) -> None:
    if which.since and which.until and which.since > which.until:
        raise BadRequestError("since must not be after until")
