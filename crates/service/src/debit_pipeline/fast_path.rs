//! The fast path: a batch written from the accounts as the shard remembers them,
//! without reading them again, if they still hold that (one round trip).

use super::batch::Batch;
use super::shard::Shard;
use super::{DebitRequest, DebitResult, not_recorded};
use crate::{Result, ServiceError};
use refill_store::{AccountRow, Tx};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;

/// The accounts as the shard last wrote or read them (the fast path's starting point:
/// `refill_store::commit_if_unchanged` checks each is still so).
pub(super) type RememberedAccounts = HashMap<String, AccountRow>;

/// The most accounts a shard remembers; past it, it forgets them all (a debit of a
/// forgotten account only takes the locking path once).
const REMEMBERED_MAX: usize = 4096;

impl Shard {
    /// The fast path: every account of the batch is one the shard has seen, and the
    /// batch writes only entries, balances and idempotent responses (no event, no
    /// top-up, no refusal: those take the locking path), all in one round trip.
    /// `None` when it does not apply, or when an account had changed (then nothing
    /// was written). An error when the write failed in a way the locking path would
    /// fail again (nothing was written, and the connection holds no transaction).
    pub(super) async fn apply_from_memory(
        &self,
        conn: &mut Tx,
        reqs: &[DebitRequest],
        remembered: &mut RememberedAccounts,
        now: i64,
    ) -> Option<Result<Vec<Result<DebitResult>>>> {
        let ids: BTreeSet<&str> = reqs.iter().map(|r| r.account_id.as_str()).collect();
        // PostgreSQL: the checked UPDATE locks its rows in the order the planner
        // joins them, not in id order as every other writer does (`lock_accounts`),
        // so a batch of several accounts could deadlock with a transfer; one account
        // (the hot case) cannot.
        if self.db.dialect == refill_store::Dialect::Postgres && ids.len() > 1 {
            return None;
        }
        let rows: Option<Vec<AccountRow>> =
            ids.iter().map(|id| remembered.get(*id).cloned()).collect();
        let mut batch = Batch::new(rows?, now, self.config.trigger_on);
        // Keys taken before are not read: the write's insert of the batch's refuses them.
        let results = batch.debit_all(reqs);
        // A refusal is checked by nothing (it writes nothing), and it may come from
        // a balance another writer has raised since: refusals take the locking path.
        let refused = results.iter().any(|r| r.is_err());
        let fits = (batch.entries.len(), batch.touched.len(), batch.kept.len());
        let fits = refill_store::fits_one_write(fits.0, fits.1, fits.2);
        if refused || !batch.events.is_empty() || !batch.triggers.is_empty() || !fits {
            return None;
        }
        if let Err(e) = batch.commit_if_unchanged(conn, remembered).await {
            refill_store::abandon_batch(conn).await;
            // Data the database refused, or a database out of reach, would fail the
            // locking path too. Any other failure (most likely an account changed) is
            // redone there from a fresh read.
            if matches!(&e, ServiceError::Store(s) if s.is_refused_data() || s.is_unavailable()) {
                return Some(Err(e));
            }
            self.stats.stale.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.stats.unread.fetch_add(1, Ordering::Relaxed);
        batch.remember_accounts(remembered);
        Some(Ok(results))
    }
}

impl Batch {
    /// The accounts as this batch leaves them, for the shard's next batches.
    pub(super) fn remember_accounts(self, remembered: &mut RememberedAccounts) {
        if remembered.len() >= REMEMBERED_MAX {
            remembered.clear();
        }
        remembered.extend(self.accounts);
    }

    /// Writes the batch's entries and balances and commits, if its accounts still
    /// hold what `remembered` has of them (`refill_store::commit_if_unchanged`).
    async fn commit_if_unchanged(
        &self,
        tx: &mut Tx,
        remembered: &RememberedAccounts,
    ) -> Result<()> {
        let mut changes = Vec::with_capacity(self.touched.len());
        for id in &self.touched {
            let (Some(before), Some(now)) = (remembered.get(id), self.accounts.get(id)) else {
                return Err(not_recorded("an account of the batch was not seen"));
            };
            changes.push(refill_store::BalanceChange {
                seen: before,
                balance: now.balance,
                low_balance_armed: now.low_balance_armed,
            });
        }
        refill_store::commit_if_unchanged(tx, &self.entries, &changes, &self.kept).await?;
        Ok(())
    }
}
