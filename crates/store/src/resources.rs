//! The `resources` table (recurring-fee resources, R29) and `resource_fees` (each
//! period's fee, charged once).

use crate::row;
use crate::{Dialect, Result, Tx};
use refill_domain::resources::ResourceStatus;
use sqlx::{Any, Executor};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ResourceRow in "resources" {
        pub id: String,
        pub account_id: String,
        pub name: String,
        pub currency: String,
        pub fee: i64,
        /// weekly | monthly | yearly
        pub period: String,
        pub status: ResourceStatus,
        pub anchor_at: i64,
        pub periods_paid: i64,
        pub next_fee_at: Option<i64>,
        pub shortfall_since: Option<i64>,
        pub shortfall_checked_at: Option<i64>,
        pub turned_on_auto_top_up: bool,
        pub created_at: i64,
        pub updated_at: i64,
        pub suspended_at: Option<i64>,
        pub removed_at: Option<i64>,
        /// R29: when its unpaid renewal last asked for an automatic top-up.
        pub renewal_top_up_at: Option<i64>,
    }
}

pub async fn insert_resource(tx: &mut Tx, r: &ResourceRow) -> Result<()> {
    row::insert(tx, r, "").await?;
    Ok(())
}

pub async fn update_resource(tx: &mut Tx, r: &ResourceRow) -> Result<()> {
    row::update(tx, r).await?;
    Ok(())
}

pub async fn get_resource<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<ResourceRow>> {
    row::one(e, "WHERE id = $1", id).await
}

/// Reads a resource for update (lock order: its account first, then the resource).
pub async fn lock_resource(tx: &mut Tx, dialect: Dialect, id: &str) -> Result<Option<ResourceRow>> {
    let filter = format!("WHERE id = $1{}", dialect.for_update());
    row::one(&mut *tx, &filter, id).await
}

/// The resources an account holds (active or suspended, not removed), oldest first.
pub async fn list_resources<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<ResourceRow>> {
    row::many(
        e,
        "WHERE account_id = $1 AND status <> 'removed' AND id > $2 ORDER BY id LIMIT $3",
        |q| {
            q.bind(account_id)
                .bind(starting_after.unwrap_or(""))
                .bind(limit)
        },
    )
    .await
}

/// R29: the account's active resources whose renewal is unpaid, oldest due first,
/// read for update (its account locked first).
pub async fn lock_unpaid_renewals(
    tx: &mut Tx,
    dialect: Dialect,
    account_id: &str,
) -> Result<Vec<ResourceRow>> {
    let filter = format!(
        "WHERE account_id = $1 AND status = 'active' AND shortfall_since IS NOT NULL \
         ORDER BY next_fee_at, id{}",
        dialect.for_update()
    );
    row::many(&mut *tx, &filter, |q| q.bind(account_id)).await
}

/// R29: the account's active resources whose renewal is unpaid, oldest due first.
pub async fn unpaid_renewals<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Vec<ResourceRow>> {
    row::many(
        e,
        "WHERE account_id = $1 AND status = 'active' AND shortfall_since IS NOT NULL \
         ORDER BY next_fee_at, id",
        |q| q.bind(account_id),
    )
    .await
}

/// R17: how many resources the account still holds (active or suspended).
pub async fn count_held_resources(tx: &mut Tx, account_id: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM resources WHERE account_id = $1 AND status <> 'removed'",
    )
    .bind(account_id)
    .fetch_one(&mut *tx)
    .await?)
}

/// R4, R29: removes every resource the account holds (its account is being closed):
/// their fees stop. Returns how many were removed.
pub async fn remove_resources_of(tx: &mut Tx, account_id: &str, now: i64) -> Result<u64> {
    let done = sqlx::query(
        "UPDATE resources SET status = 'removed', removed_at = $1, next_fee_at = NULL, \
         updated_at = $1 WHERE account_id = $2 AND status <> 'removed'",
    )
    .bind(now)
    .bind(account_id)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected())
}

/// R29: active resources whose next fee is due at `now`, earliest first, by the
/// `resources_due` index; one whose renewal already failed at this very `now` is left
/// for the next check.
pub async fn resources_due<'e, E: Executor<'e, Database = Any>>(
    e: E,
    now: i64,
    limit: i64,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM resources WHERE status = 'active' AND next_fee_at <= $1 \
         AND (shortfall_checked_at IS NULL OR shortfall_checked_at < $1) \
         ORDER BY next_fee_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(e)
    .await?)
}

// ---------------------------------------------------------------- fees

table_row! {
    /// One period's fee, as charged.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ResourceFeeRow in "resource_fees" {
        pub resource_id: String,
        pub period: i64,
        pub amount: i64,
        pub due_at: i64,
        pub charged_at: i64,
    }
}

/// R29: records a period's fee; false when that period was charged already (the
/// primary key), and then nothing may be debited.
pub async fn insert_resource_fee(tx: &mut Tx, f: &ResourceFeeRow) -> Result<bool> {
    Ok(row::insert(tx, f, " ON CONFLICT DO NOTHING").await? == 1)
}

/// R29: whether a resource's period was charged already.
pub async fn resource_fee_charged(tx: &mut Tx, resource_id: &str, period: i64) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM resource_fees WHERE resource_id = $1 AND period = $2",
    )
    .bind(resource_id)
    .bind(period)
    .fetch_one(&mut *tx)
    .await?;
    Ok(n > 0)
}

/// The fees charged for a resource, oldest first.
pub async fn resource_fees<'e, E: Executor<'e, Database = Any>>(
    e: E,
    resource_id: &str,
) -> Result<Vec<ResourceFeeRow>> {
    row::many(e, "WHERE resource_id = $1 ORDER BY period", |q| {
        q.bind(resource_id)
    })
    .await
}
