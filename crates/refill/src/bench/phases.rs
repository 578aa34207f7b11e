//! The phases of a run, each a figure: on refill, one hot account (single debits,
//! then the batch endpoint), half the maximum rate with threshold crossings, debits
//! spread over many accounts, the periodic check at scale; on the naive baseline,
//! the same load without the crossings and the scale check.

use super::client::Prepared;
use super::load::{self, Run, Target, closed_loop, open_loop};
use super::server::{Server, hot_account};
use super::store::Store;
use super::{KEY, Options, Plan, crossing, naive, scale};
use reqwest::Client;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
pub struct Ours {
    pub hot: Run,
    pub mean_batch: f64,
    /// Mean time of one batch transaction (hot), and the share of the time the
    /// pipeline spent inside one.
    pub batch_us: f64,
    pub busy: f64,
    /// The share of hot batches written by the fast path (no second read).
    pub unread: f64,
    pub batch: Run,
    pub spread: Run,
    pub spread_mean_batch: f64,
    pub half: Run,
    pub crossing: (f64, f64, usize),
    pub load_s: f64,
    pub check_ms: f64,
    pub queued: usize,
    pub rss_mb: f64,
}

#[derive(Default)]
pub struct Naive {
    pub hot: Run,
    pub batch: Run,
    pub spread: Run,
}

fn step(o: &Options, store: &str, what: &str) {
    if !o.json {
        eprintln!("bench: {store}: {what} ...");
    }
}

pub async fn measure_ours(store: &Store, o: &Options, plan: &Plan) -> anyhow::Result<Ours> {
    let srv = Server::start(&store.fresh("refill").await?, 512).await?;
    let http = Client::new();
    let hot_id = hot_account(&http, &srv.base).await?;
    let run = OnRefill {
        store,
        o,
        plan,
        srv: &srv,
        http: &http,
        hot_id: &hot_id,
    };
    let mut ours = Ours::default();
    run.hot_account(&mut ours).await;
    run.half_rate_with_crossings(&mut ours).await?;
    run.spread_then_scale(&mut ours).await?;
    srv.stop().await;
    store.remove("refill").await;
    Ok(ours)
}

/// What the phases of a run on refill share: one server, one funded hot account.
struct OnRefill<'a> {
    store: &'a Store,
    o: &'a Options,
    plan: &'a Plan,
    srv: &'a Server,
    http: &'a Client,
    hot_id: &'a str,
}

impl OnRefill<'_> {
    fn step(&self, what: &str) {
        step(self.o, self.store.name(), what);
    }

    /// Single debits, then the batch endpoint, on the hot account; with what the
    /// pipeline did for the single debits.
    async fn hot_account(&self, ours: &mut Ours) {
        let (srv, secs, clients) = (self.srv, self.plan.secs, self.o.clients);
        let db = &srv.running.app.db;
        self.step("one hot account, single debits");
        self.store.settle(db).await;
        let (b0, r0, u0, f0) = srv.batches();
        ours.hot = closed_loop(srv.addr(), single(self.hot_id), 1, clients, secs).await;
        let (b1, r1, u1, f1) = srv.batches();
        ours.mean_batch = (r1 - r0) as f64 / (b1 - b0).max(1) as f64;
        ours.unread = (f1 - f0) as f64 / (b1 - b0).max(1) as f64;
        ours.batch_us = (u1 - u0) as f64 / (b1 - b0).max(1) as f64;
        ours.busy = (u1 - u0) as f64 / 1e6 / secs;

        self.step("batch endpoint, 100 items per request");
        self.store.settle(db).await;
        let target = batch(self.hot_id);
        ours.batch = closed_loop(srv.addr(), target, BATCH_ITEMS, clients, secs).await;
    }

    /// Half the hot rate, open loop, while auto top-up accounts are debited below
    /// their threshold: the latency of the debits and from crossing to charge.
    async fn half_rate_with_crossings(&self, ours: &mut Ours) -> anyhow::Result<()> {
        let (srv, plan) = (self.srv, self.plan);
        self.step("auto top-up accounts for the crossings");
        let terms = srv.running.app.config.terms_version.clone();
        let ids = crossing::accounts(self.http, &srv.base, plan.crossings, &terms).await?;
        self.step("half the maximum rate, open loop, with threshold crossings");
        self.store.settle(&srv.running.app.db).await;
        let every = Duration::from_secs_f64(plan.secs / plan.crossings as f64);
        let crossings = tokio::spawn(crossing::run(
            self.http.clone(),
            srv.base.clone(),
            ids,
            every,
            srv.charges.clone(),
        ));
        ours.half = open_loop(
            srv.addr(),
            single(self.hot_id),
            ours.hot.rate / 2.0,
            self.o.clients,
            plan.secs,
        )
        .await;
        ours.crossing = crossings.await?;
        Ok(())
    }

    /// Single debits spread over many accounts; then the rest of the accounts of the
    /// scale check are loaded and the periodic check runs over them (R22).
    async fn spread_then_scale(&self, ours: &mut Ours) -> anyhow::Result<()> {
        let (srv, plan, name) = (self.srv, self.plan, self.store.name());
        let db = &srv.running.app.db;
        scale::load_accounts(db, 0..plan.spread, plan.scale - plan.due, name).await?;
        self.step(&format!("single debits over {} accounts", plan.spread));
        self.store.settle(db).await;
        let (b0, r0, _, _) = srv.batches();
        let target = spread(plan.spread);
        ours.spread = closed_loop(srv.addr(), target, 1, self.o.clients, plan.secs).await;
        let (b1, r1, _, _) = srv.batches();
        ours.spread_mean_batch = (r1 - r0) as f64 / (b1 - b0).max(1) as f64;
        let load =
            scale::load_accounts(db, plan.spread..plan.scale, plan.scale - plan.due, name).await?;
        ours.load_s = load.as_secs_f64();

        self.step("periodic check");
        let t = Instant::now();
        ours.queued = srv.running.app.periodic_check().await?.0;
        ours.check_ms = load::ms(t.elapsed());
        ours.rss_mb = scale::rss_mb();
        Ok(())
    }
}

pub async fn measure_naive(store: &Store, o: &Options, plan: &Plan) -> anyhow::Result<Naive> {
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
