//! `refill bench`: starts the real server on a fresh database and drives it over HTTP
//! with concurrent clients. In the same run it measures the naive baseline (one
//! transaction per debit: the pipeline with batches of one, same server, same
//! database, same clients) and prints the ratio.

use crate::Settings;
use refill_service::SystemClock;
use reqwest::Client;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Options {
    pub quick: bool,
    pub json: bool,
    pub database_url: Option<String>,
    pub clients: usize,
}

impl Options {
    pub fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut o = Options {
            quick: false,
            json: false,
            database_url: None,
            clients: 16,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--quick" => o.quick = true,
                "--json" => o.json = true,
                "--database-url" => {
                    o.database_url = Some(
                        it.next()
                            .cloned()
                            .ok_or_else(|| anyhow::anyhow!("--database-url needs a URL"))?,
                    )
                }
                "--clients" => {
                    o.clients = it
                        .next()
                        .and_then(|v| v.parse().ok())
                        .ok_or_else(|| anyhow::anyhow!("--clients needs a number"))?
                }
                other => anyhow::bail!(
                    "unknown bench option {other:?} (use --quick, --json, --database-url URL, --clients N)"
                ),
            }
        }
        Ok(o)
    }
}

struct Run {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Starts a server on `url` with debit batches of at most `max_batch`.
async fn server(url: &str, max_batch: usize) -> anyhow::Result<(crate::Running, String)> {
    let mut s = Settings {
        listen: "127.0.0.1:0".into(),
        database_url: url.into(),
        bootstrap_key: Some("rk_bench".into()),
        ..Settings::default()
    };
    s.service.max_batch = max_batch;
    let running = crate::start(&s, Arc::new(SystemClock), None, false).await?;
    let base = running.url();
    Ok((running, base))
}

async fn post(http: &Client, url: String, body: Value) -> anyhow::Result<Value> {
    let r = http
        .post(url)
        .bearer_auth("rk_bench")
        .json(&body)
        .send()
        .await?;
    Ok(r.json().await?)
}

/// A funded account to spend from.
async fn account(http: &Client, base: &str) -> anyhow::Result<String> {
    let a = post(
        http,
        format!("{base}/v1/accounts"),
        json!({"name": "hot", "currency": "GBP"}),
    )
    .await?;
    let id = a["id"].as_str().unwrap_or_default().to_string();
    post(
        http,
        format!("{base}/v1/accounts/{id}/payment-methods"),
        json!({"token": "pm_card_visa"}),
    )
    .await?;
    post(
        http,
        format!("{base}/v1/accounts/{id}/top-ups"),
        json!({"amount": 100_000_000_000_000i64}),
    )
    .await?;
    Ok(id)
}

/// `clients` loops posting `body` for `secs`; returns debits/s and latencies.
async fn drive(
    http: &Client,
    url: String,
    body: Value,
    per_request: usize,
    clients: usize,
    secs: f64,
) -> Run {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url, body) = (http.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let mut lat = vec![];
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let ok = http
                        .post(&url)
                        .bearer_auth("rk_bench")
                        .json(&body)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().as_u16() == 201);
                    if ok {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                lat
            })
        })
        .collect();
    let start = Instant::now();
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Run {
        rate: all.len() as f64 * per_request as f64 / elapsed,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
    }
}

async fn measure(
    url_for: &dyn Fn(&str) -> String,
    o: &Options,
    max_batch: usize,
    label: &str,
) -> anyhow::Result<(Run, Run)> {
    let secs = if o.quick { 3.0 } else { 10.0 };
    let (running, base) = server(&url_for(label), max_batch).await?;
    let http = Client::new();
    let id = account(&http, &base).await?;
    if !o.json {
        eprintln!(
            "bench: {label}: {} clients, {secs} s of single debits on one hot account ...",
            o.clients
        );
    }
    let single = drive(
        &http,
        format!("{base}/v1/accounts/{id}/debits"),
        json!({"amount": 1}),
        1,
        o.clients,
        secs,
    )
    .await;
    let items: Vec<Value> = (0..100).map(|_| json!({"amount": 1})).collect();
    if !o.json {
        eprintln!("bench: {label}: {secs} s of 100-item batches ...");
    }
    let batch = drive(
        &http,
        format!("{base}/v1/accounts/{id}/debits/batch"),
        json!({"items": items}),
        100,
        o.clients,
        secs,
    )
    .await;
    running.stop();
    Ok((single, batch))
}

/// The database URL for a run label.
type UrlFor = Box<dyn Fn(&str) -> String>;

pub async fn run(o: Options) -> anyhow::Result<()> {
    crate::install_crypto();
    let dir = std::env::temp_dir().join(format!("refill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut stores: Vec<(&str, UrlFor)> = vec![];
    let d = dir.clone();
    stores.push((
        "sqlite",
        Box::new(move |label: &str| format!("sqlite://{}/{label}.db", d.display())),
    ));
    if let Some(pg) = o.database_url.clone() {
        stores.push(("postgres", Box::new(move |_: &str| pg.clone())));
    }
    let mut report = serde_json::Map::new();
    for (name, url_for) in &stores {
        let (single, batch) = measure(url_for.as_ref(), &o, 512, "refill").await?;
        let (naive, naive_batch) = measure(url_for.as_ref(), &o, 1, "naive").await?;
        let row = json!({
            "single_debits_per_s": single.rate.round(), "single_p50_ms": single.p50_ms, "single_p99_ms": single.p99_ms,
            "batch_debits_per_s": batch.rate.round(),
            "naive_single_debits_per_s": naive.rate.round(), "naive_p99_ms": naive.p99_ms,
            "naive_batch_debits_per_s": naive_batch.rate.round(),
            "ratio_single": single.rate / naive.rate.max(1.0),
        });
        if !o.json {
            println!("\n{name}, one hot account, {} clients over HTTP", o.clients);
            println!(
                "  {:<34} {:>12} {:>10} {:>10}",
                "", "debits/s", "p50 ms", "p99 ms"
            );
            println!(
                "  {:<34} {:>12.0} {:>10.2} {:>10.2}",
                "refill (group commit)", single.rate, single.p50_ms, single.p99_ms
            );
            println!(
                "  {:<34} {:>12.0} {:>10.2} {:>10.2}",
                "naive (one transaction per debit)", naive.rate, naive.p50_ms, naive.p99_ms
            );
            println!(
                "  {:<34} {:>12.1}x",
                "ratio",
                single.rate / naive.rate.max(1.0)
            );
            println!(
                "  {:<34} {:>12.0}",
                "batch endpoint (100 items)", batch.rate
            );
        }
        report.insert(name.to_string(), row);
    }
    if o.json {
        println!("{}", Value::Object(report));
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
