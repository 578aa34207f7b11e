//! What `refill verify` reconciles beyond the ledger's own sums: each money record
//! (a top-up paid, a fee period charged, a refund approved) against the ledger entry
//! it must have caused, and the gateway's charges against the top-ups. Plain reads;
//! the comparing is the caller's.

use crate::Result;
use sqlx::{Any, Executor, Row};

/// Rows of strings and integers, as the queries below read them.
async fn rows<'e, E: Executor<'e, Database = Any>>(
    e: E,
    sql: &'static str,
) -> Result<Vec<sqlx::any::AnyRow>> {
    Ok(sqlx::query(sql).fetch_all(e).await?)
}

/// The (account, reference) of every ledger entry that credits a top-up, debits a
/// fee period or reverses a refund: the kinds those records cause.
pub async fn money_entry_references<'e, E: Executor<'e, Database = Any>>(
    e: E,
) -> Result<Vec<(String, String)>> {
    let sql = "SELECT account_id, reference FROM entries WHERE reference IS NOT NULL \
               AND kind IN ('top_up', 'transfer_in', 'recurring_fee', 'refund')";
    rows(e, sql)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Top-ups whose credit is in the ledger by now (succeeded, or pending with its
/// credit not withheld, R11): (id, account, source).
pub async fn credited_top_ups<'e, E: Executor<'e, Database = Any>>(
    e: E,
) -> Result<Vec<(String, String, String)>> {
    let sql = "SELECT t.id, t.account_id, t.source FROM top_ups t \
               WHERE t.status IN ('succeeded', 'pending') \
               AND NOT EXISTS (SELECT 1 FROM withheld_credits w WHERE w.top_up_id = t.id)";
    rows(e, sql)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// Every fee period charged (R29): (resource, account, resource name, period).
pub async fn charged_fee_periods<'e, E: Executor<'e, Database = Any>>(
    e: E,
) -> Result<Vec<(String, String, String, i64)>> {
    let sql = "SELECT f.resource_id, r.account_id, r.name, f.period FROM resource_fees f \
               JOIN resources r ON r.id = f.resource_id";
    rows(e, sql)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
}

/// Refunds whose approval reversed credit (R31): (id, top-up, account, status).
pub async fn reversed_refunds<'e, E: Executor<'e, Database = Any>>(
    e: E,
) -> Result<Vec<(String, String, String, String)>> {
    let sql = "SELECT id, top_up_id, account_id, status FROM refunds WHERE credit_reversed > 0 \
               AND status IN ('approved', 'pending', 'succeeded', 'failed')";
    rows(e, sql)
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
}

/// The gateway charge each top-up recorded.
pub async fn top_up_charge_ids<'e, E: Executor<'e, Database = Any>>(e: E) -> Result<Vec<String>> {
    let sql = "SELECT gateway_charge_id FROM top_ups WHERE gateway_charge_id IS NOT NULL";
    rows(e, sql)
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}

/// R14: the verification charges whose refund is still owed (being retried).
pub async fn owed_verification_charges<'e, E: Executor<'e, Database = Any>>(
    e: E,
) -> Result<Vec<String>> {
    let sql = "SELECT charge_id FROM verification_refunds WHERE status = 'due'";
    rows(e, sql)
        .await?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
}
