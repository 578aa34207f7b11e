//! The periodic jobs, one node at a time: the periodic check (R22), the settlement of
//! pending payments (R11) and refunds (R31), and the recurring jobs (fees R29,
//! scheduled recharges R30).

use crate::top_up_executor::queue_auto_top_ups;
use crate::{Refill, Result};

impl Refill {
    /// R22: the periodic check. Queues a top-up for every active account at or below
    /// its threshold with nothing in flight (by index), and disables settings whose
    /// payment method or payer is gone. Returns (queued, disabled).
    pub async fn periodic_check(&self) -> Result<(usize, usize)> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let due = refill_store::accounts_due_with_currency(&mut *tx, 10_000).await?;
        let queued = queue_auto_top_ups(&mut tx, &due, now, now).await?;
        let gone = refill_store::active_settings_without_means(&mut *tx).await?;
        for (account_id, reason) in &gone {
            if let Some(mut s) = refill_store::get_auto_top_up(&mut *tx, account_id).await? {
                self.disable(&mut tx, &mut s, reason, now).await?;
            }
        }
        refill_store::expire_idempotent(&mut *tx, now - 2 * refill_domain::DAY).await?;
        tx.commit().await?;
        if queued > 0 {
            self.work_ready.notify_waiters();
        }
        Ok((queued, gone.len()))
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
            self.recurring_jobs().await?;
        }
        Ok(())
    }
}
