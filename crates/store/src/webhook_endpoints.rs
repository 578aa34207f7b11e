//! The `webhook_endpoints` table: where an account's (or the operator's) events are
//! posted, signed (R26).

use crate::row;
use crate::{Result, Tx};
use sqlx::{Any, Executor};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct WebhookEndpointRow in "webhook_endpoints" {
        pub id: String,
        /// None: the operator's, for every account.
        pub account_id: Option<String>,
        pub url: String,
        pub secret: String,
        /// "*" or comma-separated event types.
        pub event_types: String,
        pub description: Option<String>,
        /// Registered by the operator (may be internal); else it must be public.
        pub trusted: bool,
        pub removed_at: Option<i64>,
        pub created_at: i64,
    }
}

pub async fn insert_webhook_endpoint(tx: &mut Tx, w: &WebhookEndpointRow) -> Result<()> {
    row::insert(tx, w, "").await?;
    Ok(())
}

pub async fn get_webhook_endpoint<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<WebhookEndpointRow>> {
    row::one(e, "WHERE id = $1", id).await
}

/// Endpoints not removed: all of them (`owner` None) or those of one account tree
/// (the account and its sub-accounts).
pub async fn list_webhook_endpoints<'e, E: Executor<'e, Database = Any>>(
    e: E,
    owner: Option<&str>,
) -> Result<Vec<WebhookEndpointRow>> {
    row::many(e, "WHERE removed_at IS NULL \
         AND ($1 = '' OR account_id = $1 OR account_id IN (SELECT id FROM accounts WHERE parent_id = $1)) \
         ORDER BY created_at, id", |q| q.bind(owner.unwrap_or(""))).await
}

/// The endpoints that hear of an account's events: the operator's, the account's own,
/// and its main account's.
pub async fn endpoints_hearing<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
    parent_id: Option<&str>,
) -> Result<Vec<WebhookEndpointRow>> {
    row::many(
        e,
        "WHERE removed_at IS NULL \
         AND (account_id IS NULL OR account_id = $1 OR account_id = $2) ORDER BY id",
        |q| q.bind(account_id).bind(parent_id.unwrap_or(account_id)),
    )
    .await
}

pub async fn remove_webhook_endpoint(tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
