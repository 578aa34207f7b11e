//! Real `refill serve` processes, killed with SIGKILL at random moments while auto
//! top-ups run under load, and restarted on the same database (R19, R25, R3).

use crate::fixtures::postgres_or_skip;
use crate::support::*;
use refill_store::Db;
use reqwest::Client;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Node {
    env: Vec<(String, String)>,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Node {
    fn new(db_url: &str, record: &str) -> Node {
        let port = free_port();
        let env = [
            ("REFILL_DATABASE_URL", db_url),
            ("REFILL_LISTEN", &format!("127.0.0.1:{port}")),
            ("REFILL_BOOTSTRAP_KEY", OPERATOR_KEY),
            ("REFILL_SANDBOX_RECORD", record),
            ("REFILL_CARD_INTERVAL_MINUTES", "0"),
            ("REFILL_DAILY_COUNT_CAP", "0"),
            ("REFILL_DAILY_AMOUNT_CAP", "0"),
            ("REFILL_MONTHLY_COUNT_CAP", "0"),
            ("REFILL_MONTHLY_AMOUNT_CAP", "0"),
            ("REFILL_LEASE_SECONDS", "1"),
            ("REFILL_VERIFICATION_AMOUNT", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Node {
            env,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    fn command(&self, arg: &str) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_refill"));
        c.arg(arg)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("REFILL_CONFIG", "/dev/null/none")
            .env_remove("REFILL_CONFIG");
        c.current_dir(std::env::temp_dir());
        c
    }

    async fn start(&self, http: &Client) -> Serving {
        let child = Serving(
            self.command("serve")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("refill serve started"),
        );
        for _ in 0..200 {
            if http
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .is_ok()
            {
                return child;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("refill serve did not come up at {}", self.base);
    }
}

/// A running `refill serve`, killed when dropped: a failed test leaves none behind.
struct Serving(Child);

impl Serving {
    /// SIGKILL, and waits until it is gone.
    fn kill(&mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("the killed node reaped");
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn call(
    http: &Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> Option<(u16, Value)> {
    let r = http
        .request(method, url)
        .bearer_auth(OPERATOR_KEY)
        .json(&body)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let status = r.status().as_u16();
    Some((status, r.json().await.unwrap_or(Value::Null)))
}

/// Debits from 8 concurrent clients until stopped; records the references answered
/// 201. Each client finishes the request it has sent before it stops: a request
/// dropped mid-way would still be worked by the server (its debit may cross the
/// threshold after the test looked), so the handle completes when every debit sent
/// to a live node is answered.
fn load(
    http: Client,
    base: String,
    id: String,
    accepted: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let url = format!("{base}/v1/accounts/{id}/debits");
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..8 {
        let client = LoadClient {
            http: http.clone(),
            url: url.clone(),
            prefix: format!("{id}:c{c}"),
            accepted: accepted.clone(),
            stop: stop.clone(),
        };
        clients.spawn(client.debit_until_stopped());
    }
    tokio::spawn(async move {
        while let Some(done) = clients.join_next().await {
            done.expect("a load client failed");
        }
    })
}

/// One of `load`'s clients.
struct LoadClient {
    http: Client,
    url: String,
    prefix: String,
    accepted: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl LoadClient {
    async fn debit_until_stopped(self) {
        let mut n = 0;
        while !self.stop.load(Ordering::Relaxed) {
            n += 1;
            let reference = format!("{}-{n}-{}", self.prefix, uuid::Uuid::now_v7().simple());
            let sent = self
                .http
                .post(&self.url)
                .bearer_auth(OPERATOR_KEY)
                .json(&json!({"amount": 700, "reference": reference}))
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == 201 => self.accepted.lock().unwrap().push(reference),
                Ok(_) => {}
                // Given up on, it could still be worked after the test looked.
                Err(e) if e.is_timeout() => panic!("a debit went unanswered for 30 s: {e}"),
                Err(_) => return, // the node is gone (killed)
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r19_r25_sigkill_under_load_never_double_charges_nor_loses_work() {
    for store in stores().await {
        crash_rounds(&store, 20).await;
    }
}

async fn crash_rounds(store: &Store, rounds: usize) {
    refill::install_crypto();
    let dir = ScratchDir::new("refill-crash");
    let record = dir.path().join("charges.jsonl").display().to_string();
    let node = Node::new(&store.url, &record);
    let http = Client::new();
    let mut child = node.start(&http).await;
    let id = setup(&http, &node.base).await;
    let accepted = Arc::new(Mutex::new(Vec::new()));
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let l = load(
            http.clone(),
            node.base.clone(),
            id.clone(),
            accepted.clone(),
            stop.clone(),
        );
        tokio::time::sleep(Duration::from_millis(150 + (round as u64 * 37) % 400)).await;
        child.kill();
        stop.store(true, Ordering::Relaxed);
        l.await.unwrap();
        child = node.start(&http).await;
    }
    settle(&http, &node.base, &id).await;
    child.kill();
    let accepted = accepted.lock().unwrap().clone();
    check(store, &node, &record, &id, &accepted).await;
}

/// An account whose payer has an email address, with a visa card saved.
async fn account_with_card(http: &Client, base: &str) -> String {
    let post =
        |path: &str, body: Value| call(http, reqwest::Method::POST, format!("{base}{path}"), body);
    let (s, a) = post(
        "/v1/accounts",
        json!({"name": "hot", "currency": "GBP", "payer": {"email": "ada@example.test"}}),
    )
    .await
    .unwrap();
    assert_eq!(s, 201, "{a}");
    let id = a["id"].as_str().unwrap().to_string();
    let (s, pm) = post(
        &format!("/v1/accounts/{id}/payment-methods"),
        json!({"token": "pm_card_visa"}),
    )
    .await
    .unwrap();
    assert_eq!(s, 201, "{pm}");
    id
}

async fn setup(http: &Client, base: &str) -> String {
    let post =
        |path: &str, body: Value| call(http, reqwest::Method::POST, format!("{base}{path}"), body);
    let id = account_with_card(http, base).await;
    let (s, _) = post(
        &format!("/v1/accounts/{id}/top-ups"),
        json!({"amount": 50_000}),
    )
    .await
    .unwrap();
    assert_eq!(s, 201);
    let body =
        json!({"enabled": true, "threshold": 20_000, "amount": 20_000, "terms_version": TERMS});
    let (s, b) = call(
        http,
        reqwest::Method::PUT,
        format!("{base}/v1/accounts/{id}/auto-top-up"),
        body,
    )
    .await
    .unwrap();
    assert_eq!(s, 200, "{b}");
    id
}

/// Waits until nothing is in flight (the engine resolved every abandoned charge).
async fn settle(http: &Client, base: &str, id: &str) {
    for _ in 0..300 {
        let r = http
            .get(format!("{base}/v1/accounts/{id}/auto-top-up"))
            .bearer_auth(OPERATOR_KEY)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        if v["in_flight"].is_null() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("a top-up stayed in flight after the load stopped");
}

async fn check(store: &Store, node: &Node, record: &str, id: &str, accepted: &[String]) {
    // The gateway's own record: no idempotency key charged twice.
    let text = std::fs::read_to_string(record).unwrap();
    let mut per_key: HashMap<String, usize> = HashMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        *per_key
            .entry(v["key"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert!(
        per_key.values().all(|n| *n == 1),
        "a key was charged twice: {per_key:?}"
    );
    let auto: Vec<&String> = per_key.keys().filter(|k| k.starts_with("top_")).collect();
    assert!(
        auto.len() >= 3,
        "auto top-ups ran under load ({} charges)",
        auto.len()
    );
    // Every charge credited exactly once.
    let db = Db::connect(&store.url).await.unwrap();
    for key in &auto {
        let top = key.split(':').next().unwrap();
        let row = refill_store::get_top_up(&db.pool, top)
            .await
            .unwrap()
            .expect("every charge has its top-up");
        if row.account_id != id {
            continue;
        }
        let entries = refill_store::list_entries(&db.pool, id, None, 100_000)
            .await
            .unwrap();
        let credits = entries
            .iter()
            .filter(|e| e.reference.as_deref() == Some(&format!("top-up {top}")))
            .count();
        assert_eq!(
            credits, 1,
            "charge {key} credited {credits} times; its top-up: {row:?}"
        );
    }
    // Every answered debit is on disk.
    let entries = refill_store::list_entries(&db.pool, id, None, 1_000_000)
        .await
        .unwrap();
    let refs: std::collections::HashSet<_> =
        entries.iter().filter_map(|e| e.reference.clone()).collect();
    let mine: Vec<&String> = accepted
        .iter()
        .filter(|r| r.starts_with(&format!("{id}:")))
        .collect();
    let lost = mine.iter().filter(|r| !refs.contains(r.as_str())).count();
    assert!(!mine.is_empty(), "debits were answered");
    assert_eq!(lost, 0, "{lost} of {} answered debits lost", mine.len());
    // No queued top-up lost: above the threshold, or one is in flight.
    let account = refill_store::get_account(&db.pool, id)
        .await
        .unwrap()
        .unwrap();
    let in_flight = refill_store::top_up_in_flight(&db.pool, id).await.unwrap();
    assert!(
        account.balance > 20_000 || in_flight.is_some(),
        "balance {} at the threshold and nothing queued",
        account.balance
    );
    // refill verify passes on the same database.
    let out = node.command("verify").output().unwrap();
    assert!(
        out.status.success(),
        "refill verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// R28: the server is killed while it delivers notifications; after restarts
/// every event still reaches the SMTP server and the webhook endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r28_sigkill_mid_delivery_loses_no_notification() {
    use refill_notify::testing::{HttpSink, SmtpSink};
    for store in stores().await {
        refill::install_crypto();
        let dir = ScratchDir::new("refill-notify");
        let record = dir.path().join("charges.jsonl").display().to_string();
        let (smtp, hooks) = (SmtpSink::start().await, HttpSink::start().await);
        // Slow answers widen the window in which a kill lands mid-delivery.
        hooks.set_delay(Duration::from_millis(40));
        let mut node = Node::new(&store.url, &record);
        node.env.push(("REFILL_SMTP_URL".into(), smtp.url()));
        let http = Client::new();
        let mut child = node.start(&http).await;
        let id = notified_account(&http, &node.base, &hooks.url()).await;
        for round in 0..10u64 {
            let url = format!("{}/v1/accounts/{id}/top-ups", node.base);
            for _ in 0..5 {
                let _ = call(
                    &http,
                    reqwest::Method::POST,
                    url.clone(),
                    json!({"amount": 1_000}),
                )
                .await;
            }
            tokio::time::sleep(Duration::from_millis(50 + (round * 37) % 200)).await;
            child.kill();
            child = node.start(&http).await;
        }
        let events = call(
            &http,
            reqwest::Method::GET,
            format!("{}/v1/events?account_id={id}&limit=500", node.base),
            Value::Null,
        )
        .await
        .unwrap()
        .1;
        let want: std::collections::BTreeSet<String> = events["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        assert!(want.len() >= 10, "events were made: {}", want.len());
        let (mut got_hooks, mut got_mail) = (Default::default(), Default::default());
        for _ in 0..300 {
            got_hooks = hooks
                .requests()
                .iter()
                .map(|r| r.json()["id"].as_str().unwrap_or_default().to_string())
                .collect::<std::collections::BTreeSet<_>>();
            got_mail = smtp
                .messages()
                .iter()
                .filter_map(|m| m.header("Message-ID"))
                .map(|m| {
                    m.trim_matches(['<', '>'])
                        .trim_end_matches("@refill")
                        .to_string()
                })
                .collect::<std::collections::BTreeSet<_>>();
            if want.is_subset(&got_hooks) && want.is_subset(&got_mail) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        child.kill();
        let lost_hooks = want.difference(&got_hooks).count();
        let lost_mail = want.difference(&got_mail).count();
        assert_eq!(
            (lost_hooks, lost_mail),
            (0, 0),
            "of {} events on {}",
            want.len(),
            store.name
        );
    }
}

/// An account with a saved card, and an operator webhook endpoint for every event
/// at `hooks`.
async fn notified_account(http: &Client, base: &str, hooks: &str) -> String {
    let id = account_with_card(http, base).await;
    let (s, b) = call(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/webhook-endpoints"),
        json!({"url": format!("{hooks}/h"), "event_types": ["*"]}),
    )
    .await
    .unwrap();
    assert_eq!(s, 201, "{b}");
    id
}

/// Three `refill serve` nodes on one PostgreSQL database, concurrent debits through
/// all three at the same accounts, one node killed midway. PostgreSQL only: without
/// REFILL_TEST_DATABASE_URL it says it is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r19_three_nodes_on_one_postgres_one_killed_midway() {
    let test = "r19_three_nodes_on_one_postgres_one_killed_midway";
    if let Some(store) = postgres_or_skip(test).await {
        refill::install_crypto();
        let dir = ScratchDir::new("refill-nodes");
        // One card network for the three nodes: a shared sandbox record.
        let record = dir.path().join("charges.jsonl").display().to_string();
        let nodes: Vec<Node> = (0..3).map(|_| Node::new(&store.url, &record)).collect();
        let http = Client::new();
        // All three start at once: migrations queue on an advisory lock.
        let (a, b, c) = tokio::join!(
            nodes[0].start(&http),
            nodes[1].start(&http),
            nodes[2].start(&http)
        );
        let mut children = [a, b, c];
        let ids = vec![
            setup(&http, &nodes[0].base).await,
            setup(&http, &nodes[1].base).await,
        ];
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let loads: Vec<_> = (0..3)
            .flat_map(|n| ids.iter().map(move |id| (n, id.clone())))
            .map(|(n, id)| {
                load(
                    http.clone(),
                    nodes[n].base.clone(),
                    id,
                    accepted.clone(),
                    stop.clone(),
                )
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        children[1].kill();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stop.store(true, Ordering::Relaxed);
        for l in loads {
            l.await.unwrap();
        }
        for id in &ids {
            settle(&http, &nodes[0].base, id).await;
        }
        for i in [0, 2] {
            children[i].kill();
        }
        let accepted = accepted.lock().unwrap().clone();
        for id in &ids {
            check(&store, &nodes[0], &record, id, &accepted).await;
        }
    }
}
