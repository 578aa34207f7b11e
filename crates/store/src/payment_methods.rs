//! The `payment_methods` table: saved cards by gateway token, one primary per
//! account (R5).

use crate::row;
use crate::{Result, Tx};
use refill_domain::accounts::Card;
use sqlx::{Any, Executor};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PaymentMethodRow in "payment_methods" {
        pub id: String,
        pub account_id: String,
        pub gateway_token: String,
        pub brand: String,
        pub last4: String,
        pub exp_month: i64,
        pub exp_year: i64,
        pub saved: bool,
        pub is_primary: bool,
        pub verified_at: Option<i64>,
        pub removed_at: Option<i64>,
        pub created_at: i64,
    }
}

impl PaymentMethodRow {
    /// The card as the rules see it (R5).
    pub fn card(&self) -> Card {
        Card {
            saved: self.saved,
            primary: self.is_primary,
            removed: self.removed_at.is_some(),
        }
    }
}

pub async fn insert_payment_method(tx: &mut Tx, p: &PaymentMethodRow) -> Result<()> {
    row::insert(tx, p, "").await?;
    Ok(())
}

pub async fn get_payment_method<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<PaymentMethodRow>> {
    row::one(e, "WHERE id = $1", id).await
}

/// The payment method a row names, if it names one (a top-up, a schedule).
pub async fn payment_method_named<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: Option<&str>,
) -> Result<Option<PaymentMethodRow>> {
    match id {
        Some(id) => get_payment_method(e, id).await,
        None => Ok(None),
    }
}

/// An account's saved payment methods that were not removed, primary first.
pub async fn list_payment_methods<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Vec<PaymentMethodRow>> {
    row::many(
        e,
        "WHERE account_id = $1 AND saved = 1 AND removed_at IS NULL ORDER BY is_primary DESC, id",
        |q| q.bind(account_id),
    )
    .await
}

pub async fn remove_payment_method(tx: &mut Tx, id: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE payment_methods SET removed_at = $1, is_primary = 0 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Makes one saved method the account's primary (R5), and no other.
pub async fn set_primary_payment_method(tx: &mut Tx, account_id: &str, id: &str) -> Result<()> {
    sqlx::query("UPDATE payment_methods SET is_primary = CASE WHEN id = $1 THEN 1 ELSE 0 END WHERE account_id = $2")
        .bind(id)
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn set_payment_method_verified(tx: &mut Tx, id: &str, at: i64) -> Result<()> {
    sqlx::query("UPDATE payment_methods SET verified_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
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
