//! Writing a ledger journal as entry rows.

use crate::Result;
use refill_domain::ledger;
use refill_store::{EntryRow, Tx};

/// Writes a journal: each customer account's entry carries its new balance
/// (`balances`); system accounts keep none.
pub(crate) async fn post(
    tx: &mut Tx,
    journal: &ledger::Journal,
    currency: &str,
    balances: &[(&str, i64)],
    reference: &str,
    now: i64,
) -> Result<()> {
    debug_assert!(journal.is_balanced());
    let entries = journal_entries(journal, currency, balances, Some(reference), now);
    refill_store::insert_entries(tx, &entries).await?;
    Ok(())
}

/// The entry rows of a journal, under one new journal id (see `post`).
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
