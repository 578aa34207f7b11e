//! Failure isolation: the requests of a batch share one transaction, so one request
//! whose write the database refuses (a NUL in a reference, say, on PostgreSQL) would
//! fail every other request of its batch, other customers' too. A batch whose write
//! fails, other than for the database being out of reach, is split in halves, each
//! written on its own, and a half that fails is split again, down to one request:
//! that request fails alone, the rest commits.
//!
//! Halving rather than redoing each request alone: one bad request in a batch of n
//! costs about 2 log2(n) more writes (half of which commit), where n writes, each a
//! commit of its own, would slow the whole pipeline under a stream of bad requests.
//! The work stays bounded either way: a group of one is never redone, so a request is
//! in at most 1 + log2(n) writes (10 with the default batch of 512), and a batch
//! causes at most 2n - 2 more, however many of its requests are bad. Nothing is redone
//! blindly: every redo is a smaller part of what failed.
//!
//! What a write that failed left is rolled back before the next one (a keyed debit
//! then applies once, R6's checks run again on the balances as they are), and the
//! parts are written in arrival order, so an account's debits keep their order.

use super::fast_path::RememberedAccounts;
use super::shard::{Shard, WriterConnection, answer_all};
use super::{DebitRequest, DebitResult, Reply, not_recorded};
use crate::{Result, ServiceError};
use std::ops::Range;
use std::sync::atomic::Ordering;

/// A group's write that failed: nothing of it was written.
pub(super) struct Failed {
    error: ServiceError,
    /// Whether the connection holds no transaction and may write the next group;
    /// if not, it is closed (which rolls back what it holds) and another taken.
    connection_fit: bool,
}

impl Failed {
    pub(super) fn on(error: ServiceError, connection_fit: bool) -> Failed {
        Failed {
            error,
            connection_fit,
        }
    }

    fn database_unavailable(&self) -> bool {
        matches!(&self.error, ServiceError::Store(s) if s.is_unavailable())
    }
}

/// What a request whose write failed alone is told: its idempotency key taken, a
/// replay; data the database refused is the request's own fault (400
/// `data_refused`); anything else, a debit not recorded.
fn failed_alone(e: ServiceError) -> ServiceError {
    match e {
        // A key another transaction took since the batch read the keys (PostgreSQL):
        // a replay, answered as one (the kept response, or 409 for another body).
        ServiceError::Store(s) if s.is_key_taken() => ServiceError::IdempotentReplay,
        ServiceError::Store(s) if s.is_refused_data() => ServiceError::invalid(
            "data_refused",
            format!("the database refused this debit's data, and nothing was written: {s}"),
        ),
        e => not_recorded(&e.to_string()),
    }
}

impl Shard {
    /// Writes a batch's requests and answers each (see the module's doc). Returns the
    /// connection if it is fit for the next batch, and whether a top-up was queued.
    pub(super) async fn write_isolated(
        &self,
        mut conn: WriterConnection,
        reqs: &[DebitRequest],
        replies: Vec<Reply>,
        remembered: &mut RememberedAccounts,
    ) -> (Option<WriterConnection>, bool) {
        let mut replies: Vec<Option<Reply>> = replies.into_iter().map(Some).collect();
        let mut triggered = false;
        // The groups left to write, the next one last: in arrival order.
        let mut todo: Vec<Range<usize>> = Vec::with_capacity(reqs.len());
        todo.push(0..reqs.len());
        while let Some(group) = todo.pop() {
            let failed = match self
                .write_group(&mut conn, &reqs[group.clone()], remembered)
                .await
            {
                Ok((results, queued)) => {
                    triggered |= queued;
                    for (reply, result) in replies[group].iter_mut().zip(results) {
                        answer(reply, result);
                    }
                    continue;
                }
                Err(failed) => failed,
            };
            if failed.database_unavailable() {
                // Every write would fail the same way: the rest is told to retry.
                answer_all(replies.iter_mut().filter_map(Option::take), &failed.error);
                conn.close_on_drop();
                return (None, triggered);
            }
            if !failed.connection_fit {
                conn = match self.fresh_connection(conn).await {
                    Ok(fresh) => fresh,
                    Err(e) => {
                        answer_all(replies.iter_mut().filter_map(Option::take), &e);
                        return (None, triggered);
                    }
                };
            }
            if group.len() == 1 {
                answer(&mut replies[group.start], Err(failed_alone(failed.error)));
                continue;
            }
            self.stats.split.fetch_add(1, Ordering::Relaxed);
            let middle = group.start + group.len() / 2;
            todo.push(middle..group.end);
            todo.push(group.start..middle);
        }
        (Some(conn), triggered)
    }

    /// Closes `conn` (which rolls back what it holds) and takes the writer's
    /// connection again. Closed first: on SQLite the writer's pool has one.
    async fn fresh_connection(
        &self,
        mut conn: WriterConnection,
    ) -> std::result::Result<WriterConnection, ServiceError> {
        conn.close_on_drop();
        drop(conn);
        Ok(self.db.writer_connection().await?)
    }
}

fn answer(reply: &mut Option<Reply>, result: Result<DebitResult>) {
    if let Some(reply) = reply.take() {
        let _ = reply.send(result);
    }
}
