-- An entry that sums several items of a batch debit lists them here, as a
-- JSON array of {"amount", "reference"} in the order they were posted; NULL for an
-- entry of one item (its reference is the entry's own).
ALTER TABLE entries ADD COLUMN items TEXT;
