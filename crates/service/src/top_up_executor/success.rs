//! A paid top-up: its credit, its receipt, and R21's follow-up.

use super::queue_auto_top_up;
use crate::{Refill, Result, events};
use refill_domain::auto_top_up::follow_up;
use refill_domain::events::{TopUpPending, TopUpSucceeded};
use refill_domain::ledger;
use refill_domain::top_up::{AttemptOutcome, TopUpStatus};
use refill_store::{AutoTopUpRow, PaymentMethodRow, TopUpRow, Tx};

impl Refill {
    /// Credits a paid top-up to the balance (R10, R11: a pending one is usable at
    /// once). Returns the balance after it.
    pub(crate) async fn credit(
        &self,
        tx: &mut Tx,
        t: &TopUpRow,
        account: &refill_store::AccountRow,
        now: i64,
    ) -> Result<i64> {
        let journal = ledger::top_up(&t.account_id, t.amount, t.tax, t.total)?;
        let reference = format!("top-up {}", t.id);
        let applied = self
            .post_journal(tx, &journal, &[account], &reference, now)
            .await?;
        Ok(applied.after(&t.account_id))
    }

    /// A top-up paid (`pending`: by a payment not settled yet, R11): closed with its
    /// receipt (`top_up.pending` while pending), and, for an automatic one, its
    /// settings told (`s`).
    pub(crate) async fn succeeded(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        s: Option<&mut AutoTopUpRow>,
        pending: bool,
        after: i64,
        now: i64,
    ) -> Result<()> {
        let pm = self.card_of(tx, t).await?;
        self.close_success(tx, t, pending, after, pm.as_ref(), now)
            .await?;
        // R29: a renewal waiting for this credit is paid at once.
        let (after, renewal_unpaid) = self
            .pay_unpaid_renewals(tx, &t.account_id, after, now)
            .await?;
        match s {
            Some(s) => {
                self.after_auto_success(tx, t, s, after, renewal_unpaid, now)
                    .await
            }
            None => Ok(()),
        }
    }

    pub(crate) async fn card_of(
        &self,
        tx: &mut Tx,
        t: &TopUpRow,
    ) -> Result<Option<PaymentMethodRow>> {
        Ok(refill_store::payment_method_named(&mut *tx, t.payment_method_id.as_deref()).await?)
    }

    /// An automatic top-up succeeded: its settings start counting failures again, and
    /// R21's follow-up is queued when the balance is still at or below the threshold,
    /// or still cannot cover an unpaid renewal (R29).
    async fn after_auto_success(
        &self,
        tx: &mut Tx,
        t: &TopUpRow,
        s: &mut AutoTopUpRow,
        after: i64,
        renewal_unpaid: bool,
        now: i64,
    ) -> Result<()> {
        s.consecutive_failures = 0;
        s.last_attempt_outcome = Some(match t.status {
            TopUpStatus::Pending => AttemptOutcome::Pending,
            _ => AttemptOutcome::Succeeded,
        });
        s.why_not = None;
        s.next_attempt_at = follow_up(
            s.state,
            after,
            s.threshold,
            renewal_unpaid,
            t.source,
            s.window_until,
            now,
        );
        if let Some(not_before) = s.next_attempt_at {
            queue_auto_top_up(tx, &t.account_id, &t.currency, not_before, now).await?;
        }
        Ok(())
    }

    async fn close_success(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        pending: bool,
        after: i64,
        pm: Option<&PaymentMethodRow>,
        now: i64,
    ) -> Result<()> {
        t.set_progress(t.progress().succeed(pending, now)?);
        t.updated_at = now;
        t.lease_owner = None;
        t.lease_until = None;
        t.failure_code = None;
        t.failure_message = None;
        refill_store::update_top_up(tx, t).await?;
        let receipt = receipt(t, pm, after, now);
        // R11: a pending payment is never told as a success.
        match pending {
            true => events::emit(tx, &t.account_id, TopUpPending::of(receipt, true), now).await,
            false => events::emit(tx, &t.account_id, receipt, now).await,
        }
    }

    /// R11: a pending payment credited earlier settled: its receipt, told now.
    pub(crate) async fn tell_settled(
        &self,
        tx: &mut Tx,
        t: &TopUpRow,
        balance: i64,
        now: i64,
    ) -> Result<()> {
        let pm = self.card_of(tx, t).await?;
        let told = receipt(t, pm.as_ref(), balance, now);
        events::emit(tx, &t.account_id, told, now).await
    }
}

/// The receipt of top-up `t` (R10), paid by `pm`, the balance `after` it.
pub(crate) fn receipt(
    t: &TopUpRow,
    pm: Option<&PaymentMethodRow>,
    after: i64,
    now: i64,
) -> TopUpSucceeded {
    TopUpSucceeded {
        amount: t.amount,
        balance_after: after,
        card_brand: pm.map(|p| p.brand.clone()),
        card_last4: pm.map(|p| p.last4.clone()),
        currency: t.currency.clone(),
        origin: t.origin,
        paid_at: now,
        source: t.source,
        status: t.status,
        tax: t.tax,
        top_up_id: t.id.clone(),
        total: t.total,
        transaction_id: t.gateway_charge_id.clone(),
    }
}
