//! The card attempt: its recovery point (amount, tax and attempt committed as
//! `charging`), then the gateway's charge under the attempt's idempotency key (R25).

use super::Next;
use crate::auto_top_up::save_settings;
use crate::top_ups::GATEWAY_REJECTED;
use crate::{Refill, Result};
use refill_domain::auto_top_up::{SourceKind, StateReason, WhyNot, window_after_attempt};
use refill_domain::top_up::{AttemptOutcome, Source};
use refill_domain::{Currency, checkout};
use refill_gateway::{Charge, ChargeRequest, ChargeStatus, DeclineClass, GatewayError};
use refill_store::{AutoTopUpRow, PaymentMethodRow, TopUpRow, Tx};

impl Refill {
    /// The recovery point before a card charge: amount, tax and attempt are fixed
    /// and committed, so a crash after it resumes with the same idempotency key.
    pub(super) async fn start_card_attempt(
        &self,
        tx: &mut Tx,
        mut t: TopUpRow,
        s: &mut AutoTopUpRow,
        account: &refill_store::AccountRow,
        amount: i64,
        now: i64,
    ) -> Result<Next> {
        let pm = match &s.payment_method_id {
            Some(id) => refill_store::get_payment_method(&mut *tx, id)
                .await?
                .filter(|p| p.card().usable()),
            None => None,
        };
        let Some(pm) = pm else {
            save_settings(tx, s, Some(StateReason::PaymentMethodRemoved), now).await?;
            self.finish_without_charge(tx, &mut t, WhyNot::NotActive, now)
                .await?;
            return Ok(Next::Done);
        };
        let rate = self.tax_rate(tx, account).await?;
        let summary = checkout::summary(amount, rate, Currency::parse(&account.currency)?)?;
        t.set_progress(t.progress().begin_charge()?);
        t.source = Source::Card;
        t.payment_method_id = Some(pm.id.clone());
        t.amount = summary.amount;
        t.tax = summary.tax;
        t.total = summary.total;
        t.attempt += 1;
        t.gateway_charge_id = None;
        t.lease_until = Some(now + self.config.lease);
        t.updated_at = now;
        refill_store::update_top_up(tx, &t).await?;
        // R20, R23: an attempt, failed or not, uses the window.
        s.window_until = window_after_attempt(SourceKind::Card, now, &self.config.limits);
        s.last_attempt_at = Some(now);
        s.last_attempt_top_up_id = Some(t.id.clone());
        s.last_attempt_outcome = Some(AttemptOutcome::Charging);
        s.why_not = None;
        s.next_attempt_at = None;
        Ok(Next::Charge(Box::new((t, pm))))
    }

    /// Calls the gateway and records what it said. An outage leaves the top-up
    /// `charging`: it is resolved later by asking the gateway (R25).
    pub(crate) async fn charge_and_record(&self, t: TopUpRow, pm: PaymentMethodRow) -> Result<()> {
        let req = ChargeRequest {
            idempotency_key: t.charge_key(),
            payment_method: pm.gateway_token.clone(),
            customer: self.customer_of_card(&pm.id).await?,
            amount: t.total,
            currency: t.currency.clone(),
            description: format!("refill {} top-up {}", t.origin, t.id),
            metadata: vec![
                ("refill_top_up".into(), t.id.clone()),
                ("refill_account".into(), t.account_id.clone()),
            ],
            off_session: t.origin.off_session(),
            authenticated: t.authenticated,
        };
        match self.gateway.charge(&req).await {
            Ok(charge) => self.record_charge(&t.id, t.attempt, &charge).await,
            Err(GatewayError::Outage(msg)) => self.record_outage(&t.id, t.attempt, &msg).await,
            Err(e @ (GatewayError::Invalid(_) | GatewayError::Rejected(_))) => {
                // R23: a request refused as malformed (alerted by the gateway) is never
                // the customer's failure; other refusals (a card gone) stay declines.
                let (class, code, message) = match e {
                    GatewayError::Rejected(m) => (DeclineClass::Rejected, GATEWAY_REJECTED, m),
                    other => (DeclineClass::Soft, "invalid_request", other.to_string()),
                };
                let charge = Charge {
                    id: String::new(),
                    amount: t.total,
                    currency: t.currency.clone(),
                    status: ChargeStatus::Declined {
                        class,
                        code: code.into(),
                        message,
                    },
                };
                self.record_charge(&t.id, t.attempt, &charge).await
            }
        }
    }

    /// A manual top-up queued again after the customer authenticated (3-D Secure).
    pub(super) async fn start_manual_retry(
        &self,
        mut tx: refill_store::Transaction,
        mut t: TopUpRow,
        now: i64,
    ) -> Result<Next> {
        // R5: a retry or a confirmation never charges a card removed since.
        let pm = self.card_of(&mut tx, &t).await?;
        let Some(pm) = pm.filter(|p| p.card().usable()) else {
            self.fail_card_removed(&mut tx, &mut t, now).await?;
            tx.commit().await?;
            return Ok(Next::Done);
        };
        t.set_progress(t.progress().begin_charge()?);
        t.attempt += 1;
        // The last attempt's PaymentIntent is not this attempt's.
        t.gateway_charge_id = None;
        t.lease_until = Some(now + self.config.lease);
        t.updated_at = now;
        refill_store::update_top_up(&mut tx, &t).await?;
        tx.commit().await?;
        Ok(Next::Charge(Box::new((t, pm))))
    }
}
