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

mod cards;
mod charges;
mod payment_methods;
mod refunds;

use cards::{DECLINED, Outcome, TestCard, test_card};
use charges::Intent;
use payment_methods::SavedMethod;

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

    fn remember(&mut self, object: Value) -> Value {
        let id = object["id"].as_str().unwrap_or_default().to_string();
        self.objects.insert(id, object.clone());
        object
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

    /// What Stripe.js does when the customer completes 3-D Secure on a PaymentIntent
    /// that requires action (`handleNextAction` with its client secret): it succeeds
    /// and takes the money. Returns the PaymentIntent.
    pub fn authenticate_payment_intent(&self, payment_intent: &str) -> Option<Value> {
        let mut fake = self.shared.lock();
        let pi = fake
            .intents
            .get_mut(payment_intent)
            .filter(|pi| pi.status == "requires_action")?;
        pi.status = "succeeded";
        pi.charged = true;
        Some(pi.json())
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
