//! A paid top-up: its credit, its receipt, and R21's follow-up.

use super::queue_auto_top_up;
use crate::api_objects::rfc3339;
use crate::journal::post;
use crate::{Refill, Result, events};
use refill_domain::auto_top_up::State;
use refill_domain::debit::effects_of_balance_change;
use refill_domain::{ledger, money};
use refill_store::{AutoTopUpRow, PaymentMethodRow, TopUpRow, Tx};
use serde_json::json;

impl Refill {
    /// Credits a paid top-up to the balance (R10, R11: a pending one is usable at once).
    pub(crate) async fn credit(
        &self,
        tx: &mut Tx,
        t: &TopUpRow,
        account: &refill_store::AccountRow,
        now: i64,
    ) -> Result<i64> {
        let journal = ledger::top_up(&t.account_id, t.amount, t.tax, t.total)?;
        let after = money::add(account.balance, t.amount)?;
        post(
            tx,
            &journal,
            &account.currency,
            &[(&t.account_id, after)],
            &format!("top-up {}", t.id),
            now,
        )
        .await?;
        let fx =
            effects_of_balance_change(crate::accounts::watch_of(account), account.balance, after);
        refill_store::set_balance(tx, &t.account_id, after, fx.low_balance_armed).await?;
        Ok(after)
    }

    pub(crate) async fn succeeded_opt(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        s: Option<&mut AutoTopUpRow>,
        status: &str,
        after: i64,
        now: i64,
    ) -> Result<()> {
        match s {
            Some(s) => self.succeeded(tx, t, s, status, after, now).await,
            None => {
                let pm = self.card_of(tx, t).await?;
                self.close_success(tx, t, status, after, pm.as_ref(), now)
                    .await
            }
        }
    }

    pub(super) async fn card_of(
        &self,
        tx: &mut Tx,
        t: &TopUpRow,
    ) -> Result<Option<PaymentMethodRow>> {
        Ok(refill_store::payment_method_named(&mut *tx, t.payment_method_id.as_deref()).await?)
    }

    /// A top-up succeeded: the receipt event, and R21's follow-up when the balance
    /// is still at or below the threshold.
    pub(super) async fn succeeded(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        s: &mut AutoTopUpRow,
        status: &str,
        after: i64,
        now: i64,
    ) -> Result<()> {
        let pm = self.card_of(tx, t).await?;
        self.close_success(tx, t, status, after, pm.as_ref(), now)
            .await?;
        s.consecutive_failures = 0;
        s.last_attempt_outcome = Some(status.into());
        s.why_not = None;
        s.next_attempt_at = None;
        if State::parse(&s.state) == State::Active && after <= s.threshold {
            let not_before = if t.source == "card" {
                s.window_until.unwrap_or(now)
            } else {
                now
            };
            queue_auto_top_up(tx, &t.account_id, &t.currency, not_before, now).await?;
            s.next_attempt_at = Some(not_before);
        }
        Ok(())
    }

    async fn close_success(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        status: &str,
        after: i64,
        pm: Option<&PaymentMethodRow>,
        now: i64,
    ) -> Result<()> {
        t.status = status.into();
        t.in_flight = false;
        t.completed_at = Some(now);
        t.updated_at = now;
        t.lease_owner = None;
        t.lease_until = None;
        t.why_waiting = None;
        t.failure_code = None;
        t.failure_message = None;
        refill_store::update_top_up(tx, t).await?;
        let data = json!({
            "top_up_id": t.id, "origin": t.origin, "source": t.source, "status": status,
            "amount": t.amount, "tax": t.tax, "total": t.total, "currency": t.currency,
            "transaction_id": t.gateway_charge_id, "balance_after": after,
            "card_brand": pm.map(|p| p.brand.clone()), "card_last4": pm.map(|p| p.last4.clone()),
            "paid_at": rfc3339(now),
        });
        events::emit(tx, &t.account_id, events::TOP_UP_SUCCEEDED, data, now).await
    }
}
