//! Recurring-fee resources and their fees (R29), auto top-up turned on by a purchase
//! (R17), and scheduled recharges (R30).

use crate::{Dialect, Result, Tx};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Executor, Row};

// ---------------------------------------------------------------- resources

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceRow {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub currency: String,
    pub fee: i64,
    /// weekly | monthly | yearly
    pub period: String,
    /// active | suspended | removed
    pub status: String,
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
}

const RESOURCE_COLS: &str = "id, account_id, name, currency, fee, period, status, anchor_at, \
    periods_paid, next_fee_at, shortfall_since, shortfall_checked_at, turned_on_auto_top_up, \
    created_at, updated_at, suspended_at, removed_at";

fn resource_from(r: &AnyRow) -> Result<ResourceRow> {
    Ok(ResourceRow {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        name: r.try_get("name")?,
        currency: r.try_get("currency")?,
        fee: r.try_get("fee")?,
        period: r.try_get("period")?,
        status: r.try_get("status")?,
        anchor_at: r.try_get("anchor_at")?,
        periods_paid: r.try_get("periods_paid")?,
        next_fee_at: r.try_get("next_fee_at")?,
        shortfall_since: r.try_get("shortfall_since")?,
        shortfall_checked_at: r.try_get("shortfall_checked_at")?,
        turned_on_auto_top_up: r.try_get::<i64, _>("turned_on_auto_top_up")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        suspended_at: r.try_get("suspended_at")?,
        removed_at: r.try_get("removed_at")?,
    })
}

/// Writes a resource whole (insert, or replace the row with the same id).
async fn write_resource(tx: &mut Tx, r: &ResourceRow, insert: bool) -> Result<()> {
    let sql = crate::queries::whole_row_sql("resources", RESOURCE_COLS, insert, "");
    sqlx::query(AssertSqlSafe(sql))
        .bind(&r.id)
        .bind(&r.account_id)
        .bind(&r.name)
        .bind(&r.currency)
        .bind(r.fee)
        .bind(&r.period)
        .bind(&r.status)
        .bind(r.anchor_at)
        .bind(r.periods_paid)
        .bind(r.next_fee_at)
        .bind(r.shortfall_since)
        .bind(r.shortfall_checked_at)
        .bind(r.turned_on_auto_top_up as i64)
        .bind(r.created_at)
        .bind(r.updated_at)
        .bind(r.suspended_at)
        .bind(r.removed_at)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn insert_resource(tx: &mut Tx, r: &ResourceRow) -> Result<()> {
    write_resource(tx, r, true).await
}

pub async fn update_resource(tx: &mut Tx, r: &ResourceRow) -> Result<()> {
    write_resource(tx, r, false).await
}

pub async fn get_resource<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<ResourceRow>> {
    crate::row_by(
        e,
        format!("SELECT {RESOURCE_COLS} FROM resources WHERE id = $1"),
        id,
        resource_from,
    )
    .await
}

/// Reads a resource for update (lock order: its account first, then the resource).
pub async fn lock_resource(tx: &mut Tx, dialect: Dialect, id: &str) -> Result<Option<ResourceRow>> {
    crate::row_by(
        &mut *tx,
        format!(
            "SELECT {RESOURCE_COLS} FROM resources WHERE id = $1{}",
            dialect.for_update()
        ),
        id,
        resource_from,
    )
    .await
}

/// The resources an account holds (active or suspended, not removed), oldest first.
pub async fn list_resources<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<ResourceRow>> {
    let sql = format!(
        "SELECT {RESOURCE_COLS} FROM resources WHERE account_id = $1 AND status <> 'removed' \
         AND id > $2 ORDER BY id LIMIT $3"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(account_id)
        .bind(starting_after.unwrap_or(""))
        .bind(limit)
        .fetch_all(e)
        .await?;
    rows.iter().map(resource_from).collect()
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

/// One period's fee, as charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceFeeRow {
    pub resource_id: String,
    pub period: i64,
    pub amount: i64,
    pub due_at: i64,
    pub charged_at: i64,
}

/// R29: records a period's fee; false when that period was charged already (the
/// primary key), and then nothing may be debited.
pub async fn insert_resource_fee(tx: &mut Tx, f: &ResourceFeeRow) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO resource_fees (resource_id, period, amount, due_at, charged_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(&f.resource_id)
    .bind(f.period)
    .bind(f.amount)
    .bind(f.due_at)
    .bind(f.charged_at)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
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
    let rows = sqlx::query(
        "SELECT resource_id, period, amount, due_at, charged_at FROM resource_fees \
         WHERE resource_id = $1 ORDER BY period",
    )
    .bind(resource_id)
    .fetch_all(e)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ResourceFeeRow {
                resource_id: r.try_get("resource_id")?,
                period: r.try_get("period")?,
                amount: r.try_get("amount")?,
                due_at: r.try_get("due_at")?,
                charged_at: r.try_get("charged_at")?,
            })
        })
        .collect()
}

// ---------------------------------------------------------------- R17

/// R17: auto top-up turned on by buying a resource: (resource id, settings version).
pub async fn auto_top_up_by_resource(
    tx: &mut Tx,
    account_id: &str,
) -> Result<Option<(String, i64)>> {
    let row = sqlx::query(
        "SELECT resource_id, settings_version FROM auto_top_up_by_resource WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(&mut *tx)
    .await?;
    row.map(|r| Ok((r.try_get("resource_id")?, r.try_get("settings_version")?)))
        .transpose()
}

pub async fn put_auto_top_up_by_resource(
    tx: &mut Tx,
    account_id: &str,
    resource_id: &str,
    settings_version: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO auto_top_up_by_resource (account_id, resource_id, settings_version, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET \
         resource_id = excluded.resource_id, settings_version = excluded.settings_version, \
         created_at = excluded.created_at",
    )
    .bind(account_id)
    .bind(resource_id)
    .bind(settings_version)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn delete_auto_top_up_by_resource(tx: &mut Tx, account_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM auto_top_up_by_resource WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- R30

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScheduleRow {
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

const SCHEDULE_COLS: &str = "account_id, amount, day_of_month, payment_method_id, next_run_at, \
    last_run_for, last_run_at, last_top_up_id, version, created_at, updated_at";

fn schedule_from(r: &AnyRow) -> Result<ScheduleRow> {
    Ok(ScheduleRow {
        account_id: r.try_get("account_id")?,
        amount: r.try_get("amount")?,
        day_of_month: r.try_get("day_of_month")?,
        payment_method_id: r.try_get("payment_method_id")?,
        next_run_at: r.try_get("next_run_at")?,
        last_run_for: r.try_get("last_run_for")?,
        last_run_at: r.try_get("last_run_at")?,
        last_top_up_id: r.try_get("last_top_up_id")?,
        version: r.try_get("version")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn get_schedule<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Option<ScheduleRow>> {
    crate::row_by(
        e,
        format!("SELECT {SCHEDULE_COLS} FROM scheduled_recharges WHERE account_id = $1"),
        account_id,
        schedule_from,
    )
    .await
}

pub async fn lock_schedule(
    tx: &mut Tx,
    dialect: Dialect,
    account_id: &str,
) -> Result<Option<ScheduleRow>> {
    crate::row_by(
        &mut *tx,
        format!(
            "SELECT {SCHEDULE_COLS} FROM scheduled_recharges WHERE account_id = $1{}",
            dialect.for_update()
        ),
        account_id,
        schedule_from,
    )
    .await
}

/// Writes a schedule whole (insert or replace by account).
pub async fn put_schedule(tx: &mut Tx, s: &ScheduleRow) -> Result<()> {
    let params: Vec<String> = (1..=11).map(|i| format!("${i}")).collect();
    let updates: Vec<String> = SCHEDULE_COLS
        .split(", ")
        .skip(1)
        .map(|c| format!("{0} = excluded.{0}", c.trim()))
        .collect();
    let sql = format!(
        "INSERT INTO scheduled_recharges ({SCHEDULE_COLS}) VALUES ({}) \
         ON CONFLICT (account_id) DO UPDATE SET {}",
        params.join(", "),
        updates.join(", ")
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(&s.account_id)
        .bind(s.amount)
        .bind(s.day_of_month)
        .bind(&s.payment_method_id)
        .bind(s.next_run_at)
        .bind(s.last_run_for)
        .bind(s.last_run_at)
        .bind(&s.last_top_up_id)
        .bind(s.version)
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(&mut *tx)
        .await?;
    Ok(())
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
