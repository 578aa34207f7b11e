//! R23: a top-up waiting for the customer's 3-D Secure expires when its wait is over,
//! as a failed attempt with its own reason: retried, disabling or ended as any
//! failure (the domain's `after_failed_charge`), and told (`top_up.failed`).

use crate::{Refill, Result};
use refill_domain::auto_top_up::FailureClass;
use refill_domain::top_up::Origin;
use refill_gateway::{Charge, ChargeStatus, GatewayError};
use refill_store::TopUpRow;

/// The failure code of a top-up whose wait for the customer expired.
pub const AUTHENTICATION_EXPIRED: &str = "authentication_expired";

impl Refill {
    /// Expires a claimed top-up whose wait for the customer is over, in one
    /// transaction with its settings and its event. The gateway is asked first
    /// (R25): a payment the customer completed meanwhile is recorded, never expired.
    pub(super) async fn expire_wait(&self, claimed: &TopUpRow) -> Result<()> {
        let paid = match self.paid_meanwhile(claimed).await {
            Err(GatewayError::Outage(_)) => return Ok(()), // asked again after the lease
            other => other.ok().flatten(),
        };
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let Some((account, mut t)) = self.lock_top_up_and_account(&mut tx, &claimed.id).await?
        else {
            return Ok(());
        };
        // Confirmed, paid or canceled meanwhile, or claimed by another node.
        if !t.progress().authentication_expired(now)
            || t.lease_owner.as_deref() != Some(self.node_id.as_str())
        {
            return Ok(());
        }
        if let Some(charge) = paid {
            self.apply_charge(&mut tx, &account, &mut t, &charge, now)
                .await?;
            return Ok(tx.commit().await?);
        }
        let mut settings = match t.origin {
            Origin::Auto => refill_store::get_auto_top_up(&mut *tx, &t.account_id).await?,
            _ => None,
        };
        let message = "the customer did not complete 3-D Secure in time";
        let class = FailureClass::AuthenticationExpired;
        self.failed(
            &mut tx,
            &mut t,
            settings.as_mut(),
            class,
            AUTHENTICATION_EXPIRED,
            message,
            now,
        )
        .await?;
        if let Some(s) = &settings {
            refill_store::put_auto_top_up(&mut tx, s).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The attempt's payment, if the gateway says it succeeded (or is pending) after
    /// all: completed by the customer at the gateway.
    async fn paid_meanwhile(
        &self,
        t: &TopUpRow,
    ) -> std::result::Result<Option<Charge>, GatewayError> {
        let Some(id) = t.gateway_charge_id.as_deref().filter(|id| !id.is_empty()) else {
            return Ok(None);
        };
        let charge = self.gateway.retrieve_charge(id).await?;
        let paid = matches!(
            charge.status,
            ChargeStatus::Succeeded | ChargeStatus::Pending
        ) && charge.amount == t.total;
        Ok(paid.then_some(charge))
    }
}
