//! A fake Stripe for tests (feature `fake-stripe`): an HTTP server on 127.0.0.1:0 that
//! speaks Stripe's wire format (form-encoded bodies, Stripe's JSON objects and error
//! objects, idempotency keys, the `pm_card_*` test tokens), counts the real charges
//! made per key, injects faults, and sends signed webhooks.
//!
//! It models only what refill uses; anything else answers 404 like an unknown route.

mod amounts;

use crate::stripe::{IDEMPOTENCY_METADATA_KEY, Stripe, StripeConfig, http_client};
use crate::stripe_webhook::sign;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod refunds;

/// The secret key the fake accepts.
pub const FAKE_SECRET_KEY: &str = "sk_test_fake_refill";
/// The secret the fake signs its webhooks with.
pub const FAKE_WEBHOOK_SECRET: &str = "whsec_fake_refill";

/// A fault for the next request (any route), in the order injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeFault {
    /// 500 api_error; nothing done.
    ServerError,
    /// 429 rate_limit; nothing done.
    RateLimited,
    /// Holds the request this long, then answers 500 having done nothing (the request
    /// never got past a slow proxy).
    Slow(Duration),
    /// Does the work (the PaymentIntent is created), then holds the answer this long:
    /// a client with a shorter timeout never learns the outcome.
    TimeoutAfterCharge(Duration),
    /// 400 invalid_request_error (a parameter Stripe refuses); nothing done: what
    /// Stripe answers a malformed request (R23).
    InvalidRequest,
}

/// What the fake saw of one request, for assertions on headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    pub authorized: bool,
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Succeed,
    /// code, decline_code, message
    Decline(&'static str, Option<&'static str>, &'static str),
    /// Off-session: declined with authentication_required; on-session: requires_action.
    AuthRequired,
    /// 3-D Secure when the card is set up (SetupIntent); charges succeed afterwards.
    AuthOnSetup,
    /// Saved fine; every charge declined (Stripe's `pm_card_chargeCustomerFail`).
    DeclineAfterAttach,
    Processing,
}

struct TestCard {
    token: &'static str,
    brand: &'static str,
    last4: &'static str,
    outcome: Outcome,
}

const DECLINED: &str = "Your card was declined.";

const fn card(token: &'static str, last4: &'static str, outcome: Outcome) -> TestCard {
    TestCard {
        token,
        brand: "visa",
        last4,
        outcome,
    }
}

/// Stripe's test payment methods, plus `pm_card_pending`, which Stripe lacks for
/// cards: it leaves the PaymentIntent processing until `FakeStripe::settle`.
const CARDS: &[TestCard] = &[
    card("pm_card_visa", "4242", Outcome::Succeed),
    card(
        "pm_card_chargeDeclined",
        "0002",
        Outcome::Decline("card_declined", Some("generic_decline"), DECLINED),
    ),
    card(
        "pm_card_chargeDeclinedInsufficientFunds",
        "9995",
        Outcome::Decline(
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        ),
    ),
    card(
        "pm_card_chargeDeclinedExpiredCard",
        "0069",
        Outcome::Decline("expired_card", None, "Your card has expired."),
    ),
    card(
        "pm_card_chargeDeclinedIncorrectCvc",
        "0127",
        Outcome::Decline(
            "incorrect_cvc",
            None,
            "Your card's security code is incorrect.",
        ),
    ),
    card(
        "pm_card_chargeDeclinedLostCard",
        "9987",
        Outcome::Decline("card_declined", Some("lost_card"), DECLINED),
    ),
    card(
        "pm_card_chargeDeclinedStolenCard",
        "9979",
        Outcome::Decline("card_declined", Some("stolen_card"), DECLINED),
    ),
    card(
        "pm_card_chargeDeclinedFraudulent",
        "0019",
        Outcome::Decline("card_declined", Some("fraudulent"), DECLINED),
    ),
    card(
        "pm_card_authenticationRequired",
        "3184",
        Outcome::AuthRequired,
    ),
    card("pm_card_pending", "0077", Outcome::Processing),
    card(
        "pm_card_authenticationRequiredOnSetup",
        "3155",
        Outcome::AuthOnSetup,
    ),
    card(
        "pm_card_chargeCustomerFail",
        "0341",
        Outcome::DeclineAfterAttach,
    ),
    // R31: paid at once; their refunds stay pending (refunds.rs).
    card("pm_card_refundFail", "5126", Outcome::Succeed),
    card("pm_card_refundPending", "0107", Outcome::Succeed),
];

fn test_card(token: &str) -> Option<&'static TestCard> {
    CARDS.iter().find(|c| c.token == token)
}

type Reply = (StatusCode, Value);

fn now() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Stripe-like ids; UUIDv7 underneath, so they sort by creation.
fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

fn error(status: u16, kind: &str, code: Option<&str>, message: &str) -> Reply {
    let body = json!({"error": {"type": kind, "code": code, "message": message}});
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        body,
    )
}

fn invalid(code: &str, message: &str) -> Reply {
    error(400, "invalid_request_error", Some(code), message)
}

fn missing(what: &str, id: &str) -> Reply {
    let msg = format!("No such {what}: '{id}'");
    error(404, "invalid_request_error", Some("resource_missing"), &msg)
}

fn ok(v: Value) -> Reply {
    (StatusCode::OK, v)
}

/// The request's parameters, in order, with nested keys kept flat (`metadata[k]`).
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn metadata(&self) -> Map<String, Value> {
        fn inner(k: &str) -> Option<&str> {
            k.strip_prefix("metadata[")?.strip_suffix(']')
        }
        let pairs = self.0.iter().filter_map(|(k, v)| Some((inner(k)?, v)));
        pairs.map(|(k, v)| (k.to_string(), json!(v))).collect()
    }

    fn positive(&self, key: &str) -> Result<i64, Reply> {
        match self.get(key).and_then(|a| a.parse::<i64>().ok()) {
            Some(a) if a > 0 => Ok(a),
            _ => Err(invalid(
                "parameter_invalid_integer",
                &format!("Invalid positive integer: {key}"),
            )),
        }
    }

    fn required(&self, key: &str) -> Result<&str, Reply> {
        self.get(key).ok_or_else(|| {
            invalid(
                "parameter_missing",
                &format!("Missing required param: {key}."),
            )
        })
    }

    /// Stripe compares parameters regardless of their order.
    fn canonical(&self) -> Vec<(String, String)> {
        let mut v = self.0.clone();
        v.sort();
        v
    }
}

struct Intent {
    id: String,
    amount: i64,
    currency: String,
    status: &'static str,
    customer: Option<String>,
    payment_method: String,
    description: Option<String>,
    metadata: Map<String, Value>,
    /// The Idempotency-Key header it was created with.
    request_key: Option<String>,
    /// Money was taken (succeeded or processing at some point).
    charged: bool,
    last_error: Option<Value>,
    amount_refunded: i64,
    created: i64,
}

impl Intent {
    fn json(&self) -> Value {
        let next_action = (self.status == "requires_action")
            .then(|| json!({"type": "use_stripe_sdk", "use_stripe_sdk": {}}));
        json!({
            "id": self.id, "object": "payment_intent", "amount": self.amount,
            "amount_received": if self.status == "succeeded" { self.amount } else { 0 },
            "currency": self.currency, "status": self.status, "customer": self.customer,
            "payment_method": self.payment_method, "description": self.description,
            "metadata": self.metadata, "last_payment_error": self.last_error,
            "next_action": next_action, "latest_charge": self.charge_id(),
            "capture_method": "automatic", "created": self.created, "livemode": false,
        })
    }

    fn charge_id(&self) -> String {
        self.id.replacen("pi_", "ch_", 1)
    }

    fn keyed(&self, key: &str) -> bool {
        let meta = self.metadata.get(IDEMPOTENCY_METADATA_KEY);
        self.request_key.as_deref() == Some(key) || meta.and_then(Value::as_str) == Some(key)
    }

    fn decline(&mut self, code: &str, decline_code: Option<&str>, message: &str) -> Value {
        let err = json!({"type": "card_error", "code": code, "decline_code": decline_code,
            "message": message, "payment_method": {"id": self.payment_method}});
        self.status = "requires_payment_method";
        self.last_error = Some(err.clone());
        err
    }

    /// Confirms the intent; a card error comes back as Stripe's 402 body.
    fn confirm(&mut self, outcome: Outcome, off_session: bool) -> Option<Value> {
        match outcome {
            Outcome::Succeed | Outcome::AuthOnSetup => self.status = "succeeded",
            Outcome::Processing => self.status = "processing",
            Outcome::AuthRequired if !off_session => self.status = "requires_action",
            Outcome::AuthRequired => {
                let msg = "Your card was declined. This transaction requires authentication.";
                let auth = "authentication_required";
                return Some(self.decline(auth, Some(auth), msg));
            }
            Outcome::Decline(code, dc, msg) => return Some(self.decline(code, dc, msg)),
            Outcome::DeclineAfterAttach => {
                return Some(self.decline("card_declined", Some("generic_decline"), DECLINED));
            }
        }
        self.charged = matches!(self.status, "succeeded" | "processing");
        None
    }
}

struct SavedMethod {
    card: &'static TestCard,
    customer: Option<String>,
    created: i64,
}

fn method_json(id: &str, card: &TestCard, customer: Option<&str>, created: i64) -> Value {
    json!({
        "id": id, "object": "payment_method", "type": "card", "customer": customer,
        "card": {"brand": card.brand, "last4": card.last4, "exp_month": 12, "exp_year": 2034,
                 "funding": "credit", "country": "US"},
        "created": created, "livemode": false,
    })
}

struct Stored {
    path: String,
    params: Vec<(String, String)>,
    reply: Reply,
}

#[derive(Default)]
struct Fake {
    faults: VecDeque<FakeFault>,
    log: Vec<LoggedRequest>,
    idempotency: HashMap<String, Stored>,
    intents: BTreeMap<String, Intent>,
    methods: BTreeMap<String, SavedMethod>,
    /// Customers, setup intents and refunds, by id.
    objects: HashMap<String, Value>,
}

impl Fake {
    fn card_of(&self, pm: &str) -> Option<&'static TestCard> {
        test_card(pm).or_else(|| self.methods.get(pm).map(|m| m.card))
    }

    fn owner_of(&self, pm: &str) -> Option<&str> {
        self.methods.get(pm).and_then(|m| m.customer.as_deref())
    }

    /// An existing object of this kind, or Stripe's 404.
    fn existing(&self, kind: &str, id: &str) -> Result<(), Reply> {
        let found = self.objects.get(id).is_some_and(|o| o["object"] == kind);
        if found {
            Ok(())
        } else {
            Err(missing(kind, id))
        }
    }

    fn dispatch(&mut self, method: &str, path: &str, p: &Params, key: Option<&str>) -> Reply {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let r = match (method, segs.as_slice()) {
            ("POST", ["v1", "payment_intents"]) => self.create_intent(p, key),
            ("GET", ["v1", "payment_intents", "search"]) => self.search(p),
            ("GET", ["v1", "payment_intents", id]) => self.get_intent(id),
            ("POST", ["v1", "refunds"]) => self.create_refund(p),
            ("GET", ["v1", "refunds"]) => self.list_refunds(p),
            ("GET", ["v1", "refunds", id]) => self.get_refund(id),
            ("GET", ["v1", "payment_methods"]) => self.list_methods(p),
            ("GET", ["v1", "payment_methods", id]) => self.get_method(id),
            ("POST", ["v1", "payment_methods", id, "attach"]) => self.attach(id, p),
            ("POST", ["v1", "payment_methods", id, "detach"]) => self.detach(id),
            ("POST", ["v1", "customers"]) => Ok(self.create_customer(p)),
            ("POST", ["v1", "setup_intents"]) => self.create_setup_intent(p),
            ("GET", ["v1", "setup_intents", id]) => self
                .existing("setup_intent", id)
                .map(|_| ok(self.objects[*id].clone())),
            _ => Err(missing("route", path)),
        };
        r.unwrap_or_else(|e| e)
    }

    fn create_intent(&mut self, p: &Params, key: Option<&str>) -> Result<Reply, Reply> {
        let amount = p.positive("amount")?;
        let currency = p.required("currency")?.to_lowercase();
        amounts::check(amount, &currency)?;
        let pm = p.required("payment_method")?;
        let card = self
            .card_of(pm)
            .ok_or_else(|| missing("PaymentMethod", pm))?;
        let customer = p.get("customer").map(str::to_string);
        if let Some(owner) = self
            .owner_of(pm)
            .filter(|o| Some(*o) != customer.as_deref())
        {
            let msg = format!("The PaymentMethod {pm} belongs to customer {owner}.");
            let (status, mut body) = invalid("payment_method_unexpected_state", &msg);
            body["error"]["param"] = json!("payment_method");
            return Err((status, body));
        }
        let mut pi = Intent {
            id: new_id("pi"),
            amount,
            currency,
            status: "requires_confirmation",
            customer,
            payment_method: pm.to_string(),
            description: p.get("description").map(str::to_string),
            metadata: p.metadata(),
            request_key: key.map(str::to_string),
            charged: false,
            last_error: None,
            amount_refunded: 0,
            created: now(),
        };
        let card_error = if p.get("confirm") == Some("true") {
            pi.confirm(card.outcome, p.get("off_session") == Some("true"))
        } else {
            None
        };
        let body = pi.json();
        self.intents.insert(pi.id.clone(), pi);
        Ok(match card_error {
            Some(mut err) => {
                err["payment_intent"] = body;
                (StatusCode::PAYMENT_REQUIRED, json!({ "error": err }))
            }
            None => ok(body),
        })
    }

    fn get_intent(&self, id: &str) -> Result<Reply, Reply> {
        let pi = self
            .intents
            .get(id)
            .ok_or_else(|| missing("payment_intent", id))?;
        Ok(ok(pi.json()))
    }

    /// Only `metadata['key']:'value'` queries, which is all refill asks.
    fn search(&self, p: &Params) -> Result<Reply, Reply> {
        let (k, v) = p
            .get("query")
            .and_then(parse_metadata_query)
            .ok_or_else(|| invalid("parameter_invalid", "unsupported search query"))?;
        let hit = |pi: &&Intent| pi.metadata.get(&k).and_then(Value::as_str) == Some(v.as_str());
        let data: Vec<Value> = self
            .intents
            .values()
            .rev()
            .filter(hit)
            .map(Intent::json)
            .collect();
        Ok(ok(
            json!({"object": "search_result", "url": "/v1/payment_intents/search",
            "has_more": false, "next_page": null, "data": data}),
        ))
    }

    fn remember(&mut self, object: Value) -> Value {
        let id = object["id"].as_str().unwrap_or_default().to_string();
        self.objects.insert(id, object.clone());
        object
    }

    fn create_customer(&mut self, p: &Params) -> Reply {
        let c = json!({"id": new_id("cus"), "object": "customer", "email": p.get("email"),
            "name": p.get("name"), "created": now(), "livemode": false});
        ok(self.remember(c))
    }

    fn create_setup_intent(&mut self, p: &Params) -> Result<Reply, Reply> {
        let customer = p.get("customer").map(str::to_string);
        if let Some(c) = &customer {
            self.existing("customer", c)?;
        }
        let id = new_id("seti");
        let secret = format!("{id}_secret_{}", uuid::Uuid::now_v7().simple());
        let mut si = json!({"id": id, "object": "setup_intent", "client_secret": secret,
            "status": "requires_payment_method", "usage": p.get("usage").unwrap_or("off_session"),
            "customer": customer, "payment_method": null, "last_setup_error": null,
            "next_action": null, "created": now()});
        if let Some(pm) = p.get("payment_method") {
            let card = self
                .card_of(pm)
                .ok_or_else(|| missing("PaymentMethod", pm))?;
            si["status"] = json!("requires_confirmation");
            si["payment_method"] = json!(pm);
            if p.get("confirm") == Some("true") {
                return Ok(self.confirm_setup(si, pm, card));
            }
        }
        Ok(ok(self.remember(si)))
    }

    /// Confirms a SetupIntent with a card: the card is attached to the customer, or
    /// waits for 3-D Secure (attached when `authenticate_setup_intent` completes it),
    /// or is declined with Stripe's 402 card error.
    fn confirm_setup(&mut self, mut si: Value, pm: &str, card: &'static TestCard) -> Reply {
        let customer = si["customer"].as_str().map(str::to_string);
        match card.outcome {
            Outcome::Decline(code, decline_code, message) => {
                let mut err = json!({"type": "card_error", "code": code,
                    "decline_code": decline_code, "message": message});
                si["status"] = json!("requires_payment_method");
                si["last_setup_error"] = err.clone();
                err["setup_intent"] = self.remember(si);
                (StatusCode::PAYMENT_REQUIRED, json!({ "error": err }))
            }
            Outcome::AuthRequired | Outcome::AuthOnSetup => {
                si["payment_method"] = json!(self.save_method(pm, card, None));
                si["status"] = json!("requires_action");
                si["next_action"] = json!({"type": "use_stripe_sdk", "use_stripe_sdk": {}});
                ok(self.remember(si))
            }
            Outcome::Succeed | Outcome::Processing | Outcome::DeclineAfterAttach => {
                si["payment_method"] = json!(self.save_method(pm, card, customer));
                si["status"] = json!("succeeded");
                ok(self.remember(si))
            }
        }
    }

    /// A payment method for the card: a new one for a test token, as Stripe does.
    fn save_method(
        &mut self,
        pm: &str,
        card: &'static TestCard,
        customer: Option<String>,
    ) -> String {
        let id = if test_card(pm).is_some() {
            new_id("pm")
        } else {
            pm.to_string()
        };
        let saved = SavedMethod {
            card,
            customer,
            created: now(),
        };
        self.methods.insert(id.clone(), saved);
        id
    }

    fn method(&self, id: &str) -> Option<Value> {
        if let Some(card) = test_card(id) {
            return Some(method_json(id, card, None, 0));
        }
        let m = self.methods.get(id)?;
        Some(method_json(id, m.card, m.customer.as_deref(), m.created))
    }

    fn get_method(&self, id: &str) -> Result<Reply, Reply> {
        self.method(id)
            .map(ok)
            .ok_or_else(|| missing("PaymentMethod", id))
    }

    /// Like Stripe, attaching a test token makes a new payment method.
    fn attach(&mut self, id: &str, p: &Params) -> Result<Reply, Reply> {
        let customer = p.required("customer")?.to_string();
        self.existing("customer", &customer)?;
        let card = self
            .card_of(id)
            .ok_or_else(|| missing("PaymentMethod", id))?;
        if self.owner_of(id).is_some_and(|o| o != customer) {
            return Err(invalid(
                "payment_method_unexpected_state",
                "This PaymentMethod is already attached to another customer.",
            ));
        }
        let new_id = if test_card(id).is_some() {
            new_id("pm")
        } else {
            id.to_string()
        };
        let saved = SavedMethod {
            card,
            customer: Some(customer),
            created: now(),
        };
        self.methods.insert(new_id.clone(), saved);
        self.get_method(&new_id)
    }

    fn detach(&mut self, id: &str) -> Result<Reply, Reply> {
        match self.methods.get_mut(id) {
            Some(m) if m.customer.is_some() => m.customer = None,
            _ => {
                return Err(invalid(
                    "payment_method_unexpected_state",
                    "The payment method you provided is not attached to a customer so detachment is impossible.",
                ));
            }
        }
        self.get_method(id)
    }

    fn list_methods(&self, p: &Params) -> Result<Reply, Reply> {
        let customer = p.required("customer")?;
        let data: Vec<Value> = (self.methods.iter().rev())
            .filter(|(_, m)| m.customer.as_deref() == Some(customer))
            .filter_map(|(id, _)| self.method(id))
            .collect();
        Ok(ok(
            json!({"object": "list", "url": "/v1/payment_methods", "has_more": false, "data": data}),
        ))
    }

    /// Stripe's idempotency: the same key and parameters get the stored answer; the
    /// same key with other parameters is an idempotency_error. Answers that created
    /// nothing (validation errors) are not stored, as at Stripe.
    fn post(&mut self, path: &str, p: &Params, key: Option<&str>) -> (Reply, bool) {
        let params = p.canonical();
        if let Some(s) = key.and_then(|k| self.idempotency.get(k)) {
            if s.path == path && s.params == params {
                return (s.reply.clone(), true);
            }
            let msg = "Keys for idempotent requests can only be used with the same parameters they were first used with.";
            return (error(400, "idempotency_error", None, msg), false);
        }
        let reply = self.dispatch("POST", path, p, key);
        let created = reply.0.is_success() || reply.0 == StatusCode::PAYMENT_REQUIRED;
        if let (Some(k), true) = (key, created) {
            let stored = Stored {
                path: path.to_string(),
                params,
                reply: reply.clone(),
            };
            self.idempotency.insert(k.to_string(), stored);
        }
        (reply, false)
    }
}

/// `metadata['k']:'v'`, with `\'` and `\\` escapes in the value.
fn parse_metadata_query(q: &str) -> Option<(String, String)> {
    let rest = q.trim().strip_prefix("metadata['")?;
    let (key, rest) = rest.split_once("']:'")?;
    let quoted = rest.strip_suffix('\'')?;
    let mut value = String::new();
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        value.extend(if c == '\\' { chars.next() } else { Some(c) });
    }
    Some((key.to_string(), value))
}

struct Shared {
    fake: Mutex<Fake>,
    secret_key: String,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Fake> {
        self.fake.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logs the request and takes the next fault, if any.
    fn begin(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> (bool, Option<FakeFault>) {
        let header = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let authorized = header("authorization") == Some(format!("Bearer {}", self.secret_key));
        let mut fake = self.lock();
        fake.log.push(LoggedRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            idempotency_key: header("idempotency-key"),
            stripe_version: header("stripe-version"),
            authorized,
        });
        (authorized, fake.faults.pop_front())
    }
}

fn respond((status, body): Reply, replayed: bool) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    if replayed {
        r.headers_mut()
            .insert("idempotent-replayed", "true".parse().expect("ascii"));
    }
    r
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (authorized, fault) = shared.begin(&method, &uri, &headers);
    let server_error = || {
        error(
            500,
            "api_error",
            None,
            "An unknown error occurred (injected).",
        )
    };
    match fault {
        Some(FakeFault::ServerError) => return respond(server_error(), false),
        Some(FakeFault::RateLimited) => {
            let msg = "Too many requests hit the API too quickly (injected).";
            return respond(
                error(429, "invalid_request_error", Some("rate_limit"), msg),
                false,
            );
        }
        Some(FakeFault::Slow(d)) => {
            tokio::time::sleep(d).await;
            return respond(server_error(), false);
        }
        Some(FakeFault::InvalidRequest) => {
            let (status, mut body) = invalid(
                "parameter_invalid_integer",
                "Invalid integer: amount (injected).",
            );
            body["error"]["param"] = json!("amount");
            return respond((status, body), false);
        }
        _ => {}
    }
    if !authorized {
        let msg = "Invalid API Key provided.";
        return respond(error(401, "invalid_request_error", None, msg), false);
    }
    let raw = if method == Method::GET {
        uri.query().unwrap_or("").as_bytes()
    } else {
        &body[..]
    };
    let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(raw) else {
        return respond(invalid("parameter_invalid", "unreadable form body"), false);
    };
    let params = Params(params);
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let (reply, replayed) = {
        let mut fake = shared.lock();
        if method == Method::POST {
            fake.post(uri.path(), &params, key)
        } else {
            (
                fake.dispatch(method.as_str(), uri.path(), &params, None),
                false,
            )
        }
    };
    if let Some(FakeFault::TimeoutAfterCharge(d)) = fault {
        tokio::time::sleep(d).await;
    }
    respond(reply, replayed)
}

/// A running fake Stripe. The server stops when this is dropped.
pub struct FakeStripe {
    url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeStripe {
    /// Starts the fake on 127.0.0.1, on a free port, accepting `FAKE_SECRET_KEY`.
    pub async fn start() -> FakeStripe {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake stripe: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fake stripe: local address");
        let shared = Arc::new(Shared {
            fake: Mutex::new(Fake::default()),
            secret_key: FAKE_SECRET_KEY.to_string(),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        FakeStripe {
            url: format!("http://{addr}"),
            shared,
            server,
        }
    }

    /// The base URL, for `StripeConfig::api_base`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn config(&self, timeout: Duration) -> StripeConfig {
        StripeConfig {
            secret_key: FAKE_SECRET_KEY.into(),
            api_base: self.url.clone(),
            timeout,
        }
    }

    /// A Stripe client pointed at the fake.
    pub fn client(&self, timeout: Duration) -> Stripe {
        Stripe::new(self.config(timeout)).expect("stripe client for the fake")
    }

    pub fn inject(&self, fault: FakeFault) {
        self.shared.lock().faults.push_back(fault);
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.lock().log.clone()
    }

    /// How many PaymentIntents took money (succeeded or processing) for this key,
    /// whether it came as the Idempotency-Key header or in the metadata. Proves that
    /// nothing was charged twice.
    pub fn charges_for(&self, idempotency_key: &str) -> usize {
        let fake = self.shared.lock();
        let hit = |pi: &&Intent| pi.charged && pi.keyed(idempotency_key);
        fake.intents.values().filter(hit).count()
    }

    /// Every PaymentIntent that took money, as (metadata idempotency key, amount).
    pub fn charges(&self) -> Vec<(String, i64)> {
        let fake = self.shared.lock();
        let key = |pi: &Intent| {
            pi.metadata
                .get(IDEMPOTENCY_METADATA_KEY)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        fake.intents
            .values()
            .filter(|pi| pi.charged)
            .map(|pi| (key(pi), pi.amount))
            .collect()
    }

    /// R11: a processing PaymentIntent settles, as succeeded or as failed. Returns it.
    pub fn settle(&self, payment_intent: &str, succeeded: bool) -> Option<Value> {
        let mut fake = self.shared.lock();
        let pi = fake
            .intents
            .get_mut(payment_intent)
            .filter(|pi| pi.status == "processing")?;
        if succeeded {
            pi.status = "succeeded";
        } else {
            pi.decline("card_declined", Some("generic_decline"), DECLINED);
        }
        Some(pi.json())
    }

    /// What the browser does with a SetupIntent's client secret: attaches a new
    /// payment method for `token` to the customer and succeeds. Returns its id.
    pub fn confirm_setup_intent(&self, setup_intent: &str, token: &str) -> Option<String> {
        let mut fake = self.shared.lock();
        let card = test_card(token)?;
        let si = fake
            .objects
            .get(setup_intent)
            .filter(|o| o["object"] == "setup_intent")?
            .clone();
        let pm = new_id("pm");
        let saved = SavedMethod {
            card,
            customer: si["customer"].as_str().map(str::to_string),
            created: now(),
        };
        fake.methods.insert(pm.clone(), saved);
        let mut si = si;
        si["status"] = json!("succeeded");
        si["payment_method"] = json!(pm);
        fake.remember(si);
        Some(pm)
    }

    /// What the browser does when the customer completes 3-D Secure on a SetupIntent
    /// that requires action: it succeeds and its card is attached to the customer.
    /// Returns the SetupIntent.
    pub fn authenticate_setup_intent(&self, setup_intent: &str) -> Option<Value> {
        let mut fake = self.shared.lock();
        let mut si = fake
            .objects
            .get(setup_intent)
            .filter(|o| o["object"] == "setup_intent" && o["status"] == "requires_action")?
            .clone();
        let pm = si["payment_method"].as_str()?.to_string();
        let customer = si["customer"].as_str().map(str::to_string);
        fake.methods.get_mut(&pm)?.customer = customer;
        si["status"] = json!("succeeded");
        si["next_action"] = Value::Null;
        Some(fake.remember(si))
    }

    /// The Charge of a PaymentIntent, as `charge.*` events carry it (with the
    /// PaymentIntent's metadata and the amount refunded so far).
    pub fn charge_object(&self, payment_intent: &str) -> Option<Value> {
        let fake = self.shared.lock();
        let pi = fake.intents.get(payment_intent)?;
        Some(json!({
            "id": pi.charge_id(), "object": "charge", "payment_intent": pi.id,
            "amount": pi.amount, "amount_refunded": pi.amount_refunded,
            "refunded": pi.amount_refunded == pi.amount, "currency": pi.currency,
            "status": if pi.charged { "succeeded" } else { "failed" }, "paid": pi.charged,
            "customer": pi.customer, "payment_method": pi.payment_method,
            "metadata": pi.metadata, "created": pi.created, "livemode": false,
        }))
    }

    /// Any object the fake holds, by id, as Stripe would return it.
    pub fn object(&self, id: &str) -> Option<Value> {
        let fake = self.shared.lock();
        let pi = fake.intents.get(id).map(Intent::json);
        pi.or_else(|| fake.method(id))
            .or_else(|| fake.objects.get(id).cloned())
    }

    /// A Stripe event around `object` (`data.object`).
    pub fn event(event_type: &str, object: Value) -> Value {
        json!({"id": new_id("evt"), "object": "event", "type": event_type, "created": now(),
            "api_version": crate::stripe::STRIPE_VERSION, "livemode": false,
            "data": {"object": object}})
    }

    /// POSTs `event` to `url`, signed with `FAKE_WEBHOOK_SECRET` as Stripe does, and
    /// returns the answer's status. Call it twice, or with older events after newer
    /// ones, to play Stripe's at-least-once, unordered delivery.
    pub async fn send_event(&self, url: &str, event: &Value) -> Result<u16, String> {
        send_signed(url, FAKE_WEBHOOK_SECRET, event).await
    }
}

/// POSTs `event` to `url` with a `Stripe-Signature` made with `secret` now.
pub async fn send_signed(url: &str, secret: &str, event: &Value) -> Result<u16, String> {
    send_signed_at(url, secret, event, now()).await
}

/// POSTs `event` to `url` with a `Stripe-Signature` made with `secret` at unix time
/// `t` (seconds): a receiver on a simulated clock, or an expired signature.
pub async fn send_signed_at(url: &str, secret: &str, event: &Value, t: i64) -> Result<u16, String> {
    let payload = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let client = http_client(Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .header("stripe-signature", sign(&payload, secret, t))
        .body(payload)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(resp.status().as_u16())
}
