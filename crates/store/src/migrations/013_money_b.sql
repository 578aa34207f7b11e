-- R14: the refund owed for each card verification charge, recorded in the transaction
-- that marks the card verified, and retried by the periodic job until the gateway
-- refunds it. due -> refunded. The refund's key is derived from the charge's key and
-- `round` (a new round only after the gateway said a refund failed).
CREATE TABLE verification_refunds (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    payment_method_id TEXT NOT NULL,
    -- The verification charge: its key and the gateway's id.
    charge_key TEXT NOT NULL UNIQUE,
    charge_id TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    round BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    gateway_refund_id TEXT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    refunded_at BIGINT
);
CREATE INDEX verification_refunds_due ON verification_refunds (status, next_attempt_at);
