//! R5, R14 at a gateway with customers (Stripe): each account's payer is registered
//! once as the gateway's customer; a card is saved through the gateway's setup (a
//! SetupIntent for off-session use), which may ask for 3-D Secure first. Such a card
//! is `requires_action` until the setup succeeds (webhook or confirm call), and is
//! not charged before. Charges of a saved card carry its customer. The sandbox has no
//! customers and no setups: its cards are ready at once, as before.

use crate::accounts::Caller;
use crate::api_objects::PaymentMethodView;
use crate::{Idem, Refill, Result, ServiceError};
use refill_domain::DomainError;
use refill_gateway::{GatewayError, PayerRequest, SavedCard, SetupStatus};
use refill_store::{AccountRow, CardSetupRow, PaymentMethodRow, Tx};
use sha2::{Digest, Sha256};

pub const READY: &str = "ready";
pub const REQUIRES_ACTION: &str = "requires_action";

/// The gateway's idempotency key for saving a card: from the caller's
/// Idempotency-Key when there is one (a retried request meets the same setup), else
/// from the new payment method's id. Hashed: gateway keys are at most 255 characters.
fn setup_key(idem: Option<&Idem>, pm_id: &str) -> String {
    match idem {
        Some(i) => {
            let digest = Sha256::digest(i.request_key().as_bytes());
            format!("refill_setup_{}", hex::encode(&digest[..16]))
        }
        None => format!("refill_setup_{pm_id}"),
    }
}

fn invalid_card(e: GatewayError) -> ServiceError {
    match e {
        GatewayError::Invalid(m) => ServiceError::invalid("invalid_payment_method", m),
        other => ServiceError::Gateway(other),
    }
}

/// A card saved at the gateway: what to store, and how its setup stands.
pub(crate) struct GatewayCard {
    pub saved: SavedCard,
    pub customer: Option<String>,
}

impl GatewayCard {
    /// The setup row to keep, where the gateway has customers or setups.
    pub fn setup_row(&self, pm_id: &str, now: i64) -> Option<CardSetupRow> {
        if self.customer.is_none() && self.saved.setup_id.is_none() {
            return None;
        }
        let (status, client_secret) = match &self.saved.status {
            SetupStatus::RequiresAction { client_secret } => {
                (REQUIRES_ACTION, Some(client_secret.clone()))
            }
            _ => (READY, None),
        };
        Some(CardSetupRow {
            payment_method_id: pm_id.into(),
            customer_id: self.customer.clone(),
            setup_id: self.saved.setup_id.clone(),
            client_secret,
            status: status.into(),
            updated_at: now,
        })
    }
}

impl Refill {
    /// R5: the gateway's customer for the account's payer, registered at first use
    /// with a key derived from the account, so a retry never makes a second one.
    pub(crate) async fn payer_customer(&self, account: &AccountRow) -> Result<Option<String>> {
        if let Some(c) = refill_store::get_gateway_customer(&self.db.pool, &account.id).await? {
            return Ok(Some(c));
        }
        let req = PayerRequest {
            idempotency_key: format!("refill_payer_{}", account.id),
            account_id: account.id.clone(),
            name: account
                .payer_name
                .clone()
                .or_else(|| Some(account.name.clone())),
            email: account.payer_email.clone(),
        };
        let Some(customer) = self.gateway.register_payer(&req).await? else {
            return Ok(None);
        };
        let mut tx = self.db.begin().await?;
        refill_store::insert_gateway_customer(&mut tx, &account.id, &customer, self.now()).await?;
        tx.commit().await?;
        // A concurrent first use recorded its customer first: keep that one.
        Ok(
            refill_store::get_gateway_customer(&self.db.pool, &account.id)
                .await?
                .or(Some(customer)),
        )
    }

    /// Saves a card at the gateway for later off-session charges (R5, R14). A card
    /// the bank declines is refused here, and nothing is saved.
    pub(crate) async fn save_card_at_gateway(
        &self,
        account: &AccountRow,
        token: &str,
        pm_id: &str,
        idem: Option<&Idem>,
    ) -> Result<GatewayCard> {
        let customer = self.payer_customer(account).await?;
        let saved = self
            .gateway
            .save_payment_method(customer.as_deref(), token, &setup_key(idem, pm_id))
            .await
            .map_err(invalid_card)?;
        if let SetupStatus::Declined { code, message } = &saved.status {
            return Err(ServiceError::CardDeclined {
                code: code.clone(),
                message: format!("the card cannot be saved: {message}"),
                top_up_id: String::new(),
            });
        }
        Ok(GatewayCard { saved, customer })
    }

    /// The customer a saved card's charges must carry (Stripe refuses a card
    /// attached to a customer without it).
    pub(crate) async fn customer_of_card(&self, pm_id: &str) -> Result<Option<String>> {
        Ok(refill_store::get_card_setup(&self.db.pool, pm_id)
            .await?
            .and_then(|s| s.customer_id))
    }

    /// R14: a card waiting for 3-D Secure at the gateway is not charged yet.
    pub(crate) async fn ensure_card_ready(&self, pm: &PaymentMethodRow) -> Result<()> {
        let setup = refill_store::get_card_setup(&self.db.pool, &pm.id).await?;
        match setup {
            Some(s) if s.status != READY => Err(DomainError::CardAwaitsAuthentication {
                payment_method: pm.id.clone(),
                account: pm.account_id.clone(),
            }
            .into()),
            _ => Ok(()),
        }
    }

    /// A payment method as the API shows it, with its setup.
    pub(crate) async fn payment_method_view(
        &self,
        pm: &PaymentMethodRow,
    ) -> Result<PaymentMethodView> {
        let setup = refill_store::get_card_setup(&self.db.pool, &pm.id).await?;
        Ok(PaymentMethodView::from(pm).with_setup(setup.as_ref()))
    }

    /// The setup of a saved card succeeded (webhook or confirm call): it becomes
    /// usable, and verified (the bank checked it, with 3-D Secure where it asked).
    /// False when it was ready already.
    pub(crate) async fn card_setup_succeeded(
        &self,
        tx: &mut Tx,
        setup: &CardSetupRow,
        token: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let fresh = refill_store::get_card_setup(&mut *tx, &setup.payment_method_id).await?;
        if fresh.is_none_or(|s| s.status == READY) {
            return Ok(false);
        }
        refill_store::mark_card_setup_ready(tx, &setup.payment_method_id, now).await?;
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            refill_store::set_payment_method_token(tx, &setup.payment_method_id, token).await?;
        }
        refill_store::set_payment_method_verified(tx, &setup.payment_method_id, now).await?;
        Ok(true)
    }

    /// R14: the customer completed 3-D Secure for a card being saved: asks the
    /// gateway how its setup stands. Ready: usable from now on. Still waiting: shown
    /// as it is. Declined: the card is removed and the refusal told.
    pub async fn confirm_payment_method(
        &self,
        caller: &Caller,
        account_id: &str,
        pm_id: &str,
    ) -> Result<PaymentMethodView> {
        self.account(caller, account_id).await?;
        let pm = self.payment_method(account_id, pm_id).await?;
        let setup = refill_store::get_card_setup(&self.db.pool, pm_id).await?;
        let Some((setup, setup_id)) = setup
            .filter(|s| s.status != READY)
            .and_then(|s| s.setup_id.clone().map(|id| (s, id)))
        else {
            return self.payment_method_view(&pm).await;
        };
        let saved = self.gateway.retrieve_setup(&setup_id).await?;
        let now = self.now();
        match saved.status {
            SetupStatus::Ready => {
                let mut tx = self.db.begin().await?;
                self.card_setup_succeeded(&mut tx, &setup, Some(&saved.token), now)
                    .await?;
                tx.commit().await?;
            }
            SetupStatus::RequiresAction { .. } => {}
            SetupStatus::Declined { code, message } => {
                let mut tx = self.db.begin().await?;
                refill_store::remove_payment_method(&mut tx, pm_id, now).await?;
                tx.commit().await?;
                return Err(ServiceError::CardDeclined {
                    code,
                    message: format!("the card could not be saved: {message}"),
                    top_up_id: String::new(),
                });
            }
        }
        let pm = self.payment_method(account_id, pm_id).await?;
        self.payment_method_view(&pm).await
    }

    /// R5: a removed card is forgotten at the gateway too (Stripe: detached), where
    /// it was saved there.
    pub(crate) async fn remove_card_at_gateway(&self, pm: &PaymentMethodRow) -> Result<()> {
        if refill_store::get_card_setup(&self.db.pool, &pm.id)
            .await?
            .is_none()
        {
            return Ok(());
        }
        let key = format!("refill_remove_{}", pm.id);
        Ok(self
            .gateway
            .remove_payment_method(&pm.gateway_token, &key)
            .await?)
    }
}
