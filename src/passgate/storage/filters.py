"""What the session and audit filters mean, as plain predicates: the memory backend
filters with them, and the conformance suite holds the SQL backends to the same rules."""

from __future__ import annotations

from datetime import datetime

from passgate.storage.models import (
    AuditEvent,
    AuditFilter,
    BrowserSession,
    BrowserSessionFilter,
    Session,
    SessionFilter,
)


def is_active(session: Session | BrowserSession, now: datetime) -> bool:
    """Neither revoked nor past its expiry."""
    return session.revoked_at is None and (session.expiry is None or session.expiry > now)


def session_matches(session: Session, which: SessionFilter, now: datetime) -> bool:
    return (
        (not which.user_id or session.user_id == which.user_id)
        and (not which.client_id or session.client_id == which.client_id)
        and (not which.connector_id or session.connector_id == which.connector_id)
        and (not which.browser_session_id or session.browser_session_id == which.browser_session_id)
        and (which.include_revoked or is_active(session, now))
    )


def browser_session_matches(
    session: BrowserSession, which: BrowserSessionFilter, now: datetime
) -> bool:
    return (
        (not which.user_id or session.user_id == which.user_id)
        and (not which.connector_id or session.connector_id == which.connector_id)
        and (which.include_revoked or is_active(session, now))
    )


def audit_matches(event: AuditEvent, which: AuditFilter) -> bool:
    return (
        event.action.startswith(which.action)
        and (not which.actor or event.actor == which.actor)
        and (not which.user_id or event.user_id == which.user_id)
        and (not which.client_id or event.client_id == which.client_id)
        and (not which.session_id or event.session_id == which.session_id)
        and (which.since is None or event.time >= which.since)
        and (which.until is None or event.time < which.until)
        and (which.before_seq is None or event.seq < which.before_seq)
    )
