//! The database: its connection pools (a writer's and readers'), each store's
//! settings, and the few words of SQL that differ between the two (`Dialect`).

use crate::{Result, StoreError};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;

/// The connection the store's functions run on, with a write transaction open on it
/// for those that change rows (`&mut` a `Transaction` turns into it), so that a use
/// case's changes and the events they cause commit together (R28). A caller that
/// holds a connection across transactions (the debit pipeline) passes it the same way.
pub type Tx = sqlx::AnyConnection;

/// An open write transaction that owns its pooled connection: commit it, or drop it
/// to roll back.
pub type Transaction = sqlx::Transaction<'static, sqlx::Any>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The statement that opens a write transaction: SQLite takes the write lock at
    /// once (IMMEDIATE), so a transaction that reads and then writes never fails on
    /// upgrade; PostgreSQL locks rows as it goes.
    pub(crate) fn begin(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }

    /// Row locks: PostgreSQL locks the rows it reads for update; SQLite has one
    /// writer at a time (BEGIN IMMEDIATE), so it needs none.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Equality that holds between two NULLs.
    pub fn is_not_distinct(self) -> &'static str {
        match self {
            Dialect::Sqlite => "IS",
            Dialect::Postgres => "IS NOT DISTINCT FROM",
        }
    }

    /// Like `for_update`, but skips rows another node holds (work queues).
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}

/// The database: a connection pool and its dialect.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub dialect: Dialect,
    /// Where write transactions run. SQLite has one writer at a time: its own wait
    /// for the write lock sleeps in steps of up to 100 ms, so a transaction queued
    /// behind the debit pipeline waited tens of milliseconds (the benchmark's p99).
    /// Here writers queue on a pool of one connection instead, in order, and each
    /// starts the moment the one before commits. PostgreSQL: the same pool.
    pub(crate) writer: AnyPool,
    /// SQLite: while a clone of the `Db` lives, a task checkpoints the WAL (see
    /// `sqlite_checkpoint`).
    _checkpointer: Option<std::sync::Arc<()>>,
}

impl Db {
    /// Connects to `sqlite://path` (created if missing; WAL, synchronous=FULL: an
    /// answered write is on disk) or `postgres://...`.
    pub async fn connect(url: &str) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let (dialect, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            let sep = if path.contains('?') { '&' } else { '?' };
            (Dialect::Sqlite, format!("sqlite://{path}{sep}mode=rwc"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Dialect::Postgres, url.to_string())
        } else {
            return Err(StoreError::BadUrl(url.to_string()));
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let (pool, writer, _checkpointer) = match dialect {
            Dialect::Sqlite => {
                let writer = sqlite_pool(1, true).connect_with(options.clone()).await?;
                let pool = sqlite_pool(8, false).connect_with(options).await?;
                let alive = std::sync::Arc::new(());
                let weak = std::sync::Arc::downgrade(&alive);
                crate::sqlite_checkpoint::checkpoint_in_background(
                    pool.clone(),
                    writer.clone(),
                    weak,
                );
                (pool, writer, Some(alive))
            }
            Dialect::Postgres => {
                let pool = postgres_pool().connect_with(options).await?;
                (pool.clone(), pool, None)
            }
        };
        Ok(Db {
            pool,
            dialect,
            writer,
            _checkpointer,
        })
    }

    /// A write transaction (see `Dialect::begin`).
    pub async fn begin(&self) -> Result<Transaction> {
        Ok(self.writer.begin_with(self.dialect.begin()).await?)
    }

    /// The writer's connection, to hold across several transactions (the debit
    /// pipeline: handing the connection back to the pool costs a round trip to the
    /// database, a ping, each time). Holding it keeps every other writer of a SQLite
    /// store waiting, so hold it briefly.
    pub async fn writer_connection(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        Ok(self.writer.acquire().await?)
    }

    /// Closes the connections (the writer's too).
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close().await;
    }

    /// Whether the database answers (for /readyz).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// A pool of SQLite connections (`sqlite_settings`); the writer's pool has one.
fn sqlite_pool(connections: u32, writer: bool) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        // A connection to a local file does not go stale: no ping before each use
        // (a round trip to the connection's thread before every transaction).
        .test_before_acquire(false)
        // Nor do they expire: the writer's connection is opened once, at start, by
        // the main thread, and its thread keeps the main thread's priority (see
        // `refill::yield_to_commit_path`).
        .max_lifetime(None)
        .idle_timeout(None)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _| Box::pin(async move { sqlite_settings(conn, writer).await }))
}

/// The PostgreSQL pool. sqlx pings a connection as it goes back to the pool, and by
/// default again before handing it out: a second round trip before every read and
/// every transaction (a read was two round trips, not one). Here only a connection
/// idle for longer than `PING_AFTER_IDLE` is pinged before use (one that died while
/// idle, a server restarted, is then replaced, not handed out); a connection that
/// breaks in use fails its query and is closed when it goes back.
fn postgres_pool() -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(24)
        .acquire_timeout(Duration::from_secs(30))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// How long a PostgreSQL connection may sit in the pool and still be handed out
/// without a ping.
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Every SQLite connection: WAL, synchronous=FULL (an answered write is on disk).
/// The writer does not checkpoint: SQLite's automatic checkpoint runs inside the
/// commit that fills the WAL, and held the writer (and every debit waiting behind it)
/// for 10 to 20 ms (the benchmark's p99). `sqlite_checkpoint` does it instead.
async fn sqlite_settings(conn: &mut sqlx::AnyConnection, writer: bool) -> sqlx::Result<()> {
    conn.execute(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
         PRAGMA busy_timeout=30000; PRAGMA foreign_keys=ON;",
    )
    .await?;
    if writer {
        // When a write starts the WAL over, it cuts the file back to 64 MB: after a
        // long burst the file does not stay at its largest.
        conn.execute("PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864")
            .await?;
    }
    Ok(())
}
