-- The customer page's sessions: a one-time link token (stored hashed) exchanged once
-- for a cookie secret (stored hashed), scoped to an account and its sub-accounts.
CREATE TABLE portal_sessions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    link_hash TEXT NOT NULL UNIQUE,
    -- Set when the link is exchanged; the cookie's secret, hashed.
    cookie_hash TEXT UNIQUE,
    return_url TEXT,
    locale TEXT NOT NULL,
    -- The API key that created it.
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    link_expires_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    exchanged_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX portal_sessions_account ON portal_sessions (account_id);
