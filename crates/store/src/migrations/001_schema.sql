-- refill's schema, one text for both stores. {SERIAL} and {BIGINT} are the only
-- words that differ: see Dialect::schema. Money is BIGINT minor units; times are
-- BIGINT unix milliseconds, UTC; flags are BIGINT 0/1 (the same on both stores).

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    parent_id TEXT REFERENCES accounts(id),
    name TEXT NOT NULL,
    currency TEXT NOT NULL,
    balance BIGINT NOT NULL DEFAULT 0,
    credit_limit BIGINT NOT NULL DEFAULT 0,
    payer_name TEXT,
    payer_email TEXT,
    payer_phone TEXT,
    payer_country TEXT,
    flagged BIGINT NOT NULL DEFAULT 0,
    -- The auto top-up threshold while auto top-up is active: read by every debit
    -- (R18) from this one row, and indexed for the periodic check (R22).
    auto_threshold BIGINT,
    low_balance_threshold BIGINT NOT NULL DEFAULT 0,
    low_balance_armed BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
CREATE INDEX accounts_parent ON accounts (parent_id);
-- R22: accounts at or below their threshold, found without scanning the rest.
CREATE INDEX accounts_due ON accounts ((balance - auto_threshold)) WHERE auto_threshold IS NOT NULL;

-- R3: the append-only ledger. account_id is a customer account or a system account
-- ("sys:..."); each journal's entries sum to zero.
CREATE TABLE entries (
    seq {SERIAL},
    id TEXT NOT NULL UNIQUE,
    journal_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    balance_after BIGINT,
    reference TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX entries_account ON entries (account_id, seq);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    key_hash TEXT NOT NULL UNIQUE,
    account_id TEXT REFERENCES accounts(id),
    label TEXT,
    created_at BIGINT NOT NULL
);

-- Stored responses of POSTs with an Idempotency-Key, written in the same transaction
-- as the change they answer.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_created ON idempotency_keys (created_at);

CREATE TABLE payment_methods (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    gateway_token TEXT NOT NULL,
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    exp_month BIGINT NOT NULL,
    exp_year BIGINT NOT NULL,
    saved BIGINT NOT NULL,
    is_primary BIGINT NOT NULL DEFAULT 0,
    verified_at BIGINT,
    removed_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX payment_methods_account ON payment_methods (account_id);

-- Every top-up, manual or automatic, with its recovery points (queued -> charging ->
-- succeeded | pending | failed | canceled | requires_action).
CREATE TABLE top_ups (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    origin TEXT NOT NULL,
    source TEXT NOT NULL,
    payment_method_id TEXT,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    tax BIGINT NOT NULL DEFAULT 0,
    total BIGINT NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    -- 1 while an automatic top-up is queued, charging or waiting: at most one per
    -- account (R19), enforced by the unique index below.
    in_flight BIGINT NOT NULL,
    attempt BIGINT NOT NULL DEFAULT 0,
    authenticated BIGINT NOT NULL DEFAULT 0,
    not_before BIGINT,
    lease_owner TEXT,
    lease_until BIGINT,
    gateway_charge_id TEXT,
    failure_code TEXT,
    failure_message TEXT,
    why_waiting TEXT,
    refunded BIGINT NOT NULL DEFAULT 0,
    -- The caller's Idempotency-Key (scoped): a replayed request finds its top-up.
    request_key TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE UNIQUE INDEX top_ups_one_in_flight ON top_ups (account_id) WHERE in_flight = 1;
CREATE INDEX top_ups_queued ON top_ups (not_before) WHERE status = 'queued';
CREATE INDEX top_ups_charging ON top_ups (lease_until) WHERE status = 'charging';
CREATE INDEX top_ups_pending ON top_ups (created_at) WHERE status = 'pending';
CREATE INDEX top_ups_account ON top_ups (account_id, created_at);

CREATE TABLE auto_top_up (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    state TEXT NOT NULL,
    threshold BIGINT NOT NULL,
    amount_mode TEXT NOT NULL,
    amount BIGINT NOT NULL,
    source TEXT NOT NULL,
    payment_method_id TEXT,
    terms_version TEXT,
    terms_accepted_at BIGINT,
    state_reason TEXT,
    state_changed_at BIGINT NOT NULL,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    window_until BIGINT,
    last_attempt_at BIGINT,
    last_attempt_outcome TEXT,
    last_attempt_top_up_id TEXT,
    next_attempt_at BIGINT,
    why_not TEXT,
    version BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- R24: every change of auto top-up state, with time and reason.
CREATE TABLE auto_top_up_history (
    seq {SERIAL},
    account_id TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX auto_top_up_history_account ON auto_top_up_history (account_id, seq);

CREATE TABLE transfers (
    id TEXT PRIMARY KEY,
    from_account TEXT NOT NULL,
    to_account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    reference TEXT,
    created_at BIGINT NOT NULL
);

-- R28: the outbox. An event is written in the same transaction as its cause.
CREATE TABLE events (
    seq {SERIAL},
    id TEXT NOT NULL UNIQUE,
    account_id TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_account ON events (account_id, seq);

-- Named leases: one node at a time runs a periodic job.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until BIGINT NOT NULL
);
