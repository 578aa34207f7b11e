//! Recording a charge's outcome, once, on the top-up being charged: credited (R10,
//! R11), held while pending, or failed (R23).

use crate::accounts::lock;
use crate::{Refill, Result};
use refill_domain::auto_top_up::FailureClass;
use refill_domain::top_up::{Origin, TopUpStatus};
use refill_gateway::{Charge, ChargeStatus, DeclineClass};
use refill_store::{TopUpRow, Tx};

fn class_of(c: DeclineClass) -> FailureClass {
    match c {
        DeclineClass::Soft => FailureClass::Soft,
        DeclineClass::Hard => FailureClass::Hard,
        DeclineClass::AuthenticationRequired => FailureClass::AuthenticationRequired,
        DeclineClass::Rejected => FailureClass::Rejected,
    }
}

impl Refill {
    /// Records a charge's outcome, once: a top-up that is no longer `charging` at this
    /// attempt was recorded already (by another node, a webhook, or before a crash).
    pub(crate) async fn record_charge(
        &self,
        id: &str,
        attempt: i64,
        charge: &Charge,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let Some((account, mut t)) = self.lock_top_up_and_account(&mut tx, id).await? else {
            return Ok(());
        };
        if t.status != TopUpStatus::Charging || t.attempt != attempt {
            return Ok(());
        }
        self.apply_charge(&mut tx, &account, &mut t, charge, now)
            .await?;
        tx.commit().await?;
        self.work_ready.notify_waiters();
        Ok(())
    }

    /// Locks a top-up's account, then the top-up: the lock order everywhere.
    pub(crate) async fn lock_top_up_and_account(
        &self,
        tx: &mut Tx,
        id: &str,
    ) -> Result<Option<(refill_store::AccountRow, TopUpRow)>> {
        let account_id = match refill_store::get_top_up(&mut *tx, id).await? {
            Some(t) => t.account_id,
            None => return Ok(None),
        };
        let account = lock(tx, self, &account_id).await?;
        let t = refill_store::lock_top_up(tx, self.db.dialect, id).await?;
        Ok(t.map(|t| (account, t)))
    }

    /// Applies a charge's outcome to a top-up being charged (both locked): the credit
    /// (R10, R11), or the failure (R23), with their events and R21's follow-up.
    pub(crate) async fn apply_charge(
        &self,
        tx: &mut Tx,
        account: &refill_store::AccountRow,
        t: &mut TopUpRow,
        charge: &Charge,
        now: i64,
    ) -> Result<()> {
        if !charge.id.is_empty() {
            t.gateway_charge_id = Some(charge.id.clone());
        }
        let mut settings = match t.origin {
            Origin::Auto => refill_store::get_auto_top_up(&mut *tx, &t.account_id).await?,
            _ => None,
        };
        match &charge.status {
            // R11, configured off: the credit waits until the payment settles.
            ChargeStatus::Pending if !self.config.credit_pending => {
                self.hold_pending(tx, t, settings.as_mut(), account.balance, now)
                    .await?;
            }
            ChargeStatus::Succeeded | ChargeStatus::Pending => {
                let pending = charge.status == ChargeStatus::Pending;
                let after = self.credit(tx, t, account, now).await?;
                self.succeeded(tx, t, settings.as_mut(), pending, after, now)
                    .await?;
            }
            ChargeStatus::Declined {
                class,
                code,
                message,
            } => {
                self.failed(
                    tx,
                    t,
                    settings.as_mut(),
                    class_of(*class),
                    code,
                    message,
                    now,
                )
                .await?;
            }
        }
        if let Some(s) = &settings {
            refill_store::put_auto_top_up(tx, s).await?;
        }
        Ok(())
    }
}
