//! The `card_setups` table: how each saved card was set up at the gateway, and the
//! 3-D Secure step still outstanding, if any.

use crate::row;
use crate::{Result, Tx};
use sqlx::{Any, Executor};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct CardSetupRow in "card_setups" {
        pub payment_method_id: String,
        pub customer_id: Option<String>,
        pub setup_id: Option<String>,
        pub client_secret: Option<String>,
        /// requires_action | ready
        pub status: String,
        pub updated_at: i64,
    }
}

pub async fn insert_card_setup(tx: &mut Tx, s: &CardSetupRow) -> Result<()> {
    row::insert(tx, s, "").await?;
    Ok(())
}

pub async fn get_card_setup<'e, E: Executor<'e, Database = Any>>(
    e: E,
    payment_method_id: &str,
) -> Result<Option<CardSetupRow>> {
    row::one(e, "WHERE payment_method_id = $1", payment_method_id).await
}

pub async fn card_setup_by_setup_id<'e, E: Executor<'e, Database = Any>>(
    e: E,
    setup_id: &str,
) -> Result<Option<CardSetupRow>> {
    row::one(e, "WHERE setup_id = $1", setup_id).await
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
