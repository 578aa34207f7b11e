//! `refill bench`: starts the real server in-process on a fresh database and drives
//! it over HTTP with concurrent clients (issue 5). In the same run it measures the
//! naive baseline (naive.rs): one transaction per debit request on a pooled
//! connection, a conditional update and the entries' insert, same HTTP server, same
//! durability, same database, same clients; and prints the ratios.
//!
//! The client runs in the same process as the server and shares the machine's cores
//! with it: every figure is bounded by the client's CPU too (it is light: see
//! client.rs), and the CPU per debit printed is the whole process's.

mod client;
mod crossing;
mod load;
mod naive;
mod scale;

use crate::Settings;
use client::Prepared;
use load::{Run, Target, closed_loop, open_loop};
use refill_service::SystemClock;
use reqwest::Client;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// The bench's operator key.
pub const KEY: &str = "rk_bench";

pub struct Options {
    pub quick: bool,
    pub json: bool,
    pub database_url: Option<String>,
    pub clients: usize,
    /// Accounts of the scale check (default 1M; 100k with --quick).
    pub accounts: Option<usize>,
    /// Only PostgreSQL (with `database_url`): skips the SQLite half of the run.
    pub postgres_only: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut o = Options {
            quick: false,
            json: false,
            database_url: None,
            clients: 64,
            accounts: None,
            postgres_only: false,
        };
        let mut it = args.iter();
        let number = |v: Option<&String>, what: &str| {
            v.and_then(|v| v.replace('_', "").parse::<usize>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| anyhow::anyhow!("{what} needs a number above 0"))
        };
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
                "--clients" => o.clients = number(it.next(), "--clients")?,
                "--accounts" => o.accounts = Some(number(it.next(), "--accounts")?),
                "--postgres-only" => o.postgres_only = true,
                other => anyhow::bail!(
                    "unknown bench option {other:?} (use --quick, --json, --database-url URL, \
                     --postgres-only, --clients N, --accounts N)"
                ),
            }
        }
        if o.postgres_only && o.database_url.is_none() {
            anyhow::bail!("--postgres-only needs --database-url URL");
        }
        Ok(o)
    }
}

/// How much of everything a run does.
struct Plan {
    secs: f64,
    /// Accounts the spread load is drawn from.
    spread: usize,
    /// Accounts of the scale check, and how many of them are due (R22).
    scale: usize,
    due: usize,
    /// Accounts debited below their threshold while the half-rate load runs.
    crossings: usize,
}

impl Plan {
    fn of(o: &Options) -> Plan {
        let scale = o
            .accounts
            .unwrap_or(if o.quick { 200_000 } else { 1_000_000 })
            .max(2_000);
        let due = 1_000;
        Plan {
            secs: if o.quick { 2.0 } else { 10.0 },
            // The spread load never lands on the due accounts (the last ones).
            spread: 100_000.min(scale - due),
            scale,
            due,
            crossings: if o.quick { 40 } else { 200 },
        }
    }
}

/// A database server the bench makes fresh databases on.
enum Store {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Store {
    fn name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    fn pg_name(label: &str) -> String {
        format!("refill_bench_{}_{label}", std::process::id())
    }

    /// A new, empty database for `label`; its URL.
    async fn fresh(&self, label: &str) -> anyhow::Result<String> {
        match self {
            Store::Sqlite(dir) => Ok(format!("sqlite://{}/{label}.db", dir.display())),
            Store::Postgres(admin) => {
                let name = Store::pg_name(label);
                self.admin(&format!("DROP DATABASE IF EXISTS {name}"))
                    .await?;
                self.admin(&format!("CREATE DATABASE {name}")).await?;
                let (base, _) = admin
                    .rsplit_once('/')
                    .ok_or_else(|| anyhow::anyhow!("a PostgreSQL URL ends with /dbname"))?;
                Ok(format!("{base}/{name}"))
            }
        }
    }

    /// Drops what `fresh(label)` made (PostgreSQL; SQLite files go with the
    /// bench's directory).
    async fn remove(&self, label: &str) {
        if let Store::Postgres(_) = self {
            let sql = format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                Store::pg_name(label)
            );
            let _ = self.admin(&sql).await;
        }
    }

    /// Writes out what the earlier figures left for the database to do (a
    /// checkpoint), so that a figure does not pay for the writes of the one before:
    /// PostgreSQL's checkpoint after the batch phase's writes, falling in the
    /// half-rate phase, took its p99 to 287 ms and once to 6.6 s (p50 3.2 s).
    async fn settle(&self, db: &refill_store::Db) {
        use refill_store::sqlx::Executor;
        let sqlite = async {
            let mut conn = db.writer_connection().await?;
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
            anyhow::Ok(())
        };
        let done = match self {
            Store::Postgres(_) => self.admin("CHECKPOINT").await,
            Store::Sqlite(_) => sqlite.await,
        };
        if let Err(e) = done {
            // A PostgreSQL role without superuser or pg_checkpoint cannot; the
            // figures are still taken, with whatever the database was doing.
            eprintln!(
                "bench: {}: no checkpoint before this figure: {e}",
                self.name()
            );
        }
    }

    async fn admin(&self, sql: &str) -> anyhow::Result<()> {
        use refill_store::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
        let Store::Postgres(admin) = self else {
            return Ok(());
        };
        let mut conn = PgConnection::connect(admin).await?;
        conn.execute(AssertSqlSafe(sql.to_string())).await?;
        Ok(())
    }
}

/// The server under test, with the gateway that notes automatic charges.
struct Server {
    running: crate::Running,
    base: String,
    charges: Arc<crossing::ChargeLog>,
}

impl Server {
    /// Starts refill with its workers on `url`, with debit batches of at most
    /// `max_batch` (1: the naive baseline).
    async fn start(url: &str, max_batch: usize) -> anyhow::Result<Server> {
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
        let base = running.url();
        Ok(Server {
            running,
            base,
            charges,
        })
    }

    fn addr(&self) -> std::net::SocketAddr {
        self.running.addr
    }

    async fn stop(self) {
        let db = self.running.app.db.clone();
        self.running.stop();
        // The workers stop at their next await; then the connections close.
        tokio::time::sleep(Duration::from_millis(50)).await;
        db.close().await;
    }

    /// (batches, requests, microseconds inside batch transactions, batches of the
    /// fast path) of the pipeline so far.
    fn batches(&self) -> (u64, u64, u64, u64) {
        let s = &self.running.app.debit_pipeline.stats;
        let busy = s.busy_us.load(Relaxed);
        let unread = s.unread.load(Relaxed);
        (
            s.batches.load(Relaxed),
            s.requests.load(Relaxed),
            busy,
            unread,
        )
    }
}

/// A hot account: funded through the API, with a card.
async fn hot_account(http: &Client, base: &str) -> anyhow::Result<String> {
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

fn single(id: &str) -> Target {
    Target::Fixed(Arc::new(Prepared::post(
        &format!("/v1/accounts/{id}/debits"),
        KEY,
        r#"{"amount":1}"#,
    )))
}

/// Debits per request of the batch phase.
const BATCH_ITEMS: usize = 100;

fn batch(id: &str) -> Target {
    let items: Vec<Value> = (0..BATCH_ITEMS).map(|_| json!({"amount": 1})).collect();
    Target::Fixed(Arc::new(Prepared::post(
        &format!("/v1/accounts/{id}/debits/batch"),
        KEY,
        &json!({ "items": items }).to_string(),
    )))
}

fn spread(accounts: usize) -> Target {
    Target::Spread {
        accounts,
        body: Arc::new(r#"{"amount":1}"#.into()),
    }
}

/// What refill did on one store.
#[derive(Default)]
struct Ours {
    hot: Run,
    mean_batch: f64,
    /// Mean time of one batch transaction (hot), and the share of the time the
    /// pipeline spent inside one.
    batch_us: f64,
    busy: f64,
    /// The share of hot batches written by the fast path (no second read).
    unread: f64,
    batch: Run,
    spread: Run,
    spread_mean_batch: f64,
    half: Run,
    crossing: (f64, f64, usize),
    load_s: f64,
    check_ms: f64,
    queued: usize,
    rss_mb: f64,
}

#[derive(Default)]
struct Naive {
    hot: Run,
    batch: Run,
    spread: Run,
}

fn step(o: &Options, store: &str, what: &str) {
    if !o.json {
        eprintln!("bench: {store}: {what} ...");
    }
}

async fn measure_ours(store: &Store, o: &Options, plan: &Plan) -> anyhow::Result<Ours> {
    let name = store.name();
    let srv = Server::start(&store.fresh("refill").await?, 512).await?;
    let http = Client::new();
    let hot_id = hot_account(&http, &srv.base).await?;
    let (secs, clients) = (plan.secs, o.clients);
    let mut ours = Ours::default();

    let db = &srv.running.app.db;
    step(o, name, "one hot account, single debits");
    store.settle(db).await;
    let (b0, r0, u0, f0) = srv.batches();
    ours.hot = closed_loop(srv.addr(), single(&hot_id), 1, clients, secs).await;
    let (b1, r1, u1, f1) = srv.batches();
    ours.mean_batch = (r1 - r0) as f64 / (b1 - b0).max(1) as f64;
    ours.unread = (f1 - f0) as f64 / (b1 - b0).max(1) as f64;
    ours.batch_us = (u1 - u0) as f64 / (b1 - b0).max(1) as f64;
    ours.busy = (u1 - u0) as f64 / 1e6 / secs;

    step(o, name, "batch endpoint, 100 items per request");
    store.settle(db).await;
    ours.batch = closed_loop(srv.addr(), batch(&hot_id), BATCH_ITEMS, clients, secs).await;

    step(o, name, "auto top-up accounts for the crossings");
    let terms = srv.running.app.config.terms_version.clone();
    let ids = crossing::accounts(&http, &srv.base, plan.crossings, &terms).await?;
    step(
        o,
        name,
        "half the maximum rate, open loop, with threshold crossings",
    );
    store.settle(db).await;
    let every = Duration::from_secs_f64(plan.secs / plan.crossings as f64);
    let crossings = tokio::spawn(crossing::run(
        http.clone(),
        srv.base.clone(),
        ids,
        every,
        srv.charges.clone(),
    ));
    ours.half = open_loop(
        srv.addr(),
        single(&hot_id),
        ours.hot.rate / 2.0,
        clients,
        secs,
    )
    .await;
    ours.crossing = crossings.await?;

    scale::load_accounts(db, 0..plan.spread, plan.scale - plan.due, name).await?;
    step(
        o,
        name,
        &format!("single debits over {} accounts", plan.spread),
    );
    store.settle(db).await;
    let (b0, r0, _, _) = srv.batches();
    ours.spread = closed_loop(srv.addr(), spread(plan.spread), 1, clients, secs).await;
    let (b1, r1, _, _) = srv.batches();
    ours.spread_mean_batch = (r1 - r0) as f64 / (b1 - b0).max(1) as f64;
    let load =
        scale::load_accounts(db, plan.spread..plan.scale, plan.scale - plan.due, name).await?;
    ours.load_s = load.as_secs_f64();

    step(o, name, "periodic check");
    let t = Instant::now();
    ours.queued = srv.running.app.periodic_check().await?.0;
    ours.check_ms = load::ms(t.elapsed());
    ours.rss_mb = scale::rss_mb();
    srv.stop().await;
    store.remove("refill").await;
    Ok(ours)
}

async fn measure_naive(store: &Store, o: &Options, plan: &Plan) -> anyhow::Result<Naive> {
    let name = store.name();
    // refill's server makes and funds the accounts; the naive path serves the debits,
    // on the same database.
    let srv = Server::start(&store.fresh("naive").await?, 512).await?;
    let http = Client::new();
    let hot_id = hot_account(&http, &srv.base).await?;
    let db = srv.running.app.db.clone();
    let (addr, naive) = naive::serve(db.clone()).await?;
    let (secs, clients) = (plan.secs, o.clients);
    step(o, name, "naive: one hot account, single debits");
    store.settle(&db).await;
    let hot = closed_loop(addr, single(&hot_id), 1, clients, secs).await;
    step(o, name, "naive: batch endpoint");
    store.settle(&db).await;
    let batch = closed_loop(addr, batch(&hot_id), BATCH_ITEMS, clients, secs).await;
    scale::load_accounts(&db, 0..plan.spread, usize::MAX, name).await?;
    step(
        o,
        name,
        &format!("naive: single debits over {} accounts", plan.spread),
    );
    store.settle(&db).await;
    let spread = closed_loop(addr, spread(plan.spread), 1, clients, secs).await;
    naive.abort();
    srv.stop().await;
    store.remove("naive").await;
    Ok(Naive { hot, batch, spread })
}

/// The targets of issue 5 for one store, and whether they are met.
fn targets(store: &str, ours: &Ours, naive: &Naive) -> Vec<(&'static str, String, bool)> {
    let ratio = ours.hot.rate / naive.hot.rate.max(1.0);
    let (rate, times) = if store == "postgres" {
        (20_000.0, 25.0)
    } else {
        (30_000.0, 20.0)
    };
    let mut t = vec![
        (
            "hot_debits_per_s",
            format!(">= {rate:.0}/s"),
            ours.hot.rate >= rate,
        ),
        ("ratio_hot", format!(">= {times:.0}x"), ratio >= times),
    ];
    if store == "sqlite" {
        t.push((
            "batch_debits_per_s",
            ">= 500000/s".into(),
            ours.batch.rate >= 500_000.0,
        ));
    }
    t.extend([
        (
            "half_rate_p99_ms",
            "< 10 ms".into(),
            ours.half.p99_ms < 10.0,
        ),
        (
            "crossing_p99_ms",
            "< 100 ms".into(),
            ours.crossing.2 > 0 && ours.crossing.1 < 100.0,
        ),
        (
            "periodic_check_ms",
            "< 100 ms".into(),
            ours.check_ms < 100.0,
        ),
        ("rss_mb", "< 200 MB".into(), ours.rss_mb < 200.0),
    ]);
    t
}

fn run_json(r: &Run) -> Value {
    json!({"debits_per_s": r.rate.round(), "p50_ms": r.p50_ms, "p99_ms": r.p99_ms,
           "cpu_us_per_debit": r.cpu_us, "failed": r.failed})
}

fn store_json(store: &str, plan: &Plan, ours: &Ours, naive: &Naive) -> Value {
    let ratio = |a: &Run, b: &Run| a.rate / b.rate.max(1.0);
    let targets: serde_json::Map<String, Value> = targets(store, ours, naive)
        .into_iter()
        .map(|(k, want, met)| (k.to_string(), json!({"target": want, "met": met})))
        .collect();
    json!({
        "refill": {
            "hot": run_json(&ours.hot),
            "hot_mean_batch": ours.mean_batch,
            "hot_fast_path_share": ours.unread,
            "batch_endpoint": run_json(&ours.batch),
            "spread": run_json(&ours.spread),
            "spread_accounts": plan.spread,
            "spread_mean_batch": ours.spread_mean_batch,
            "half_rate": run_json(&ours.half),
            "crossing_to_charge": {"p50_ms": ours.crossing.0, "p99_ms": ours.crossing.1,
                                   "charges": ours.crossing.2, "crossings": plan.crossings},
            "scale": {"accounts": plan.scale, "load_s": ours.load_s, "due": plan.due,
                      "queued": ours.queued, "periodic_check_ms": ours.check_ms,
                      "rss_mb": ours.rss_mb},
        },
        "naive": {
            "hot": run_json(&naive.hot),
            "batch_endpoint": run_json(&naive.batch),
            "spread": run_json(&naive.spread),
        },
        "ratio": {
            "hot": ratio(&ours.hot, &naive.hot),
            "batch_endpoint": ratio(&ours.batch, &naive.batch),
            "spread": ratio(&ours.spread, &naive.spread),
        },
        "targets": targets,
    })
}

fn n(v: f64) -> String {
    let s = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 && c != '-' {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn print_store(store: &str, o: &Options, plan: &Plan, ours: &Ours, naive: &Naive) {
    let lat = |r: &Run| format!("{:.2} / {:.2}", r.p50_ms, r.p99_ms);
    let ratio = |a: &Run, b: &Run| format!("{:.1}x", a.rate / b.rate.max(1.0));
    println!(
        "\n{store}: {} clients over HTTP, {} s per figure (client and server share the cores)",
        o.clients, plan.secs
    );
    println!(
        "  {:<46} {:>14} {:>14} {:>7}",
        "", "refill", "naive", "ratio"
    );
    let row = |what: &str, a: String, b: String, r: String| {
        println!("  {what:<46} {a:>14} {b:>14} {r:>7}");
    };
    row(
        "one hot account, debits/s",
        n(ours.hot.rate),
        n(naive.hot.rate),
        ratio(&ours.hot, &naive.hot),
    );
    row(
        "  latency p50 / p99 ms (closed loop)",
        lat(&ours.hot),
        lat(&naive.hot),
        String::new(),
    );
    row(
        &format!("{} accounts, debits/s", n(plan.spread as f64)),
        n(ours.spread.rate),
        n(naive.spread.rate),
        ratio(&ours.spread, &naive.spread),
    );
    row(
        "batch endpoint (100 items), debits/s",
        n(ours.batch.rate),
        n(naive.batch.rate),
        ratio(&ours.batch, &naive.batch),
    );
    row(
        &format!(
            "half the max rate ({}/s): p50 / p99 ms",
            n(ours.hot.rate / 2.0)
        ),
        lat(&ours.half),
        String::new(),
        String::new(),
    );
    row(
        &format!(
            "crossing to charge request ({}): p50 / p99 ms",
            ours.crossing.2
        ),
        format!("{:.2} / {:.2}", ours.crossing.0, ours.crossing.1),
        String::new(),
        String::new(),
    );
    row(
        &format!(
            "periodic check, {} due of {} accounts, ms",
            plan.due,
            n(plan.scale as f64)
        ),
        format!("{:.1}", ours.check_ms),
        String::new(),
        String::new(),
    );
    row(
        "RSS of the process (server + bench client), MB",
        format!("{:.0}", ours.rss_mb),
        String::new(),
        String::new(),
    );
    println!(
        "  mean group-commit batch: {:.1} requests (hot), {:.1} (spread); CPU per hot debit, server and client: {:.0} us (refill), {:.0} us (naive)",
        ours.mean_batch, ours.spread_mean_batch, ours.hot.cpu_us, naive.hot.cpu_us
    );
    println!(
        "  hot: a batch transaction takes {:.0} us; the pipeline is inside one {:.0}% of the time; {:.0}% of batches took the fast path (no read)",
        ours.batch_us,
        ours.busy * 100.0,
        ours.unread * 100.0
    );
    let failed = ours.hot.failed + ours.batch.failed + ours.spread.failed + ours.half.failed;
    if failed > 0 {
        println!("  requests not answered 201: {failed}");
    }
    let t = targets(store, ours, naive);
    let list: Vec<String> = t
        .iter()
        .map(|(k, want, met)| format!("{k} {want}: {}", if *met { "met" } else { "NOT met" }))
        .collect();
    println!("  targets: {}", list.join("; "));
}

pub async fn run(o: Options) -> anyhow::Result<()> {
    crate::install_crypto();
    let plan = Plan::of(&o);
    let dir = std::env::temp_dir().join(format!("refill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut stores = vec![];
    if !o.postgres_only {
        stores.push(Store::Sqlite(dir.clone()));
    }
    if let Some(pg) = &o.database_url {
        stores.push(Store::Postgres(pg.clone()));
    }
    let started = Instant::now();
    let mut report = serde_json::Map::new();
    report.insert("quick".into(), json!(o.quick));
    report.insert("clients".into(), json!(o.clients));
    report.insert("seconds_per_figure".into(), json!(plan.secs));
    for store in &stores {
        let ours = measure_ours(store, &o, &plan).await;
        let naive = match &ours {
            Ok(_) => measure_naive(store, &o, &plan).await,
            Err(_) => Ok(Naive::default()),
        };
        let (ours, naive) = match (ours, naive) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                std::fs::remove_dir_all(&dir).ok();
                return Err(e.context(format!("bench on {}", store.name())));
            }
        };
        if !o.json {
            print_store(store.name(), &o, &plan, &ours, &naive);
        }
        report.insert(
            store.name().into(),
            store_json(store.name(), &plan, &ours, &naive),
        );
    }
    report.insert(
        "elapsed_s".into(),
        json!(started.elapsed().as_secs_f64().round()),
    );
    if o.json {
        println!("{}", Value::Object(report));
    } else {
        println!("\nbench: {:.0} s in all", started.elapsed().as_secs_f64());
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Options;

    fn parse(args: &[&str]) -> anyhow::Result<Options> {
        Options::parse(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn options_name_what_is_wrong() {
        let o = parse(&[
            "--quick",
            "--clients",
            "8",
            "--database-url",
            "postgres://x/db",
        ]);
        let o = o.expect("valid options");
        assert!(o.quick && !o.postgres_only);
        assert_eq!(
            (o.clients, o.database_url.as_deref()),
            (8, Some("postgres://x/db"))
        );
        let only = parse(&["--postgres-only"]).err().map(|e| e.to_string());
        assert_eq!(
            only.as_deref(),
            Some("--postgres-only needs --database-url URL")
        );
        let zero = parse(&["--clients", "0"]).err().map(|e| e.to_string());
        assert_eq!(zero.as_deref(), Some("--clients needs a number above 0"));
        let unknown = parse(&["--fast"])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            unknown.starts_with("unknown bench option \"--fast\""),
            "{unknown}"
        );
    }
}
