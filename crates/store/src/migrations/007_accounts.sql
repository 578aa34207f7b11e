-- R4: when an account was closed; NULL while it is open. A closed account keeps its
-- row, its ledger and its history; it takes no debit, top-up, transfer or change.
ALTER TABLE accounts ADD COLUMN closed_at BIGINT;
