//! A ledger journal applied to the customer accounts it posts to. The domain works
//! out each new balance and what follows (`refill_domain::balance::apply_journal`):
//! the credit limit, the account's flag, the low-balance notice's arming, the
//! notices and the automatic top-up a crossing triggers. This writes it. Every
//! balance written outside the debit pipeline goes through here: top-up credits,
//! transfers, recurring fees, reversals of failed payments and refunds (the
//! pipeline's batches call the same domain function on the accounts they hold).

use crate::accounts::watch_of;
use crate::top_up_executor::queue_auto_top_up;
use crate::{Refill, Result, events};
use refill_domain::auto_top_up::crossing_after;
use refill_domain::balance::{BalanceUpdate, apply_journal};
use refill_domain::debit::BalanceState;
use refill_domain::ledger::{self, Journal};
use refill_store::{AccountRow, EntryRow, Tx};

/// What a journal does to each account it posts to, worked out, not yet written.
pub(crate) struct Applied<'a> {
    journal: &'a Journal,
    updates: Vec<(&'a AccountRow, BalanceUpdate)>,
}

impl Applied<'_> {
    /// The balance of `account` after the journal.
    pub fn after(&self, account: &str) -> i64 {
        self.updates
            .iter()
            .find(|(a, _)| a.id == account)
            .map_or(0, |(_, u)| u.after)
    }
}

/// What the limit check of an account reads (R6, R11).
pub(crate) fn balance_state(a: &AccountRow) -> BalanceState {
    BalanceState {
        balance: a.balance,
        credit_limit: a.credit_limit,
        flagged: a.flagged,
    }
}

impl Refill {
    /// R3, R6, R11, R18, R26, R27, R31: what `journal` does to each of `accounts`
    /// (locked by the caller). Refused whole, with nothing written, when it would
    /// take a spending or sending account below its limit.
    pub(crate) fn work_out<'a>(
        &self,
        journal: &'a Journal,
        accounts: &[&'a AccountRow],
    ) -> Result<Applied<'a>> {
        let mut updates = Vec::with_capacity(accounts.len());
        for a in accounts {
            let watch = watch_of(a, self.config.trigger_on);
            updates.push((*a, apply_journal(journal, &a.id, balance_state(a), watch)?));
        }
        Ok(Applied { journal, updates })
    }

    /// Writes a worked-out journal in the caller's transaction: its entries (each
    /// customer's with its new balance), the balances and the low-balance notice's
    /// arming, the flags, the notices (naming `resource_id` when a resource's fee
    /// caused them, R29), the automatic top-up it triggers and the spending crossing
    /// it marks or clears (R22). True if that top-up was queued (none was in flight,
    /// R19).
    pub(crate) async fn write_journal(
        &self,
        tx: &mut Tx,
        applied: &Applied<'_>,
        reference: &str,
        resource_id: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let balances: Vec<(&str, i64)> = (applied.updates.iter())
            .map(|(a, u)| (a.id.as_str(), u.after))
            .collect();
        let Some((first, _)) = applied.updates.first() else {
            return Ok(false);
        };
        let entries = journal_entries(
            applied.journal,
            &first.currency,
            &balances,
            Some(reference),
            now,
        );
        refill_store::insert_entries(tx, &entries).await?;
        let mut queued = false;
        for (a, u) in &applied.updates {
            refill_store::set_balance(tx, &a.id, u.after, u.low_balance_armed).await?;
            if u.flag {
                refill_store::set_flagged(tx, &a.id, true).await?;
            }
            for notice in &u.notices {
                events::emit(tx, &a.id, notice.event(&a.currency, resource_id), now).await?;
            }
            if u.trigger_top_up {
                queued |= queue_auto_top_up(tx, &a.id, &a.currency, now, now).await?;
            }
            let crossed = crossing_after(
                a.crossed_by_spending,
                u.trigger_top_up,
                a.auto_threshold,
                u.after,
            );
            if crossed != a.crossed_by_spending {
                refill_store::set_crossed_by_spending(tx, &a.id, crossed).await?;
            }
        }
        Ok(queued)
    }

    /// `work_out`, then `write_journal`: the journal applied, or refused whole.
    pub(crate) async fn post_journal<'a>(
        &self,
        tx: &mut Tx,
        journal: &'a Journal,
        accounts: &[&'a AccountRow],
        reference: &str,
        now: i64,
    ) -> Result<Applied<'a>> {
        let applied = self.work_out(journal, accounts)?;
        self.write_journal(tx, &applied, reference, None, now)
            .await?;
        Ok(applied)
    }
}

/// The entry rows of a journal, under one new journal id: each customer account's
/// entry carries its new balance (`balances`); system accounts keep none.
pub fn journal_entries(
    journal: &ledger::Journal,
    currency: &str,
    balances: &[(&str, i64)],
    reference: Option<&str>,
    now: i64,
) -> Vec<EntryRow> {
    let journal_id = refill_store::new_id("jnl");
    journal
        .postings
        .iter()
        .map(|p| EntryRow {
            id: refill_store::new_id("ent"),
            journal_id: journal_id.clone(),
            account_id: p.ledger_account.clone(),
            currency: currency.into(),
            kind: p.kind.as_str().into(),
            amount: p.amount,
            balance_after: balances
                .iter()
                .find(|(a, _)| *a == p.ledger_account)
                .map(|(_, b)| *b),
            reference: reference.map(str::to_string),
            created_at: now,
            items: None,
        })
        .collect()
}
