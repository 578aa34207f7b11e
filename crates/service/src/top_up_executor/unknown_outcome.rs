//! A charge whose outcome is unknown (the gateway out of reach, or a crash while
//! `charging`): found by its idempotency key, never guessed (R25).

use crate::{Refill, Result, ServiceError};
use refill_domain::top_up::{Origin, TopUpStatus};
use refill_gateway::GatewayError;
use refill_store::TopUpRow;

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
                match pm {
                    Some(pm) => self.charge_and_record(t, pm).await,
                    None => Err(ServiceError::not_found(
                        "payment method",
                        t.payment_method_id.as_deref().unwrap_or("?"),
                    )),
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
}
