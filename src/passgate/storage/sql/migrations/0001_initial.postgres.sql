-- Passgate schema, version 1 (PostgreSQL).
-- Times are timestamptz (returned as UTC by the backend).
-- JSON is jsonb; bytes are bytea.

CREATE TABLE clients (
    id text PRIMARY KEY,
    secret text NOT NULL,
    redirect_uris jsonb NOT NULL,
    trusted_peers jsonb NOT NULL,
    is_public boolean NOT NULL,
    name text NOT NULL,
    logo_url text NOT NULL,
    post_logout_redirect_uris jsonb NOT NULL,
    allowed_connectors jsonb NOT NULL
);

CREATE TABLE auth_requests (
    id text PRIMARY KEY,
    client_id text NOT NULL,
    response_types jsonb NOT NULL,
    scopes jsonb NOT NULL,
    redirect_uri text NOT NULL,
    expiry timestamptz NOT NULL,
    state text NOT NULL,
    nonce text NOT NULL,
    force_approval_prompt boolean NOT NULL,
    logged_in boolean NOT NULL,
    claims jsonb,
    connector_id text NOT NULL,
    connector_data bytea NOT NULL,
    pkce jsonb NOT NULL,
    hmac_key bytea NOT NULL,
    max_age integer,
    auth_time timestamptz
);
CREATE INDEX auth_requests_expiry ON auth_requests (expiry);

CREATE TABLE auth_codes (
    id text PRIMARY KEY,
    client_id text NOT NULL,
    redirect_uri text NOT NULL,
    scopes jsonb NOT NULL,
    connector_id text NOT NULL,
    claims jsonb NOT NULL,
    expiry timestamptz NOT NULL,
    nonce text NOT NULL,
    connector_data bytea NOT NULL,
    pkce jsonb NOT NULL,
    auth_time timestamptz,
    redeemed boolean NOT NULL,
    refresh_token_id text NOT NULL,
    access_token_id text NOT NULL
);
CREATE INDEX auth_codes_expiry ON auth_codes (expiry);

CREATE TABLE refresh_tokens (
    id text PRIMARY KEY,
    token_hash text NOT NULL,
    client_id text NOT NULL,
    connector_id text NOT NULL,
    claims jsonb NOT NULL,
    scopes jsonb NOT NULL,
    created_at timestamptz NOT NULL,
    last_used timestamptz NOT NULL,
    obsolete_token_hash text NOT NULL,
    rotation_key bytea NOT NULL,
    nonce text NOT NULL,
    connector_data bytea NOT NULL,
    auth_time timestamptz
);

CREATE TABLE offline_sessions (
    user_id text NOT NULL,
    connector_id text NOT NULL,
    refresh_refs jsonb NOT NULL,
    connector_data bytea NOT NULL,
    PRIMARY KEY (user_id, connector_id)
);

CREATE TABLE passwords (
    email text PRIMARY KEY,
    password_hash bytea NOT NULL,
    username text NOT NULL,
    user_id text NOT NULL,
    name text NOT NULL,
    preferred_username text NOT NULL,
    email_verified boolean NOT NULL,
    user_groups jsonb NOT NULL
);

-- Exactly one row: update_keys locks it, so rotation is serialized across replicas.
CREATE TABLE signing_keys (
    id text PRIMARY KEY CHECK (id = 'keys'),
    signing_key jsonb,
    signing_key_pub jsonb,
    verification_keys jsonb NOT NULL,
    next_rotation timestamptz
);
INSERT INTO signing_keys (id, verification_keys) VALUES ('keys', '[]'::jsonb);

CREATE TABLE device_requests (
    user_code text PRIMARY KEY,
    device_code text NOT NULL,
    client_id text NOT NULL,
    client_secret text NOT NULL,
    scopes jsonb NOT NULL,
    expiry timestamptz NOT NULL
);
CREATE INDEX device_requests_expiry ON device_requests (expiry);

CREATE TABLE device_tokens (
    device_code text PRIMARY KEY,
    status text NOT NULL,
    token text NOT NULL,
    expiry timestamptz NOT NULL,
    last_request_time timestamptz NOT NULL,
    poll_interval_seconds integer NOT NULL,
    pkce jsonb NOT NULL
);
CREATE INDEX device_tokens_expiry ON device_tokens (expiry);

CREATE TABLE revoked_tokens (
    id text PRIMARY KEY,
    expiry timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expiry);

CREATE TABLE login_attempts (
    attempt_key text PRIMARY KEY,
    failures integer NOT NULL,
    expiry timestamptz NOT NULL,
    locked_until timestamptz
);
CREATE INDEX login_attempts_expiry ON login_attempts (expiry);
