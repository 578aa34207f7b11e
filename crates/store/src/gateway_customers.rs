//! The `gateway_customers` table: the gateway's customer of each account (a Stripe
//! Customer), created once.

use crate::{Result, Tx};
use sqlx::{Any, Executor};

pub async fn get_gateway_customer<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT customer_id FROM gateway_customers WHERE account_id = $1")
            .bind(account_id)
            .fetch_optional(e)
            .await?,
    )
}

/// Records the account's customer; false when one was recorded meanwhile (the
/// gateway's idempotency key made it the same customer).
pub async fn insert_gateway_customer(
    tx: &mut Tx,
    account_id: &str,
    customer_id: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO gateway_customers (account_id, customer_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(account_id)
    .bind(customer_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
