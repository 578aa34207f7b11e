//! A charge whose outcome is unknown (the gateway out of reach, or a crash while
//! `charging`): found by its idempotency key, never guessed (R25).

use crate::{Refill, Result};
use refill_domain::auto_top_up::{SourceKind, window_after_attempt};
use refill_domain::top_up::{Origin, TopUpStatus};
use refill_gateway::GatewayError;
use refill_store::{PaymentMethodRow, TopUpRow};

impl Refill {
    /// R25: a charge whose outcome is unknown is found by its key, never guessed; if
    /// the gateway never saw it, it is sent again with the same key.
    pub(super) async fn resolve_unknown(&self, t: TopUpRow) -> Result<()> {
        match self.gateway.find_charge(&t.charge_key()).await {
            Ok(Some(charge)) => self.record_charge(&t.id, t.attempt, &charge).await,
            Ok(None) => {
                let pm = refill_store::payment_method_named(
                    &self.db.pool,
                    t.payment_method_id.as_deref(),
                )
                .await?;
                match pm.filter(|p| p.card().usable()) {
                    Some(pm) => self.resend(t, pm).await,
                    // R5: never sent again to a card removed since.
                    None => self.unsent_card_removed(&t.id, t.attempt).await,
                }
            }
            Err(GatewayError::Outage(msg)) => self.record_outage(&t.id, t.attempt, &msg).await,
            Err(e) => Err(e.into()),
        }
    }

    /// Records a gateway outage: not the customer's failure (R23); the attempt is
    /// resolved after the outage retry delay.
    pub(super) async fn record_outage(&self, id: &str, attempt: i64, msg: &str) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let Some(mut t) = refill_store::lock_top_up(&mut tx, self.db.dialect, id).await? else {
            return Ok(());
        };
        if t.status != TopUpStatus::Charging || t.attempt != attempt {
            return Ok(());
        }
        t.set_progress(t.progress().outage()?);
        t.lease_owner = None;
        t.lease_until = Some(now + self.config.limits.outage_retry_delay);
        t.failure_message = Some(msg.chars().take(500).collect());
        t.updated_at = now;
        refill_store::update_top_up(&mut tx, &t).await?;
        if let Some(mut s) = refill_store::get_auto_top_up(&mut *tx, &t.account_id).await?
            && t.origin == Origin::Auto
        {
            s.why_not = t.why_waiting;
            s.next_attempt_at = t.lease_until;
            refill_store::put_auto_top_up(&mut tx, &s).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// R20, R25: the gateway never saw the attempt: it is sent again with its key, and
    /// the charge actually sent starts the interval window again (committed first), so
    /// R21's follow-up waits a whole window after it, not after the first try.
    async fn resend(&self, t: TopUpRow, pm: PaymentMethodRow) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let Some((_, fresh)) = self.lock_top_up_and_account(&mut tx, &t.id).await? else {
            return Ok(());
        };
        if fresh.status != TopUpStatus::Charging || fresh.attempt != t.attempt {
            return Ok(());
        }
        if let Some(mut s) = refill_store::get_auto_top_up(&mut *tx, &t.account_id).await?
            && t.origin == Origin::Auto
            && s.last_attempt_top_up_id.as_deref() == Some(t.id.as_str())
        {
            s.window_until = window_after_attempt(SourceKind::Card, now, &self.config.limits);
            s.last_attempt_at = Some(now);
            s.updated_at = now;
            refill_store::put_auto_top_up(&mut tx, &s).await?;
        }
        tx.commit().await?;
        self.charge_and_record(fresh, pm).await
    }

    /// R5: an attempt whose outcome was unknown, never seen by the gateway, whose card
    /// was removed since: it ends failed, and is not sent again.
    async fn unsent_card_removed(&self, id: &str, attempt: i64) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let Some((_, mut t)) = self.lock_top_up_and_account(&mut tx, id).await? else {
            return Ok(());
        };
        if t.status != TopUpStatus::Charging || t.attempt != attempt {
            return Ok(());
        }
        self.fail_card_removed(&mut tx, &mut t, now).await?;
        tx.commit().await?;
        Ok(())
    }
}
