//! Test support: a fresh store per test, the real server on port 0 with a simulated
//! clock and the sandbox gateway, and a small HTTP client.

#![allow(dead_code)]

use refill::{Running, Settings};
use refill_gateway::sandbox::Sandbox;
use refill_service::SimClock;
use reqwest::{Client, Method};
use serde_json::Value;
use std::sync::Arc;

pub const OPERATOR_KEY: &str = "rk_test_operator";
/// 2026-11-21T12:00:00Z: a fixed start for the simulated clock.
pub const T0: i64 = 1_795_262_400_000;

/// A fresh database per test, removed when the test passes (the store's test support).
pub use refill_store::testing::{ScratchDir, Store, stores};

pub struct TestApp {
    pub base: String,
    pub http: Client,
    pub key: String,
    pub clock: SimClock,
    pub sandbox: Sandbox,
    pub running: Running,
    /// Ids of the manual top-ups made through `funded`, so tests can tell charges apart.
    pub manual_top_ups: std::sync::Mutex<Vec<String>>,
    /// Last: fields drop in order, and the store may go with it.
    pub store: Store,
}

pub fn settings(store: &Store) -> Settings {
    let mut s = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: store.url.clone(),
        bootstrap_key: Some(OPERATOR_KEY.into()),
        ..Settings::default()
    };
    s.service.tax.by_country.insert("GB".into(), 2000);
    s
}

/// Starts refill on `store` with a simulated clock; the engine runs only when a test
/// says so (`app.engine()`), so every step is deterministic.
pub async fn spawn(store: &Store) -> TestApp {
    spawn_with(store, |_| {}).await
}

pub async fn spawn_with(store: &Store, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_on(store, None, tweak).await
}

/// As `spawn_with`, charging through `gateway` instead of the sandbox (the Stripe
/// client pointed at the fake Stripe). `app.sandbox` is then unused.
pub async fn spawn_with_gateway(
    store: &Store,
    gateway: Arc<dyn refill_gateway::Gateway>,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn_on(store, Some(gateway), tweak).await
}

async fn spawn_on(
    store: &Store,
    gateway: Option<Arc<dyn refill_gateway::Gateway>>,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    refill::install_crypto();
    let mut s = settings(store);
    tweak(&mut s);
    let clock = SimClock::at(T0);
    let c = clock.clone();
    let sandbox = Sandbox::in_memory(Arc::new(move || {
        use refill_service::Clock;
        c.now_ms()
    }))
    .with_settle_after(s.sandbox_settle_after);
    let gateway = gateway.unwrap_or_else(|| Arc::new(sandbox.clone()));
    let running = refill::start(&s, Arc::new(clock.clone()), Some(gateway), false)
        .await
        .unwrap_or_else(|e| panic!("refill did not start on {}: {e:#}", store.name));
    TestApp {
        store: store.clone(),
        base: running.url(),
        http: Client::new(),
        key: OPERATOR_KEY.into(),
        clock,
        sandbox,
        running,
        manual_top_ups: Default::default(),
    }
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
    pub fn id(&self) -> String {
        self.body["id"].as_str().unwrap_or_default().to_string()
    }
}

impl TestApp {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
        key: Option<&str>,
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        for (h, v) in headers {
            req = req.header(*h, *v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        Resp {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        }
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(Method::POST, path, Some(&body), &[], Some(&self.key))
            .await
    }
    pub async fn post_idem(&self, path: &str, body: Value, idem: &str) -> Resp {
        self.send(
            Method::POST,
            path,
            Some(&body),
            &[("Idempotency-Key", idem)],
            Some(&self.key),
        )
        .await
    }
    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, &[], Some(&self.key))
            .await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(Method::PUT, path, Some(&body), &[], Some(&self.key))
            .await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None, &[], Some(&self.key))
            .await
    }

    /// An account with a payer in GB, in GBP.
    pub async fn account(&self, name: &str) -> String {
        let r = self
            .post(
                "/v1/accounts",
                serde_json::json!({"name": name, "currency": "GBP",
            "payer": {"name": "Ada", "email": "ada@example.test", "country": "GB"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.id()
    }

    /// An account with `balance` credited by a manual visa top-up, and `token` saved as
    /// its primary card. Returns (account, primary payment method).
    pub async fn funded(&self, name: &str, token: &str, balance: i64) -> (String, String) {
        let id = self.account(name).await;
        if balance > 0 {
            let visa = self
                .post(
                    &format!("/v1/accounts/{id}/payment-methods"),
                    serde_json::json!({"token": "pm_card_visa"}),
                )
                .await;
            let r = self
                .post(
                    &format!("/v1/accounts/{id}/top-ups"),
                    serde_json::json!({"amount": balance, "payment_method": visa.id()}),
                )
                .await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            self.manual_top_ups.lock().unwrap().push(r.id());
        }
        let pm = self
            .post(
                &format!("/v1/accounts/{id}/payment-methods"),
                serde_json::json!({"token": token, "primary": true}),
            )
            .await;
        assert_eq!(pm.status, 201, "{:?}", pm.body);
        (id, pm.id())
    }

    pub async fn balance(&self, id: &str) -> i64 {
        self.get(&format!("/v1/accounts/{id}")).await.body["balance"]
            .as_i64()
            .expect("balance")
    }

    pub async fn debit(&self, id: &str, amount: i64) -> Resp {
        self.post(
            &format!("/v1/accounts/{id}/debits"),
            serde_json::json!({"amount": amount}),
        )
        .await
    }

    /// Runs the engine until nothing is due at the simulated now.
    pub async fn engine(&self) {
        self.running.app.run_until_idle().await.expect("engine ran");
    }

    pub async fn events(&self, id: &str, event_type: &str) -> Vec<Value> {
        let r = self
            .get(&format!(
                "/v1/events?account_id={id}&type={event_type}&limit=500"
            ))
            .await;
        r.body["data"].as_array().cloned().unwrap_or_default()
    }

    /// R3: the checks of `refill verify` pass: the ledger, its reconciliation with the
    /// money records, and the sandbox's charges with the top-ups.
    pub async fn assert_ledger_ok(&self) {
        let mut report = refill::verify::verify(&self.running.app.db)
            .await
            .expect("verify ran");
        let charges = refill::verify::reconcile_sandbox(&self.running.app.db, &self.sandbox)
            .await
            .expect("reconciled the sandbox's charges");
        report.problems.extend(charges);
        assert!(
            report.problems.is_empty(),
            "ledger problems on {}: {:?}",
            self.store.name,
            report.problems
        );
    }
}

/// The terms version the tests' servers use.
pub const TERMS: &str = "2026-01";

/// Turns auto top-up on for `id`: below `threshold`, add `amount`, by the primary card,
/// under `TERMS`.
pub async fn enable_auto_top_up(app: &TestApp, id: &str, threshold: i64, amount: i64) -> Resp {
    app.put(
        &format!("/v1/accounts/{id}/auto-top-up"),
        serde_json::json!({"enabled": true, "threshold": threshold, "amount": amount,
            "terms_version": TERMS}),
    )
    .await
}
