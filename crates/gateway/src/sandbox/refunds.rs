//! The sandbox's refunds (R31), kept in its record beside the charges (outcome
//! `refund:<charge id>`). Which refunds stay pending is decided by the card the charge
//! was paid with, as with Stripe's test cards:
//!
//! - `pm_card_refundFail` (Stripe's 4000 0000 0000 5126): its refunds stay pending for
//!   `sandbox_settle_after`, then fail (the bank could not return the money);
//! - `pm_card_refundPending`: its refunds stay pending as long, then succeed;
//! - any other card: refunds succeed at once.
//!
//! A failed refund no longer counts against what is left of the charge to refund.

use super::*;

/// How the refunds of a charge paid with `token` end, and whether they wait first.
fn refund_behaviour(token: &str) -> (bool, bool) {
    match token {
        "pm_card_refundFail" => (true, false),
        "pm_card_refundPending" => (true, true),
        _ => (false, true),
    }
}

fn refund_outcome(charge_id: &str) -> String {
    format!("refund:{charge_id}")
}

impl Sandbox {
    /// A refund's status now: pending until `settle_after` has passed, for the cards
    /// whose refunds wait.
    fn refund_view(&self, inner: &Inner, rec: &Record) -> Refund {
        let charge_id = rec.outcome.trim_start_matches("refund:").to_string();
        let token = (inner.by_charge.get(&charge_id))
            .and_then(|k| inner.by_key.get(k))
            .map(|c| c.token.as_str())
            .unwrap_or_default();
        let (waits, ok) = refund_behaviour(token);
        let settled = (self.now)() >= rec.at.saturating_add(self.settle_after);
        let status = match (waits && !settled, ok) {
            (true, _) => RefundStatus::Pending,
            (false, true) => RefundStatus::Succeeded,
            (false, false) => RefundStatus::Failed,
        };
        Refund {
            id: rec.charge_id.clone(),
            charge_id,
            amount: rec.amount,
            status,
            idempotency_key: Some(rec.key.clone()),
        }
    }

    fn refunds_in(&self, inner: &Inner, charge_id: &str) -> Vec<Refund> {
        let outcome = refund_outcome(charge_id);
        let mut recs: Vec<&Record> = (inner.by_key.values())
            .filter(|r| r.outcome == outcome)
            .collect();
        recs.sort_by(|a, b| a.charge_id.cmp(&b.charge_id));
        recs.into_iter()
            .map(|r| self.refund_view(inner, r))
            .collect()
    }

    /// The refunds of a charge, oldest first (their ids sort by creation).
    pub(super) fn refunds_of(&self, charge_id: &str) -> Vec<Refund> {
        self.refunds_in(&self.lock(), charge_id)
    }

    pub(super) fn find_refund(&self, refund_id: &str) -> Result<Refund, GatewayError> {
        let inner = self.lock();
        let rec = (inner.by_charge.get(refund_id))
            .and_then(|k| inner.by_key.get(k))
            .filter(|r| r.outcome.starts_with("refund:"))
            .ok_or_else(|| GatewayError::Invalid(format!("no such refund: {refund_id}")))?;
        Ok(self.refund_view(&inner, rec))
    }

    pub(super) fn make_refund(&self, req: &RefundRequest) -> Result<Refund, GatewayError> {
        let mut inner = self.lock();
        if inner.refund_outages > 0 {
            inner.refund_outages -= 1;
            return Err(GatewayError::Outage(
                "sandbox: injected refund outage (nothing was refunded)".into(),
            ));
        }
        let fault = inner.faults.pop_front();
        if fault == Some(Fault::Outage) {
            return Err(GatewayError::Outage(
                "sandbox: injected outage (nothing was refunded)".into(),
            ));
        }
        if let Some(rec) = inner.by_key.get(&req.idempotency_key) {
            if rec.outcome != refund_outcome(&req.charge_id) || rec.amount != req.amount {
                return Err(GatewayError::Invalid(
                    "idempotency key reused with other parameters".into(),
                ));
            }
            return Ok(self.refund_view(&inner, rec));
        }
        let charge = (inner.by_charge.get(&req.charge_id))
            .and_then(|k| inner.by_key.get(k))
            .cloned()
            .ok_or_else(|| GatewayError::Invalid(format!("no such charge: {}", req.charge_id)))?;
        if self.settle(&charge).status != ChargeStatus::Succeeded {
            return Err(GatewayError::Invalid(
                "the charge has no successful payment to refund".into(),
            ));
        }
        let live: i64 = (self.refunds_in(&inner, &req.charge_id).iter())
            .filter(|r| r.status != RefundStatus::Failed)
            .map(|r| r.amount)
            .sum();
        if req.amount <= 0 || live.saturating_add(req.amount) > charge.amount {
            return Err(GatewayError::Invalid(
                "refund exceeds what was charged".into(),
            ));
        }
        let rec = Record {
            key: req.idempotency_key.clone(),
            charge_id: format!("re_sbx_{}", uuid::Uuid::now_v7().simple()),
            token: String::new(),
            amount: req.amount,
            currency: charge.currency.clone(),
            outcome: refund_outcome(&req.charge_id),
            at: (self.now)(),
        };
        inner.record(rec.clone())?;
        if fault == Some(Fault::TimeoutAfterCharge) {
            return Err(GatewayError::Outage(
                "sandbox: injected timeout (the refund was made)".into(),
            ));
        }
        Ok(self.refund_view(&inner, &rec))
    }
}
