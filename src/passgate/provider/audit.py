"""The audit log: append-only events (who did what, to what, when, from where) kept in
storage for the admin API and written to the structured log for log pipelines.

Recording must never break the action it records: a storage failure is logged as an
error with the event, and the action goes on. Secrets never enter events: callers pass
ids, names and outcomes, never tokens or passwords.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import structlog

from passgate.clock import Clock
from passgate.provider.ids import new_id
from passgate.storage.base import Storage
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

    def __init__(self, storage: Storage, clock: Clock, *, log_events: bool = True) -> None:
        self._clock = clock
        self._log_events = log_events
        self._writer = _GroupCommit(storage)

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
        fields: dict[str, object] = {
            key: value
            for key, value in {
                "action": action,
                "actor": actor,
                "outcome": outcome,
                "subject": subject,
                "user_id": user_id,
                "client_id": client_id,
                "connector_id": connector_id,
                "session_id": session_id,
                "remote": remote_addr,
            }.items()
            if value
        }
        if event.details:  # nested, so a detail can never pose as one of the fields above
            fields["details"] = dict(event.details)
        try:
            stored = await self._writer.append(event)
        except Exception as exc:  # the action goes on; the failure is loud
            _log.error("audit event not stored", error=f"{type(exc).__name__}: {exc}", **fields)
            return event
        if self._log_events:
            _export.info("audit", logger="passgate.audit", seq=stored.seq, **fields)
        return stored
