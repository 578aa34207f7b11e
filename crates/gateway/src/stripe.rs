//! Stripe, through a thin hand-written client: form-encoded requests, a pinned API
//! version, an `Idempotency-Key` on every POST. A top-up is a PaymentIntent confirmed
//! at once; its idempotency key is also written into its metadata so that a charge
//! whose answer was lost can be found again by searching (R25).

use crate::*;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

mod errors;
mod refunds;

pub use errors::decline_class;
use errors::{
    ApiError, ApiErrorBody, ErrorEnvelope, auth_required, declined, malformed, setup_declined,
    status_error, transport_message,
};

/// The API version every request pins, so Stripe's object shapes never shift under us.
pub const STRIPE_VERSION: &str = "2024-06-20";
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// The metadata key that carries refill's idempotency key on every PaymentIntent.
pub const IDEMPOTENCY_METADATA_KEY: &str = "idempotency_key";

#[derive(Clone)]
pub struct StripeConfig {
    /// `sk_test_...` or `sk_live_...` (or a restricted key).
    pub secret_key: String,
    /// `https://api.stripe.com`, or a fake server in tests.
    pub api_base: String,
    /// The whole request, connect to last byte. Past it the outcome is unknown (R25).
    pub timeout: Duration,
}

impl StripeConfig {
    pub fn new(secret_key: impl Into<String>) -> StripeConfig {
        StripeConfig {
            secret_key: secret_key.into(),
            api_base: DEFAULT_API_BASE.into(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Never prints the secret key.
impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("secret_key", &"<redacted>")
            .field("api_base", &self.api_base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The Stripe gateway. Clones share one connection pool.
#[derive(Clone, Debug)]
pub struct Stripe {
    http: reqwest::Client,
    config: StripeConfig,
}

/// A Stripe customer: who saved cards belong to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Customer {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// A SetupIntent: the browser confirms it with `client_secret` (3-D Secure included),
/// which makes the card usable off-session (R14).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SetupIntent {
    pub id: String,
    pub client_secret: Option<String>,
    pub status: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub payment_method: Option<String>,
}

/// A payment method as Stripe lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentMethod {
    pub id: String,
    pub customer: Option<String>,
    pub card: Option<CardDetails>,
}

#[derive(Deserialize)]
struct IntentBody {
    id: String,
    amount: i64,
    currency: String,
    status: String,
    #[serde(default)]
    last_payment_error: Option<ApiErrorBody>,
}

fn intent_status(status: &str, last_error: Option<&ApiErrorBody>) -> ChargeStatus {
    match (status, last_error) {
        ("succeeded", _) => ChargeStatus::Succeeded,
        // requires_capture only with manual capture, which refill never asks for.
        ("processing" | "requires_capture", _) => ChargeStatus::Pending,
        ("requires_action", _) => auth_required(),
        // R11: a processing payment that finally failed also lands here.
        ("requires_payment_method", Some(e)) => declined(e),
        (other, _) => ChargeStatus::Declined {
            class: DeclineClass::Soft,
            code: other.to_string(),
            message: format!("the payment is {other}"),
        },
    }
}

/// Maps a PaymentIntent object (from a response or a webhook) to a refill charge.
pub fn charge_from_payment_intent(pi: &Value) -> Result<Charge, GatewayError> {
    // An unreadable answer to a charge leaves its outcome unknown: resolve by key.
    let pi = IntentBody::deserialize(pi)
        .map_err(|e| GatewayError::Outage(format!("stripe: unreadable PaymentIntent: {e}")))?;
    Ok(Charge {
        status: intent_status(&pi.status, pi.last_payment_error.as_ref()),
        id: pi.id,
        amount: pi.amount,
        currency: pi.currency.to_uppercase(),
    })
}

/// A 402 card error: the PaymentIntent exists, declined. Its id names the charge.
fn declined_charge(req: &ChargeRequest, e: &ApiErrorBody) -> Charge {
    let pi_id = e.payment_intent.as_ref().and_then(|pi| pi["id"].as_str());
    Charge {
        id: pi_id
            .or(e.charge.as_deref())
            .unwrap_or_default()
            .to_string(),
        amount: req.amount,
        currency: req.currency.to_uppercase(),
        status: declined(e),
    }
}

fn charge_form(req: &ChargeRequest) -> Vec<(String, String)> {
    let mut f = vec![
        ("amount".to_string(), req.amount.to_string()),
        ("currency".into(), req.currency.to_lowercase()),
        ("payment_method".into(), req.payment_method.clone()),
        // Cards only: no redirect-based methods, so no return_url is needed.
        ("payment_method_types[]".into(), "card".into()),
        ("confirm".into(), "true".into()),
        ("description".into(), req.description.clone()),
    ];
    if let Some(c) = &req.customer {
        f.push(("customer".into(), c.clone()));
    }
    if req.off_session {
        f.push(("off_session".into(), "true".into()));
    }
    for (k, v) in &req.metadata {
        f.push((format!("metadata[{k}]"), v.clone()));
    }
    f.push((
        format!("metadata[{IDEMPOTENCY_METADATA_KEY}]"),
        req.idempotency_key.clone(),
    ));
    f
}

/// Stripe's search language: a quoted string escapes `'` and `\` with a backslash.
fn search_literal(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// Ids go into URL paths: refuse anything but Stripe's id alphabet.
fn path_id(id: &str) -> Result<&str, GatewayError> {
    let ok = !id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(id)
    } else {
        Err(GatewayError::Invalid(format!("not a Stripe id: {id:?}")))
    }
}

fn card_details(pm: &Value) -> Option<CardDetails> {
    let card = pm.get("card").filter(|c| c.is_object())?;
    Some(CardDetails {
        brand: card["brand"].as_str()?.to_string(),
        last4: card["last4"].as_str()?.to_string(),
        exp_month: u32::try_from(card["exp_month"].as_u64()?).ok()?,
        exp_year: u32::try_from(card["exp_year"].as_u64()?).ok()?,
    })
}

fn payment_method(pm: &Value) -> Result<PaymentMethod, GatewayError> {
    let id = pm["id"]
        .as_str()
        .ok_or_else(|| GatewayError::Invalid("stripe: payment method without id".into()))?;
    Ok(PaymentMethod {
        id: id.to_string(),
        customer: pm["customer"].as_str().map(str::to_string),
        card: card_details(pm),
    })
}

fn parse<T: serde::de::DeserializeOwned>(v: Value, what: &str) -> Result<T, GatewayError> {
    serde_json::from_value(v).map_err(|e| GatewayError::Invalid(format!("stripe {what}: {e}")))
}

/// Builds a reqwest client with rustls on ring (reqwest is built without a provider).
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client, GatewayError> {
    // Fails only when a provider is already installed, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
        .map_err(|e| GatewayError::Invalid(format!("stripe client: {e}")))
}

impl Stripe {
    pub fn new(config: StripeConfig) -> Result<Stripe, GatewayError> {
        let http = http_client(config.timeout)?;
        Ok(Stripe { http, config })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_base.trim_end_matches('/'))
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, ApiError> {
        let resp = req
            .bearer_auth(&self.config.secret_key)
            .header("Stripe-Version", STRIPE_VERSION)
            .send()
            .await
            .map_err(|e| ApiError::Transport(transport_message(&e)))?;
        let status = resp.status().as_u16();
        let body = resp
            .bytes()
            .await
            .map_err(|e| ApiError::Transport(transport_message(&e)))?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body)
                .map_err(|e| ApiError::Transport(format!("unreadable answer: {e}")));
        }
        let error = serde_json::from_slice::<ErrorEnvelope>(&body)
            .map(|env| env.error)
            .unwrap_or_default();
        Err(ApiError::Status { status, error })
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
        self.send(self.http.get(self.url(path)).query(query)).await
    }

    async fn post(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<Value, ApiError> {
        let req = self
            .http
            .post(self.url(path))
            .header("Idempotency-Key", idempotency_key)
            .form(form);
        self.send(req).await
    }

    pub async fn create_customer(
        &self,
        email: &str,
        name: &str,
        idempotency_key: &str,
    ) -> Result<Customer, GatewayError> {
        let form = [
            ("email".to_string(), email.to_string()),
            ("name".to_string(), name.to_string()),
        ];
        let v = self.post("/v1/customers", &form, idempotency_key).await?;
        parse(v, "customer")
    }

    /// A SetupIntent for saving a card for automatic top-ups (usage=off_session).
    pub async fn create_setup_intent(
        &self,
        customer: &str,
        idempotency_key: &str,
    ) -> Result<SetupIntent, GatewayError> {
        let form = [
            ("customer".to_string(), customer.to_string()),
            ("usage".to_string(), "off_session".to_string()),
            ("payment_method_types[]".to_string(), "card".to_string()),
        ];
        let v = self
            .post("/v1/setup_intents", &form, idempotency_key)
            .await?;
        parse(v, "setup intent")
    }

    /// Attaching a test token (`pm_card_visa`) returns a new id: use the returned one.
    pub async fn attach_payment_method(
        &self,
        payment_method: &str,
        customer: &str,
        idempotency_key: &str,
    ) -> Result<PaymentMethod, GatewayError> {
        let path = format!("/v1/payment_methods/{}/attach", path_id(payment_method)?);
        let form = [("customer".to_string(), customer.to_string())];
        payment_method_result(self.post(&path, &form, idempotency_key).await)
    }

    pub async fn detach_payment_method(
        &self,
        payment_method: &str,
        idempotency_key: &str,
    ) -> Result<PaymentMethod, GatewayError> {
        let path = format!("/v1/payment_methods/{}/detach", path_id(payment_method)?);
        payment_method_result(self.post(&path, &[], idempotency_key).await)
    }

    /// The customer's saved cards (the first 100, more than anyone saves).
    pub async fn list_payment_methods(
        &self,
        customer: &str,
    ) -> Result<Vec<PaymentMethod>, GatewayError> {
        let q = [("customer", customer), ("type", "card"), ("limit", "100")];
        let v = self.get("/v1/payment_methods", &q).await?;
        v["data"]
            .as_array()
            .map(|a| a.iter().map(payment_method).collect())
            .unwrap_or_else(|| Err(GatewayError::Invalid("stripe: list without data".into())))
    }
}

/// An id field that may come expanded (`{"id": ...}`) or not.
fn id_of(v: &Value) -> Option<&str> {
    v.as_str().or_else(|| v["id"].as_str())
}

/// A SetupIntent as a saved card (R5, R14). `processing` is reported like
/// `requires_action`: not usable yet, usable once `setup_intent.succeeded` comes.
pub fn saved_card_from_setup_intent(si: &Value) -> Result<SavedCard, GatewayError> {
    let id = si["id"]
        .as_str()
        .ok_or_else(|| GatewayError::Outage("stripe: unreadable SetupIntent".into()))?;
    let token = id_of(&si["payment_method"]).unwrap_or_default().to_string();
    let secret = si["client_secret"].as_str().unwrap_or_default().to_string();
    let status = match si["status"].as_str().unwrap_or_default() {
        "succeeded" => SetupStatus::Ready,
        "requires_action" | "requires_confirmation" | "processing" => SetupStatus::RequiresAction {
            client_secret: secret,
        },
        other => match ApiErrorBody::deserialize(&si["last_setup_error"]) {
            Ok(e) => setup_declined(&e),
            Err(_) => SetupStatus::Declined {
                code: format!("setup_{other}"),
                message: format!("the card setup is {other}"),
            },
        },
    };
    Ok(SavedCard {
        token,
        setup_id: Some(id.to_string()),
        status,
    })
}

fn payment_method_result(r: Result<Value, ApiError>) -> Result<PaymentMethod, GatewayError> {
    payment_method(&r?)
}

#[async_trait]
impl Gateway for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn describe_payment_method(&self, token: &str) -> Result<CardDetails, GatewayError> {
        let path = format!("/v1/payment_methods/{}", path_id(token)?);
        let pm = self.get(&path, &[]).await?;
        card_details(&pm)
            .ok_or_else(|| GatewayError::Invalid(format!("stripe: {token} is not a card")))
    }

    async fn charge(&self, req: &ChargeRequest) -> Result<Charge, GatewayError> {
        // `authenticated` needs nothing here: with Stripe, 3-D Secure is completed in
        // the browser on the PaymentIntent or SetupIntent itself.
        let form = charge_form(req);
        match self
            .post("/v1/payment_intents", &form, &req.idempotency_key)
            .await
        {
            Ok(pi) => charge_from_payment_intent(&pi),
            Err(ApiError::Status { error, .. }) if error.kind == "card_error" => {
                Ok(declined_charge(req, &error))
            }
            Err(ApiError::Status { status, error }) if malformed(status, &error) => {
                let what = format!(
                    "charge {} of {} {}: {}",
                    req.idempotency_key,
                    req.amount,
                    req.currency,
                    status_error(status, &error)
                );
                Err(crate::note_rejected(&what))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stripe's search is eventually consistent: a PaymentIntent can take up to about a
    /// minute to appear. A `None` shortly after a lost answer is therefore not proof
    /// that nothing was charged; the caller retries the same key instead (which Stripe
    /// answers from its idempotency store) or asks again later.
    async fn find_charge(&self, idempotency_key: &str) -> Result<Option<Charge>, GatewayError> {
        let query = format!(
            "metadata['{IDEMPOTENCY_METADATA_KEY}']:'{}'",
            search_literal(idempotency_key)
        );
        let v = self
            .get("/v1/payment_intents/search", &[("query", &query)])
            .await?;
        match v["data"].as_array().and_then(|d| d.first()) {
            Some(pi) => charge_from_payment_intent(pi).map(Some),
            None => Ok(None),
        }
    }

    async fn retrieve_charge(&self, charge_id: &str) -> Result<Charge, GatewayError> {
        let path = format!("/v1/payment_intents/{}", path_id(charge_id)?);
        charge_from_payment_intent(&self.get(&path, &[]).await?)
    }

    fn authenticates_in_place(&self) -> bool {
        true
    }

    async fn authentication_secret(&self, charge_id: &str) -> Result<Option<String>, GatewayError> {
        let path = format!("/v1/payment_intents/{}", path_id(charge_id)?);
        let pi = self.get(&path, &[]).await?;
        Ok(pi["client_secret"].as_str().map(str::to_string))
    }

    async fn refund(&self, req: &RefundRequest) -> Result<Refund, GatewayError> {
        self.create_refund(req).await
    }

    async fn retrieve_refund(&self, refund_id: &str) -> Result<Refund, GatewayError> {
        self.get_refund(refund_id).await
    }

    async fn list_refunds(&self, charge_id: &str) -> Result<Vec<Refund>, GatewayError> {
        self.refunds_of(charge_id).await
    }

    async fn register_payer(&self, req: &PayerRequest) -> Result<Option<String>, GatewayError> {
        let mut form = vec![(
            "metadata[refill_account]".to_string(),
            req.account_id.clone(),
        )];
        form.extend(req.email.clone().map(|e| ("email".to_string(), e)));
        form.extend(req.name.clone().map(|n| ("name".to_string(), n)));
        let v = self
            .post("/v1/customers", &form, &req.idempotency_key)
            .await?;
        let customer: Customer = parse(v, "customer")?;
        Ok(Some(customer.id))
    }

    /// A SetupIntent for off-session use, confirmed at once with the token: Stripe
    /// attaches the card to the customer when it succeeds, or asks for 3-D Secure.
    async fn save_payment_method(
        &self,
        customer: Option<&str>,
        token: &str,
        idempotency_key: &str,
    ) -> Result<SavedCard, GatewayError> {
        let customer = customer.ok_or_else(|| {
            GatewayError::Invalid("stripe: a saved card belongs to a customer".into())
        })?;
        let form = [
            ("customer".to_string(), customer.to_string()),
            ("payment_method".to_string(), path_id(token)?.to_string()),
            ("confirm".to_string(), "true".to_string()),
            ("usage".to_string(), "off_session".to_string()),
            ("payment_method_types[]".to_string(), "card".to_string()),
        ];
        match self.post("/v1/setup_intents", &form, idempotency_key).await {
            Ok(si) => saved_card_from_setup_intent(&si),
            Err(ApiError::Status { error, .. }) if error.kind == "card_error" => Ok(SavedCard {
                token: token.to_string(),
                setup_id: error
                    .setup_intent
                    .as_ref()
                    .and_then(|si| si["id"].as_str())
                    .map(str::to_string),
                status: setup_declined(&error),
            }),
            Err(e) => Err(e.into()),
        }
    }

    async fn retrieve_setup(&self, setup_id: &str) -> Result<SavedCard, GatewayError> {
        let path = format!("/v1/setup_intents/{}", path_id(setup_id)?);
        saved_card_from_setup_intent(&self.get(&path, &[]).await?)
    }

    async fn remove_payment_method(
        &self,
        token: &str,
        idempotency_key: &str,
    ) -> Result<(), GatewayError> {
        match self.detach_payment_method(token, idempotency_key).await {
            // Already detached (or never attached): nothing left to remove.
            Ok(_) | Err(GatewayError::Invalid(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
