//! What the sandbox's record shows to those who check it: tests counting charges, and
//! `refill verify` reconciling the charges made against the top-ups.

use super::*;

impl Sandbox {
    /// Every successful or pending charge made, as (idempotency key, amount): what a
    /// test counts to prove nothing was charged twice.
    pub fn charges(&self) -> Vec<(String, i64)> {
        let inner = self.lock();
        let mut v: Vec<_> = inner
            .by_key
            .values()
            .filter(|r| matches!(r.outcome.as_str(), "succeeded" | "pending" | "failed"))
            .map(|r| (r.key.clone(), r.amount))
            .collect();
        v.sort();
        v
    }

    /// Every charge request the sandbox answered, declined ones included, by
    /// idempotency key (refunds aside): what a test counts to prove nothing was sent.
    pub fn charge_requests(&self) -> Vec<String> {
        let inner = self.lock();
        let mut v: Vec<String> = (inner.by_key.values())
            .filter(|r| !r.outcome.starts_with("refund:"))
            .map(|r| r.key.clone())
            .collect();
        v.sort();
        v
    }

    /// Every charge that took money (succeeded, pending, or failed after pending), as
    /// (idempotency key, charge id, amount, currency), oldest first: what `refill
    /// verify` reconciles against the top-ups.
    pub fn money_taken(&self) -> Vec<(String, String, i64, String)> {
        let inner = self.lock();
        let mut v: Vec<_> = (inner.by_key.values())
            .filter(|r| matches!(r.outcome.as_str(), "succeeded" | "pending" | "failed"))
            .map(|r| {
                (
                    r.key.clone(),
                    r.charge_id.clone(),
                    r.amount,
                    r.currency.clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        v
    }

    /// Reads the charges in a sandbox record file (for tests of another process).
    pub fn charges_in_file(path: &Path) -> std::io::Result<Vec<(String, i64)>> {
        Ok(Sandbox::open(path, Arc::new(|| 0))?.charges())
    }
}
