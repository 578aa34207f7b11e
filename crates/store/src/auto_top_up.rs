//! The `auto_top_up` table (an account's settings and state, R12-R24), its history of
//! state changes (`auto_top_up_history`, R24), and `auto_top_up_by_resource` (auto
//! top-up turned on by buying a resource, R17).

use crate::row;
use crate::{Result, Tx};
use refill_domain::auto_top_up::{AmountRule, SourceKind, State, StateReason, WhyNot};
use refill_domain::top_up::AttemptOutcome;
use sqlx::{Any, Executor, Row};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AutoTopUpRow in "auto_top_up" {
        pub account_id: String,
        pub state: State,
        pub threshold: i64,
        /// The stored form of the amount rule (`AmountRule::mode`): fixed | target.
        pub amount_mode: String,
        pub amount: i64,
        pub source: SourceKind,
        pub payment_method_id: Option<String>,
        pub terms_version: Option<String>,
        pub terms_accepted_at: Option<i64>,
        pub state_reason: Option<StateReason>,
        pub state_changed_at: i64,
        pub consecutive_failures: i64,
        pub window_until: Option<i64>,
        pub last_attempt_at: Option<i64>,
        pub last_attempt_outcome: Option<AttemptOutcome>,
        pub last_attempt_top_up_id: Option<String>,
        pub next_attempt_at: Option<i64>,
        pub why_not: Option<WhyNot>,
        pub version: i64,
        pub updated_at: i64,
    }
}

impl AutoTopUpRow {
    /// An account's settings before any were saved: off, a card source, nothing set.
    pub fn new(account_id: &str) -> AutoTopUpRow {
        AutoTopUpRow {
            account_id: account_id.into(),
            state: State::Off,
            threshold: 0,
            amount_mode: AmountRule::Fixed(0).mode().into(),
            amount: 0,
            source: SourceKind::Card,
            payment_method_id: None,
            terms_version: None,
            terms_accepted_at: None,
            state_reason: None,
            state_changed_at: 0,
            consecutive_failures: 0,
            window_until: None,
            last_attempt_at: None,
            last_attempt_outcome: None,
            last_attempt_top_up_id: None,
            next_attempt_at: None,
            why_not: None,
            version: 0,
            updated_at: 0,
        }
    }

    /// R12: the amount rule, from its stored mode and amount.
    pub fn amount_rule(&self) -> std::result::Result<AmountRule, refill_domain::DomainError> {
        AmountRule::from_stored(&self.amount_mode, self.amount)
    }

    pub fn set_amount_rule(&mut self, rule: AmountRule) {
        self.amount_mode = rule.mode().into();
        self.amount = rule.amount();
    }
}

pub async fn get_auto_top_up<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Option<AutoTopUpRow>> {
    row::one(e, "WHERE account_id = $1", account_id).await
}

/// Writes the settings whole (insert or replace by account).
pub async fn put_auto_top_up(tx: &mut Tx, a: &AutoTopUpRow) -> Result<()> {
    row::upsert(tx, a).await
}

/// R24: records a change of state with its time and reason.
pub async fn record_state_change(
    tx: &mut Tx,
    account_id: &str,
    state: State,
    reason: &StateReason,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO auto_top_up_history (account_id, state, reason, at) VALUES ($1, $2, $3, $4)",
    )
    .bind(account_id)
    .bind(state.as_str())
    .bind(reason.to_string())
    .bind(at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// R24: an account's state changes, oldest first: (state, reason, at).
pub async fn state_history<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Vec<(String, String, i64)>> {
    let rows = sqlx::query(
        "SELECT state, reason, at FROM auto_top_up_history WHERE account_id = $1 ORDER BY seq",
    )
    .bind(account_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("state")?, r.try_get("reason")?, r.try_get("at")?)))
        .collect()
}

/// R22: what the periodic check needs to know of active card settings whose means
/// of payment may be gone (their payment method missing or removed, or their
/// account without a payer email): the domain's `means_gone` decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsMeans {
    pub account_id: String,
    pub state: State,
    pub source: SourceKind,
    pub card_usable: bool,
    pub payer_email: Option<String>,
}

/// R22: the settings `means_gone` may disable: active, paid by card, with their
/// card missing or removed or their account without a payer email.
pub async fn active_settings_without_means<'e, E: Executor<'e, Database = Any>>(
    e: E,
) -> Result<Vec<SettingsMeans>> {
    let rows = sqlx::query(
        "SELECT s.account_id, s.state, s.source, a.payer_email, \
         CAST(CASE WHEN p.id IS NULL OR p.removed_at IS NOT NULL THEN 0 ELSE 1 END AS BIGINT) \
         AS card_usable \
         FROM auto_top_up s JOIN accounts a ON a.id = s.account_id \
         LEFT JOIN payment_methods p ON p.id = s.payment_method_id \
         WHERE s.state = 'active' AND s.source = 'card' \
         AND (p.id IS NULL OR p.removed_at IS NOT NULL OR a.payer_email IS NULL OR a.payer_email = '')",
    )
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            use crate::row::Column;
            Ok(SettingsMeans {
                account_id: r.try_get("account_id")?,
                state: State::read(r, "state")?,
                source: SourceKind::read(r, "source")?,
                card_usable: bool::read(r, "card_usable")?,
                payer_email: r.try_get("payer_email")?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------- turned on by a resource

table_row! {
    /// R17: auto top-up turned on by buying a resource, and the settings' version then.
    struct ByResourceRow in "auto_top_up_by_resource" {
        pub account_id: String,
        pub resource_id: String,
        pub settings_version: i64,
        pub created_at: i64,
    }
}

/// R17: auto top-up turned on by buying a resource: (resource id, settings version).
pub async fn auto_top_up_by_resource(
    tx: &mut Tx,
    account_id: &str,
) -> Result<Option<(String, i64)>> {
    let found: Option<ByResourceRow> =
        row::one(&mut *tx, "WHERE account_id = $1", account_id).await?;
    Ok(found.map(|r| (r.resource_id, r.settings_version)))
}

pub async fn put_auto_top_up_by_resource(
    tx: &mut Tx,
    account_id: &str,
    resource_id: &str,
    settings_version: i64,
    now: i64,
) -> Result<()> {
    let r = ByResourceRow {
        account_id: account_id.into(),
        resource_id: resource_id.into(),
        settings_version,
        created_at: now,
    };
    row::upsert(tx, &r).await
}

pub async fn delete_auto_top_up_by_resource(tx: &mut Tx, account_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM auto_top_up_by_resource WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}
