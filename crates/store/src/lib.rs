//! refill's storage: one SQL store that runs on an embedded SQLite file or on
//! PostgreSQL. The SQL is written once; `Dialect` holds the few words that differ.
//! Functions take an open write transaction (`Tx`), so a use case in the service crate
//! puts every change it makes, and the events it causes, in one commit (R28).
//!
//! A module per table holds its row (declared with `table_row!`, see `row`) and its
//! queries; every public item is re-exported here, so callers name `refill_store::x`.

// The row macro first: the table modules below use it.
#[macro_use]
mod row;

mod db;
mod many_rows;
mod migrations;
pub mod own_thread;
mod sqlite_checkpoint;
#[cfg(feature = "test-support")]
pub mod testing;

// One module per table (or per group of tables that one thing holds).
mod accounts;
mod api_keys;
mod auto_top_up;
mod card_setups;
mod deliveries;
mod entries;
mod events;
mod gateway_customers;
mod idempotency;
mod leases;
mod notification_preferences;
mod payment_methods;
mod portal_sessions;
mod refunds;
mod resources;
mod scheduled_recharges;
mod stripe_events;
mod top_ups;
mod transfers;
mod verification_refunds;
mod webhook_endpoints;

// What `refill verify` reconciles, across tables.
mod reconcile;

// The debit pipeline's batch SQL, over accounts, entries and idempotency keys.
mod debit_batch;

pub use accounts::*;
pub use api_keys::*;
pub use auto_top_up::*;
pub use card_setups::*;
pub use db::{Db, Dialect, Transaction, Tx};
pub use debit_batch::*;
pub use deliveries::*;
pub use entries::*;
pub use events::*;
pub use gateway_customers::*;
pub use idempotency::*;
pub use leases::*;
pub use migrations::wall_clock_ms;
pub use notification_preferences::*;
pub use payment_methods::*;
pub use portal_sessions::*;
pub use reconcile::*;
pub use refunds::*;
pub use resources::*;
pub use scheduled_recharges::*;
pub use stripe_events::*;
pub use top_ups::*;
pub use transfers::*;
pub use verification_refunds::*;
pub use webhook_endpoints::*;

pub use sqlx;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("bad database url {0:?}: use sqlite://path/refill.db or postgres://user@host/db")]
    BadUrl(String),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// A checked write found its rows changed since they were read, and wrote nothing
    /// (the caller reads again and redoes it).
    #[error("changed since it was read, nothing written: {0}")]
    Changed(String),
    /// A call the store does not take (a caller's mistake, refused rather than done
    /// wrongly).
    #[error("not supported by the store: {0}")]
    Unsupported(String),
    /// The database could not be reached (kept as such when passed on as text).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// A unique or exclusion constraint refused the write (a lost race).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }

    /// An idempotency key taken by another transaction since the batch read which
    /// were (the multi-row insert of a batch's keys has no ON CONFLICT).
    pub fn is_key_taken(&self) -> bool {
        match self {
            StoreError::Db(sqlx::Error::Database(e)) => {
                e.is_unique_violation()
                    && (e.message().contains("idempotency_keys")
                        || e.constraint()
                            .is_some_and(|c| c.starts_with("idempotency_keys")))
            }
            _ => false,
        }
    }

    /// The database refused the data a write carried (PostgreSQL: a data exception or
    /// an integrity constraint, SQLSTATE classes 22 and 23, such as a NUL in a text;
    /// SQLite: a constraint, a value too big, a type mismatch): the write's input is at
    /// fault, and the same write would fail again. A unique violation is not one (a
    /// lost race, not bad data).
    pub fn is_refused_data(&self) -> bool {
        let StoreError::Db(sqlx::Error::Database(e)) = self else {
            return false;
        };
        if e.is_unique_violation() {
            return false;
        }
        if let Some(pg) = e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
            return pg.code().starts_with("22") || pg.code().starts_with("23");
        }
        const TOOBIG_CONSTRAINT_MISMATCH: [i32; 3] = [18, 19, 20];
        let primary = |code: std::borrow::Cow<'_, str>| code.parse::<i32>().ok().map(|c| c & 0xff);
        e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
            && e.code()
                .and_then(primary)
                .is_some_and(|c| TOOBIG_CONSTRAINT_MISMATCH.contains(&c))
    }

    /// The database could not be reached or the connection broke.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_)
                | StoreError::Db(
                    sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
                )
        )
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A new id: a type prefix and a UUIDv7, so ids sort by creation time.
pub fn new_id(prefix: &str) -> String {
    // Written by hand: `format!` of the UUID took half of this function's time on
    // the debit path, which makes three ids per debit (measured with perf).
    let mut hex = [0u8; uuid::fmt::Simple::LENGTH];
    let hex = uuid::Uuid::now_v7().simple().encode_lower(&mut hex);
    let mut id = String::with_capacity(prefix.len() + 1 + hex.len());
    id.push_str(prefix);
    id.push('_');
    id.push_str(hex);
    id
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_their_prefix_and_sort_by_creation() {
        let a = super::new_id("ent");
        let b = super::new_id("ent");
        assert!(a.starts_with("ent_") && a.len() == 4 + 32, "{a}");
        assert!(
            a[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(a < b, "{a} then {b}");
    }
}
