//! The naive baseline: the debit path a provider would build themselves.
//! Each debit request is its own database transaction on a pooled connection: a
//! conditional update of the balance (which takes the row lock) and the insert of its
//! entries, committed before the answer. Same HTTP server (axum), same database,
//! same durability (SQLite: WAL, synchronous=FULL; PostgreSQL: synchronous commit),
//! same clients as refill; only the debit path differs. refill's own accounts and
//! entries tables are used, so the rows written are the same.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use refill_domain::ledger::{self, EntryKind};
use refill_store::sqlx::{self, Row};
use refill_store::{Db, EntryRow};
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;
use tokio::task::JoinHandle;

/// Serves the naive debit routes on a new port; abort the handle to stop.
pub async fn serve(db: Db) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
    let app = Router::new()
        .route("/v1/accounts/{id}/debits", post(single))
        .route("/v1/accounts/{id}/debits/batch", post(batch))
        .with_state(db);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, task))
}

#[derive(Deserialize)]
struct Item {
    amount: i64,
}

#[derive(Deserialize)]
struct Batch {
    items: Vec<Item>,
}

async fn single(State(db): State<Db>, h: HeaderMap, Path(id): Path<String>, b: Bytes) -> Response {
    if !authorized(&h) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match serde_json::from_slice::<Item>(&b) {
        Ok(item) => answer(debit(&db, &id, &[item]).await),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn batch(State(db): State<Db>, h: HeaderMap, Path(id): Path<String>, b: Bytes) -> Response {
    if !authorized(&h) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match serde_json::from_slice::<Batch>(&b) {
        Ok(batch) => answer(debit(&db, &id, &batch.items).await),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

fn authorized(h: &HeaderMap) -> bool {
    let bearer = format!("Bearer {}", super::KEY);
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(bearer.as_str())
}

fn answer(result: anyhow::Result<Option<i64>>) -> Response {
    match result {
        Ok(Some(balance)) => {
            let body = json!({"object": "debit", "balance_after": balance});
            (StatusCode::CREATED, axum::Json(body)).into_response()
        }
        Ok(None) => (StatusCode::PAYMENT_REQUIRED, "insufficient balance").into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// The items in one transaction, each a conditional update and its entries; None
/// when the balance does not cover them (nothing is written).
async fn debit(db: &Db, account: &str, items: &[Item]) -> anyhow::Result<Option<i64>> {
    let mut tx = db.pool.begin().await?;
    let mut balance = 0;
    for item in items {
        let row = sqlx::query(
            "UPDATE accounts SET balance = balance - $1 \
             WHERE id = $2 AND balance - $1 >= credit_limit RETURNING balance, currency",
        )
        .bind(item.amount)
        .bind(account)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        balance = row.try_get(0)?;
        let currency: String = row.try_get(1)?;
        let rows = entries(account, &currency, item.amount, balance)?;
        refill_store::insert_entries(&mut tx, &rows).await?;
    }
    tx.commit().await?;
    Ok(Some(balance))
}

/// The two entries of a debit: the customer's and the revenue's.
fn entries(
    account: &str,
    currency: &str,
    amount: i64,
    after: i64,
) -> anyhow::Result<Vec<EntryRow>> {
    let journal = ledger::debit(account, EntryKind::Usage, amount)?;
    let now = refill_store::wall_clock_ms();
    Ok(refill_service::journal::journal_entries(
        &journal,
        currency,
        &[(account, after)],
        None,
        now,
    ))
}
