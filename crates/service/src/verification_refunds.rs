//! R14: the refund of a card's verification charge. It is owed from the moment the
//! charge succeeds: recorded in the transaction that marks the card verified, then
//! asked of the gateway at once and, while the gateway fails it, again by the
//! periodic job (backing off, at most an hour apart) until it is made. Each failure
//! alerts the operator (a log line; `/metrics` counts the refunds still owed after a
//! failure).

use crate::{Refill, Result};
use refill_domain::verification::{verification_refund_retry_at, verification_refund_round_key};
use refill_gateway::{Charge, GatewayError, Refund, RefundRequest, RefundStatus};
use refill_store::{PaymentMethodRow, VerificationRefundRow};

/// Owed, not made yet.
pub const DUE: &str = "due";
/// Made by the gateway.
pub const REFUNDED: &str = "refunded";

impl Refill {
    /// R14: the card passed its verification charge: verified, with the charge's refund
    /// owed, in one transaction; then refunded at once where the gateway can.
    pub(crate) async fn verified_with_refund_owed(
        &self,
        pm: &PaymentMethodRow,
        key: &str,
        charge: &Charge,
    ) -> Result<()> {
        let now = self.now();
        let owed = VerificationRefundRow {
            id: refill_store::new_id("vrf"),
            account_id: pm.account_id.clone(),
            payment_method_id: pm.id.clone(),
            charge_key: key.into(),
            charge_id: charge.id.clone(),
            amount: charge.amount,
            currency: charge.currency.clone(),
            status: DUE.into(),
            next_attempt_at: now,
            created_at: now,
            ..VerificationRefundRow::default()
        };
        let mut tx = self.db.begin().await?;
        refill_store::set_payment_method_verified(&mut tx, &pm.id, now).await?;
        refill_store::insert_verification_refund(&mut tx, &owed).await?;
        tx.commit().await?;
        // A replayed verification finds the refund recorded the first time.
        if let Some(owed) = refill_store::verification_refund_of_charge(&self.db.pool, key).await?
            && owed.status == DUE
        {
            self.refund_verification(owed).await?;
        }
        Ok(())
    }

    /// R14: the verification refunds due now, asked of the gateway again. Returns how
    /// many were made.
    pub async fn refund_verifications(&self) -> Result<usize> {
        let due = refill_store::verification_refunds_due(&self.db.pool, self.now(), 100).await?;
        let mut made = 0;
        for owed in due {
            made += self.refund_verification(owed).await? as usize;
        }
        Ok(made)
    }

    /// One try: a refund the gateway has (pending) is looked up, else asked for under
    /// the round's key. True when it is made.
    async fn refund_verification(&self, owed: VerificationRefundRow) -> Result<bool> {
        let answer = match &owed.gateway_refund_id {
            Some(id) => self.gateway.retrieve_refund(id).await,
            None => {
                let req = RefundRequest {
                    idempotency_key: verification_refund_round_key(&owed.charge_key, owed.round),
                    charge_id: owed.charge_id.clone(),
                    amount: owed.amount,
                };
                self.gateway.refund(&req).await
            }
        };
        self.record_verification_refund(&owed.id, answer).await
    }

    async fn record_verification_refund(
        &self,
        id: &str,
        answer: std::result::Result<Refund, GatewayError>,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let Some(mut r) =
            refill_store::lock_verification_refund(&mut tx, self.db.dialect, id).await?
        else {
            return Ok(false);
        };
        if r.status != DUE {
            return Ok(false);
        }
        r.attempts += 1;
        let failure = match answer {
            Ok(refund) if refund.status == RefundStatus::Succeeded => {
                r.status = REFUNDED.into();
                r.refunded_at = Some(now);
                r.gateway_refund_id = Some(refund.id);
                r.last_error = None;
                None
            }
            // The bank takes its time: looked up again later, not a failure.
            Ok(refund) if refund.status == RefundStatus::Pending => {
                r.gateway_refund_id = Some(refund.id);
                None
            }
            Ok(_) => {
                r.gateway_refund_id = None;
                r.round += 1;
                Some("the gateway failed the refund".to_string())
            }
            Err(e) => Some(e.to_string()),
        };
        if r.status == DUE {
            let base = self.config.limits.outage_retry_delay;
            r.next_attempt_at = verification_refund_retry_at(now, r.attempts, base);
        }
        if let Some(why) = &failure {
            r.last_error = Some(why.chars().take(500).collect());
            eprintln!(
                "refill: ALERT: the refund of card verification charge {} ({} {}, card {}) failed, tried again at {}: {why}",
                r.charge_id,
                r.amount,
                r.currency,
                r.payment_method_id,
                refill_domain::time::rfc3339(r.next_attempt_at)
            );
        }
        refill_store::update_verification_refund(&mut tx, &r).await?;
        tx.commit().await?;
        Ok(r.status == REFUNDED)
    }
}
