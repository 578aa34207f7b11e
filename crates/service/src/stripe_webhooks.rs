//! Stripe's webhooks (POST /v1/webhooks/stripe): signed events about payments, card
//! setups and refunds, delivered at least once and in any order.
//!
//! Each event is verified (Stripe-Signature, 5 minutes of tolerance against the
//! service clock), then processed once: its id is recorded in `stripe_events` in the
//! same transaction as its effect, so a second delivery changes nothing. Order does
//! not matter because every effect is a forward move of a top-up, checked under lock
//! against its current state (charging -> pending -> succeeded | failed), and goes
//! through the executor's own paths: `apply_charge` (what the executor records when the
//! gateway answers) and `settle_in` (R11's settlement). A success the executor already
//! recorded, or a `processing` arriving after the success, therefore does nothing.

use crate::{Refill, Result, ServiceError, events};
use refill_domain::events::TopUpRefunded;
use refill_domain::ledger;
use refill_domain::refunds::refund_parts;
use refill_domain::top_up::TopUpStatus;
use refill_gateway::stripe_webhook::{
    DEFAULT_TOLERANCE_SECS, EventKind, StripeEvent, parse_event, verify_signature,
};
use refill_gateway::{Charge, ChargeStatus, Refund};
use refill_store::{AccountRow, TopUpRow, Tx};
use serde::Serialize;

/// What became of a delivered event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WebhookReceipt {
    pub object: &'static str,
    pub event_id: String,
    pub event_type: String,
    /// processed (something changed) | ignored (nothing to do) | duplicate (seen before)
    #[schemars(extend("enum" = ["processed", "ignored", "duplicate"]))]
    pub outcome: &'static str,
}

/// The metadata key naming the refill top-up on every PaymentIntent refill creates.
pub const TOP_UP_METADATA_KEY: &str = "refill_top_up";

impl Refill {
    /// Verifies and processes one Stripe event. A bad, missing, expired or tampered
    /// signature is refused (`invalid_signature`) before anything is read or changed.
    pub async fn receive_stripe_event(
        &self,
        payload: &[u8],
        signature: Option<&str>,
        secret: &str,
    ) -> Result<WebhookReceipt> {
        let now_secs = self.now().div_euclid(1000);
        verify_signature(
            payload,
            signature.unwrap_or(""),
            secret,
            now_secs,
            DEFAULT_TOLERANCE_SECS,
        )
        .map_err(|e| ServiceError::invalid("invalid_signature", e.to_string()))?;
        let event = parse_event(payload)
            .map_err(|e| ServiceError::invalid("invalid_event", e.to_string()))?;
        if event.id.is_empty() || event.id.len() > 255 {
            return Err(ServiceError::invalid(
                "invalid_event",
                "the event has no usable id",
            ));
        }
        let receipt = |outcome| WebhookReceipt {
            object: "webhook_receipt",
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            outcome,
        };
        // R31: a refund event is checked against the charge's refunds at the gateway,
        // read before the transaction.
        let refunds = self.refunds_at_gateway(&event).await?;
        let now = self.now();
        let mut tx = self.db.begin().await?;
        if !refill_store::record_stripe_event(&mut tx, &event.id, &event.event_type, now).await? {
            return Ok(receipt("duplicate"));
        }
        let changed = self
            .apply_stripe_event(&mut tx, &event, &refunds, now)
            .await?;
        tx.commit().await?;
        // A success may have queued R21's follow-up top-up.
        self.work_ready.notify_waiters();
        Ok(receipt(if changed { "processed" } else { "ignored" }))
    }

    async fn apply_stripe_event(
        &self,
        tx: &mut Tx,
        e: &StripeEvent,
        refunds: &[Refund],
        now: i64,
    ) -> Result<bool> {
        match e.kind() {
            EventKind::PaymentIntentSucceeded
            | EventKind::PaymentIntentPaymentFailed
            | EventKind::PaymentIntentProcessing => self.on_payment_intent(tx, e, now).await,
            EventKind::ChargeRefunded => self.on_charge_refunded(tx, e, refunds, now).await,
            EventKind::RefundUpdated => self.on_refund_updated(tx, e, refunds, now).await,
            EventKind::SetupIntentSucceeded => self.on_setup_succeeded(tx, e, now).await,
            EventKind::PaymentMethodDetached => self.on_payment_method_detached(tx, e, now).await,
            EventKind::Other => Ok(false),
        }
    }

    /// The top-up an event is about, with its account, both locked: found by the
    /// PaymentIntent stored on it, or by the metadata naming it. The event must be
    /// about the top-up's current attempt (refill's idempotency key in the metadata
    /// names it), so a late event of an earlier, declined attempt changes nothing.
    async fn top_up_of_event(
        &self,
        tx: &mut Tx,
        e: &StripeEvent,
    ) -> Result<Option<(AccountRow, TopUpRow)>> {
        let pi = e.payment_intent_id();
        let by_charge = match pi {
            Some(pi) => refill_store::top_up_id_by_charge(&mut *tx, pi).await?,
            None => None,
        };
        let named = e
            .metadata()
            .and_then(|m| m.get(TOP_UP_METADATA_KEY))
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let Some(id) = by_charge.or(named) else {
            return Ok(None);
        };
        let Some((account, t)) = self.lock_top_up_and_account(tx, &id).await? else {
            return Ok(None);
        };
        // The key refill sent names the attempt exactly (a scheduled recharge's names
        // its month, not the top-up id); only an event without one falls back to the
        // PaymentIntent recorded for the current attempt.
        let current = match e.idempotency_key() {
            Some(key) => key == t.charge_key(),
            None => pi.is_some() && t.gateway_charge_id.as_deref() == pi,
        };
        Ok(current.then_some((account, t)))
    }

    /// payment_intent.succeeded / .processing / .payment_failed for a top-up.
    async fn on_payment_intent(&self, tx: &mut Tx, e: &StripeEvent, now: i64) -> Result<bool> {
        let Some(Ok(charge)) = e.charge() else {
            return Ok(false);
        };
        let Some((account, mut t)) = self.top_up_of_event(tx, e).await? else {
            return Ok(false);
        };
        if charge.amount != t.total || charge.currency != t.currency {
            eprintln!(
                "refill: stripe event {} for top-up {}: {} {} is not the top-up's {} {}; ignored",
                e.id, t.id, charge.amount, charge.currency, t.total, t.currency
            );
            return Ok(false);
        }
        self.move_top_up(tx, &account, &mut t, &charge, now).await
    }

    /// Moves a top-up forward to what the gateway says of its charge; never back.
    async fn move_top_up(
        &self,
        tx: &mut Tx,
        account: &AccountRow,
        t: &mut TopUpRow,
        charge: &Charge,
        now: i64,
    ) -> Result<bool> {
        match (&charge.status, t.status) {
            // The executor has not recorded an answer (lost, or not back yet): this
            // is the answer. Its own late record then finds the top-up no longer
            // charging and changes nothing.
            (_, TopUpStatus::Charging) => {
                self.apply_charge(tx, account, t, charge, now).await?;
            }
            // The customer completed 3-D Secure on the payment itself.
            (ChargeStatus::Succeeded, TopUpStatus::RequiresAction) => {
                self.apply_charge(tx, account, t, charge, now).await?;
            }
            // R11: a pending payment settles.
            (ChargeStatus::Succeeded, TopUpStatus::Pending) => {
                self.settle_in(tx, account, t, true, now).await?;
            }
            (ChargeStatus::Declined { .. }, TopUpStatus::Pending) => {
                self.settle_in(tx, account, t, false, now).await?;
            }
            // Recorded already, or an event older than what is recorded.
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// charge.refunded: the charge's refunds are reconciled (`reconcile_refunds`):
    /// refill's own recorded, those made elsewhere reversed for the part of the
    /// credit not reversed before (in proportion to amount and tax; never more than
    /// was charged). A refund proves the payment succeeded, so a top-up not yet known
    /// to have succeeded (events out of order) is first recorded as such.
    async fn on_charge_refunded(
        &self,
        tx: &mut Tx,
        e: &StripeEvent,
        refunds: &[Refund],
        now: i64,
    ) -> Result<bool> {
        if e.amount_refunded().is_none() {
            return Ok(false);
        }
        let Some((account, mut t)) = self.top_up_of_event(tx, e).await? else {
            return Ok(false);
        };
        if e.object["amount"].as_i64().is_some_and(|a| a != t.total) {
            eprintln!(
                "refill: stripe event {}: the charge is not top-up {}'s; ignored",
                e.id, t.id
            );
            return Ok(false);
        }
        let paid = Charge {
            id: e.payment_intent_id().unwrap_or_default().to_string(),
            amount: t.total,
            currency: t.currency.clone(),
            status: ChargeStatus::Succeeded,
        };
        let moved = match t.status {
            TopUpStatus::Charging | TopUpStatus::RequiresAction | TopUpStatus::Pending => {
                self.move_top_up(tx, &account, &mut t, &paid, now).await?
            }
            TopUpStatus::Succeeded => false,
            _ => return Ok(false),
        };
        let reversed = self.reconcile_refunds(tx, &mut t, refunds, now).await?;
        Ok(moved || reversed)
    }

    /// R31: reverses what `refunded_total` (all refunds of the charge so far) adds to
    /// what was reversed before. A balance driven below zero flags the account, and
    /// usage is refused while it stays there (as R11).
    pub(crate) async fn reverse_refund(
        &self,
        tx: &mut Tx,
        account: &AccountRow,
        t: &mut TopUpRow,
        refunded_total: i64,
        now: i64,
    ) -> Result<bool> {
        let parts = refund_parts(refunded_total, t.refunded, t.amount, t.tax, t.total)?;
        let Some(parts) = parts else {
            return Ok(false);
        };
        let journal =
            ledger::refund_top_up(&t.account_id, parts.credit, parts.tax, parts.rounding)?;
        let reference = format!("refund of top-up {}", t.id);
        let applied = self
            .post_journal(tx, &journal, &[account], &reference, now)
            .await?;
        t.refunded = parts.refunded_total;
        t.updated_at = now;
        refill_store::update_top_up(tx, t).await?;
        let told = TopUpRefunded {
            balance_after: applied.after(&t.account_id),
            credit_reversed: parts.credit,
            currency: t.currency.clone(),
            refunded: parts.refunded,
            refunded_total: parts.refunded_total,
            tax_reversed: parts.tax,
            top_up_id: t.id.clone(),
            transaction_id: t.gateway_charge_id.clone(),
        };
        events::emit(tx, &t.account_id, told, now).await?;
        Ok(true)
    }

    /// setup_intent.succeeded: the card being saved is usable (R14: 3-D Secure done).
    async fn on_setup_succeeded(&self, tx: &mut Tx, e: &StripeEvent, now: i64) -> Result<bool> {
        let Some(setup_id) = e.setup_intent_id() else {
            return Ok(false);
        };
        let Some(setup) = refill_store::card_setup_by_setup_id(&mut *tx, setup_id).await? else {
            return Ok(false);
        };
        self.card_setup_succeeded(tx, &setup, e.payment_method_id(), now)
            .await
    }

    /// payment_method.detached: the card is gone at Stripe (removed by the customer
    /// or in the dashboard), so it is marked removed here; the periodic check (R22)
    /// then disables auto top-up that relied on it.
    async fn on_payment_method_detached(
        &self,
        tx: &mut Tx,
        e: &StripeEvent,
        now: i64,
    ) -> Result<bool> {
        let Some(token) = e.payment_method_id() else {
            return Ok(false);
        };
        let mut removed = false;
        for id in refill_store::payment_methods_by_token(&mut *tx, token).await? {
            // Only cards saved at Stripe, of the customer the event names.
            let Some(setup) = refill_store::get_card_setup(&mut *tx, &id).await? else {
                continue;
            };
            if e.customer_id().is_some() && setup.customer_id.as_deref() != e.customer_id() {
                continue;
            }
            refill_store::remove_payment_method(tx, &id, now).await?;
            removed = true;
        }
        Ok(removed)
    }
}
