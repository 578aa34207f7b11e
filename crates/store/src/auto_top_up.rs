//! The `auto_top_up` table (an account's settings and state, R12-R24), its history of
//! state changes (`auto_top_up_history`, R24), and `auto_top_up_by_resource` (auto
//! top-up turned on by buying a resource, R17).

use crate::row;
use crate::{Result, Tx};
use sqlx::{Any, Executor, Row};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct AutoTopUpRow in "auto_top_up" {
        pub account_id: String,
        pub state: String,
        pub threshold: i64,
        /// fixed | target
        pub amount_mode: String,
        pub amount: i64,
        pub source: String,
        pub payment_method_id: Option<String>,
        pub terms_version: Option<String>,
        pub terms_accepted_at: Option<i64>,
        pub state_reason: Option<String>,
        pub state_changed_at: i64,
        pub consecutive_failures: i64,
        pub window_until: Option<i64>,
        pub last_attempt_at: Option<i64>,
        pub last_attempt_outcome: Option<String>,
        pub last_attempt_top_up_id: Option<String>,
        pub next_attempt_at: Option<i64>,
        pub why_not: Option<String>,
        pub version: i64,
        pub updated_at: i64,
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
    state: &str,
    reason: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO auto_top_up_history (account_id, state, reason, at) VALUES ($1, $2, $3, $4)",
    )
    .bind(account_id)
    .bind(state)
    .bind(reason)
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

/// R22: active card settings whose payment method was removed, or whose account has
/// no payer email any more.
pub async fn active_settings_without_means<'e, E: Executor<'e, Database = Any>>(
    e: E,
) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT s.account_id, CASE WHEN p.id IS NULL OR p.removed_at IS NOT NULL \
         THEN 'payment_method_removed' ELSE 'payer_removed' END AS reason \
         FROM auto_top_up s JOIN accounts a ON a.id = s.account_id \
         LEFT JOIN payment_methods p ON p.id = s.payment_method_id \
         WHERE s.state = 'active' AND s.source = 'card' \
         AND (p.id IS NULL OR p.removed_at IS NOT NULL OR a.payer_email IS NULL OR a.payer_email = '')",
    )
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("account_id")?, r.try_get("reason")?)))
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
