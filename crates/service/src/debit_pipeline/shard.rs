//! A shard of the pipeline: its queue of debits, its batches, and the writer's
//! connection it keeps between them. One account's debits always go to the same shard.

use super::batch::Batch;
use super::fast_path::RememberedAccounts;
use super::isolation::Failed;
use super::{DebitPipelineStats, DebitRequest, DebitResult, Job, Reply, not_recorded};
use crate::{Clock, Config, Result, ServiceError};
use refill_store::sqlx::{Any, pool::PoolConnection};
use refill_store::{Db, Tx};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc};

/// The writer's connection, held by a shard across its batches.
pub(super) type WriterConnection = PoolConnection<Any>;

pub(super) struct Shard {
    pub(super) db: Db,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) config: Arc<Config>,
    pub(super) work_ready: Arc<Notify>,
    pub(super) stats: Arc<DebitPipelineStats>,
}

/// How long the pipeline may keep the writer's connection while debits keep coming
/// (SQLite, where it is the one writer).
const WRITER_SLICE: Duration = Duration::from_millis(5);

/// How long a shard keeps a connection with no debit to write.
const IDLE_HOLD: Duration = Duration::from_millis(100);

/// How long a shard on PostgreSQL keeps one connection, however busy.
const HOLD_MAX: Duration = Duration::from_secs(1);

/// Answers every request of a batch that was not recorded with the same failure: a
/// database out of reach stays that (the client is told to retry), anything else is
/// a debit not recorded.
pub(super) fn answer_all(replies: impl IntoIterator<Item = Reply>, e: &ServiceError) {
    let unavailable = matches!(e, ServiceError::Store(s) if s.is_unavailable());
    let why = e.to_string();
    for reply in replies {
        let failure = match unavailable {
            true => ServiceError::Store(refill_store::StoreError::Unavailable(why.clone())),
            false => not_recorded(&why),
        };
        let _ = reply.send(Err(failure));
    }
}

impl Shard {
    pub(super) async fn run(self, mut rx: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(self.config.max_batch);
        let mut held: Option<(WriterConnection, Instant)> = None;
        let mut remembered = RememberedAccounts::new();
        while self.next_jobs(&mut rx, &mut jobs, &mut held).await > 0 {
            let jobs = std::mem::take(&mut jobs);
            (self.stats.requests).fetch_add(jobs.len() as u64, Ordering::Relaxed);
            let (conn, since) = match held.take() {
                Some(held) => held,
                None => match self.db.writer_connection().await {
                    Ok(conn) => (conn, Instant::now()),
                    Err(e) => {
                        answer_all(jobs.into_iter().map(|j| j.reply), &ServiceError::Store(e));
                        continue;
                    }
                },
            };
            let kept = self.post_batch(conn, jobs, &mut remembered).await;
            if let Some(conn) = kept
                && self.keeps_writer(&rx, since)
            {
                held = Some((conn, since));
            }
        }
    }

    /// Waits for the next debits. A connection kept from the last batch is let go
    /// once none has come for IDLE_HOLD (so that closing the pool, which waits for
    /// every connection, does not wait for an idle shard).
    async fn next_jobs(
        &self,
        rx: &mut mpsc::Receiver<Job>,
        jobs: &mut Vec<Job>,
        held: &mut Option<(WriterConnection, Instant)>,
    ) -> usize {
        let max = self.config.max_batch;
        if held.is_some() {
            // recv_many is cancel safe: on timeout nothing was taken.
            match tokio::time::timeout(IDLE_HOLD, rx.recv_many(jobs, max)).await {
                Ok(n) => return n,
                Err(_) => *held = None,
            }
        }
        rx.recv_many(jobs, max).await
    }

    /// Whether the shard keeps the writer's connection for its next batch. SQLite:
    /// while debits wait, for one time slice at most, so the store's other writers
    /// get their turn. PostgreSQL: the other writers have connections of their own,
    /// so it keeps it while debits keep coming, for HOLD_MAX at most (then it goes
    /// back to the pool, which checks it); a batch that took it from the pool waited
    /// for the pool and its ping: a quarter of the half-rate phase's batches, 0.4-0.55
    /// ms at p99 and once 27.5 ms (timers in the shard, two bench runs).
    fn keeps_writer(&self, rx: &mpsc::Receiver<Job>, since: Instant) -> bool {
        match self.db.dialect {
            refill_store::Dialect::Postgres => since.elapsed() < HOLD_MAX,
            refill_store::Dialect::Sqlite => !rx.is_empty() && since.elapsed() < WRITER_SLICE,
        }
    }

    /// Commits one batch on `conn` and answers its requests (`write_isolated`).
    /// Returns the connection if it is fit for the next batch.
    async fn post_batch(
        &self,
        conn: WriterConnection,
        jobs: Vec<Job>,
        remembered: &mut RememberedAccounts,
    ) -> Option<WriterConnection> {
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let (reqs, replies): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.req, j.reply)).unzip();
        let started = Instant::now();
        let (conn, triggered) = self.write_isolated(conn, &reqs, replies, remembered).await;
        self.stats
            .busy_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        if triggered {
            self.work_ready.notify_waiters();
        }
        conn
    }

    /// Writes `reqs` in one transaction: the fast path when it applies, else
    /// `open_batch` .. `commit_batch`. Returns each request's result and whether a
    /// top-up was queued. On failure nothing was written, and the transaction is
    /// rolled back if the connection is kept (`Failed`).
    pub(super) async fn write_group(
        &self,
        conn: &mut Tx,
        reqs: &[DebitRequest],
        remembered: &mut RememberedAccounts,
    ) -> std::result::Result<(Vec<Result<DebitResult>>, bool), Failed> {
        let now = self.clock.now_ms();
        match self.apply_from_memory(conn, reqs, remembered, now).await {
            Some(Ok(results)) => return Ok((results, false)),
            Some(Err(error)) => return Err(Failed::on(error, true)),
            None => {}
        }
        match self.apply_locking(conn, reqs, remembered, now).await {
            Ok(written) => Ok(written),
            Err(error) => {
                let rolled_back = refill_store::roll_back_batch(conn).await.is_ok();
                Err(Failed::on(error, rolled_back))
            }
        }
    }

    /// The locking path: reads the accounts for update and which of the batch's keys
    /// are taken, works the debits out, writes and commits.
    async fn apply_locking(
        &self,
        conn: &mut Tx,
        reqs: &[DebitRequest],
        remembered: &mut RememberedAccounts,
        now: i64,
    ) -> Result<(Vec<Result<DebitResult>>, bool)> {
        let ids: Vec<&str> = reqs.iter().map(|r| r.account_id.as_str()).collect();
        let rows = refill_store::open_batch(conn, &ids).await?;
        let mut batch = Batch::new(rows, now, self.config.trigger_on);
        let keys: Vec<(&str, &str)> = (reqs.iter().filter_map(|r| r.idem.as_ref()))
            .map(|i| (i.scope.as_str(), i.key.as_str()))
            .collect();
        if !keys.is_empty() {
            batch.taken = refill_store::taken_keys(conn, &keys).await?;
        }
        let results = batch.debit_all(reqs);
        let triggered = batch.write_and_commit(conn).await?;
        batch.remember_accounts(remembered);
        Ok((results, triggered))
    }
}
