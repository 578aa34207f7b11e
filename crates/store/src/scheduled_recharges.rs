//! The `scheduled_recharges` table: an account's monthly recharge on a day of the
//! month (R30).

use crate::row;
use crate::{Dialect, Result, Tx};
use sqlx::{Any, Executor};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct ScheduleRow in "scheduled_recharges" {
        pub account_id: String,
        pub amount: i64,
        pub day_of_month: i64,
        pub payment_method_id: Option<String>,
        pub next_run_at: i64,
        pub last_run_for: Option<i64>,
        pub last_run_at: Option<i64>,
        pub last_top_up_id: Option<String>,
        pub version: i64,
        pub created_at: i64,
        pub updated_at: i64,
    }
}

pub async fn get_schedule<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Option<ScheduleRow>> {
    row::one(e, "WHERE account_id = $1", account_id).await
}

pub async fn lock_schedule(
    tx: &mut Tx,
    dialect: Dialect,
    account_id: &str,
) -> Result<Option<ScheduleRow>> {
    let filter = format!("WHERE account_id = $1{}", dialect.for_update());
    row::one(&mut *tx, &filter, account_id).await
}

/// Writes a schedule whole (insert or replace by account).
pub async fn put_schedule(tx: &mut Tx, s: &ScheduleRow) -> Result<()> {
    row::upsert(tx, s).await
}

pub async fn delete_schedule(tx: &mut Tx, account_id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM scheduled_recharges WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// R30: accounts whose scheduled recharge is due at `now`, by index.
pub async fn schedules_due<'e, E: Executor<'e, Database = Any>>(
    e: E,
    now: i64,
    limit: i64,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT account_id FROM scheduled_recharges WHERE next_run_at <= $1 \
         ORDER BY next_run_at LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(e)
    .await?)
}
