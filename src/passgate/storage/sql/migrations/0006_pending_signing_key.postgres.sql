-- The next signing key, published in JWKS before any replica signs with it (from
-- next_key_signs_at; see keys/rotation). All three are set together or all are NULL.
ALTER TABLE signing_keys ADD COLUMN next_key jsonb;
ALTER TABLE signing_keys ADD COLUMN next_key_pub jsonb;
ALTER TABLE signing_keys ADD COLUMN next_key_signs_at timestamptz;
