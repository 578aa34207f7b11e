-- Recurring-fee resources, their fees, and scheduled recharges.

-- R29: a resource an account holds (a dedicated number) with a fee per period.
-- Period n (0: the purchase) starts at anchor_at + n periods; next_fee_at is the start
-- of the first period not paid yet, advanced in the same transaction as its fee.
CREATE TABLE resources (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    currency TEXT NOT NULL,
    fee BIGINT NOT NULL,
    period TEXT NOT NULL,
    -- active | suspended (renewal unpaid after the grace period) | removed
    status TEXT NOT NULL,
    anchor_at BIGINT NOT NULL,
    periods_paid BIGINT NOT NULL,
    next_fee_at BIGINT,
    -- The first failed attempt to renew the period due, and the last one.
    shortfall_since BIGINT,
    shortfall_checked_at BIGINT,
    -- R17: buying it turned auto top-up on.
    turned_on_auto_top_up BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    suspended_at BIGINT,
    removed_at BIGINT
);
CREATE INDEX resources_account ON resources (account_id, id);
-- The renewals due, found without scanning the rest.
CREATE INDEX resources_due ON resources (next_fee_at) WHERE status = 'active';

-- R29: each period's fee, once: the primary key makes a second charge of the same
-- period impossible, whatever runs twice.
CREATE TABLE resource_fees (
    resource_id TEXT NOT NULL REFERENCES resources(id),
    period BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    charged_at BIGINT NOT NULL,
    PRIMARY KEY (resource_id, period)
);

-- R17: auto top-up turned on by buying a resource, and the settings version that
-- wrote. While the settings keep that version the customer never changed them, and
-- removing the last resource turns them off again.
CREATE TABLE auto_top_up_by_resource (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    resource_id TEXT NOT NULL,
    settings_version BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- R30: an account's monthly scheduled recharge. Its top-ups are top_ups rows of
-- origin 'scheduled' whose request_key names the account and month: one per month.
CREATE TABLE scheduled_recharges (
    account_id TEXT PRIMARY KEY REFERENCES accounts(id),
    amount BIGINT NOT NULL,
    day_of_month BIGINT NOT NULL,
    -- NULL: the primary card at the time of each run.
    payment_method_id TEXT,
    next_run_at BIGINT NOT NULL,
    -- The date the last run was for, when it ran, and its top-up.
    last_run_for BIGINT,
    last_run_at BIGINT,
    last_top_up_id TEXT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX scheduled_recharges_due ON scheduled_recharges (next_run_at);
