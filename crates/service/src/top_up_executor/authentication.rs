//! R23, R25: a top-up waiting for the customer's 3-D Secure, on a gateway where the
//! customer completes it on the payment itself (Stripe: the PaymentIntent, with its
//! `client_secret`). Confirming it reads that payment back and records it: never a
//! new attempt, never a new key, so the customer's payment is the one credited, once.

use crate::{Refill, Result, ServiceError};
use refill_domain::top_up::TopUpStatus;
use refill_gateway::ChargeStatus;
use refill_store::TopUpRow;

impl Refill {
    /// The answer for a top-up waiting for 3-D Secure: where to confirm it, and the
    /// secret the customer's browser completes it with (where the gateway has one).
    pub(crate) async fn authentication_required(&self, t: &TopUpRow) -> ServiceError {
        let secret = match &t.gateway_charge_id {
            Some(payment) => match self.gateway.authentication_secret(payment).await {
                Ok(secret) => secret,
                Err(e) => {
                    eprintln!("refill: top-up {}: no 3-D Secure secret: {e}", t.id);
                    None
                }
            },
            None => None,
        };
        ServiceError::AuthenticationRequired {
            confirm_path: format!("/v1/top-ups/{}/confirm", t.id),
            top_up_id: t.id.clone(),
            client_secret: secret,
        }
    }

    /// `POST /v1/top-ups/{id}/confirm` where the customer authenticates the payment
    /// itself: the payment is read back; a success is credited (once: a webhook that
    /// recorded it first leaves nothing to do); a payment still waiting answers
    /// `authentication_required` again, with the same secret.
    pub(crate) async fn confirm_in_place(
        &self,
        seen: &TopUpRow,
        payment: &str,
    ) -> Result<crate::api_objects::TopUpView> {
        if seen.status == TopUpStatus::RequiresAction {
            let charge = self.gateway.retrieve_charge(payment).await?;
            if charge.status == ChargeStatus::Succeeded {
                self.record_authenticated(&seen.id, seen.attempt, &charge)
                    .await?;
            }
        }
        let t = refill_store::get_top_up(&self.db.pool, &seen.id)
            .await?
            .ok_or_else(|| ServiceError::not_found("top-up", &seen.id))?;
        match t.status {
            TopUpStatus::RequiresAction => Err(self.authentication_required(&t).await),
            _ => self.top_up_view(&t).await,
        }
    }

    /// Records the authenticated payment of a top-up still waiting for it, at the same
    /// attempt (under the locks, so a webhook and a confirmation record it once).
    async fn record_authenticated(
        &self,
        id: &str,
        attempt: i64,
        charge: &refill_gateway::Charge,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.db.begin().await?;
        let Some((account, mut t)) = self.lock_top_up_and_account(&mut tx, id).await? else {
            return Ok(());
        };
        if t.status != TopUpStatus::RequiresAction || t.attempt != attempt {
            return Ok(());
        }
        self.apply_charge(&mut tx, &account, &mut t, charge, now)
            .await?;
        tx.commit().await?;
        self.work_ready.notify_waiters();
        Ok(())
    }
}
