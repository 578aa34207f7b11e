-- Notifications (R26-R28): the outbox's events fan out to deliveries, one per
-- (event, channel, recipient), each delivered at least once by one node at a time.

-- Events not yet fanned out to their deliveries.
ALTER TABLE events ADD COLUMN dispatched BIGINT NOT NULL DEFAULT 0;
-- Events from before delivery existed are history, not news: nobody is sent them.
UPDATE events SET dispatched = 1;
CREATE INDEX events_undispatched ON events (seq) WHERE dispatched = 0;

-- Webhook endpoints the operator (account_id NULL: every account) or an account
-- (its own tree) registers. event_types is a comma-separated list, or "*".
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY,
    account_id TEXT REFERENCES accounts(id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    event_types TEXT NOT NULL,
    description TEXT,
    -- 1: registered by the operator, who may point it anywhere (an internal host);
    -- 0: by an account key, so it must reach a public address.
    trusted BIGINT NOT NULL DEFAULT 0,
    removed_at BIGINT,
    created_at BIGINT NOT NULL
);

-- R26: which events an account's payer gets by email and by SMS. No row: the
-- defaults (every event by email, none by SMS).
CREATE TABLE notification_preferences (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    channel TEXT NOT NULL,
    event_types TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, channel)
);

-- One delivery of one event to one recipient. status: pending -> delivered | dead.
-- A pending row is claimed with a lease (lease_until) so one node sends it at a time.
CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    first_attempt_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    delivered_at BIGINT,
    created_at BIGINT NOT NULL,
    UNIQUE (event_id, channel, recipient)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_event ON deliveries (event_id);
