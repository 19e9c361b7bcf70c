-- Passgate schema, version 2 (SQLite): sessions, revocation rules and the audit log.
-- Rows written by version 1 keep working: their session_id is '' (no session).

ALTER TABLE auth_codes ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN session_id TEXT NOT NULL DEFAULT '';

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    claims TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used INTEGER NOT NULL,
    expiry INTEGER,
    remote_addr TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    revoked_at INTEGER,
    revoked_by TEXT NOT NULL
);
-- list_sessions filters by one of these and orders newest first by (created_at, id).
CREATE INDEX sessions_user ON sessions (user_id, created_at, id);
CREATE INDEX sessions_client ON sessions (client_id, created_at, id);
CREATE INDEX sessions_connector ON sessions (connector_id, created_at, id);
CREATE INDEX sessions_created ON sessions (created_at, id);
CREATE INDEX sessions_expiry ON sessions (expiry);

CREATE TABLE revocations (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    issued_before INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expiry INTEGER NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX revocations_created ON revocations (created_at, id);
CREATE INDEX revocations_expiry ON revocations (expiry);

-- AUTOINCREMENT: seq values are never reused, even after retention deletes the newest.
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    event_time INTEGER NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    outcome TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (event_time);
-- BINARY collation: the action prefix filter (GLOB 'prefix*') can use it.
CREATE INDEX audit_events_action ON audit_events (action);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_user ON audit_events (user_id, seq);
CREATE INDEX audit_events_client ON audit_events (client_id, seq);
CREATE INDEX audit_events_session ON audit_events (session_id, seq);
