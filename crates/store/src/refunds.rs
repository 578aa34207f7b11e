//! The `refunds` table (R31): refunds of top-ups asked for, decided by the operator,
//! and followed at the gateway until they succeed or fail.

use crate::row;
use crate::{Dialect, Result, Tx};
use sqlx::{Any, Executor};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct RefundRow in "refunds" {
        pub id: String,
        pub top_up_id: String,
        pub account_id: String,
        pub currency: String,
        /// requested | approved | rejected | pending | succeeded | failed
        pub status: String,
        pub requested_amount: i64,
        /// Approved (at most requested); until the decision, what was requested.
        pub amount: i64,
        pub credit_reversed: i64,
        pub tax_reversed: i64,
        pub reason: String,
        pub decision_reason: Option<String>,
        pub requested_by: String,
        pub decided_by: Option<String>,
        pub gateway_refund_id: Option<String>,
        pub failure_code: Option<String>,
        pub failure_message: Option<String>,
        pub request_key: Option<String>,
        pub created_at: i64,
        pub decided_at: Option<i64>,
        pub completed_at: Option<i64>,
        pub updated_at: i64,
    }
}

/// Inserts a refund; false when a concurrent request with the same idempotency key
/// inserted its own first.
pub async fn insert_refund(tx: &mut Tx, r: &RefundRow) -> Result<bool> {
    Ok(row::insert(tx, r, " ON CONFLICT DO NOTHING").await? == 1)
}

pub async fn update_refund(tx: &mut Tx, r: &RefundRow) -> Result<()> {
    row::update(tx, r).await?;
    Ok(())
}

pub async fn get_refund<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<RefundRow>> {
    row::one(e, "WHERE id = $1", id).await
}

pub async fn lock_refund(tx: &mut Tx, dialect: Dialect, id: &str) -> Result<Option<RefundRow>> {
    let filter = format!("WHERE id = $1{}", dialect.for_update());
    row::one(&mut *tx, &filter, id).await
}

pub async fn refund_by_request_key<'e, E: Executor<'e, Database = Any>>(
    e: E,
    key: &str,
) -> Result<Option<RefundRow>> {
    row::one(e, "WHERE request_key = $1", key).await
}

/// Every refund of a top-up, oldest first.
pub async fn refunds_of_top_up<'e, E: Executor<'e, Database = Any>>(
    e: E,
    top_up_id: &str,
) -> Result<Vec<RefundRow>> {
    row::many(e, "WHERE top_up_id = $1 ORDER BY id", |q| q.bind(top_up_id)).await
}

/// What a list of refunds is filtered by; empty filters take everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct RefundFilter<'a> {
    /// An account tree (the account and its sub-accounts).
    pub root: Option<&'a str>,
    pub account_id: Option<&'a str>,
    pub status: Option<&'a str>,
    pub starting_after: Option<&'a str>,
}

/// Refunds, newest first (`limit` of them).
pub async fn list_refunds<'e, E: Executor<'e, Database = Any>>(
    e: E,
    f: RefundFilter<'_>,
    limit: i64,
) -> Result<Vec<RefundRow>> {
    row::many(e, "WHERE ($1 = '' OR account_id = $1 OR account_id IN (SELECT id FROM accounts WHERE parent_id = $1)) \
         AND ($2 = '' OR account_id = $2) AND ($3 = '' OR status = $3) \
         AND ($4 = '' OR id < $4) ORDER BY id DESC LIMIT $5", |q| q.bind(f.root.unwrap_or("")).bind(f.account_id.unwrap_or("")).bind(f.status.unwrap_or("")).bind(f.starting_after.unwrap_or("")).bind(limit)).await
}

/// The refunds to follow at the gateway: every pending one, and approved ones whose
/// gateway call has not been answered since `stale_before` (an outage, a crash).
pub async fn refunds_to_follow<'e, E: Executor<'e, Database = Any>>(
    e: E,
    stale_before: i64,
    limit: i64,
) -> Result<Vec<RefundRow>> {
    row::many(
        e,
        "WHERE status = 'pending' OR (status = 'approved' AND updated_at <= $1) \
         ORDER BY updated_at LIMIT $2",
        |q| q.bind(stale_before).bind(limit),
    )
    .await
}
