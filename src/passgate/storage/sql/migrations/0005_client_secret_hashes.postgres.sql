-- Clients keep a hash of their secret, never the secret: `<scheme>$<hash>` (see
-- provider/client_secrets.py). Rows from before keep their secret in `secret` with an empty
-- hash; start-up hashes them in code (a pepper cannot be applied in SQL) and empties
-- `secret`, one compare-and-swap per row, so replicas starting together are safe.
ALTER TABLE clients ADD COLUMN secret_hash text NOT NULL DEFAULT '';
