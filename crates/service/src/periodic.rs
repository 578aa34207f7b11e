//! The periodic jobs, one node at a time: the periodic check (R22), the settlement of
//! pending payments (R11) and refunds (R31), and the recurring jobs (fees R29,
//! scheduled recharges R30).

use crate::auto_top_up::save_settings;
use crate::top_up_executor::queue_auto_top_ups;
use crate::{Refill, Result};
use refill_domain::accounts::has_payer;
use refill_domain::auto_top_up::{due_at_check, means_gone};

impl Refill {
    /// R22: the periodic check. Queues a top-up for every active account that spending
    /// brought to or below its threshold with nothing in flight (by index; R18: never
    /// for a drop by a transfer, an adjustment, a reversal or a refund), and disables
    /// settings whose payment method or payer is gone. Returns (queued, disabled).
    pub async fn periodic_check(&self) -> Result<(usize, usize)> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let due: Vec<(String, String)> =
            (refill_store::accounts_due_with_currency(&mut *tx, 10_000))
                .await?
                .into_iter()
                // Selected by the index; `false`: those with a top-up in flight were left out.
                .filter(|a| due_at_check(a.auto_threshold, a.balance, a.crossed_by_spending, false))
                .map(|a| (a.id, a.currency))
                .collect();
        let queued = queue_auto_top_ups(&mut tx, &due, now, now).await?;
        let mut disabled = 0;
        for m in refill_store::active_settings_without_means(&mut *tx).await? {
            let payer = has_payer(m.payer_email.as_deref());
            let Some(reason) = means_gone(m.state, m.source, m.card_usable, payer) else {
                continue;
            };
            if let Some(mut s) = refill_store::get_auto_top_up(&mut *tx, &m.account_id).await? {
                save_settings(&mut tx, &mut s, Some(reason), now).await?;
                disabled += 1;
            }
        }
        refill_store::expire_idempotent(&mut *tx, now - 2 * refill_domain::DAY).await?;
        tx.commit().await?;
        if queued > 0 {
            self.work_ready.notify_waiters();
        }
        Ok((queued, disabled))
    }

    /// The periodic jobs, under a lease so that one node runs them at a time.
    pub async fn periodic_jobs(&self) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let mine = refill_store::try_lease(
            &mut tx,
            "periodic_check",
            &self.node_id,
            now,
            now + self.config.periodic_check,
        )
        .await?;
        tx.commit().await?;
        if mine {
            self.periodic_check().await?;
            self.settle_pending().await?;
            self.settle_refunds().await?;
            self.refund_verifications().await?;
            self.recurring_jobs().await?;
        }
        Ok(())
    }
}
