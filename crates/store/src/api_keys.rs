//! The `api_keys` table: keys stored hashed, an operator's or an account's (R4).

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
        pub label: Option<String>,
        pub created_at: i64,
    }
}

pub async fn insert_api_key(tx: &mut Tx, k: &ApiKeyRow) -> Result<()> {
    row::insert(tx, k, "").await?;
    Ok(())
}

pub async fn find_api_key<'e, E: Executor<'e, Database = Any>>(
    e: E,
    key_hash: &str,
) -> Result<Option<ApiKeyRow>> {
    row::one(e, "WHERE key_hash = $1", key_hash).await
}

pub async fn count_operator_keys(tx: &mut Tx) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE account_id IS NULL")
            .fetch_one(&mut *tx)
            .await?,
    )
}
