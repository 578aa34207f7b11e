//! The `idempotency_keys` table: the response kept under each idempotency key, so a
//! replay answers the same (R25).

use crate::{Result, Tx};
use sqlx::{Any, Executor, Row};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

pub async fn get_idempotent<'e, E: Executor<'e, Database = Any>>(
    e: E,
    scope: &str,
    key: &str,
) -> Result<Option<StoredResponse>> {
    let row = sqlx::query(
        "SELECT request_hash, status, body FROM idempotency_keys WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(e)
    .await?;
    row.map(|r| {
        Ok(StoredResponse {
            request_hash: r.try_get("request_hash")?,
            status: r.try_get::<i64, _>("status")? as u16,
            body: r.try_get("body")?,
        })
    })
    .transpose()
}

/// Stores a response; false when the key was taken meanwhile (a concurrent replay).
pub async fn put_idempotent(
    tx: &mut Tx,
    scope: &str,
    key: &str,
    resp: &StoredResponse,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status, body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(scope)
    .bind(key)
    .bind(&resp.request_hash)
    .bind(resp.status as i64)
    .bind(&resp.body)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets idempotency keys older than `before` (they live at least 24 hours).
pub async fn expire_idempotent<'e, E: Executor<'e, Database = Any>>(
    e: E,
    before: i64,
) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before)
            .execute(e)
            .await?
            .rows_affected(),
    )
}
