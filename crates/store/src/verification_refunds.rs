//! The `verification_refunds` table (R14): the refund owed for each card verification
//! charge, until the gateway made it.

use crate::row;
use crate::{Dialect, Result, Tx};
use sqlx::{Any, AssertSqlSafe, Executor};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq, Default)]
    pub struct VerificationRefundRow in "verification_refunds" {
        pub id: String,
        pub account_id: String,
        pub payment_method_id: String,
        pub charge_key: String,
        pub charge_id: String,
        pub amount: i64,
        pub currency: String,
        /// due | refunded
        pub status: String,
        pub round: i64,
        pub attempts: i64,
        pub next_attempt_at: i64,
        pub gateway_refund_id: Option<String>,
        pub last_error: Option<String>,
        pub created_at: i64,
        pub refunded_at: Option<i64>,
    }
}

/// Records a refund owed; false when this verification charge has one already (a
/// replayed verification).
pub async fn insert_verification_refund(tx: &mut Tx, r: &VerificationRefundRow) -> Result<bool> {
    Ok(row::insert(tx, r, " ON CONFLICT DO NOTHING").await? == 1)
}

pub async fn update_verification_refund(tx: &mut Tx, r: &VerificationRefundRow) -> Result<()> {
    row::update(tx, r).await?;
    Ok(())
}

pub async fn lock_verification_refund(
    tx: &mut Tx,
    dialect: Dialect,
    id: &str,
) -> Result<Option<VerificationRefundRow>> {
    let filter = format!("WHERE id = $1{}", dialect.for_update());
    row::one(&mut *tx, &filter, id).await
}

pub async fn verification_refund_of_charge<'e, E: Executor<'e, Database = Any>>(
    e: E,
    charge_key: &str,
) -> Result<Option<VerificationRefundRow>> {
    row::one(e, "WHERE charge_key = $1", charge_key).await
}

/// The refunds owed whose next attempt is due at `now`, oldest first.
pub async fn verification_refunds_due<'e, E: Executor<'e, Database = Any>>(
    e: E,
    now: i64,
    limit: i64,
) -> Result<Vec<VerificationRefundRow>> {
    let sql = row::select::<VerificationRefundRow>(
        "WHERE status = 'due' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2",
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(now)
        .bind(limit)
        .fetch_all(e)
        .await?;
    row::all(&rows)
}

/// R14: verification refunds still owed after the gateway failed them at least once
/// (what `/metrics` shows the operator).
pub async fn count_failing_verification_refunds<'e, E: Executor<'e, Database = Any>>(
    e: E,
) -> Result<i64> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM verification_refunds WHERE status = 'due' AND attempts > 0",
    )
    .fetch_one(e)
    .await?;
    Ok(n)
}
