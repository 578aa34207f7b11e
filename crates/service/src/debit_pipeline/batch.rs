//! Working out a batch: its debits applied in arrival order to the accounts in
//! memory, as one journal, and written with one commit.

use super::{DebitItem, DebitLine, DebitRequest, DebitResult};
use crate::accounts::watch_of;
use crate::journal::balance_state;
use crate::{Idem, Result, ServiceError, events, idempotency};
use refill_domain::accounts::{AccountStatus, check_currency, check_open};
use refill_domain::balance::{BalanceUpdate, apply_journal};
use refill_domain::ledger;
use refill_store::{AccountRow, EntryRow, EventRow, Tx};
use serde::Serialize;
use std::collections::HashSet;
use std::collections::{BTreeSet, HashMap};

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
        let of_kind = kinds.iter().position(|k| *k == item.kind.entry_kind());
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

/// The batch's working state: the locked accounts and what the batch writes. The
/// batch is one journal: each accepted debit's customer entries, and its revenue
/// summed per currency, revenue account and kind (`ledger::RevenueSums`).
pub(super) struct Batch {
    pub(super) accounts: HashMap<String, AccountRow>,
    /// Accounts whose balance changed (a set: a batch may hold thousands).
    pub(super) touched: BTreeSet<String>,
    /// The batch's journal, shared by the debits of different accounts: a journal
    /// here is what was committed together, not one customer's operation (reversing
    /// a debit must not reverse its journal).
    journal_id: String,
    pub(super) entries: Vec<EntryRow>,
    revenue: ledger::RevenueSums,
    pub(super) events: Vec<EventRow>,
    pub(super) triggers: BTreeSet<String>,
    now: i64,
    /// `now` as the answers show it, formatted once per batch.
    created: String,
    trigger_on: refill_domain::debit::TriggerOn,
    /// The responses to keep under the batch's idempotency keys, written with it.
    pub(super) kept: Vec<refill_store::KeptResponse>,
    /// The keys a debit of this batch may not take: those taken before it (read by
    /// the locking path; the fast path's write refuses them instead) and those its
    /// earlier debits took (a twin in the same batch).
    pub(super) taken: HashSet<(String, String)>,
}

impl Batch {
    pub(super) fn new(
        rows: Vec<AccountRow>,
        now: i64,
        trigger_on: refill_domain::debit::TriggerOn,
    ) -> Batch {
        Batch {
            accounts: rows.into_iter().map(|a| (a.id.clone(), a)).collect(),
            touched: BTreeSet::new(),
            journal_id: refill_store::new_id("jnl"),
            entries: vec![],
            revenue: ledger::RevenueSums::default(),
            events: vec![],
            triggers: BTreeSet::new(),
            now,
            created: crate::api_objects::rfc3339(now),
            trigger_on,
            kept: vec![],
            taken: HashSet::new(),
        }
    }

    /// Applies the batch's requests in arrival order, then closes its journal: each
    /// one's result.
    pub(super) fn debit_all(&mut self, reqs: &[DebitRequest]) -> Vec<Result<DebitResult>> {
        let mut results = Vec::with_capacity(reqs.len());
        for req in reqs {
            results.push(self.debit(req));
        }
        self.close_journal();
        results
    }

    /// Applies one request to the in-memory state; nothing is written if it is refused.
    fn debit(&mut self, req: &DebitRequest) -> Result<DebitResult> {
        // The account is taken out of the map while it is worked on (no copy per
        // request: a batch may hold hundreds of requests on one account).
        let (id, mut account) = self
            .accounts
            .remove_entry(&req.account_id)
            .ok_or_else(|| ServiceError::not_found("account", &req.account_id))?;
        let result = self.debit_from(&mut account, req);
        self.accounts.insert(id, account);
        result
    }

    fn debit_from(&mut self, account: &mut AccountRow, req: &DebitRequest) -> Result<DebitResult> {
        check_open(AccountStatus::of(account.closed_at))?;
        check_currency(&account.currency, req.currency.map(|c| c.code()))?;
        let items: Vec<(ledger::EntryKind, i64)> = (req.items.iter())
            .map(|i| (i.kind.entry_kind(), i.amount))
            .collect();
        let journal = ledger::spending(&account.id, &items)?;
        // R6, R18, R26, R27: refused whole, or the new balance and what it sets off.
        let watch = watch_of(account, self.trigger_on);
        let update = apply_journal(&journal, &account.id, balance_state(account), watch)?;
        let (lines, entries, revenue) = self.lines(account, req, &journal)?;
        let revenue = self.revenue.plus(&account.currency, &revenue)?;
        let result = DebitResult {
            object: "debit",
            account_id: account.id.clone(),
            currency: account.currency.clone(),
            total: account.balance - update.after,
            balance_after: update.after,
            items: lines,
            created: self.created.clone(),
        };
        self.keep(req.idem.as_ref(), &result)?;
        self.entries.extend(entries);
        self.revenue = revenue;
        self.settle(account, &update)?;
        Ok(result)
    }

    /// The customer's entries of a request's journal (`ledger::spending`): one per
    /// kind of item, which lists its items when it sums more than one; and the revenue
    /// postings to add to the batch's. The answer keeps a line per item, in the
    /// request's order.
    fn lines(
        &self,
        account: &AccountRow,
        req: &DebitRequest,
        journal: &ledger::Journal,
    ) -> Result<(Vec<DebitLine>, Vec<EntryRow>, Vec<ledger::Posting>)> {
        // The first half are the account's postings, one per kind (`spending`).
        let (mine, revenue) = journal.postings.split_at(journal.postings.len() / 2);
        let kinds: Vec<ledger::EntryKind> = mine.iter().map(|p| p.kind).collect();
        let mut entries = Vec::with_capacity(mine.len());
        let mut balance = account.balance;
        for (kind, p) in kinds.iter().zip(mine) {
            balance = refill_domain::money::add(balance, p.amount)?;
            let of_kind: Vec<&DebitItem> = (req.items.iter())
                .filter(|i| i.kind.entry_kind() == *kind)
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

    /// Moves the account to its new balance and notes what that sets off: the
    /// notices as events, the automatic top-up it triggers (R18).
    fn settle(&mut self, account: &mut AccountRow, update: &BalanceUpdate) -> Result<()> {
        for notice in &update.notices {
            let told = notice.event(&account.currency, None);
            self.events
                .push(events::event(&account.id, told, self.now)?);
        }
        if update.trigger_top_up && !self.triggers.contains(&account.id) {
            self.triggers.insert(account.id.clone());
        }
        account.balance = update.after;
        account.low_balance_armed = update.low_balance_armed;
        if !self.touched.contains(&account.id) {
            self.touched.insert(account.id.clone());
        }
        Ok(())
    }

    /// Keeps the response under the request's idempotency key, to be written with the
    /// batch; a key taken already is a replay (`IdempotentReplay`: the API answers
    /// the kept response, or 409 for another body), and the debit is not applied.
    fn keep(&mut self, idem: Option<&Idem>, result: &DebitResult) -> Result<()> {
        let Some(idem) = idem else { return Ok(()) };
        if !self.taken.insert((idem.scope.clone(), idem.key.clone())) {
            return Err(ServiceError::IdempotentReplay);
        }
        self.kept.push(refill_store::KeptResponse {
            scope: idem.scope.clone(),
            key: idem.key.clone(),
            response: idempotency::response(idem, 201, result)?,
            created_at: self.now,
        });
        Ok(())
    }

    /// Writes the batch: top-up triggers (with their crossings, R22) and events, then
    /// entries, kept responses and balances, whose write carries the commit
    /// (`commit_batch`).
    pub(super) async fn write_and_commit(&self, tx: &mut Tx) -> Result<bool> {
        let mut queued = false;
        for id in &self.triggers {
            let a = &self.accounts[id];
            queued |=
                crate::top_up_executor::queue_auto_top_up(tx, id, &a.currency, self.now, self.now)
                    .await?;
            // R22: the crossing is spending's, whether or not its top-up started.
            if !a.crossed_by_spending {
                refill_store::set_crossed_by_spending(tx, id, true).await?;
            }
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
        refill_store::commit_batch(tx, &self.entries, &balances, &self.kept).await?;
        Ok(queued)
    }
}
