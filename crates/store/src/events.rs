//! The `events` table: the outbox. A state change and the events it causes commit in
//! one transaction (R28); the fan-out to deliveries marks each event dispatched.

use crate::row;
use crate::{Result, Tx};
use sqlx::{Any, Executor};

table_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct EventRow in "events" {
        pub id: String,
        pub account_id: String,
        pub event_type as "type": String,
        /// JSON text.
        pub data: String,
        pub created_at: i64,
    }
}

pub async fn insert_event(tx: &mut Tx, e: &EventRow) -> Result<()> {
    row::insert(tx, e, "").await?;
    Ok(())
}

pub async fn get_event<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: &str,
) -> Result<Option<EventRow>> {
    row::one(e, "WHERE id = $1", id).await
}

/// Whose events a list holds (R26).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventsOf<'a> {
    /// Every account's (the operator).
    All,
    /// One account's only.
    Account(&'a str),
    /// An account's and its sub-accounts'.
    Tree(&'a str),
}

/// Events, newest first, of `of`.
pub async fn list_events<'e, E: Executor<'e, Database = Any>>(
    e: E,
    of: EventsOf<'_>,
    event_type: Option<&str>,
    starting_after: Option<&str>,
    limit: i64,
) -> Result<Vec<EventRow>> {
    let (account, tree) = match of {
        EventsOf::All => ("", false),
        EventsOf::Account(id) => (id, false),
        EventsOf::Tree(id) => (id, true),
    };
    row::many(
        e,
        "WHERE ($1 = '' OR account_id = $1 \
         OR ($5 = 1 AND account_id IN (SELECT id FROM accounts WHERE parent_id = $1))) \
         AND ($2 = '' OR type = $2) \
         AND seq < COALESCE((SELECT seq FROM events WHERE id = $3), 9223372036854775807) \
         ORDER BY seq DESC LIMIT $4",
        |q| {
            q.bind(account)
                .bind(event_type.unwrap_or(""))
                .bind(starting_after.unwrap_or(""))
                .bind(limit)
                .bind(tree as i64)
        },
    )
    .await
}

/// The oldest events not fanned out yet (read without locks: `mark_dispatched`
/// decides which node fans each one out).
pub async fn undispatched_events(conn: &mut Tx, limit: i64) -> Result<Vec<EventRow>> {
    row::many(
        &mut *conn,
        "WHERE dispatched = 0 ORDER BY seq LIMIT $1",
        |q| q.bind(limit),
    )
    .await
}

/// Marks an event fanned out; false when it already was (by another node).
pub async fn mark_dispatched(tx: &mut Tx, event_id: &str) -> Result<bool> {
    let done = sqlx::query("UPDATE events SET dispatched = 1 WHERE id = $1 AND dispatched = 0")
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
    Ok(done.rows_affected() == 1)
}
