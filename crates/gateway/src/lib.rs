//! Payment gateways behind one small trait: the built-in sandbox card network (the
//! embedded default, with Stripe's test cards as tokens) and Stripe.
//!
//! Every call that moves money carries an idempotency key (R25): the same key never
//! charges twice, and a charge whose outcome is unknown is found again by its key.

#[cfg(feature = "fake-stripe")]
pub mod fake_stripe;
pub mod sandbox;
pub mod stripe;
pub mod stripe_webhook;

use async_trait::async_trait;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;

/// A card as the gateway describes it (R5, R10: brand and last four digits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardDetails {
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
}

/// R23: the decline classes the engine tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineClass {
    /// Insufficient funds, generic decline, expired card: retried later.
    Soft,
    /// Lost, stolen, fraudulent, pick up: disables at once.
    Hard,
    /// 3-D Secure needed: the customer must authenticate.
    AuthenticationRequired,
    /// Not the card's answer: the gateway refused the request itself as malformed
    /// (`GatewayError::Rejected`). An operator's error, never the customer's failure.
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChargeStatus {
    Succeeded,
    /// R11: accepted but not settled; may still fail within days.
    Pending,
    Declined {
        class: DeclineClass,
        code: String,
        message: String,
    },
}

/// A charge as the gateway records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(flatten)]
    pub status: ChargeStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// Derived from refill's own row (top-up id and attempt), never random (R25).
    pub idempotency_key: String,
    /// The gateway's token for the payment method.
    pub payment_method: String,
    /// The gateway's customer, where it has one.
    pub customer: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub description: String,
    /// Names the refill top-up at the gateway, so an unknown outcome can be found.
    pub metadata: Vec<(String, String)>,
    /// Made without the customer present (automatic top-ups).
    pub off_session: bool,
    /// The customer completed 3-D Secure for this payment.
    pub authenticated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub idempotency_key: String,
    pub charge_id: String,
    pub amount: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refund {
    pub id: String,
    pub charge_id: String,
    pub amount: i64,
    pub status: RefundStatus,
    /// The idempotency key it was made with, as the gateway keeps it (Stripe: in its
    /// metadata): how refill recognises its own refunds among those made elsewhere
    /// (Stripe's dashboard). None for a refund made without one.
    pub idempotency_key: Option<String>,
}

/// A payer (billing contact, R5) registered at the gateway, so that saved cards belong
/// to someone: a Stripe Customer. Gateways without customers register nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayerRequest {
    /// Derived from the refill account, so a retry never makes a second customer.
    pub idempotency_key: String,
    pub account_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
}

/// R5, R14: where saving a card for off-session charges stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SetupStatus {
    /// Saved: usable for automatic (off-session) charges.
    Ready,
    /// The bank asks for 3-D Secure: the customer completes it in the browser with
    /// this secret (Stripe.js `handleNextAction`); the card is usable once the setup
    /// succeeds.
    RequiresAction { client_secret: String },
    /// The card cannot be saved.
    Declined { code: String, message: String },
}

/// A card saved at the gateway for later use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedCard {
    /// What to charge from now on (Stripe makes a new PaymentMethod from a test token).
    pub token: String,
    /// The gateway's setup (a SetupIntent), to follow 3-D Secure to its end.
    pub setup_id: Option<String>,
    #[serde(flatten)]
    pub status: SetupStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GatewayError {
    /// The gateway is down, rate-limited or timed out: the outcome is unknown until
    /// resolved by looking the charge up (R25). Never the customer's failure (R23).
    #[error("payment gateway unavailable: {0}")]
    Outage(String),
    /// The request itself was refused (unknown token, bad amount): a clear error.
    #[error("payment gateway refused the request: {0}")]
    Invalid(String),
    /// A charge the gateway refused as malformed (Stripe's `invalid_request_error`: an
    /// amount it does not take, a missing parameter). refill's or its operator's error,
    /// never the customer's (R23): alerted (`note_rejected`), and not sent again as is.
    #[error("payment gateway refused the request as malformed: {0}")]
    Rejected(String),
}

static REJECTED: AtomicU64 = AtomicU64::new(0);

/// R23: alerts the operator to a request the gateway refused as malformed: an error
/// line in the log, and the count `/metrics` shows.
pub fn note_rejected(what: &str) -> GatewayError {
    REJECTED.fetch_add(1, Ordering::Relaxed);
    eprintln!("refill: ALERT: the payment gateway refused a request as malformed: {what}");
    GatewayError::Rejected(what.to_string())
}

/// Requests refused as malformed since this process started (`note_rejected`).
pub fn rejected_requests() -> u64 {
    REJECTED.load(Ordering::Relaxed)
}

/// What refill needs of a payment gateway.
#[async_trait]
pub trait Gateway: Send + Sync {
    fn name(&self) -> &'static str;

    /// R5: describe a tokenised card being saved (brand, last four, expiry).
    async fn describe_payment_method(&self, token: &str) -> Result<CardDetails, GatewayError>;

    /// Charge a card. Replaying the same idempotency key returns the first result
    /// and never charges again.
    async fn charge(&self, req: &ChargeRequest) -> Result<Charge, GatewayError>;

    /// R25: the charge made with this idempotency key, if any was made.
    async fn find_charge(&self, idempotency_key: &str) -> Result<Option<Charge>, GatewayError>;

    /// The charge's current state (R11: a pending one settles later).
    async fn retrieve_charge(&self, charge_id: &str) -> Result<Charge, GatewayError>;

    /// R23, R25: whether a payment waiting for 3-D Secure is completed by the customer
    /// on that same payment (Stripe: the PaymentIntent, in the browser, with its
    /// `client_secret`), so that confirming it is reading it back, never a new charge.
    /// False where the gateway takes a second, authenticated charge (the sandbox).
    fn authenticates_in_place(&self) -> bool {
        false
    }

    /// R23: the secret the customer's browser completes 3-D Secure with, for a payment
    /// waiting for it (Stripe: the PaymentIntent's `client_secret`); None where the
    /// gateway has none.
    async fn authentication_secret(
        &self,
        _charge_id: &str,
    ) -> Result<Option<String>, GatewayError> {
        Ok(None)
    }

    /// R31: refund all or part of a charge. Replaying the same idempotency key returns
    /// the first refund and never refunds again. A refund may stay pending until the
    /// bank returns the money, and may then fail.
    async fn refund(&self, req: &RefundRequest) -> Result<Refund, GatewayError>;

    /// R31: a refund's current state (a pending one settles later).
    async fn retrieve_refund(&self, refund_id: &str) -> Result<Refund, GatewayError>;

    /// R31: every refund of a charge, whoever made it (refill, or the gateway's
    /// dashboard), failed ones included, oldest first.
    async fn list_refunds(&self, charge_id: &str) -> Result<Vec<Refund>, GatewayError>;

    /// R5: registers the payer that saved cards belong to; the gateway's customer id,
    /// or None where the gateway has no customers (the sandbox).
    async fn register_payer(&self, req: &PayerRequest) -> Result<Option<String>, GatewayError>;

    /// R5, R14: saves a tokenised card of `customer` for later off-session charges
    /// (with Stripe: a SetupIntent with usage=off_session, confirmed at once, which
    /// attaches the card to the customer or asks for 3-D Secure).
    async fn save_payment_method(
        &self,
        customer: Option<&str>,
        token: &str,
        idempotency_key: &str,
    ) -> Result<SavedCard, GatewayError>;

    /// Where a setup stands now (after the customer completed 3-D Secure).
    async fn retrieve_setup(&self, setup_id: &str) -> Result<SavedCard, GatewayError>;

    /// R5: forgets a saved card at the gateway (Stripe: detaches it). A card the
    /// gateway no longer holds is not an error.
    async fn remove_payment_method(
        &self,
        token: &str,
        idempotency_key: &str,
    ) -> Result<(), GatewayError>;
}
