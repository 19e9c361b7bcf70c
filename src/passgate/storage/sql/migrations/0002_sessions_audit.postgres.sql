-- Passgate schema, version 2 (PostgreSQL): sessions, revocation rules and the audit log.
-- Rows written by version 1 keep working: their session_id is '' (no session).

ALTER TABLE auth_codes ADD COLUMN session_id text NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN session_id text NOT NULL DEFAULT '';

CREATE TABLE sessions (
    id text PRIMARY KEY,
    user_id text NOT NULL,
    connector_id text NOT NULL,
    client_id text NOT NULL,
    scopes jsonb NOT NULL,
    claims jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    last_used timestamptz NOT NULL,
    expiry timestamptz,
    remote_addr text NOT NULL,
    user_agent text NOT NULL,
    revoked_at timestamptz,
    revoked_by text NOT NULL
);
-- list_sessions filters by one of these and orders newest first by (created_at, id).
CREATE INDEX sessions_user ON sessions (user_id, created_at, id);
CREATE INDEX sessions_client ON sessions (client_id, created_at, id);
CREATE INDEX sessions_connector ON sessions (connector_id, created_at, id);
CREATE INDEX sessions_created ON sessions (created_at, id);
CREATE INDEX sessions_expiry ON sessions (expiry);

CREATE TABLE revocations (
    id text PRIMARY KEY,
    kind text NOT NULL,
    value text NOT NULL,
    issued_before timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    expiry timestamptz NOT NULL,
    actor text NOT NULL,
    reason text NOT NULL
);
CREATE INDEX revocations_created ON revocations (created_at, id);
CREATE INDEX revocations_expiry ON revocations (expiry);

-- seq comes from a sequence when the row is inserted: increasing, never reused.
CREATE TABLE audit_events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text NOT NULL UNIQUE,
    event_time timestamptz NOT NULL,
    action text NOT NULL,
    actor text NOT NULL,
    outcome text NOT NULL,
    subject text NOT NULL,
    user_id text NOT NULL,
    client_id text NOT NULL,
    connector_id text NOT NULL,
    session_id text NOT NULL,
    remote_addr text NOT NULL,
    details jsonb NOT NULL
);
CREATE INDEX audit_events_time ON audit_events (event_time);
-- text_pattern_ops: the action prefix filter (LIKE 'prefix%') can use it in any collation.
CREATE INDEX audit_events_action ON audit_events (action text_pattern_ops);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);
CREATE INDEX audit_events_user ON audit_events (user_id, seq);
CREATE INDEX audit_events_client ON audit_events (client_id, seq);
CREATE INDEX audit_events_session ON audit_events (session_id, seq);
