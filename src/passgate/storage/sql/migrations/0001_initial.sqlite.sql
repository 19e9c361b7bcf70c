-- Passgate schema, version 1 (SQLite).
-- Times are INTEGER microseconds since the Unix epoch (UTC), so comparisons are exact.
-- JSON is TEXT; bytes are BLOB; booleans are 0/1.

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    trusted_peers TEXT NOT NULL,
    is_public INTEGER NOT NULL,
    name TEXT NOT NULL,
    logo_url TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    allowed_connectors TEXT NOT NULL
);

CREATE TABLE auth_requests (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    response_types TEXT NOT NULL,
    scopes TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    expiry INTEGER NOT NULL,
    state TEXT NOT NULL,
    nonce TEXT NOT NULL,
    force_approval_prompt INTEGER NOT NULL,
    logged_in INTEGER NOT NULL,
    claims TEXT,
    connector_id TEXT NOT NULL,
    connector_data BLOB NOT NULL,
    pkce TEXT NOT NULL,
    hmac_key BLOB NOT NULL,
    max_age INTEGER,
    auth_time INTEGER
);
CREATE INDEX auth_requests_expiry ON auth_requests (expiry);

CREATE TABLE auth_codes (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    claims TEXT NOT NULL,
    expiry INTEGER NOT NULL,
    nonce TEXT NOT NULL,
    connector_data BLOB NOT NULL,
    pkce TEXT NOT NULL,
    auth_time INTEGER,
    redeemed INTEGER NOT NULL,
    refresh_token_id TEXT NOT NULL,
    access_token_id TEXT NOT NULL
);
CREATE INDEX auth_codes_expiry ON auth_codes (expiry);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL,
    client_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    claims TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used INTEGER NOT NULL,
    obsolete_token_hash TEXT NOT NULL,
    rotation_key BLOB NOT NULL,
    nonce TEXT NOT NULL,
    connector_data BLOB NOT NULL,
    auth_time INTEGER
);

CREATE TABLE offline_sessions (
    user_id TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    refresh_refs TEXT NOT NULL,
    connector_data BLOB NOT NULL,
    PRIMARY KEY (user_id, connector_id)
);

CREATE TABLE passwords (
    email TEXT PRIMARY KEY,
    password_hash BLOB NOT NULL,
    username TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    preferred_username TEXT NOT NULL,
    email_verified INTEGER NOT NULL,
    user_groups TEXT NOT NULL
);

-- Exactly one row: update_keys locks it, so rotation is serialized across replicas.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY CHECK (id = 'keys'),
    signing_key TEXT,
    signing_key_pub TEXT,
    verification_keys TEXT NOT NULL,
    next_rotation INTEGER
);
INSERT INTO signing_keys (id, verification_keys) VALUES ('keys', '[]');

CREATE TABLE device_requests (
    user_code TEXT PRIMARY KEY,
    device_code TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expiry INTEGER NOT NULL
);
CREATE INDEX device_requests_expiry ON device_requests (expiry);

CREATE TABLE device_tokens (
    device_code TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    token TEXT NOT NULL,
    expiry INTEGER NOT NULL,
    last_request_time INTEGER NOT NULL,
    poll_interval_seconds INTEGER NOT NULL,
    pkce TEXT NOT NULL
);
CREATE INDEX device_tokens_expiry ON device_tokens (expiry);

CREATE TABLE revoked_tokens (
    id TEXT PRIMARY KEY,
    expiry INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expiry);

CREATE TABLE login_attempts (
    attempt_key TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    expiry INTEGER NOT NULL,
    locked_until INTEGER
);
CREATE INDEX login_attempts_expiry ON login_attempts (expiry);
