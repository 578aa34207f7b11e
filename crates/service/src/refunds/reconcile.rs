//! R31 and Stripe's refund webhooks (`charge.refunded`, `charge.refund.updated`,
//! `refund.*`): the charge's refunds are read at the gateway, each refund refill made
//! is recognised (by its gateway id, or by the key in its metadata) and recorded
//! through the same path as the gateway's own answers, and only the refunds made
//! elsewhere (Stripe's dashboard) are reversed here, for the part not reversed before.
//! So a refund is never counted twice, whichever of the webhook, the answer to the
//! refund call and the periodic job records it first.

use super::gateway::Report;
use super::*;
use crate::Refill;
use crate::accounts::lock;
use refill_domain::refund_lifecycle::refund_of_key;
use refill_gateway::stripe_webhook::{EventKind, StripeEvent};
use refill_gateway::{Refund, RefundStatus as AtGateway};
use refill_store::TopUpRow;

impl Refill {
    /// The refunds of the charge a refund event is about, read at the gateway before
    /// the event's transaction (no call to the gateway is made holding it). Empty for
    /// any other event.
    pub(crate) async fn refunds_at_gateway(&self, e: &StripeEvent) -> Result<Vec<Refund>> {
        let about_refunds = matches!(
            e.kind(),
            EventKind::ChargeRefunded | EventKind::RefundUpdated
        );
        match e.payment_intent_id().filter(|_| about_refunds) {
            Some(pi) => Ok(self.gateway.list_refunds(pi).await?),
            None => Ok(vec![]),
        }
    }

    /// A refund event (`charge.refund.updated`, `refund.*`): its top-up, if it is one
    /// of refill's paid ones, reconciled with the charge's refunds.
    pub(crate) async fn on_refund_updated(
        &self,
        tx: &mut Tx,
        e: &StripeEvent,
        at_gateway: &[Refund],
        now: i64,
    ) -> Result<bool> {
        let Some(pi) = e.payment_intent_id() else {
            return Ok(false);
        };
        let Some(id) = refill_store::top_up_id_by_charge(&mut *tx, pi).await? else {
            return Ok(false);
        };
        let Some((_, mut t)) = self.lock_top_up_and_account(tx, &id).await? else {
            return Ok(false);
        };
        if t.status != refill_domain::top_up::TopUpStatus::Succeeded {
            return Ok(false);
        }
        self.reconcile_refunds(tx, &mut t, at_gateway, now).await
    }

    /// R31: the top-up's refunds (account and top-up locked) against the charge's
    /// refunds at the gateway. Refill's own are recorded; the others' live total, less
    /// what was reversed for them before, is reversed now.
    pub(crate) async fn reconcile_refunds(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        at_gateway: &[Refund],
        now: i64,
    ) -> Result<bool> {
        let ours = refill_store::refunds_of_top_up(&mut *tx, &t.id).await?;
        let mut changed = false;
        let mut elsewhere = 0i64;
        for g in at_gateway {
            match ours.iter().find(|r| made_by_refill(r, g)) {
                Some(r) => changed |= self.record_in(tx, t, &r.id, g, now).await?,
                None if g.status != AtGateway::Failed => elsewhere += g.amount,
                None => {}
            }
        }
        let held: i64 = refill_store::refunds_of_top_up(&mut *tx, &t.id)
            .await?
            .iter()
            .filter(|r| super::status_of(r).is_ok_and(|s| s.holds_reversal()))
            .map(|r| r.amount)
            .sum();
        let reversed_elsewhere = t.refunded - held;
        if elsewhere > reversed_elsewhere {
            let account = lock(tx, self, &t.account_id).await?;
            let total = t.refunded + (elsewhere - reversed_elsewhere);
            changed |= self.reverse_refund(tx, &account, t, total, now).await?;
        }
        Ok(changed)
    }

    async fn record_in(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        id: &str,
        g: &Refund,
        now: i64,
    ) -> Result<bool> {
        let account = lock(tx, self, &t.account_id).await?;
        let Some(mut r) = refill_store::lock_refund(tx, self.db.dialect, id).await? else {
            return Ok(false);
        };
        let report = Report::Refund(g.clone());
        self.apply_report(tx, &account, t, &mut r, &report, now)
            .await
    }
}

/// Whether the gateway's refund `g` is refill's refund `r`: the id the gateway gave
/// it, or the key refill sent (derived from `r`'s id) in its metadata.
fn made_by_refill(r: &RefundRow, g: &Refund) -> bool {
    r.gateway_refund_id.as_deref() == Some(g.id.as_str())
        || g.idempotency_key.as_deref().and_then(refund_of_key) == Some(r.id.as_str())
}
