"""The audit log: append-only events (who did what, to what, when, from where) kept in
storage for the admin API and written to the structured log for log pipelines.

Recording must never break the action it records: a storage failure is logged as an
error with the event, and the action goes on. Secrets never enter events: callers pass
ids, names and outcomes, never tokens or passwords.
"""

from __future__ import annotations

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


class AuditLog:
    """Records :class:`AuditEvent` s in storage and in the log (``log_events``)."""

    def __init__(self, storage: Storage, clock: Clock, *, log_events: bool = True) -> None:
        self._storage = storage
        self._clock = clock
        self._log_events = log_events

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
            stored = await self._storage.append_audit_event(event)
        except Exception as exc:  # the action goes on; the failure is loud
            _log.error("audit event not stored", error=f"{type(exc).__name__}: {exc}", **fields)
            return event
        if self._log_events:
            _export.info("audit", logger="passgate.audit", seq=stored.seq, **fields)
        return stored
