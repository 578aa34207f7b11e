//! The server under test: refill started in-process with its workers, its API
//! served by the bench on a port of its own with the ceiling's route merged in
//! (ceiling.rs), and the hot account the single and batch phases debit.

use super::{KEY, ceiling, crossing};
use crate::Settings;
use refill_service::SystemClock;
use reqwest::Client;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::task::AbortHandle;

/// The server under test, with the gateway that notes automatic charges.
pub struct Server {
    pub running: crate::Running,
    /// The bench's own listener: refill's API and the ceiling.
    addr: SocketAddr,
    serving: AbortHandle,
    pub base: String,
    pub charges: Arc<crossing::ChargeLog>,
}

impl Server {
    /// Starts refill with its workers on `url`, with debit batches of at most
    /// `max_batch` (1: the naive baseline).
    pub async fn start(url: &str, max_batch: usize) -> anyhow::Result<Server> {
        let mut s = Settings {
            listen: "127.0.0.1:0".into(),
            database_url: url.into(),
            bootstrap_key: Some(KEY.into()),
            ..Settings::default()
        };
        s.service.max_batch = max_batch;
        let charges = Arc::new(crossing::ChargeLog::default());
        let clock = Arc::new(SystemClock);
        let now = clock.clone();
        let sandbox = refill_gateway::sandbox::Sandbox::in_memory(Arc::new(move || {
            refill_service::Clock::now_ms(&*now)
        }));
        let gateway = Arc::new(crossing::Timed {
            inner: sandbox,
            log: charges.clone(),
        });
        let running = crate::start(&s, clock, Some(gateway), true).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = ceiling::router(running.app.clone(), s.http.body_timeout());
        let serving = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        })
        .abort_handle();
        Ok(Server {
            running,
            addr,
            serving,
            base: format!("http://{addr}"),
            charges,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn stop(self) {
        let db = self.running.app.db.clone();
        self.serving.abort();
        self.running.stop();
        // The workers stop at their next await; then the connections close.
        tokio::time::sleep(Duration::from_millis(50)).await;
        db.close().await;
    }

    /// [batches, requests, microseconds inside batch transactions, batches of the
    /// fast path] of the pipeline so far.
    pub fn batches(&self) -> [u64; 4] {
        let s = &self.running.app.debit_pipeline.stats;
        [&s.batches, &s.requests, &s.busy_us, &s.unread].map(|n| n.load(Relaxed))
    }
}

/// A hot account: funded through the API, with a card.
pub async fn hot_account(http: &Client, base: &str) -> anyhow::Result<String> {
    let post = |path: String, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(KEY)
            .json(&body)
            .send()
    };
    let a: Value = post(
        "/v1/accounts".into(),
        json!({"name": "hot", "currency": "GBP"}),
    )
    .await?
    .json()
    .await?;
    let id = a["id"].as_str().unwrap_or_default().to_string();
    let pm: Value = post(
        format!("/v1/accounts/{id}/payment-methods"),
        json!({"token": "pm_card_visa"}),
    )
    .await?
    .json()
    .await?;
    let r = post(
        format!("/v1/accounts/{id}/top-ups"),
        json!({"amount": 100_000_000_000_000i64, "payment_method": pm["id"]}),
    )
    .await?;
    anyhow::ensure!(r.status().is_success(), "funding the hot account failed");
    Ok(id)
}
