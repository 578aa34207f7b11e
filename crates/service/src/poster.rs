//! The debit path (R6, R18, R19, R26, R27): every debit goes through here. Concurrent
//! requests are coalesced into one transaction per batch (group commit): each account
//! row is locked once, all entries are written in multi-row statements, each balance
//! is updated once, triggers and events are written in the same commit, and each
//! request is answered with its own result, in arrival order, after the commit.
//! Batches form by themselves under load; an idle pipeline commits a lone request at
//! once.

use crate::accounts::watch_of;
use crate::{Clock, Config, Idem, Result, ServiceError, events, idempotency};
use refill_domain::debit::{BalanceState, DebitKind, authorize, effects_of_spending};
use refill_domain::{Currency, DomainError, ledger};
use refill_store::sqlx::{Any, pool::PoolConnection};
use refill_store::{AccountRow, Db, EntryRow, EventRow, Tx};
use serde::Serialize;
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
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

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DebitLine {
    pub entry_id: String,
    pub amount: i64,
    pub kind: &'static str,
    pub reference: Option<String>,
    pub balance_after: i64,
}

/// What an accepted debit (or batch) did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DebitResult {
    pub object: &'static str,
    pub account_id: String,
    pub currency: String,
    pub total: i64,
    pub balance_after: i64,
    pub items: Vec<DebitLine>,
    pub created: String,
}

struct Job {
    req: DebitRequest,
    reply: oneshot::Sender<Result<DebitResult>>,
}

/// The handle to the pipelines. Cheap to clone.
#[derive(Clone)]
pub struct Poster {
    lanes: Arc<Vec<mpsc::Sender<Job>>>,
    pub stats: Arc<PosterStats>,
}

/// What the pipelines did: the mean batch is `requests / batches` (the benchmark
/// shows it).
#[derive(Debug, Default)]
pub struct PosterStats {
    pub batches: AtomicU64,
    /// Debits the lanes have taken from their queues.
    pub requests: AtomicU64,
    /// Microseconds spent in batch transactions (from begin to commit).
    pub busy_us: AtomicU64,
    /// Batches written by the fast path, without reading their accounts again.
    pub unread: AtomicU64,
    /// Fast-path writes that failed (an account changed by another writer, an
    /// idempotency key taken), and went down the locking path instead.
    pub stale: AtomicU64,
}

/// The accounts as the lane last wrote or read them (the fast path's starting point:
/// `refill_store::commit_if_unchanged` checks each is still so).
type Seen = HashMap<String, AccountRow>;

/// The most accounts a lane remembers; past it, it forgets them all (a debit of a
/// forgotten account only takes the locking path once).
const SEEN_MAX: usize = 4096;

struct Lane {
    db: Db,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    work_ready: Arc<Notify>,
    stats: Arc<PosterStats>,
}

impl Poster {
    pub fn start(
        db: Db,
        clock: Arc<dyn Clock>,
        config: Arc<Config>,
        work_ready: Arc<Notify>,
    ) -> Poster {
        let stats = Arc::new(PosterStats::default());
        let mut runs = vec![];
        let lanes = (0..config.pipelines.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(config.max_batch * 4);
                let lane = Lane {
                    db: db.clone(),
                    clock: clock.clone(),
                    config: config.clone(),
                    work_ready: work_ready.clone(),
                    stats: stats.clone(),
                };
                runs.push(Box::pin(lane.run(rx)) as refill_store::own_thread::Task);
                tx
            })
            .collect();
        // The lanes end when every `Poster` handle is gone (their channels close), never
        // in the middle of a batch (its transaction would stay open on the writer's
        // connection).
        let ends = refill_store::own_thread::Ends::ByThemselves;
        refill_store::own_thread::run_on_own_thread("refill-poster", runs, ends);
        Poster {
            lanes: Arc::new(lanes),
            stats,
        }
    }

    /// Debits waiting for their batch (sent to a lane, not yet taken by it).
    pub fn queued(&self) -> usize {
        self.lanes
            .iter()
            .map(|l| l.max_capacity() - l.capacity())
            .sum()
    }

    /// Posts a debit and waits for its commit.
    pub async fn post(&self, req: DebitRequest) -> Result<DebitResult> {
        // One account always goes down the same lane, so its debits keep their order.
        let lane = fxhash(&req.account_id) % self.lanes.len();
        let (reply, answer) = oneshot::channel();
        self.lanes[lane]
            .send(Job { req, reply })
            .await
            .map_err(|_| ServiceError::invalid("shutting_down", "refill is shutting down"))?;
        answer
            .await
            .map_err(|_| ServiceError::invalid("shutting_down", "refill is shutting down"))?
    }
}

/// How long the pipeline may keep the writer's connection while debits keep coming
/// (SQLite, where it is the one writer).
const WRITER_SLICE: Duration = Duration::from_millis(5);

/// How long a lane keeps a connection with no debit to write.
const IDLE_HOLD: Duration = Duration::from_millis(100);

/// How long a lane on PostgreSQL keeps one connection, however busy.
const HOLD_MAX: Duration = Duration::from_secs(1);

fn not_recorded(why: &str) -> ServiceError {
    ServiceError::Store(refill_store::StoreError::Corrupt(format!(
        "debit not recorded: {why}"
    )))
}

/// Answers every request of a batch that was not recorded with the same failure: a
/// database out of reach stays that (the client is told to retry), anything else is
/// a debit not recorded.
fn answer_all(
    replies: impl IntoIterator<Item = oneshot::Sender<Result<DebitResult>>>,
    e: &ServiceError,
) {
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

/// The answer's line per item, with the balance after it in the request's order;
/// each names the customer entry of its kind (the first `kinds.len()` of `entries`).
fn answer_lines(
    mut balance: i64,
    req: &DebitRequest,
    kinds: &[ledger::EntryKind],
    entries: &[EntryRow],
) -> Result<Vec<DebitLine>> {
    let mut lines = Vec::with_capacity(req.items.len());
    for item in &req.items {
        balance = refill_domain::money::sub(balance, item.amount)?;
        let of_kind = kinds.iter().position(|k| *k == entry_kind(item.kind));
        lines.push(DebitLine {
            entry_id: of_kind.map(|k| entries[k].id.clone()).unwrap_or_default(),
            amount: item.amount,
            kind: item.kind.as_str(),
            reference: item.reference.clone(),
            balance_after: balance,
        });
    }
    Ok(lines)
}

/// What an entry that sums several items lists of them (`EntryRow::items`).
#[derive(Serialize)]
struct ListedItem<'a> {
    amount: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
}

fn items_json(items: &[&DebitItem]) -> String {
    let listed: Vec<ListedItem> = items
        .iter()
        .map(|i| ListedItem {
            amount: i.amount,
            reference: i.reference.as_deref(),
        })
        .collect();
    // A list of integers and strings always serializes.
    serde_json::to_string(&listed).unwrap_or_default()
}

fn entry_kind(kind: DebitKind) -> ledger::EntryKind {
    match kind {
        DebitKind::Usage => ledger::EntryKind::Usage,
        DebitKind::Fee => ledger::EntryKind::Fee,
        DebitKind::RecurringFee => ledger::EntryKind::RecurringFee,
    }
}

fn fxhash(s: &str) -> usize {
    s.bytes()
        .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
}

impl Lane {
    async fn run(self, mut rx: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(self.config.max_batch);
        let mut held: Option<(PoolConnection<Any>, Instant)> = None;
        let mut seen = Seen::new();
        while self.next_jobs(&mut rx, &mut jobs, &mut held).await > 0 {
            let jobs = std::mem::take(&mut jobs);
            (self.stats.requests).fetch_add(jobs.len() as u64, Ordering::Relaxed);
            let (mut conn, since) = match held.take() {
                Some(held) => held,
                None => match self.db.writer_connection().await {
                    Ok(conn) => (conn, Instant::now()),
                    Err(e) => {
                        answer_all(jobs.into_iter().map(|j| j.reply), &ServiceError::Store(e));
                        continue;
                    }
                },
            };
            let committed = self.post_batch(&mut conn, jobs, &mut seen).await;
            if !committed {
                // The batch's transaction may still be open: closing the connection
                // rolls it back, and the pool opens a fresh one for the next writer.
                conn.close_on_drop();
            } else if self.keeps_writer(&rx, since) {
                held = Some((conn, since));
            }
        }
    }

    /// Waits for the next debits. A connection kept from the last batch is let go
    /// once none has come for IDLE_HOLD (so that closing the pool, which waits for
    /// every connection, does not wait for an idle lane).
    async fn next_jobs(
        &self,
        rx: &mut mpsc::Receiver<Job>,
        jobs: &mut Vec<Job>,
        held: &mut Option<(PoolConnection<Any>, Instant)>,
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

    /// Whether the lane keeps the writer's connection for its next batch. SQLite:
    /// while debits wait, for one time slice at most, so the store's other writers
    /// get their turn. PostgreSQL: the other writers have connections of their own,
    /// so it keeps it while debits keep coming, for HOLD_MAX at most (then it goes
    /// back to the pool, which checks it); a batch that took it from the pool waited
    /// for the pool and its ping: a quarter of the half-rate phase's batches, 0.4-0.55
    /// ms at p99 and once 27.5 ms (timers in the lane, two bench runs).
    fn keeps_writer(&self, rx: &mpsc::Receiver<Job>, since: Instant) -> bool {
        match self.db.dialect {
            refill_store::Dialect::Postgres => since.elapsed() < HOLD_MAX,
            refill_store::Dialect::Sqlite => !rx.is_empty() && since.elapsed() < WRITER_SLICE,
        }
    }

    /// Commits one batch on `conn` and answers its requests. Returns whether it
    /// committed.
    async fn post_batch(&self, conn: &mut Tx, jobs: Vec<Job>, seen: &mut Seen) -> bool {
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        let (reqs, replies): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.req, j.reply)).unzip();
        let started = Instant::now();
        let applied = self.apply(conn, &reqs, seen).await;
        self.stats
            .busy_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match applied {
            Ok((results, triggered)) => {
                if triggered {
                    self.work_ready.notify_waiters();
                }
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
                true
            }
            Err(e) => {
                answer_all(replies, &e);
                false
            }
        }
    }

    /// The whole batch in one transaction: the fast path when it applies, else
    /// `open_batch` .. `commit_batch`. Returns each request's result and whether a
    /// top-up was queued.
    async fn apply(
        &self,
        conn: &mut Tx,
        reqs: &[DebitRequest],
        seen: &mut Seen,
    ) -> Result<(Vec<Result<DebitResult>>, bool)> {
        let now = self.clock.now_ms();
        if let Some(results) = self.apply_unread(conn, reqs, seen, now).await {
            return Ok((results, false));
        }
        let ids: Vec<&str> = reqs.iter().map(|r| r.account_id.as_str()).collect();
        let rows = refill_store::open_batch(conn, &ids).await?;
        let mut book = Book::new(rows, now, self.config.trigger_on);
        let results = book.debit_all(conn, reqs).await;
        let triggered = book.write_and_commit(conn).await?;
        book.remember_accounts(seen);
        Ok((results, triggered))
    }

    /// The fast path: every account of the batch is one the lane has seen, and the
    /// batch writes only entries, balances and idempotent responses (no event, no
    /// top-up, no refusal: those take the locking path), all in one round trip.
    /// `None` when it does not apply, or when an account had changed (then nothing
    /// was written).
    async fn apply_unread(
        &self,
        conn: &mut Tx,
        reqs: &[DebitRequest],
        seen: &mut Seen,
        now: i64,
    ) -> Option<Vec<Result<DebitResult>>> {
        let ids: BTreeSet<&str> = reqs.iter().map(|r| r.account_id.as_str()).collect();
        // PostgreSQL: the checked UPDATE locks its rows in the order the planner
        // joins them, not in id order as every other writer does (`lock_accounts`),
        // so a batch of several accounts could deadlock with a transfer; one account
        // (the hot case) cannot.
        if self.db.dialect == refill_store::Dialect::Postgres && ids.len() > 1 {
            return None;
        }
        let rows: Option<Vec<AccountRow>> = ids.iter().map(|id| seen.get(*id).cloned()).collect();
        let mut book = Book::new(rows?, now, self.config.trigger_on);
        // The responses are kept with the commit's write, not one by one.
        book.kept = Some(vec![]);
        let results = book.debit_all(conn, reqs).await;
        // A refusal is checked by nothing (it writes nothing), and it may come from
        // a balance another writer has raised since: refusals take the locking path.
        let refused = results.iter().any(|r| r.is_err());
        let kept = book.kept.as_ref().map_or(0, Vec::len);
        let fits = refill_store::fits_one_write(book.entries.len(), book.touched.len(), kept);
        if refused || !book.events.is_empty() || !book.triggers.is_empty() || !fits {
            return None;
        }
        // Whatever the failure (most likely an account changed), the locking path
        // redoes the batch from a fresh read.
        if book.commit_if_unchanged(conn, seen).await.is_err() {
            self.stats.stale.fetch_add(1, Ordering::Relaxed);
            refill_store::abandon_batch(conn).await;
            return None;
        }
        self.stats.unread.fetch_add(1, Ordering::Relaxed);
        book.remember_accounts(seen);
        Some(results)
    }
}

/// The batch's working state: the locked accounts and what the batch writes. The
/// batch is one journal: each accepted debit's customer entries, and its revenue
/// summed per currency, revenue account and kind (`ledger::RevenueSums`).
struct Book {
    accounts: HashMap<String, AccountRow>,
    /// Accounts whose balance changed (a set: a batch may hold thousands).
    touched: BTreeSet<String>,
    /// The batch's journal, shared by the debits of different accounts: a journal
    /// here is what was committed together, not one customer's operation (reversing
    /// a debit must not reverse its journal).
    journal_id: String,
    entries: Vec<EntryRow>,
    revenue: ledger::RevenueSums,
    events: Vec<EventRow>,
    triggers: BTreeSet<String>,
    now: i64,
    /// `now` as the answers show it, formatted once per batch.
    created: String,
    trigger_on: refill_domain::debit::TriggerOn,
    /// On the fast path, the idempotent responses to write with the batch (`None`:
    /// each is written as its debit is worked out).
    kept: Option<Vec<refill_store::KeptResponse>>,
}

impl Book {
    fn new(rows: Vec<AccountRow>, now: i64, trigger_on: refill_domain::debit::TriggerOn) -> Book {
        Book {
            accounts: rows.into_iter().map(|a| (a.id.clone(), a)).collect(),
            touched: BTreeSet::new(),
            journal_id: refill_store::new_id("jnl"),
            entries: vec![],
            revenue: ledger::RevenueSums::default(),
            events: vec![],
            triggers: BTreeSet::new(),
            now,
            created: crate::views::rfc3339(now),
            trigger_on,
            kept: None,
        }
    }

    /// Applies the batch's requests in arrival order, then closes its journal: each
    /// one's result.
    async fn debit_all(&mut self, tx: &mut Tx, reqs: &[DebitRequest]) -> Vec<Result<DebitResult>> {
        let mut results = Vec::with_capacity(reqs.len());
        for req in reqs {
            results.push(self.debit(tx, req).await);
        }
        self.close_journal();
        results
    }

    /// Applies one request to the in-memory state; nothing is written if it is refused.
    async fn debit(&mut self, tx: &mut Tx, req: &DebitRequest) -> Result<DebitResult> {
        // The account is taken out of the map while it is worked on (no copy per
        // request: a batch may hold hundreds of requests on one account).
        let (id, mut account) = self
            .accounts
            .remove_entry(&req.account_id)
            .ok_or_else(|| ServiceError::not_found("account", &req.account_id))?;
        let result = self.debit_from(tx, &mut account, req).await;
        self.accounts.insert(id, account);
        result
    }

    async fn debit_from(
        &mut self,
        tx: &mut Tx,
        account: &mut AccountRow,
        req: &DebitRequest,
    ) -> Result<DebitResult> {
        if let Some(c) = req.currency
            && c.code() != account.currency
        {
            return Err(DomainError::CurrencyMismatch {
                expected: account.currency.clone(),
                got: c.code().into(),
            }
            .into());
        }
        let amounts: Vec<i64> = req.items.iter().map(|i| i.amount).collect();
        let state = BalanceState {
            balance: account.balance,
            credit_limit: account.credit_limit,
            flagged: account.flagged,
        };
        let after = authorize(state, &amounts)?;
        let (lines, entries, revenue) = self.lines(account, req)?;
        let revenue = self.revenue.plus(&account.currency, &revenue)?;
        let result = DebitResult {
            object: "debit",
            account_id: account.id.clone(),
            currency: account.currency.clone(),
            total: account.balance - after,
            balance_after: after,
            items: lines,
            created: self.created.clone(),
        };
        self.keep(tx, req.idem.as_ref(), &result).await?;
        self.entries.extend(entries);
        self.revenue = revenue;
        self.settle(account, req, after);
        Ok(result)
    }

    /// The customer's entries of a request (`ledger::spending`): one per kind of item,
    /// which lists its items when it sums more than one; and the revenue postings to
    /// add to the batch's. The answer keeps a line per item, in the request's order.
    fn lines(
        &self,
        account: &AccountRow,
        req: &DebitRequest,
    ) -> Result<(Vec<DebitLine>, Vec<EntryRow>, Vec<ledger::Posting>)> {
        let items: Vec<(ledger::EntryKind, i64)> = req
            .items
            .iter()
            .map(|i| (entry_kind(i.kind), i.amount))
            .collect();
        let journal = ledger::spending(&account.id, &items)?;
        // The first half are the account's postings, one per kind (`spending`).
        let (mine, revenue) = journal.postings.split_at(journal.postings.len() / 2);
        let kinds: Vec<ledger::EntryKind> = mine.iter().map(|p| p.kind).collect();
        let mut entries = Vec::with_capacity(mine.len());
        let mut balance = account.balance;
        for (kind, p) in kinds.iter().zip(mine) {
            balance = refill_domain::money::add(balance, p.amount)?;
            let of_kind: Vec<&DebitItem> = req
                .items
                .iter()
                .filter(|i| entry_kind(i.kind) == *kind)
                .collect();
            let (reference, listed) = match of_kind[..] {
                [one] => (one.reference.clone(), None),
                _ => (None, Some(items_json(&of_kind))),
            };
            let mut e = self.entry(&account.currency, p, Some(balance), reference);
            e.items = listed;
            entries.push(e);
        }
        let lines = answer_lines(account.balance, req, &kinds, &entries)?;
        Ok((lines, entries, revenue.to_vec()))
    }

    /// Adds the batch's revenue entries, one per sum, to what it writes. A revenue
    /// entry names no reference: it sums the journal's debits, whose entries do.
    fn close_journal(&mut self) {
        let sums: Vec<EntryRow> = (self.revenue.postings())
            .map(|(currency, p)| self.entry(currency, p, None, None))
            .collect();
        self.entries.extend(sums);
    }

    fn entry(
        &self,
        currency: &str,
        p: &ledger::Posting,
        balance_after: Option<i64>,
        reference: Option<String>,
    ) -> EntryRow {
        EntryRow {
            id: refill_store::new_id("ent"),
            journal_id: self.journal_id.clone(),
            account_id: p.ledger_account.clone(),
            currency: currency.to_string(),
            kind: p.kind.as_str().into(),
            amount: p.amount,
            balance_after,
            reference,
            created_at: self.now,
            items: None,
        }
    }

    /// Moves the account to its new balance and notes what that sets off.
    fn settle(&mut self, account: &mut AccountRow, req: &DebitRequest, after: i64) {
        let mut watch = watch_of(account);
        watch.trigger_on = self.trigger_on;
        let kind = req.items.first().map_or(DebitKind::Usage, |i| i.kind);
        let fx = effects_of_spending(watch, kind, account.balance, after);
        let data = |extra: serde_json::Value| {
            let mut d = json!({"balance": after, "currency": account.currency});
            if let (Some(m), Some(e)) = (d.as_object_mut(), extra.as_object()) {
                m.extend(e.clone());
            }
            d
        };
        if fx.low_balance {
            let d = data(json!({"low_balance_threshold": account.low_balance_threshold}));
            self.events
                .push(events::event(&account.id, events::BALANCE_LOW, d, self.now));
        }
        if fx.approaching_threshold {
            let d = data(json!({"threshold": account.auto_threshold}));
            self.events.push(events::event(
                &account.id,
                events::BALANCE_APPROACHING_THRESHOLD,
                d,
                self.now,
            ));
        }
        if fx.trigger_top_up && !self.triggers.contains(&account.id) {
            self.triggers.insert(account.id.clone());
        }
        account.balance = after;
        account.low_balance_armed = fx.low_balance_armed;
        if !self.touched.contains(&account.id) {
            self.touched.insert(account.id.clone());
        }
    }

    /// Keeps the response under the request's idempotency key: at once, or with the
    /// batch's write on the fast path.
    async fn keep(&mut self, tx: &mut Tx, idem: Option<&Idem>, result: &DebitResult) -> Result<()> {
        let status = 201;
        match (&mut self.kept, idem) {
            (Some(kept), Some(idem)) => kept.push(refill_store::KeptResponse {
                scope: idem.scope.clone(),
                key: idem.key.clone(),
                response: idempotency::response(idem, status, result)?,
                created_at: self.now,
            }),
            _ => idempotency::remember(tx, idem, status, result, self.now).await?,
        }
        Ok(())
    }

    /// The accounts as this batch leaves them, for the lane's next batches.
    fn remember_accounts(self, seen: &mut Seen) {
        if seen.len() >= SEEN_MAX {
            seen.clear();
        }
        seen.extend(self.accounts);
    }

    /// Writes the batch's entries and balances and commits, if its accounts still
    /// hold what `seen` has of them (`refill_store::commit_if_unchanged`).
    async fn commit_if_unchanged(&self, tx: &mut Tx, seen: &Seen) -> Result<()> {
        let mut changes = Vec::with_capacity(self.touched.len());
        for id in &self.touched {
            let (Some(before), Some(now)) = (seen.get(id), self.accounts.get(id)) else {
                return Err(not_recorded("an account of the batch was not seen"));
            };
            changes.push(refill_store::BalanceChange {
                seen: before,
                balance: now.balance,
                low_balance_armed: now.low_balance_armed,
            });
        }
        let kept = self.kept.as_deref().unwrap_or_default();
        refill_store::commit_if_unchanged(tx, &self.entries, &changes, kept).await?;
        Ok(())
    }

    /// Writes the batch: top-up triggers and events, then entries and balances, whose
    /// write carries the commit (`commit_batch`).
    async fn write_and_commit(&self, tx: &mut Tx) -> Result<bool> {
        let mut queued = false;
        for id in &self.triggers {
            let a = &self.accounts[id];
            queued |=
                crate::engine::queue_auto_top_up(tx, id, &a.currency, self.now, self.now).await?;
        }
        for e in &self.events {
            refill_store::insert_event(tx, e).await?;
        }
        let balances: Vec<(&str, i64, bool)> = self
            .touched
            .iter()
            .map(|id| {
                let a = &self.accounts[id];
                (id.as_str(), a.balance, a.low_balance_armed)
            })
            .collect();
        refill_store::commit_batch(tx, &self.entries, &balances).await?;
        Ok(queued)
    }
}
