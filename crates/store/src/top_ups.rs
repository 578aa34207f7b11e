//! The `top_ups` table: manual, automatic and scheduled top-ups (R8-R11, R19, R21,
//! R30), their workers' leases, and the credits withheld until a payment settles.

use crate::many_rows::insert_many;
use crate::row::{self, TableRow};
use crate::{Dialect, Result, Tx};
use refill_domain::auto_top_up::WhyNot;
use refill_domain::top_up::{self, Origin, Progress, Source, TopUpStatus};
use sqlx::{Any, AssertSqlSafe, Executor, Row};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TopUpRow in "top_ups" {
        pub id: String,
        pub account_id: String,
        pub origin: Origin,
        pub source: Source,
        pub payment_method_id: Option<String>,
        pub currency: String,
        pub amount: i64,
        pub tax: i64,
        pub total: i64,
        pub status: TopUpStatus,
        pub in_flight: bool,
        pub attempt: i64,
        pub authenticated: bool,
        pub not_before: Option<i64>,
        pub lease_owner: Option<String>,
        pub lease_until: Option<i64>,
        pub gateway_charge_id: Option<String>,
        pub failure_code: Option<String>,
        pub failure_message: Option<String>,
        pub why_waiting: Option<WhyNot>,
        pub refunded: i64,
        pub request_key: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
        pub completed_at: Option<i64>,
    }
}

impl TopUpRow {
    /// A new top-up of `origin`, paid from a card unless said otherwise, at the start
    /// of its lifecycle (`progress`); the amounts are the caller's to set.
    pub fn new(
        id: String,
        account_id: &str,
        currency: &str,
        origin: Origin,
        progress: Progress,
        now: i64,
    ) -> TopUpRow {
        let mut t = TopUpRow {
            id,
            account_id: account_id.into(),
            origin,
            source: Source::Card,
            payment_method_id: None,
            currency: currency.into(),
            amount: 0,
            tax: 0,
            total: 0,
            status: progress.status,
            in_flight: false,
            attempt: 0,
            authenticated: false,
            not_before: None,
            lease_owner: None,
            lease_until: None,
            gateway_charge_id: None,
            failure_code: None,
            failure_message: None,
            why_waiting: None,
            refunded: 0,
            request_key: None,
            created_at: now,
            updated_at: now,
            completed_at: None,
        };
        t.set_progress(progress);
        t
    }

    /// Its lifecycle fields, for the domain to move (R25).
    pub fn progress(&self) -> Progress {
        Progress {
            status: self.status,
            in_flight: self.in_flight,
            not_before: self.not_before,
            waiting: self.why_waiting,
            completed_at: self.completed_at,
        }
    }

    /// Takes the lifecycle fields a move of the domain returned.
    pub fn set_progress(&mut self, p: Progress) {
        self.status = p.status;
        self.in_flight = p.in_flight;
        self.not_before = p.not_before;
        self.why_waiting = p.waiting;
        self.completed_at = p.completed_at;
    }

    /// R25: the gateway's idempotency key for its current attempt.
    pub fn charge_key(&self) -> String {
        top_up::charge_key(
            &self.id,
            self.origin,
            self.request_key.as_deref(),
            self.attempt,
        )
    }
}

/// Leaves out a top-up that would be a second in flight for its account (R19).
const SECOND_IN_FLIGHT: &str = " ON CONFLICT DO NOTHING";

/// Inserts a top-up. An automatic one that would be a second in flight for its
/// account is not inserted (R19) and false is returned.
pub async fn insert_top_up(tx: &mut Tx, t: &TopUpRow) -> Result<bool> {
    Ok(row::insert(tx, t, SECOND_IN_FLIGHT).await? == 1)
}

/// Inserts many top-ups; one that would be a second in flight for its account is
/// left out (R19). Returns how many were inserted.
pub async fn insert_top_ups(tx: &mut Tx, rows: &[TopUpRow]) -> Result<u64> {
    insert_many(tx, "insert_top_ups", rows, SECOND_IN_FLIGHT).await
}

pub async fn update_top_up(tx: &mut Tx, t: &TopUpRow) -> Result<()> {
    row::update(tx, t).await?;
    Ok(())
}

pub async fn top_up_by_request_key<'e, E: Executor<'e, Database = Any>>(
    e: E,
    key: &str,
) -> Result<Option<TopUpRow>> {
    row::one(e, "WHERE request_key = $1", key).await
}

pub async fn get_top_up<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<TopUpRow>> {
    row::one(e, "WHERE id = $1", id).await
}

pub async fn lock_top_up(tx: &mut Tx, dialect: Dialect, id: &str) -> Result<Option<TopUpRow>> {
    let filter = format!("WHERE id = $1{}", dialect.for_update());
    row::one(&mut *tx, &filter, id).await
}

/// The account's automatic top-up in flight, if any (R19).
pub async fn top_up_in_flight<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
) -> Result<Option<TopUpRow>> {
    row::one(e, "WHERE account_id = $1 AND in_flight = 1", account_id).await
}

/// R4: the account's top-ups not finished (neither succeeded, failed nor canceled),
/// read for update (closing an account waits for them or cancels them).
pub async fn lock_unfinished_top_ups(
    tx: &mut Tx,
    dialect: Dialect,
    account_id: &str,
) -> Result<Vec<TopUpRow>> {
    let filter = format!(
        "WHERE account_id = $1 AND status NOT IN ('succeeded', 'failed', 'canceled') \
         ORDER BY id{}",
        dialect.for_update()
    );
    row::many(&mut *tx, &filter, |q| q.bind(account_id)).await
}

pub async fn list_top_ups<'e, E: Executor<'e, Database = Any>>(
    e: E,
    account_id: &str,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<TopUpRow>> {
    row::many(
        e,
        "WHERE account_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3",
        |q| {
            q.bind(account_id)
                .bind(starting_after.unwrap_or(""))
                .bind(limit)
        },
    )
    .await
}

/// Claims up to `limit` top-ups that need work now: queued ones that are due,
/// charging ones whose worker's lease ran out (a crashed node), and ones whose wait
/// for the customer's 3-D Secure is over (`not_before`, R23). The claim is a lease in
/// the row, so a dead node's work passes to another when the lease ends.
pub async fn claim_top_ups(
    tx: &mut Tx,
    dialect: Dialect,
    owner: &str,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<TopUpRow>> {
    let sql = "SELECT id FROM top_ups WHERE status = 'queued' AND not_before <= $1 \
           AND (lease_until IS NULL OR lease_until < $1) \
         UNION SELECT id FROM top_ups WHERE status = 'charging' AND lease_until < $1 \
         UNION SELECT id FROM top_ups WHERE status = 'requires_action' AND not_before <= $1 \
           AND (lease_until IS NULL OR lease_until < $1) \
         LIMIT $2";
    let ids: Vec<String> = sqlx::query_scalar(sql)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
    let mut claimed = Vec::with_capacity(ids.len());
    for id in ids {
        // Re-read under lock, skipping rows another node holds, and check it is still due.
        let sql = row::select::<TopUpRow>(&format!(
            "WHERE id = $1 AND (lease_until IS NULL OR lease_until < $2){}",
            dialect.skip_locked()
        ));
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(&id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(mut t) = row.as_ref().map(TopUpRow::from_row).transpose()? else {
            continue;
        };
        t.lease_owner = Some(owner.to_string());
        t.lease_until = Some(now + lease_ms);
        sqlx::query("UPDATE top_ups SET lease_owner = $1, lease_until = $2 WHERE id = $3")
            .bind(owner)
            .bind(now + lease_ms)
            .bind(&t.id)
            .execute(&mut *tx)
            .await?;
        claimed.push(t);
    }
    Ok(claimed)
}

/// Pending card payments (R11) created before `before`, to settle.
pub async fn pending_top_ups<'e, E: Executor<'e, Database = Any>>(
    e: E,
    before: i64,
    limit: i64,
) -> Result<Vec<TopUpRow>> {
    row::many(
        e,
        "WHERE status = 'pending' AND created_at <= $1 ORDER BY created_at LIMIT $2",
        |q| q.bind(before).bind(limit),
    )
    .await
}

/// R21: automatic top-ups made (succeeded or pending) since `since`: count, amount.
pub async fn auto_top_up_usage(tx: &mut Tx, account_id: &str, since: i64) -> Result<(i64, i64)> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM top_ups \
         WHERE account_id = $1 AND origin = 'auto' AND status IN ('succeeded', 'pending') \
         AND completed_at >= $2",
    )
    .bind(account_id)
    .bind(since)
    .fetch_one(&mut *tx)
    .await?;
    Ok((row.try_get("n")?, row.try_get("total")?))
}

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
