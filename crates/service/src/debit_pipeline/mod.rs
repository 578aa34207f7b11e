//! The debit path (R6, R18, R19, R26, R27): every debit goes through here. Concurrent
//! requests are coalesced into one transaction per batch (group commit): each account
//! row is locked once, all entries are written in multi-row statements, each balance
//! is updated once, triggers and events are written in the same commit, and each
//! request is answered with its own result, in arrival order, after the commit.
//! Batches form by themselves under load; an idle pipeline commits a lone request at
//! once.
//!
//! Here: the pipeline's handle and how a debit is submitted to it. `shard`: one of
//! its shards, with its queue and its batches; `batch`: working out a batch's
//! debits; `fast_path`: the accounts a shard remembers, and the batches written from
//! memory; `isolation`: a batch whose write fails is split until the request at
//! fault fails alone, and the rest commits.

mod batch;
mod fast_path;
mod isolation;
mod shard;

use crate::{Clock, Config, Idem, Result, ServiceError};
use refill_domain::Currency;
use refill_domain::debit::DebitKind;
use refill_store::Db;
use serde::Serialize;
use shard::Shard;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::{Notify, mpsc, oneshot};

/// One line of usage to debit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebitItem {
    pub amount: i64,
    pub kind: DebitKind,
    pub reference: Option<String>,
}

/// A debit or an all-or-nothing batch of debits on one account.
#[derive(Debug, Clone)]
pub struct DebitRequest {
    pub account_id: String,
    /// When given, must match the account's currency.
    pub currency: Option<Currency>,
    pub items: Vec<DebitItem>,
    pub idem: Option<Idem>,
}

#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct DebitLine {
    pub entry_id: String,
    pub amount: i64,
    #[schemars(with = "refill_domain::debit::DebitKind")]
    pub kind: &'static str,
    pub reference: Option<String>,
    pub balance_after: i64,
}

/// What an accepted debit (or batch) did.
#[derive(Debug, Clone, Serialize, PartialEq, schemars::JsonSchema)]
pub struct DebitResult {
    pub object: &'static str,
    pub account_id: String,
    pub currency: String,
    pub total: i64,
    pub balance_after: i64,
    pub items: Vec<DebitLine>,
    pub created: String,
}

/// Where a debit's result goes: to the request waiting for it.
type Reply = oneshot::Sender<Result<DebitResult>>;

struct Job {
    req: DebitRequest,
    reply: Reply,
}

/// The handle to the debit pipeline: a queue per shard. Cheap to clone.
#[derive(Clone)]
pub struct DebitPipeline {
    shards: Arc<Vec<mpsc::Sender<Job>>>,
    pub stats: Arc<DebitPipelineStats>,
}

/// What the shards did: the mean batch is `requests / batches` (the benchmark
/// shows it).
#[derive(Debug, Default)]
pub struct DebitPipelineStats {
    pub batches: AtomicU64,
    /// Debits the shards have taken from their queues.
    pub requests: AtomicU64,
    /// Microseconds spent in batch transactions (from begin to commit).
    pub busy_us: AtomicU64,
    /// Batches written by the fast path, without reading their accounts again.
    pub unread: AtomicU64,
    /// Fast-path writes that failed (an account changed by another writer, an
    /// idempotency key taken), and went down the locking path instead.
    pub stale: AtomicU64,
    /// Writes that failed (not for the database being out of reach) and were split in
    /// halves, each written apart, to isolate the request at fault (`isolation`).
    pub split: AtomicU64,
}

impl DebitPipeline {
    pub fn start(
        db: Db,
        clock: Arc<dyn Clock>,
        config: Arc<Config>,
        work_ready: Arc<Notify>,
    ) -> DebitPipeline {
        let stats = Arc::new(DebitPipelineStats::default());
        let mut runs = vec![];
        let shards = (0..config.pipelines.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(config.max_batch * 4);
                let shard = Shard {
                    db: db.clone(),
                    clock: clock.clone(),
                    config: config.clone(),
                    work_ready: work_ready.clone(),
                    stats: stats.clone(),
                };
                runs.push(Box::pin(shard.run(rx)) as refill_store::own_thread::Task);
                tx
            })
            .collect();
        // The shards end when every `DebitPipeline` handle is gone (their channels
        // close), never in the middle of a batch (its transaction would stay open on
        // the writer's connection).
        let ends = refill_store::own_thread::Ends::ByThemselves;
        refill_store::own_thread::run_on_own_thread("refill-debits", runs, ends);
        DebitPipeline {
            shards: Arc::new(shards),
            stats,
        }
    }

    /// Debits waiting for their batch (sent to a shard, not yet taken by it).
    pub fn queued(&self) -> usize {
        self.shards
            .iter()
            .map(|l| l.max_capacity() - l.capacity())
            .sum()
    }

    /// Posts a debit and waits for its commit.
    pub async fn post(&self, req: DebitRequest) -> Result<DebitResult> {
        let shard = shard_of(&req.account_id, self.shards.len());
        let (reply, answer) = oneshot::channel();
        self.shards[shard]
            .send(Job { req, reply })
            .await
            .map_err(|_| ServiceError::invalid("shutting_down", "refill is shutting down"))?;
        answer
            .await
            .map_err(|_| ServiceError::invalid("shutting_down", "refill is shutting down"))?
    }
}

fn not_recorded(why: &str) -> ServiceError {
    ServiceError::Store(refill_store::StoreError::Corrupt(format!(
        "debit not recorded: {why}"
    )))
}

/// The shard that takes an account's debits: always the same one, so that they keep
/// their order (a string hash, h * 31 + byte, of the account's id).
fn shard_of(account_id: &str, shards: usize) -> usize {
    let hash =
        (account_id.bytes()).fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
    hash % shards
}
