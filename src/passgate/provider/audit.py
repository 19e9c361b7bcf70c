"""The audit log: append-only events (who did what, to what, when, from where) kept in
storage for the admin API and written to the structured log for log pipelines.

Recording must never break the action it records. While the database is down
(``StorageUnavailableError``) events wait in memory and are stored when it is back, in a
background loop and once more at shutdown; an event that cannot be kept (any other
failure, a full backlog, a stop before the database came back) is logged at error level
with its whole content, so a log pipeline still has it. Secrets never enter events:
callers pass ids, names and outcomes, never tokens or passwords.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from datetime import timedelta

import structlog

from passgate.clock import Clock
from passgate.provider.ids import new_id
from passgate.storage.base import Storage, StorageUnavailableError
from passgate.storage.models import AuditEvent

_log = structlog.get_logger("passgate.audit")
#: Audit lines are an export, not diagnostics: ``logger.level: warn`` must not drop them,
#: so they go through the configured processors with a logger that filters nothing.
_export = structlog.wrap_logger(
    None, wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET)
)

#: The actions Passgate records (``AuditEvent.action``); admin actions add
#: ``admin.<resource>.<verb>`` (``admin.client.create``, ``admin.session.revoke``).
LOGIN_SUCCESS = "login.success"
LOGIN_FAILURE = "login.failure"
TOKEN_ISSUE = "token.issue"
TOKEN_REFRESH = "token.refresh"
TOKEN_REVOKE = "token.revoke"
SESSION_REVOKE = "session.revoke"
LOGOUT = "logout"
#: A person changed their own password on the account page (an admin's change is
#: ``admin.user.password``).
PASSWORD_CHANGE = "password.change"


class _GroupCommit:
    """Appends events in batches, one transaction each (group commit): while one batch is
    being written, new events queue, and the next write takes all of them. One commit (one
    fsync) then serves every request that arrived meanwhile, and each request still returns
    only once its own event is durable."""

    MAX_BATCH = 500

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._queue: list[tuple[AuditEvent, asyncio.Future[AuditEvent]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(self, event: AuditEvent) -> AuditEvent:
        done: asyncio.Future[AuditEvent] = asyncio.get_running_loop().create_future()
        self._queue.append((event, done))
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._drain())
        return await done

    async def _drain(self) -> None:
        batch: list[tuple[AuditEvent, asyncio.Future[AuditEvent]]] = []
        try:
            while self._queue:
                batch = self._queue[: self.MAX_BATCH]
                del self._queue[: self.MAX_BATCH]
                await self._write(batch)
                batch = []
        finally:
            self._writer = None
            for _, done in batch:  # cancelled mid-write (shutdown): nobody waits forever
                if not done.done():
                    done.set_exception(RuntimeError("the audit log was stopped"))

    async def _write(self, batch: list[tuple[AuditEvent, asyncio.Future[AuditEvent]]]) -> None:
        error: Exception | None = None
        stored: list[AuditEvent] = []
        try:
            stored = await self._storage.append_audit_events([event for event, _ in batch])
        except Exception as exc:
            if len(batch) > 1:  # one bad event must not take the others down with it
                for one in batch:
                    await self._write([one])
                return
            error = exc
        for index, (_, done) in enumerate(batch):
            if done.done():  # its request was cancelled meanwhile
                continue
            if error is not None:
                done.set_exception(error)
            else:
                done.set_result(stored[index])


class AuditLog:
    """Records :class:`AuditEvent` s in storage and in the log (``log_events``)."""

    #: Events kept in memory while the database is down; beyond it they are logged only.
    MAX_BACKLOG = 100_000
    #: How often the backlog is offered to the database again.
    RETRY_INTERVAL = timedelta(seconds=2)

    def __init__(self, storage: Storage, clock: Clock, *, log_events: bool = True) -> None:
        self._clock = clock
        self._log_events = log_events
        self._storage = storage
        self._writer = _GroupCommit(storage)
        self._backlog: deque[AuditEvent] = deque()

    @property
    def backlog(self) -> int:
        """How many events wait for the database."""
        return len(self._backlog)

    async def record(
        self,
        action: str,
        actor: str,
        *,
        outcome: str = "success",
        subject: str = "",
        user_id: str = "",
        client_id: str = "",
        connector_id: str = "",
        session_id: str = "",
        remote_addr: str = "",
        details: Mapping[str, str] | None = None,
    ) -> AuditEvent:
        """Append one event; returns it as stored (with ``seq``, or 0 if storing failed)."""
        event = AuditEvent(
            id=new_id(),
            time=self._clock(),
            action=action,
            actor=actor,
            outcome=outcome,
            subject=subject,
            user_id=user_id,
            client_id=client_id,
            connector_id=connector_id,
            session_id=session_id,
            remote_addr=remote_addr,
            details=dict(details or {}),
        )
        fields = _fields_of(event)
        try:
            stored = await self._writer.append(event)
        except StorageUnavailableError as exc:
            self._keep(event, str(exc))
            return event
        except Exception as exc:  # the action goes on; the failure is loud
            _lost("audit event not stored", event, f"{type(exc).__name__}: {exc}")
            return event
        if self._log_events:
            _export.info("audit", logger="passgate.audit", seq=stored.seq, **fields)
        return stored

    def _keep(self, event: AuditEvent, error: str) -> None:
        if len(self._backlog) >= self.MAX_BACKLOG:
            _lost("audit event not stored (backlog full)", event, error)
            return
        self._backlog.append(event)
        _log.warning("audit event kept until the database is back", id=event.id,
                     action=event.action, backlog=len(self._backlog))  # fmt: skip

    async def store_backlog(self) -> int:
        """Offer the waiting events to the database, oldest first, in batches; how many
        were stored. Stops at the first outage (the rest wait for the next try)."""
        stored, limit = 0, _GroupCommit.MAX_BATCH
        while self._backlog:
            batch = [self._backlog[i] for i in range(min(len(self._backlog), limit))]
            try:
                written = await self._storage.append_audit_events(batch)
            except StorageUnavailableError:
                break
            except Exception as exc:
                if len(batch) > 1:  # one bad event must not hold the others back
                    limit = 1
                    continue
                self._backlog.popleft()
                _lost("audit event not stored", batch[0], f"{type(exc).__name__}: {exc}")
                continue
            for event in written:
                self._backlog.popleft()
                if self._log_events:
                    _export.info("audit", logger="passgate.audit", seq=event.seq,
                                 **_fields_of(event))  # fmt: skip
            stored += len(written)
        if stored:
            _log.info("audit backlog stored", stored=stored, left=len(self._backlog))
        return stored

    async def run_forever(self) -> None:
        """Store the backlog every :data:`RETRY_INTERVAL` (a background loop)."""
        while True:
            await asyncio.sleep(self.RETRY_INTERVAL.total_seconds())
            if self._backlog:
                await self.store_backlog()

    async def close(self) -> None:
        """At shutdown: a last try, then every event still waiting goes to the log."""
        if self._backlog:
            await self.store_backlog()
        while self._backlog:
            _lost("audit event not stored (stopped before the database came back)",
                  self._backlog.popleft(), "")  # fmt: skip


def _fields_of(event: AuditEvent) -> dict[str, object]:
    """The event as log fields (empty ones left out)."""
    fields: dict[str, object] = {
        key: value
        for key, value in {
            "action": event.action,
            "actor": event.actor,
            "outcome": event.outcome,
            "subject": event.subject,
            "user_id": event.user_id,
            "client_id": event.client_id,
            "connector_id": event.connector_id,
            "session_id": event.session_id,
            "remote": event.remote_addr,
        }.items()
        if value
    }
    if event.details:  # nested, so a detail can never pose as one of the fields above
        fields["details"] = dict(event.details)
    return fields


def _lost(message: str, event: AuditEvent, error: str) -> None:
    """An event that will not be stored: its whole content at error level."""
    _log.error(message, error=error, id=event.id, time=event.time.isoformat(),
               **_fields_of(event))  # fmt: skip
