//! The phases of a run, each a figure: on refill, one hot account (the ceiling,
//! single debits without and with an Idempotency-Key each, reads, then the batch
//! endpoint), half the maximum rate with threshold crossings, debits spread over
//! many accounts, a mixed load of keyed debits and reads, the periodic check at
//! scale; on the naive baseline, the same debits without the rest.

use super::client::Prepared;
use super::load::{self, Accounts, Draw, Run, Target, closed_loop, open_loop};
use super::server::{Server, hot_account};
use super::store::Store;
use super::{KEY, Options, Plan, ceiling, crossing, naive, scale};
use reqwest::Client;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEBIT: &str = r#"{"amount":1}"#;

fn single(id: &str) -> Target {
    Target::Fixed(Arc::new(Prepared::post(
        &format!("/v1/accounts/{id}/debits"),
        KEY,
        DEBIT,
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

fn drawn(accounts: Accounts, reads_percent: u64, keyed: Option<&'static str>) -> Target {
    Target::Drawn(Arc::new(Draw {
        accounts,
        reads_percent,
        keyed,
    }))
}

/// Hot accounts of the mixed phase (the first bulk-loaded ones); the rest of the
/// spread accounts are its cold ones.
pub const MIXED_HOT: usize = 4;
/// Reads per 100 requests of the mixed phase.
pub const MIXED_READS: u64 = 10;

/// What the debit pipeline did during a phase.
#[derive(Default, Clone, Copy)]
pub struct PipelineUse {
    /// Requests per batch.
    pub mean_batch: f64,
    /// Mean time of one batch transaction, and the share of the phase's time the
    /// pipeline spent inside one.
    pub batch_us: f64,
    pub busy: f64,
    /// The share of batches written by the fast path (no second read).
    pub unread: f64,
}

impl PipelineUse {
    fn between(before: [u64; 4], after: [u64; 4], secs: f64) -> PipelineUse {
        let [b, r, u, f] = [0, 1, 2, 3].map(|i| (after[i] - before[i]) as f64);
        PipelineUse {
            mean_batch: r / b.max(1.0),
            batch_us: u / b.max(1.0),
            busy: u / 1e6 / secs,
            unread: f / b.max(1.0),
        }
    }
}

/// What refill did on one store.
#[derive(Default)]
pub struct Ours {
    /// The ceiling: the same server's HTTP, key check and JSON, no store.
    pub ceiling: Run,
    pub hot: Run,
    pub hot_pipeline: PipelineUse,
    /// Single debits on the hot account, each with an Idempotency-Key of its own.
    pub keyed: Run,
    pub keyed_pipeline: PipelineUse,
    /// `GET /v1/accounts/{id}` of the hot account.
    pub reads: Run,
    pub batch: Run,
    pub spread: Run,
    pub spread_pipeline: PipelineUse,
    /// Keyed debits over a few hot and many cold accounts, and reads.
    pub mixed: Run,
    pub mixed_pipeline: PipelineUse,
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

    /// One closed-loop figure after a checkpoint, with what the pipeline did.
    async fn figure(&self, what: &str, target: Target, per: usize) -> (Run, PipelineUse) {
        let (srv, secs) = (self.srv, self.plan.secs);
        self.step(what);
        self.store.settle(&srv.running.app.db).await;
        let before = srv.batches();
        let run = closed_loop(srv.addr(), target, per, self.o.clients, secs).await;
        (run, PipelineUse::between(before, srv.batches(), secs))
    }

    /// On the hot account: the ceiling, single debits without and with a key of
    /// their own, reads, then the batch endpoint.
    async fn hot_account(&self, ours: &mut Ours) {
        let id = self.hot_id;
        let ceiling = Prepared::post(&ceiling::path(id), KEY, DEBIT);
        let what = "the ceiling: an authenticated debit-sized request, no store";
        ours.ceiling = self
            .figure(what, Target::Fixed(Arc::new(ceiling)), 1)
            .await
            .0;
        let what = "one hot account, single debits";
        (ours.hot, ours.hot_pipeline) = self.figure(what, single(id), 1).await;
        let keyed = drawn(Accounts::One(id.into()), 0, Some("hot"));
        let what = "one hot account, single debits, each with its own Idempotency-Key";
        (ours.keyed, ours.keyed_pipeline) = self.figure(what, keyed, 1).await;
        let read = Prepared::get(&format!("/v1/accounts/{id}"), KEY);
        let what = "one hot account, reads";
        ours.reads = self.figure(what, Target::Fixed(Arc::new(read)), 1).await.0;
        let what = "batch endpoint, 100 items per request";
        ours.batch = self.figure(what, batch(id), BATCH_ITEMS).await.0;
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

    /// Single debits spread over many accounts, then keyed debits and reads over a
    /// few hot and many cold accounts; then the rest of the accounts of the scale
    /// check are loaded and the periodic check runs over them (R22).
    async fn spread_then_scale(&self, ours: &mut Ours) -> anyhow::Result<()> {
        let (srv, plan, name) = (self.srv, self.plan, self.store.name());
        let db = &srv.running.app.db;
        scale::load_accounts(db, 0..plan.spread, plan.scale - plan.due, name).await?;
        let what = format!("single debits over {} accounts", plan.spread);
        let target = drawn(Accounts::Spread(plan.spread), 0, None);
        (ours.spread, ours.spread_pipeline) = self.figure(&what, target, 1).await;
        let what = format!(
            "mixed: keyed debits over {MIXED_HOT} hot and {} cold accounts, {MIXED_READS}% reads",
            plan.spread - MIXED_HOT
        );
        let hot_and_cold = Accounts::HotAndCold {
            hot: MIXED_HOT,
            n: plan.spread,
        };
        let target = drawn(hot_and_cold, MIXED_READS, Some("mixed"));
        (ours.mixed, ours.mixed_pipeline) = self.figure(&what, target, 1).await;
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
    let spread = drawn(Accounts::Spread(plan.spread), 0, None);
    let spread = closed_loop(addr, spread, 1, clients, secs).await;
    naive.abort();
    srv.stop().await;
    store.remove("naive").await;
    Ok(Naive { hot, batch, spread })
}
