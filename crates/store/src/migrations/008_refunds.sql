-- R31: refunds of top-ups asked for by the customer (or the operator) and decided by
-- the operator. requested -> approved | rejected; approved -> pending | succeeded |
-- failed; pending -> succeeded | failed. The credit is reversed at approval (then
-- `top_ups.refunded` counts the amount) and restored if the gateway fails the refund.
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    top_up_id TEXT NOT NULL REFERENCES top_ups(id),
    account_id TEXT NOT NULL REFERENCES accounts(id),
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    -- What the customer asked for, and what the operator approved (at most that).
    requested_amount BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    -- What the approval reversed of the credit and of the tax.
    credit_reversed BIGINT NOT NULL DEFAULT 0,
    tax_reversed BIGINT NOT NULL DEFAULT 0,
    reason TEXT NOT NULL,
    decision_reason TEXT,
    -- The API keys that asked and decided.
    requested_by TEXT NOT NULL,
    decided_by TEXT,
    -- The gateway's refund, once it answered; its key is derived from the id.
    gateway_refund_id TEXT UNIQUE,
    failure_code TEXT,
    failure_message TEXT,
    -- The caller's Idempotency-Key (scoped): a replayed request finds its refund.
    request_key TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    decided_at BIGINT,
    completed_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX refunds_top_up ON refunds (top_up_id);
CREATE INDEX refunds_account ON refunds (account_id);
-- The approval queue, and the refunds the periodic job follows at the gateway.
CREATE INDEX refunds_status ON refunds (status, updated_at);
