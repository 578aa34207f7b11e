-- API keys as objects: a name, an optional expiry, when last used, revocable, and
-- rotatable with a grace for the secret replaced. Each revocation or rotation takes
-- the next revision of api_key_revision, so that every node can ask which keys
-- changed since the revision it last saw (crates/service/src/caches.rs).
ALTER TABLE api_keys RENAME COLUMN label TO name;
-- How the secret is shown once it was given: its kind and first 8 random characters.
ALTER TABLE api_keys ADD COLUMN prefix TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
-- Coarse: written by each node at most once a minute per key.
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
ALTER TABLE api_keys ADD COLUMN revoked_at BIGINT;
-- The secret the last rotation replaced, valid until previous_expires_at.
ALTER TABLE api_keys ADD COLUMN previous_key_hash TEXT;
ALTER TABLE api_keys ADD COLUMN previous_prefix TEXT;
ALTER TABLE api_keys ADD COLUMN previous_expires_at BIGINT;
-- The revision of the key's last revocation or rotation (0: never changed).
ALTER TABLE api_keys ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
CREATE INDEX api_keys_previous_key_hash ON api_keys (previous_key_hash);
CREATE INDEX api_keys_revision ON api_keys (revision);
CREATE INDEX api_keys_account ON api_keys (account_id);

-- One row: the last revision taken. Taking one locks the row until commit, so
-- revisions are committed in their order and "changed since N" misses none.
CREATE TABLE api_key_revision (
    id BIGINT PRIMARY KEY,
    revision BIGINT NOT NULL
);
INSERT INTO api_key_revision (id, revision) VALUES (1, 0);
