-- R18, R22: spending took the balance to or below the auto top-up threshold, and no
-- credit has lifted it above since (1). The periodic check tops up only such an
-- account: a drop by a transfer, an adjustment, a reversal or a refund leaves it 0.
-- Set with the debit that crossed, cleared by a credit that ends above the threshold
-- and whenever the threshold itself changes.
ALTER TABLE accounts ADD COLUMN crossed_by_spending BIGINT NOT NULL DEFAULT 0;

-- R29: when an unpaid renewal last asked for an automatic top-up (NULL: none asked
-- for in this period, or paid).
ALTER TABLE resources ADD COLUMN renewal_top_up_at BIGINT;
