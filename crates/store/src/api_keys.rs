//! The `api_keys` table: keys stored hashed, an operator's or an account's (R4), with
//! their revocation, rotation and last use; and `api_key_revision`, the counter that
//! numbers revocations and rotations so that every node can follow them.

use crate::row;
use crate::{Result, Tx};
use sqlx::{Any, Executor};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ApiKeyRow in "api_keys" {
        pub id: String,
        pub key_hash: String,
        /// None: an operator key.
        pub account_id: Option<String>,
        pub name: Option<String>,
        pub created_at: i64,
        /// How the secret is shown after it was given (None: a key older than
        /// prefixes, or a short secret set by hand).
        pub prefix: Option<String>,
        pub expires_at: Option<i64>,
        pub last_used_at: Option<i64>,
        pub revoked_at: Option<i64>,
        /// The secret the last rotation replaced, valid until `previous_expires_at`.
        pub previous_key_hash: Option<String>,
        pub previous_prefix: Option<String>,
        pub previous_expires_at: Option<i64>,
        /// The revision of its last revocation or rotation (0: never changed).
        pub revision: i64,
    }
}

/// A rotation: the new secret, and until when the replaced one stays valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRotation {
    pub id: String,
    pub key_hash: String,
    pub prefix: Option<String>,
    pub previous_expires_at: i64,
    pub revision: i64,
}

pub async fn insert_api_key(tx: &mut Tx, k: &ApiKeyRow) -> Result<()> {
    row::insert(tx, k, "").await?;
    Ok(())
}

/// The key whose current or previous secret has this hash, revoked or not.
pub async fn find_api_key<'e, E: Executor<'e, Database = Any>>(
    e: E,
    key_hash: &str,
) -> Result<Option<ApiKeyRow>> {
    row::one(e, "WHERE key_hash = $1 OR previous_key_hash = $1", key_hash).await
}

/// The key with this id, if not revoked.
pub async fn get_live_api_key<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<ApiKeyRow>> {
    row::one(e, "WHERE id = $1 AND revoked_at IS NULL", id).await
}

/// The keys not revoked, by id: all of them (`root` None), or those of the account
/// `root` and its sub-accounts.
pub async fn list_api_keys<'e, E: Executor<'e, Database = Any>>(
    e: E,
    root: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<ApiKeyRow>> {
    row::many(
        e,
        "WHERE revoked_at IS NULL AND ($1 = '' OR account_id IN \
         (SELECT id FROM accounts WHERE id = $1 OR parent_id = $1)) \
         AND id > $2 ORDER BY id LIMIT $3",
        |q| {
            q.bind(root.unwrap_or(""))
                .bind(starting_after.unwrap_or(""))
                .bind(limit)
        },
    )
    .await
}

/// The operator keys not revoked.
pub async fn count_operator_keys(tx: &mut Tx) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_keys WHERE account_id IS NULL AND revoked_at IS NULL",
    )
    .fetch_one(&mut *tx)
    .await?)
}

/// Takes the next revision for a revocation or rotation in `tx`. The counter's row
/// stays locked until `tx` ends, so key changes commit one at a time, in the order of
/// their revisions: a node that saw revision N and asks for those above N misses none.
pub async fn next_key_revision(tx: &mut Tx) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "UPDATE api_key_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision",
    )
    .fetch_one(&mut *tx)
    .await?)
}

/// The last revision committed.
pub async fn key_revision<'e, E: Executor<'e, Database = Any>>(e: E) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT revision FROM api_key_revision WHERE id = 1")
            .fetch_one(e)
            .await?,
    )
}

/// The keys revoked or rotated after `revision`, with their revisions, oldest first:
/// at most `limit`.
pub async fn keys_changed_since<'e, E: Executor<'e, Database = Any>>(
    e: E,
    revision: i64,
    limit: i64,
) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT id, revision FROM api_keys WHERE revision > $1 ORDER BY revision LIMIT $2",
    )
    .bind(revision)
    .bind(limit)
    .fetch_all(e)
    .await?)
}

/// Revokes the key (both its secrets) at `now`; false if it was revoked already.
pub async fn revoke_api_key(tx: &mut Tx, id: &str, now: i64, revision: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $2, revision = $3 WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .bind(revision)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the key a new secret; the current one becomes the previous one (the one
/// before it stops at once). False if the key was revoked meanwhile.
pub async fn rotate_api_key(tx: &mut Tx, r: &KeyRotation) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE api_keys SET previous_key_hash = key_hash, previous_prefix = prefix, \
         previous_expires_at = $4, key_hash = $2, prefix = $3, revision = $5 \
         WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(&r.id)
    .bind(&r.key_hash)
    .bind(r.prefix.as_deref())
    .bind(r.previous_expires_at)
    .bind(r.revision)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Notes when keys were last used: (key id, time), never moving a time back.
pub async fn record_key_uses(tx: &mut Tx, uses: &[(String, i64)]) -> Result<()> {
    for (id, at) in uses {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $2 \
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
        )
        .bind(id)
        .bind(*at)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
