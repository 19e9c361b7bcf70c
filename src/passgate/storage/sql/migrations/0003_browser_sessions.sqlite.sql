-- Passgate schema, version 3 (SQLite): browser (single sign-on) sessions, back-channel
-- logout and SSO sharing of clients. Rows written before keep working: empty defaults.

CREATE TABLE browser_sessions (
    id TEXT PRIMARY KEY,
    cookie_hash TEXT NOT NULL,
    user_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    claims TEXT NOT NULL,
    auth_time INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_used INTEGER NOT NULL,
    expiry INTEGER NOT NULL,
    absolute_expiry INTEGER NOT NULL,
    refreshed_at INTEGER NOT NULL,
    connector_data BLOB NOT NULL,
    remember_me INTEGER NOT NULL,
    clients TEXT NOT NULL,
    consents TEXT NOT NULL,
    acr_values TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    revoked_at INTEGER,
    revoked_by TEXT NOT NULL
);
-- list_browser_sessions filters by one of these and orders newest first by (created_at, id).
CREATE INDEX browser_sessions_user ON browser_sessions (user_id, created_at, id);
CREATE INDEX browser_sessions_connector ON browser_sessions (connector_id, created_at, id);
CREATE INDEX browser_sessions_created ON browser_sessions (created_at, id);
CREATE INDEX browser_sessions_expiry ON browser_sessions (expiry);

-- The grant sessions made through a browser session: ending it ends them.
ALTER TABLE sessions ADD COLUMN browser_session_id TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_browser ON sessions (browser_session_id, created_at, id);

ALTER TABLE auth_requests ADD COLUMN browser_session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests ADD COLUMN sso INTEGER NOT NULL DEFAULT 0;
ALTER TABLE auth_requests ADD COLUMN acr_values TEXT NOT NULL DEFAULT '[]';
ALTER TABLE auth_requests ADD COLUMN login_hint TEXT NOT NULL DEFAULT '';

ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
-- NULL: sessions.ssoSharedWithDefault applies; a JSON list otherwise.
ALTER TABLE clients ADD COLUMN sso_shared_with TEXT;

-- Random keys every replica shares, made once (forward-auth cookies are signed with one).
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
