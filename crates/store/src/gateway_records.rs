//! What refill keeps of the gateway's own objects (issue 6): the customer of each
//! account, how each saved card was set up, and the Stripe events already processed.

use crate::{Result, Tx};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

// ---------------------------------------------------------------- customers

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

// ---------------------------------------------------------------- card setups

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CardSetupRow {
    pub payment_method_id: String,
    pub customer_id: Option<String>,
    pub setup_id: Option<String>,
    pub client_secret: Option<String>,
    /// requires_action | ready
    pub status: String,
    pub updated_at: i64,
}

const SETUP_COLS: &str =
    "payment_method_id, customer_id, setup_id, client_secret, status, updated_at";

fn setup_from(r: &AnyRow) -> Result<CardSetupRow> {
    Ok(CardSetupRow {
        payment_method_id: r.try_get("payment_method_id")?,
        customer_id: r.try_get("customer_id")?,
        setup_id: r.try_get("setup_id")?,
        client_secret: r.try_get("client_secret")?,
        status: r.try_get("status")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn insert_card_setup(tx: &mut Tx, s: &CardSetupRow) -> Result<()> {
    sqlx::query(
        "INSERT INTO card_setups (payment_method_id, customer_id, setup_id, client_secret, status, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&s.payment_method_id)
    .bind(&s.customer_id)
    .bind(&s.setup_id)
    .bind(&s.client_secret)
    .bind(&s.status)
    .bind(s.updated_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn get_card_setup<'e, E: Executor<'e, Database = Any>>(
    e: E,
    payment_method_id: &str,
) -> Result<Option<CardSetupRow>> {
    crate::row_by(
        e,
        format!("SELECT {SETUP_COLS} FROM card_setups WHERE payment_method_id = $1"),
        payment_method_id,
        setup_from,
    )
    .await
}

pub async fn card_setup_by_setup_id<'e, E: Executor<'e, Database = Any>>(
    e: E,
    setup_id: &str,
) -> Result<Option<CardSetupRow>> {
    crate::row_by(
        e,
        format!("SELECT {SETUP_COLS} FROM card_setups WHERE setup_id = $1"),
        setup_id,
        setup_from,
    )
    .await
}

/// The setup succeeded: the card is usable; the secret is no longer needed.
pub async fn mark_card_setup_ready(tx: &mut Tx, payment_method_id: &str, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE card_setups SET status = 'ready', client_secret = NULL, updated_at = $1 \
         WHERE payment_method_id = $2",
    )
    .bind(now)
    .bind(payment_method_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The gateway's token for a saved card (a setup may name a new PaymentMethod).
pub async fn set_payment_method_token(tx: &mut Tx, id: &str, token: &str) -> Result<()> {
    sqlx::query("UPDATE payment_methods SET gateway_token = $1 WHERE id = $2")
        .bind(token)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Saved cards, not removed, with this gateway token.
pub async fn payment_methods_by_token<'e, E: Executor<'e, Database = Any>>(
    e: E,
    token: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM payment_methods WHERE gateway_token = $1 AND removed_at IS NULL ORDER BY id",
    )
    .bind(token)
    .fetch_all(e)
    .await?)
}

// ---------------------------------------------------------------- withheld credits

/// R11, credit_pending off: this pending top-up's credit waits for settlement.
pub async fn withhold_credit(tx: &mut Tx, top_up_id: &str, now: i64) -> Result<()> {
    sqlx::query("INSERT INTO withheld_credits (top_up_id, created_at) VALUES ($1, $2)")
        .bind(top_up_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Ends the wait; true if this top-up's credit was withheld.
pub async fn release_withheld_credit(tx: &mut Tx, top_up_id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM withheld_credits WHERE top_up_id = $1")
        .bind(top_up_id)
        .execute(&mut *tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

// ---------------------------------------------------------------- top-ups by charge

/// The top-up whose gateway charge (a PaymentIntent) this is.
pub async fn top_up_id_by_charge<'e, E: Executor<'e, Database = Any>>(
    e: E,
    charge_id: &str,
) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM top_ups WHERE gateway_charge_id = $1 LIMIT 1")
            .bind(charge_id)
            .fetch_optional(e)
            .await?,
    )
}

// ---------------------------------------------------------------- Stripe events

/// Records a Stripe event as processed; false if it was processed before. Called in
/// the transaction of the event's effect, so the two commit together or not at all.
pub async fn record_stripe_event(
    tx: &mut Tx,
    id: &str,
    event_type: &str,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO stripe_events (id, type, received_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(event_type)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn stripe_event_seen<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM stripe_events WHERE id = $1")
        .bind(id)
        .fetch_one(e)
        .await?;
    Ok(n > 0)
}
