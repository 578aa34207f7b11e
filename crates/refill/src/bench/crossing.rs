//! Threshold crossing to charge request (R18): accounts with auto top-up on are
//! debited below their threshold, and the time from the debit's answer (read by the
//! client) to the gateway's charge call is measured. The gateway is the sandbox,
//! wrapped to note when each automatic charge is asked for.

use super::load::{ms, percentiles};
use async_trait::async_trait;
use refill_gateway::sandbox::Sandbox;
use refill_gateway::{
    CardDetails, Charge, ChargeRequest, Gateway, GatewayError, PayerRequest, Refund, RefundRequest,
    SavedCard,
};
use reqwest::Client;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// When the charge of each account's automatic top-up was asked for.
#[derive(Default)]
pub struct ChargeLog {
    asked: Mutex<HashMap<String, Instant>>,
}

impl ChargeLog {
    fn note(&self, account: &str) {
        let mut asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        asked
            .entry(account.to_string())
            .or_insert_with(Instant::now);
    }

    fn get(&self, account: &str) -> Option<Instant> {
        let asked = self.asked.lock().unwrap_or_else(|e| e.into_inner());
        asked.get(account).copied()
    }
}

/// The sandbox, noting the time of each automatic (off-session) charge.
pub struct Timed {
    pub inner: Sandbox,
    pub log: Arc<ChargeLog>,
}

#[async_trait]
impl Gateway for Timed {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn describe_payment_method(&self, token: &str) -> Result<CardDetails, GatewayError> {
        self.inner.describe_payment_method(token).await
    }
    async fn charge(&self, req: &ChargeRequest) -> Result<Charge, GatewayError> {
        if req.off_session
            && let Some((_, account)) = req.metadata.iter().find(|(k, _)| k == "refill_account")
        {
            self.log.note(account);
        }
        self.inner.charge(req).await
    }
    async fn find_charge(&self, idempotency_key: &str) -> Result<Option<Charge>, GatewayError> {
        self.inner.find_charge(idempotency_key).await
    }
    async fn retrieve_charge(&self, charge_id: &str) -> Result<Charge, GatewayError> {
        self.inner.retrieve_charge(charge_id).await
    }
    async fn refund(&self, req: &RefundRequest) -> Result<Refund, GatewayError> {
        self.inner.refund(req).await
    }
    async fn retrieve_refund(&self, refund_id: &str) -> Result<Refund, GatewayError> {
        self.inner.retrieve_refund(refund_id).await
    }
    async fn list_refunds(&self, charge_id: &str) -> Result<Vec<Refund>, GatewayError> {
        self.inner.list_refunds(charge_id).await
    }
    async fn register_payer(&self, req: &PayerRequest) -> Result<Option<String>, GatewayError> {
        self.inner.register_payer(req).await
    }
    async fn save_payment_method(
        &self,
        customer: Option<&str>,
        token: &str,
        idempotency_key: &str,
    ) -> Result<SavedCard, GatewayError> {
        self.inner
            .save_payment_method(customer, token, idempotency_key)
            .await
    }
    async fn retrieve_setup(&self, setup_id: &str) -> Result<SavedCard, GatewayError> {
        self.inner.retrieve_setup(setup_id).await
    }
    async fn remove_payment_method(
        &self,
        token: &str,
        idempotency_key: &str,
    ) -> Result<(), GatewayError> {
        self.inner
            .remove_payment_method(token, idempotency_key)
            .await
    }
}

const THRESHOLD: i64 = 5_000;

async fn call(
    http: &Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> anyhow::Result<Value> {
    let r = http
        .request(method, url)
        .bearer_auth(super::KEY)
        .json(&body)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    anyhow::ensure!(status.is_success(), "bench setup call failed: {status} {v}");
    Ok(v)
}

/// `n` accounts with a card, a balance of 10,000 and auto top-up on below 5,000.
pub async fn accounts(
    http: &Client,
    base: &str,
    n: usize,
    terms: &str,
) -> anyhow::Result<Vec<String>> {
    use reqwest::Method;
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let a = call(
            http,
            Method::POST,
            format!("{base}/v1/accounts"),
            json!({"name": "crossing", "currency": "GBP",
                   "payer": {"name": "Ada", "email": "ada@example.test", "country": "GB"}}),
        )
        .await?;
        let id = a["id"].as_str().unwrap_or_default().to_string();
        let pm = call(
            http,
            Method::POST,
            format!("{base}/v1/accounts/{id}/payment-methods"),
            json!({"token": "pm_card_visa", "primary": true}),
        )
        .await?;
        call(
            http,
            Method::POST,
            format!("{base}/v1/accounts/{id}/top-ups"),
            json!({"amount": 10_000, "payment_method": pm["id"]}),
        )
        .await?;
        call(
            http,
            Method::PUT,
            format!("{base}/v1/accounts/{id}/auto-top-up"),
            json!({"enabled": true, "threshold": THRESHOLD, "amount": 10_000, "terms_version": terms}),
        )
        .await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Debits each account below its threshold, one every `every`, and returns the
/// crossing-to-charge latencies (p50, p99, how many charges were seen).
pub async fn run(
    http: Client,
    base: String,
    ids: Vec<String>,
    every: Duration,
    log: Arc<ChargeLog>,
) -> (f64, f64, usize) {
    let mut answered = Vec::with_capacity(ids.len());
    let mut due = Instant::now();
    for id in &ids {
        tokio::time::sleep_until(due.into()).await;
        due += every;
        let r = http
            .post(format!("{base}/v1/accounts/{id}/debits"))
            .bearer_auth(super::KEY)
            .json(&json!({"amount": 6_000}))
            .send()
            .await;
        let Ok(r) = r else { continue };
        let ok = r.status().as_u16() == 201;
        let _ = r.bytes().await;
        if ok {
            answered.push((id.clone(), Instant::now()));
        }
    }
    // Wait for the charges still on their way (at most 10 s).
    let wait_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < wait_until && answered.iter().any(|(id, _)| log.get(id).is_none()) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut lat: Vec<f64> = answered
        .iter()
        .filter_map(|(id, at)| {
            // The charge may be asked for before the client has read the answer:
            // then the latency is taken as 0.
            log.get(id)
                .map(|charged| ms(charged.saturating_duration_since(*at)))
        })
        .collect();
    let seen = lat.len();
    let (p50, p99) = percentiles(&mut lat);
    (p50, p99, seen)
}
