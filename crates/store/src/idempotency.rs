//! The `idempotency_keys` table: the response kept under each idempotency key, so a
//! replay answers the same (R25).

use crate::many_rows::{chunks, dialect_of, placeholders, statement};
use crate::{Result, Tx};
use sqlx::{Any, Executor, Row};
use std::collections::HashSet;

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

/// Which of `keys` (scope, key) hold a response already, read inside the caller's
/// transaction: one statement per 256 keys, each key found through the primary key
/// (a join with the list: SQLite scans the whole index for `(scope, key) IN (...)`).
pub async fn taken_keys(tx: &mut Tx, keys: &[(&str, &str)]) -> Result<HashSet<(String, String)>> {
    let dialect = dialect_of(tx);
    let mut taken = HashSet::new();
    for chunk in chunks(keys) {
        let width = chunk.len();
        let sql = statement("taken_keys", dialect, width, || {
            format!(
                "SELECT i.scope, i.key FROM (VALUES {}) AS k \
                 JOIN idempotency_keys i ON i.scope = k.column1 AND i.key = k.column2",
                placeholders(dialect, width, 2)
            )
        });
        let q = (chunk.iter()).fold(sqlx::query(sql), |q, (scope, key)| {
            q.bind(*scope).bind(*key)
        });
        for row in q.fetch_all(&mut *tx).await? {
            taken.insert((row.try_get("scope")?, row.try_get("key")?));
        }
    }
    Ok(taken)
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
