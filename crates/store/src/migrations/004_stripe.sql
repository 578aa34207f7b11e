-- Stripe gateway: payers registered at the gateway, saved cards' setups,
-- and the webhook events processed, each once.
-- The gateway's customer of an account (a Stripe Customer), created once.
CREATE TABLE gateway_customers (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    customer_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- How a saved card was set up at the gateway: its customer and, while 3-D Secure
-- is outstanding, its SetupIntent (status requires_action; ready once it succeeded).
-- A card without a row here (the sandbox) is ready.
CREATE TABLE card_setups (
    payment_method_id TEXT PRIMARY KEY REFERENCES payment_methods(id),
    customer_id TEXT,
    setup_id TEXT UNIQUE,
    client_secret TEXT,
    status TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Every Stripe event processed, written in the same transaction as its effect, so
-- that a second delivery of the same event changes nothing.
CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    received_at BIGINT NOT NULL
);
-- R11 with credit_pending off: pending top-ups whose credit waits for settlement.
CREATE TABLE withheld_credits (
    top_up_id TEXT PRIMARY KEY REFERENCES top_ups(id),
    created_at BIGINT NOT NULL
);
-- Webhooks find their top-up by the PaymentIntent, and their card by its token.
CREATE INDEX top_ups_gateway_charge ON top_ups (gateway_charge_id);
CREATE INDEX payment_methods_gateway_token ON payment_methods (gateway_token);
