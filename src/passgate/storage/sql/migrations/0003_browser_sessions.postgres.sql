-- Passgate schema, version 3 (PostgreSQL): browser (single sign-on) sessions, back-channel
-- logout and SSO sharing of clients. Rows written before keep working: empty defaults.

CREATE TABLE browser_sessions (
    id text PRIMARY KEY,
    cookie_hash text NOT NULL,
    user_id text NOT NULL,
    connector_id text NOT NULL,
    claims jsonb NOT NULL,
    auth_time timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    last_used timestamptz NOT NULL,
    expiry timestamptz NOT NULL,
    absolute_expiry timestamptz NOT NULL,
    refreshed_at timestamptz NOT NULL,
    connector_data bytea NOT NULL,
    remember_me boolean NOT NULL,
    clients jsonb NOT NULL,
    consents jsonb NOT NULL,
    acr_values jsonb NOT NULL,
    remote_addr text NOT NULL,
    user_agent text NOT NULL,
    revoked_at timestamptz,
    revoked_by text NOT NULL
);
-- list_browser_sessions filters by one of these and orders newest first by (created_at, id).
CREATE INDEX browser_sessions_user ON browser_sessions (user_id, created_at, id);
CREATE INDEX browser_sessions_connector ON browser_sessions (connector_id, created_at, id);
CREATE INDEX browser_sessions_created ON browser_sessions (created_at, id);
CREATE INDEX browser_sessions_expiry ON browser_sessions (expiry);

-- The grant sessions made through a browser session: ending it ends them.
ALTER TABLE sessions ADD COLUMN browser_session_id text NOT NULL DEFAULT '';
CREATE INDEX sessions_browser ON sessions (browser_session_id, created_at, id);

ALTER TABLE auth_requests ADD COLUMN browser_session_id text NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN sso boolean NOT NULL DEFAULT false;
ALTER TABLE auth_requests ADD COLUMN acr_values jsonb NOT NULL DEFAULT '[]';
ALTER TABLE auth_requests ADD COLUMN login_hint text NOT NULL DEFAULT '';

ALTER TABLE clients ADD COLUMN backchannel_logout_uri text NOT NULL DEFAULT '';
-- NULL: sessions.ssoSharedWithDefault applies; a JSON list otherwise.
ALTER TABLE clients ADD COLUMN sso_shared_with jsonb;

-- Random keys every replica shares, made once (forward-auth cookies are signed with one).
CREATE TABLE server_secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL,
    created_at timestamptz NOT NULL
);
