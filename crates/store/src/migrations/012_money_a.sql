-- R23: a top-up waiting for the customer's 3-D Secure (requires_action) expires at
-- its not_before, when the executor claims it. Those waiting from before this
-- version had none: they expire a day after they started waiting (the default).
UPDATE top_ups SET not_before = updated_at + 86400000
    WHERE status = 'requires_action' AND not_before IS NULL;
CREATE INDEX top_ups_requires_action ON top_ups (not_before) WHERE status = 'requires_action';
