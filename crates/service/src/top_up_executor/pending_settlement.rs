//! Payments the gateway reported pending (R11): asked about again until they settle;
//! a finally failed one is reversed.

use crate::{Refill, Result, events};
use refill_domain::events::PaymentReversed;
use refill_domain::ledger;
use refill_domain::top_up::TopUpStatus;
use refill_gateway::ChargeStatus;
use refill_store::{TopUpRow, Tx};

impl Refill {
    /// R11: asks the gateway about pending payments; a finally failed one is reversed
    /// by a new entry, the account flagged, and the customer told.
    pub async fn settle_pending(&self) -> Result<usize> {
        let pending = refill_store::pending_top_ups(&self.db.pool, self.now(), 100).await?;
        let mut settled = 0;
        for t in pending {
            let Some(charge_id) = t.gateway_charge_id.clone() else {
                continue;
            };
            let charge = match self.gateway.retrieve_charge(&charge_id).await {
                Ok(c) => c,
                Err(_) => continue,
            };
            match charge.status {
                ChargeStatus::Pending => {}
                ChargeStatus::Succeeded => {
                    settled += self.mark_settled(&t.id, true).await? as usize
                }
                ChargeStatus::Declined { .. } => {
                    settled += self.mark_settled(&t.id, false).await? as usize
                }
            }
        }
        Ok(settled)
    }

    async fn mark_settled(&self, id: &str, ok: bool) -> Result<bool> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let Some((account, mut t)) = self.lock_top_up_and_account(&mut tx, id).await? else {
            return Ok(false);
        };
        if t.status != TopUpStatus::Pending {
            return Ok(false);
        }
        self.settle_in(&mut tx, &account, &mut t, ok, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// R11: settles a pending top-up (both locked): succeeded (`top_up.succeeded`),
    /// or failed at the bank, when its credit is reversed by a new entry, the account
    /// flagged (usage refused while below zero) and the customer told
    /// (`payment.reversed`).
    pub(crate) async fn settle_in(
        &self,
        tx: &mut Tx,
        account: &refill_store::AccountRow,
        t: &mut TopUpRow,
        ok: bool,
        now: i64,
    ) -> Result<()> {
        if refill_store::release_withheld_credit(tx, &t.id).await? {
            return self.settle_withheld(tx, account, t, ok, now).await;
        }
        t.set_progress(t.progress().settle(ok)?);
        t.updated_at = now;
        if ok {
            // R11: told as a success only now.
            self.tell_settled(tx, t, account.balance, now).await?;
        } else {
            t.failure_code = Some("payment_failed".into());
            t.failure_message =
                Some("the pending card payment failed at the bank; its credit was reversed".into());
            let kind = ledger::EntryKind::TopUpReversal;
            let journal = ledger::reverse_top_up(&t.account_id, kind, t.amount, t.tax, t.total)?;
            let reference = format!("reversal of top-up {}", t.id);
            let applied = self
                .post_journal(tx, &journal, &[account], &reference, now)
                .await?;
            let after = applied.after(&t.account_id);
            let told = PaymentReversed::new(&t.id, t.amount, &t.currency, after);
            events::emit(tx, &t.account_id, told, now).await?;
        }
        refill_store::update_top_up(tx, t).await?;
        Ok(())
    }
}
