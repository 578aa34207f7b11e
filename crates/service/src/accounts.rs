//! Accounts and sub-accounts (R2, R4), who calls (API keys: api_keys.rs), the ledger's
//! listings, transfers. An account's changes and its closing: `account_changes`.

use crate::api_objects::{AccountView, EntryView, Page, TransferView};
use crate::{Idem, Refill, Result, ServiceError, idempotency};
use refill_domain::accounts::{self as rules, AccountStatus, Member};
use refill_domain::debit::{SpendWatch, TriggerOn};
use refill_domain::{Currency, ledger, money};
use refill_store::{AccountRow, Tx};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Who is calling: the operator (everything) or an account key (its own account and
/// its sub-accounts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Operator { key_id: String },
    Account { key_id: String, account_id: String },
}

impl Caller {
    pub fn key_id(&self) -> &str {
        match self {
            Caller::Operator { key_id } | Caller::Account { key_id, .. } => key_id,
        }
    }
    /// The account tree this caller sees (None: all).
    pub fn root(&self) -> Option<&str> {
        match self {
            Caller::Operator { .. } => None,
            Caller::Account { account_id, .. } => Some(account_id),
        }
    }
    pub fn is_operator(&self) -> bool {
        matches!(self, Caller::Operator { .. })
    }
}

/// Keys are stored hashed: a leaked table reveals no key.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

pub(crate) fn new_secret(prefix: &str) -> String {
    use rand::Rng;
    let bytes: [u8; 24] = rand::rng().random();
    format!("{prefix}_{}", hex::encode(bytes))
}

impl Refill {
    /// An account the caller may see, or NotFound / Forbidden, as a read started after
    /// this call finds it (shared with other requests for it: `account_reads`).
    pub async fn account(&self, caller: &Caller, id: &str) -> Result<AccountRow> {
        let row = (self.caches.account_reads.read(&self.db, id).await?)
            .ok_or_else(|| ServiceError::not_found("account", id))?;
        self.caches
            .remember_parent(&row.id, row.parent_id.as_deref());
        check_access(caller, &row)?;
        Ok(row)
    }

    /// Like `account`, without the row: NotFound / Forbidden, answered from memory
    /// once the account is known (its parent never changes): the debit path.
    pub async fn check_account_access(&self, caller: &Caller, id: &str) -> Result<()> {
        match self.caches.parent(id) {
            Some(parent) => check_tree(caller, id, parent.as_deref()),
            None => self.account(caller, id).await.map(|_| ()),
        }
    }

    /// Like `account`, refused with `account_closed` once it is closed (R4): what
    /// changes an account starts here.
    pub async fn open_account(&self, caller: &Caller, id: &str) -> Result<AccountRow> {
        let row = self.account(caller, id).await?;
        rules::check_open(AccountStatus::of(row.closed_at))?;
        Ok(row)
    }

    pub async fn create_account(
        &self,
        caller: &Caller,
        req: NewAccount,
        idem: Option<&Idem>,
    ) -> Result<AccountView> {
        let currency = Currency::parse(&req.currency)?;
        let parent = match &req.parent_id {
            Some(pid) => Some(self.account(caller, pid).await?),
            None if !caller.is_operator() => {
                return Err(ServiceError::Forbidden("main accounts".into()));
            }
            None => None,
        };
        check_new_account(&req, currency, parent.as_ref())?;
        let payer = req.payer.clone().unwrap_or_default();
        let row = AccountRow {
            id: refill_store::new_id("acct"),
            parent_id: req.parent_id.clone(),
            name: req.name.clone(),
            currency: currency.code().to_string(),
            balance: 0,
            credit_limit: req.credit_limit.unwrap_or(0),
            payer_name: payer.name,
            payer_email: payer.email,
            payer_phone: payer.phone,
            payer_country: payer.country,
            flagged: false,
            auto_threshold: None,
            low_balance_threshold: req.low_balance_threshold.unwrap_or(0),
            low_balance_armed: true,
            created_at: self.now(),
            closed_at: None,
            crossed_by_spending: false,
        };
        let view = AccountView::from(&row);
        let mut tx = self.db.begin().await?;
        if let Some(pid) = &req.parent_id {
            // Under the parent's lock: closing it counts its open sub-accounts (R4).
            lock_open(&mut tx, self, pid).await?;
        }
        refill_store::insert_account(&mut tx, &row).await?;
        idempotency::remember(&mut tx, idem, 201, &view, self.now()).await?;
        tx.commit().await?;
        Ok(view)
    }

    pub async fn list_accounts(
        &self,
        caller: &Caller,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<AccountView>> {
        let rows =
            refill_store::list_accounts(&self.db.pool, caller.root(), after, limit + 1).await?;
        Ok(Page::from_rows(rows, limit, |r| AccountView::from(r)))
    }

    pub async fn entries(
        &self,
        caller: &Caller,
        id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Page<EntryView>> {
        self.account(caller, id).await?;
        let rows = refill_store::list_entries(&self.db.pool, id, after, limit + 1).await?;
        Ok(Page::from_rows(rows, limit, |r| EntryView::from(r)))
    }

    /// R27: sets the low-balance notice threshold (0 turns it off).
    pub async fn set_low_balance_threshold(
        &self,
        caller: &Caller,
        id: &str,
        threshold: i64,
    ) -> Result<AccountView> {
        if threshold < 0 {
            return Err(ServiceError::invalid(
                "threshold_negative",
                "the low-balance threshold must not be negative",
            ));
        }
        self.open_account(caller, id).await?;
        let mut tx = self.db.begin().await?;
        let mut row = lock_open(&mut tx, self, id).await?;
        let armed = row.balance > threshold;
        refill_store::set_low_balance_threshold(&mut tx, id, threshold, armed).await?;
        tx.commit().await?;
        row.low_balance_threshold = threshold;
        row.low_balance_armed = armed;
        Ok(AccountView::from(&row))
    }

    /// Moves credit between a main account and one of its sub-accounts. Never
    /// triggers a top-up (R18); it is refused whole if it would take the sender below
    /// its limit (R6).
    pub async fn transfer(
        &self,
        caller: &Caller,
        req: NewTransfer,
        idem: Option<&Idem>,
    ) -> Result<TransferView> {
        let amount = money::positive(req.amount)?;
        let from = self.account(caller, &req.from_account).await?;
        let to = self.account(caller, &req.to_account).await?;
        rules::check_related(member(&from), member(&to))?;
        rules::check_currency(&from.currency, req.currency.as_deref())?;
        let mut tx = self.db.begin().await?;
        let row = refill_store::TransferRow {
            id: refill_store::new_id("xfr"),
            from_account: from.id.clone(),
            to_account: to.id.clone(),
            currency: from.currency.clone(),
            amount,
            reference: req.reference.clone(),
            created_at: self.now(),
        };
        move_credit(self, &mut tx, &row).await?;
        refill_store::insert_transfer(&mut tx, &row).await?;
        let view = TransferView::from(&row);
        idempotency::remember(&mut tx, idem, 201, &view, self.now()).await?;
        tx.commit().await?;
        Ok(view)
    }
}

/// Posts a transfer's journal inside `tx`: both accounts locked, the sender checked
/// against its limit (R6), neither triggering a top-up (R18). Used by transfers and
/// by auto top-up from a main account. Returns both balances after it.
pub async fn move_credit(
    app: &Refill,
    tx: &mut Tx,
    t: &refill_store::TransferRow,
) -> Result<(i64, i64)> {
    let rows =
        refill_store::lock_accounts(tx, app.db.dialect, &[&t.from_account, &t.to_account]).await?;
    let find = |id: &str| {
        rows.iter()
            .find(|a| a.id == id)
            .ok_or_else(|| ServiceError::not_found("account", id))
    };
    let (from, to) = (find(&t.from_account)?, find(&t.to_account)?);
    for a in [from, to] {
        rules::check_open(AccountStatus::of(a.closed_at))?;
    }
    let journal = ledger::transfer(&from.id, &to.id, t.amount)?;
    let reference = (t.reference.clone()).unwrap_or_else(|| format!("transfer {}", t.id));
    let applied = app
        .post_journal(tx, &journal, &[from, to], &reference, t.created_at)
        .await?;
    Ok((applied.after(&from.id), applied.after(&to.id)))
}

/// What the notices of an account are measured against; `trigger_on`: what counts
/// as spending (R18).
pub fn watch_of(a: &AccountRow, trigger_on: TriggerOn) -> SpendWatch {
    SpendWatch {
        auto_threshold: a.auto_threshold,
        trigger_on,
        low_balance_threshold: a.low_balance_threshold,
        low_balance_armed: a.low_balance_armed,
    }
}

pub async fn lock(tx: &mut Tx, app: &Refill, id: &str) -> Result<AccountRow> {
    refill_store::lock_account(tx, app.db.dialect, id)
        .await?
        .ok_or_else(|| ServiceError::not_found("account", id))
}

/// `lock`, refused with `account_closed` once it is closed (R4): checked under the
/// lock that closing takes too.
pub async fn lock_open(tx: &mut Tx, app: &Refill, id: &str) -> Result<AccountRow> {
    let row = lock(tx, app, id).await?;
    rules::check_open(AccountStatus::of(row.closed_at))?;
    Ok(row)
}

fn check_access(caller: &Caller, row: &AccountRow) -> Result<()> {
    check_tree(caller, &row.id, row.parent_id.as_deref())
}

fn check_tree(caller: &Caller, id: &str, parent: Option<&str>) -> Result<()> {
    match caller.root() {
        None => Ok(()),
        Some(root) if id == root || parent == Some(root) => Ok(()),
        // Outside the caller's tree answers as unknown, so ids cannot be probed.
        Some(_) => Err(ServiceError::not_found("account", id)),
    }
}

fn member(a: &AccountRow) -> Member<'_> {
    Member {
        id: &a.id,
        parent_id: a.parent_id.as_deref(),
    }
}

/// R2, R4, R5, R6, R9: the domain's checks of a new account.
fn check_new_account(
    req: &NewAccount,
    currency: Currency,
    parent: Option<&AccountRow>,
) -> Result<()> {
    let new = rules::NewAccount {
        name: &req.name,
        currency,
        credit_limit: req.credit_limit,
        payer: req
            .payer
            .as_ref()
            .map(NewPayer::as_given)
            .unwrap_or_default(),
    };
    let parent = parent.map(|p| rules::Parent {
        is_sub_account: p.parent_id.is_some(),
        currency: &p.currency,
    });
    Ok(rules::check_new_account(&new, parent)?)
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPayer {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub country: Option<String>,
}

impl NewPayer {
    fn as_given(&self) -> rules::Payer<'_> {
        rules::Payer {
            name: self.name.as_deref(),
            email: self.email.as_deref(),
            phone: self.phone.as_deref(),
            country: self.country.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub name: String,
    pub currency: String,
    pub parent_id: Option<String>,
    pub credit_limit: Option<i64>,
    pub low_balance_threshold: Option<i64>,
    pub payer: Option<NewPayer>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTransfer {
    pub from_account: String,
    pub to_account: String,
    #[schemars(range(min = 1))]
    pub amount: i64,
    pub currency: Option<String>,
    pub reference: Option<String>,
}
