//! The `portal_sessions` table: the customer page's sessions, their one-time link and
//! their cookie both stored hashed, like API keys.

use crate::row;
use crate::{Result, Tx};
use sqlx::{Any, Executor};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PortalSessionRow in "portal_sessions" {
        pub id: String,
        /// The account whose tree (it and its sub-accounts) the session sees.
        pub account_id: String,
        pub link_hash: String,
        pub cookie_hash: Option<String>,
        pub return_url: Option<String>,
        pub locale: String,
        pub created_by: String,
        pub created_at: i64,
        pub link_expires_at: i64,
        pub expires_at: i64,
        pub exchanged_at: Option<i64>,
        pub revoked_at: Option<i64>,
    }
}

pub async fn insert_portal_session(tx: &mut Tx, s: &PortalSessionRow) -> Result<()> {
    row::insert(tx, s, "").await?;
    Ok(())
}

pub async fn get_portal_session<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<PortalSessionRow>> {
    row::one(e, "WHERE id = $1", id).await
}

/// The session whose link token has this hash, exchanged or not.
pub async fn portal_session_by_link<'e, E: Executor<'e, Database = Any>>(
    e: E,
    link_hash: &str,
) -> Result<Option<PortalSessionRow>> {
    row::one(e, "WHERE link_hash = $1", link_hash).await
}

/// The session whose cookie secret has this hash.
pub async fn portal_session_by_cookie<'e, E: Executor<'e, Database = Any>>(
    e: E,
    cookie_hash: &str,
) -> Result<Option<PortalSessionRow>> {
    row::one(e, "WHERE cookie_hash = $1", cookie_hash).await
}

/// Exchanges the link for a cookie at `now`: false if it was exchanged or revoked
/// meanwhile (a link works once, whoever comes first).
pub async fn exchange_portal_link(
    tx: &mut Tx,
    id: &str,
    cookie_hash: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE portal_sessions SET cookie_hash = $2, exchanged_at = $3 \
         WHERE id = $1 AND exchanged_at IS NULL AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(cookie_hash)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes the session at `now`; false if it was revoked already.
pub async fn revoke_portal_session(tx: &mut Tx, id: &str, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE portal_sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
