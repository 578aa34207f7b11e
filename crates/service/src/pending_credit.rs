//! R11 when the operator turns crediting pending payments off (`credit_pending =
//! false`): a pending card payment is recorded, but its credit waits until the
//! payment settles; if it fails, there is nothing to reverse. An automatic top-up
//! stays in flight meanwhile, so no second one starts for the same crossing (R19).

use crate::top_up_executor::receipt;
use crate::{Refill, Result, events};
use refill_domain::auto_top_up::WhyNot;
use refill_domain::events::{FailedTopUp, TopUpFailed, TopUpPending};
use refill_domain::top_up::{AttemptOutcome, Origin};
use refill_store::{AccountRow, AutoTopUpRow, TopUpRow, Tx};

impl Refill {
    /// A pending payment whose credit is withheld until it settles: told as pending
    /// all the same (`top_up.pending`, not credited; the balance is `balance`).
    pub(crate) async fn hold_pending(
        &self,
        tx: &mut Tx,
        t: &mut TopUpRow,
        s: Option<&mut AutoTopUpRow>,
        balance: i64,
        now: i64,
    ) -> Result<()> {
        refill_store::withhold_credit(tx, &t.id, now).await?;
        t.set_progress(t.progress().hold_pending(now)?);
        t.updated_at = now;
        t.lease_owner = None;
        t.lease_until = None;
        t.failure_code = None;
        t.failure_message = None;
        refill_store::update_top_up(tx, t).await?;
        let pm = self.card_of(tx, t).await?;
        let told = TopUpPending::of(receipt(t, pm.as_ref(), balance, now), false);
        events::emit(tx, &t.account_id, told, now).await?;
        if let Some(s) = s {
            s.consecutive_failures = 0;
            s.last_attempt_outcome = Some(AttemptOutcome::Pending);
            s.why_not = Some(WhyNot::PaymentPending);
            s.next_attempt_at = None;
        }
        Ok(())
    }

    /// Settles a pending payment whose credit was withheld: credited now through
    /// the executor's own success path, or failed with nothing to reverse.
    pub(crate) async fn settle_withheld(
        &self,
        tx: &mut Tx,
        account: &AccountRow,
        t: &mut TopUpRow,
        ok: bool,
        now: i64,
    ) -> Result<()> {
        let mut settings = match t.origin {
            Origin::Auto => refill_store::get_auto_top_up(&mut *tx, &t.account_id).await?,
            _ => None,
        };
        if ok {
            let after = self.credit(tx, t, account, now).await?;
            self.succeeded(tx, t, settings.as_mut(), false, after, now)
                .await?;
        } else {
            const CODE: &str = "payment_failed";
            t.set_progress(t.progress().settle(false)?);
            t.updated_at = now;
            t.failure_code = Some(CODE.into());
            t.failure_message = Some("the pending card payment failed at the bank".into());
            refill_store::update_top_up(tx, t).await?;
            if let Some(s) = settings.as_mut() {
                s.last_attempt_outcome = Some(AttemptOutcome::Failed(CODE.into()));
                s.why_not = None;
            }
            let failed = FailedTopUp {
                top_up_id: &t.id,
                origin: t.origin,
                amount: t.amount,
                currency: &t.currency,
                reason: CODE,
                message: "the pending card payment failed at the bank; nothing had been credited",
            };
            events::emit(tx, &t.account_id, TopUpFailed::at_settlement(&failed), now).await?;
        }
        if let Some(s) = &settings {
            refill_store::put_auto_top_up(tx, s).await?;
        }
        Ok(())
    }
}
