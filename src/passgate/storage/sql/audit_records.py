"""Record ⇄ row conversions for sessions, browser sessions, revocation rules and audit
events, and the SQL of their filters (see ``storage/filters.py`` for what the filters mean).

Audit rows get ``seq`` from the database (SQLite ``AUTOINCREMENT``, PostgreSQL identity):
it is read back, never written, so it is not one of the table's written columns. The
event time is stored as ``event_time`` (``time`` is an SQL keyword).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from passgate.storage.codec import claims_from_json, claims_json
from passgate.storage.models import (
    AuditEvent,
    AuditFilter,
    BrowserSession,
    BrowserSessionFilter,
    Revocation,
    Session,
    SessionFilter,
)
from passgate.storage.sql.flavour import Flavour
from passgate.storage.sql.records import strs
from passgate.storage.sql.table import Row, Table


# -- sessions --------------------------------------------------------------------------
def _enc_session(f: Flavour, s: Session) -> dict[str, object]:
    return {
        "id": s.id,
        "user_id": s.user_id,
        "connector_id": s.connector_id,
        "client_id": s.client_id,
        "scopes": f.json(list(s.scopes)),
        "claims": f.json(claims_json(s.claims)),
        "created_at": f.time(s.created_at),
        "last_used": f.time(s.last_used),
        "expiry": f.opt_time(s.expiry),
        "remote_addr": s.remote_addr,
        "user_agent": s.user_agent,
        "revoked_at": f.opt_time(s.revoked_at),
        "revoked_by": s.revoked_by,
        "browser_session_id": s.browser_session_id,
    }


def _dec_session(f: Flavour, r: Row) -> Session:
    return Session(
        id=r["id"],
        user_id=r["user_id"],
        connector_id=r["connector_id"],
        client_id=r["client_id"],
        scopes=strs(f, r["scopes"]),
        claims=claims_from_json(f.unjson(r["claims"])),
        created_at=f.untime(r["created_at"]),
        last_used=f.untime(r["last_used"]),
        expiry=f.opt_untime(r["expiry"]),
        remote_addr=r["remote_addr"],
        user_agent=r["user_agent"],
        revoked_at=f.opt_untime(r["revoked_at"]),
        revoked_by=r["revoked_by"],
        browser_session_id=r["browser_session_id"],
    )


# -- browser sessions ------------------------------------------------------------------
def _enc_browser(f: Flavour, s: BrowserSession) -> dict[str, object]:
    return {
        "id": s.id,
        "cookie_hash": s.cookie_hash,
        "user_id": s.user_id,
        "connector_id": s.connector_id,
        "claims": f.json(claims_json(s.claims)),
        "auth_time": f.time(s.auth_time),
        "created_at": f.time(s.created_at),
        "last_used": f.time(s.last_used),
        "expiry": f.time(s.expiry),
        "absolute_expiry": f.time(s.absolute_expiry),
        "refreshed_at": f.time(s.refreshed_at),
        "connector_data": s.connector_data,
        "remember_me": s.remember_me,
        "clients": f.json(list(s.clients)),
        "consents": f.json({client: list(scopes) for client, scopes in s.consents.items()}),
        "acr_values": f.json(list(s.acr_values)),
        "remote_addr": s.remote_addr,
        "user_agent": s.user_agent,
        "revoked_at": f.opt_time(s.revoked_at),
        "revoked_by": s.revoked_by,
        "with_groups": s.with_groups,
    }


def _dec_browser(f: Flavour, r: Row) -> BrowserSession:
    consents: dict[str, Any] = f.unjson(r["consents"])
    return BrowserSession(
        id=r["id"],
        cookie_hash=r["cookie_hash"],
        user_id=r["user_id"],
        connector_id=r["connector_id"],
        claims=claims_from_json(f.unjson(r["claims"])),
        auth_time=f.untime(r["auth_time"]),
        created_at=f.untime(r["created_at"]),
        last_used=f.untime(r["last_used"]),
        expiry=f.untime(r["expiry"]),
        absolute_expiry=f.untime(r["absolute_expiry"]),
        refreshed_at=f.untime(r["refreshed_at"]),
        connector_data=bytes(r["connector_data"]),
        remember_me=bool(r["remember_me"]),
        clients=strs(f, r["clients"]),
        consents={str(client): tuple(map(str, scopes)) for client, scopes in consents.items()},
        acr_values=strs(f, r["acr_values"]),
        remote_addr=r["remote_addr"],
        user_agent=r["user_agent"],
        revoked_at=f.opt_untime(r["revoked_at"]),
        revoked_by=r["revoked_by"],
        with_groups=bool(r["with_groups"]),
    )


# -- revocation rules ------------------------------------------------------------------
def _enc_revocation(f: Flavour, v: Revocation) -> dict[str, object]:
    return {
        "id": v.id,
        "kind": v.kind,
        "value": v.value,
        "issued_before": f.time(v.issued_before),
        "created_at": f.time(v.created_at),
        "expiry": f.time(v.expiry),
        "actor": v.actor,
        "reason": v.reason,
    }


def _dec_revocation(f: Flavour, r: Row) -> Revocation:
    return Revocation(
        id=r["id"],
        kind=r["kind"],
        value=r["value"],
        issued_before=f.untime(r["issued_before"]),
        created_at=f.untime(r["created_at"]),
        expiry=f.untime(r["expiry"]),
        actor=r["actor"],
        reason=r["reason"],
    )


# -- audit events ----------------------------------------------------------------------
def _enc_audit(f: Flavour, e: AuditEvent) -> dict[str, object]:
    return {
        "id": e.id,
        "event_time": f.time(e.time),
        "action": e.action,
        "actor": e.actor,
        "outcome": e.outcome,
        "subject": e.subject,
        "user_id": e.user_id,
        "client_id": e.client_id,
        "connector_id": e.connector_id,
        "session_id": e.session_id,
        "remote_addr": e.remote_addr,
        "details": f.json(dict(e.details)),
    }


def _dec_audit(f: Flavour, r: Row) -> AuditEvent:
    details: dict[str, Any] = f.unjson(r["details"])
    return AuditEvent(
        id=r["id"],
        time=f.untime(r["event_time"]),
        action=r["action"],
        actor=r["actor"],
        outcome=r["outcome"],
        subject=r["subject"],
        user_id=r["user_id"],
        client_id=r["client_id"],
        connector_id=r["connector_id"],
        session_id=r["session_id"],
        remote_addr=r["remote_addr"],
        details={str(k): str(v) for k, v in details.items()},
        seq=int(r["seq"]),
    )


SESSIONS = Table[Session](
    "sessions",
    ("id",),
    ("user_id", "connector_id", "client_id", "scopes", "claims", "created_at", "last_used",
     "expiry", "remote_addr", "user_agent", "revoked_at", "revoked_by", "browser_session_id"),
    _enc_session,
    _dec_session,
)  # fmt: skip

BROWSER_SESSIONS = Table[BrowserSession](
    "browser_sessions",
    ("id",),
    ("cookie_hash", "user_id", "connector_id", "claims", "auth_time", "created_at", "last_used",
     "expiry", "absolute_expiry", "refreshed_at", "connector_data", "remember_me", "clients",
     "consents", "acr_values", "remote_addr", "user_agent", "revoked_at", "revoked_by",
     "with_groups"),
    _enc_browser,
    _dec_browser,
)  # fmt: skip

REVOCATIONS = Table[Revocation](
    "revocations",
    ("id",),
    ("kind", "value", "issued_before", "created_at", "expiry", "actor", "reason"),
    _enc_revocation,
    _dec_revocation,
)

AUDIT_EVENTS = Table[AuditEvent](
    "audit_events",
    ("id",),
    ("event_time", "action", "actor", "outcome", "subject", "user_id", "client_id",
     "connector_id", "session_id", "remote_addr", "details"),
    _enc_audit,
    _dec_audit,
)  # fmt: skip

_AUDIT_COLUMNS = ", ".join(("seq", *AUDIT_EVENTS.key, *AUDIT_EVENTS.columns))
_REVOCATION_COLUMNS = ", ".join((*REVOCATIONS.key, *REVOCATIONS.columns))

# The insert assigns seq; a duplicate id inserts nothing and returns no row.
APPEND_AUDIT = AUDIT_EVENTS.insert + " RETURNING seq"
DELETE_AUDIT = "DELETE FROM audit_events WHERE event_time < :before"
GC = {
    "sessions": "DELETE FROM sessions WHERE (expiry IS NOT NULL AND expiry < :now)"
    " OR (revoked_at IS NOT NULL AND revoked_at < :revoked_before)",
    "browser_sessions": "DELETE FROM browser_sessions WHERE expiry < :now"
    " OR (revoked_at IS NOT NULL AND revoked_at < :revoked_before)",
    "revocations": "DELETE FROM revocations WHERE expiry < :now",
}


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _equalities(**fields: str) -> tuple[list[str], dict[str, object]]:
    """The equality filters; each set field becomes one indexed condition."""
    set_fields = {name: value for name, value in fields.items() if value}
    return [f"{name} = :{name}" for name in set_fields], dict(set_fields)


def _list_active(
    f: Flavour,
    table: Table[Any],
    filters: tuple[list[str], dict[str, object]],
    include_revoked: bool,
    now: datetime,
) -> tuple[str, dict[str, object]]:
    conditions, params = filters
    if not include_revoked:
        # filters.is_active: neither revoked nor past its expiry (NULL: none).
        conditions.append("revoked_at IS NULL AND (expiry IS NULL OR expiry > :now)")
        params["now"] = f.time(now)
    columns = ", ".join((*table.key, *table.columns))
    query = (
        f"SELECT {columns} FROM {table.name}{_where(conditions)} "  # noqa: S608 - constants
        "ORDER BY created_at DESC, id DESC"
    )
    return query, params


def _revoke(
    f: Flavour,
    table: Table[Any],
    filters: tuple[list[str], dict[str, object]],
    revoked_at: datetime,
    revoked_by: str,
) -> tuple[str, dict[str, object]]:
    """One UPDATE: a row already revoked (by a racing caller too) is not matched, so no
    two callers report the same id."""
    conditions, params = filters
    conditions.insert(0, "revoked_at IS NULL")
    params |= {"revoked_at": f.time(revoked_at), "revoked_by": revoked_by}
    query = (
        f"UPDATE {table.name} SET revoked_at = :revoked_at, revoked_by = :revoked_by"  # noqa: S608
        f"{_where(conditions)} RETURNING id"
    )
    return query, params


def _session_filters(which: SessionFilter) -> tuple[list[str], dict[str, object]]:
    return _equalities(
        user_id=which.user_id,
        client_id=which.client_id,
        connector_id=which.connector_id,
        browser_session_id=which.browser_session_id,
    )


def list_sessions(f: Flavour, which: SessionFilter, now: datetime) -> tuple[str, dict[str, object]]:
    return _list_active(f, SESSIONS, _session_filters(which), which.include_revoked, now)


def revoke_sessions(
    f: Flavour, which: SessionFilter, revoked_at: datetime, revoked_by: str
) -> tuple[str, dict[str, object]]:
    return _revoke(f, SESSIONS, _session_filters(which), revoked_at, revoked_by)


def _browser_filters(which: BrowserSessionFilter) -> tuple[list[str], dict[str, object]]:
    return _equalities(user_id=which.user_id, connector_id=which.connector_id)


def list_browser_sessions(
    f: Flavour, which: BrowserSessionFilter, now: datetime
) -> tuple[str, dict[str, object]]:
    filters = _browser_filters(which)
    return _list_active(f, BROWSER_SESSIONS, filters, which.include_revoked, now)


def revoke_browser_sessions(
    f: Flavour, which: BrowserSessionFilter, revoked_at: datetime, revoked_by: str
) -> tuple[str, dict[str, object]]:
    return _revoke(f, BROWSER_SESSIONS, _browser_filters(which), revoked_at, revoked_by)


def list_revocations(f: Flavour, since: datetime | None) -> tuple[str, dict[str, object]]:
    conditions, params = [], {}
    if since is not None:
        conditions.append("created_at >= :since")
        params["since"] = f.time(since)
    query = (
        f"SELECT {_REVOCATION_COLUMNS} FROM revocations{_where(conditions)} "  # noqa: S608
        "ORDER BY created_at, id"
    )
    return query, params


def list_audit_events(f: Flavour, which: AuditFilter) -> tuple[str, dict[str, object]]:
    conditions: list[str] = []
    params: dict[str, object] = {"limit": max(which.limit, 0)}
    if which.action:
        conditions.append(f"action {f.prefix_op} :action")
        params["action"] = f.prefix_pattern(which.action)
    for name in ("actor", "user_id", "client_id", "session_id"):
        if value := getattr(which, name):
            conditions.append(f"{name} = :{name}")
            params[name] = value
    if which.since is not None:
        conditions.append("event_time >= :since")
        params["since"] = f.time(which.since)
    if which.until is not None:
        conditions.append("event_time < :until")
        params["until"] = f.time(which.until)
    if which.before_seq is not None:
        conditions.append("seq < :before_seq")
        params["before_seq"] = which.before_seq
    query = (
        f"SELECT {_AUDIT_COLUMNS} FROM audit_events{_where(conditions)} "  # noqa: S608
        "ORDER BY seq DESC LIMIT :limit"
    )
    return query, params
