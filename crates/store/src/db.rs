use crate::{Result, StoreError};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, AssertSqlSafe, Executor};
use std::str::FromStr;
use std::time::Duration;

/// The connection of an open write transaction: what the store's functions write
/// through (`&mut` a `Transaction` turns into it). A caller that holds a connection
/// across transactions (the debit pipeline) passes its connection the same way.
pub type Tx = sqlx::AnyConnection;

/// An open write transaction that owns its pooled connection: commit it, or drop it
/// to roll back.
pub type Transaction = sqlx::Transaction<'static, sqlx::Any>;

/// The schema's history: a database applies each version once, in order. A version,
/// once released, is never edited; a change is a new version.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("schema.sql")),
    (2, include_str!("migrations/002_notifications.sql")),
    (3, include_str!("migrations/003_recurring.sql")),
    (4, include_str!("migrations/004_stripe.sql")),
    (5, include_str!("migrations/005_entry_items.sql")),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A migration's text with this store's words in place.
    fn schema(self, text: &str) -> String {
        let serial = match self {
            Dialect::Sqlite => "INTEGER PRIMARY KEY",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
        };
        text.replace("{SERIAL}", serial)
    }

    /// The statement that opens a write transaction: SQLite takes the write lock at
    /// once (IMMEDIATE), so a transaction that reads and then writes never fails on
    /// upgrade; PostgreSQL locks rows as it goes.
    fn begin(self) -> &'static str {
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
    writer: AnyPool,
    /// SQLite: while a clone of the `Db` lives, a task checkpoints the WAL (see
    /// `checkpoint_in_background`).
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
                checkpoint_in_background(pool.clone(), writer.clone(), weak);
                (pool, writer, Some(alive))
            }
            Dialect::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(24)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
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

    /// Applies the migrations not applied yet, in order, in one transaction. Safe when
    /// several nodes start at once: on PostgreSQL they queue on an advisory lock.
    /// Returns how many were applied.
    pub async fn migrate(&self) -> Result<usize> {
        let mut tx = self.begin().await?;
        if self.dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7461626)")
                .execute(&mut *tx)
                .await?;
        }
        tx.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
            .fetch_all(&mut *tx)
            .await?;
        let mut count = 0;
        for (version, text) in MIGRATIONS {
            if applied.contains(version) {
                continue;
            }
            for statement in statements(&self.dialect.schema(text)) {
                tx.execute(AssertSqlSafe(statement)).await?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(crate::queries::wall_clock_ms())
                .execute(&mut *tx)
                .await?;
            count += 1;
        }
        tx.commit().await?;
        Ok(count)
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

/// Every SQLite connection: WAL, synchronous=FULL (an answered write is on disk).
/// The writer does not checkpoint: SQLite's automatic checkpoint runs inside the
/// commit that fills the WAL, and held the writer (and every debit waiting behind it)
/// for 10 to 20 ms (the benchmark's p99, issue 5). `checkpoint_in_background` does it.
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

/// How often the background checkpoint runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies the WAL's committed pages into the database file, on a timer, on a thread
/// of its own, until the last clone of the `Db` is gone (see `checkpoint`).
fn checkpoint_in_background(pool: AnyPool, writer: AnyPool, alive: std::sync::Weak<()>) {
    let task = async move {
        let mut skipped = 0;
        loop {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            if alive.strong_count() == 0 || pool.is_closed() {
                break;
            }
            // A failure (the database busy, say) is retried at the next tick.
            let took_turn = checkpoint(&pool, &writer, skipped >= MAX_SKIPPED).await;
            skipped = if matches!(took_turn, Ok(true)) {
                0
            } else {
                skipped + 1
            };
        }
    };
    let ends = crate::threads::Ends::WithCaller;
    crate::threads::run_on_own_thread("refill-checkpoint", vec![Box::pin(task)], ends);
}

/// Copies the WAL into the database file in passive checkpoints (none waits for
/// anyone nor stops a reader). From a reader's connection, the bulk is copied while
/// commits go on, again while the last copy let many frames in. Then, once a copy let
/// in only a few, from the writer's connection in its turn between two writes, what
/// was committed meanwhile: a few pages. Then the WAL is wholly copied and nothing was
/// written since, so the next write starts the WAL over from its beginning (unless a
/// reader is inside it). Without the writer's turn, under writes that never pause the
/// WAL was never wholly copied when a write began, and it grew without end: 1.5 GB in
/// the benchmark, each commit's fsync slower (issue 5).
///
/// Returns whether the writer's turn ran. `insist`: it runs after any wait, and
/// after copies that let many frames in.
async fn checkpoint(pool: &AnyPool, writer: &AnyPool, insist: bool) -> Result<bool> {
    const FEW_FRAMES: i64 = 256;
    let mut frames_before = i64::MIN / 2;
    for _ in 0..4 {
        let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(pool)
            .await?;
        // Frames committed during the copy before this one (fewer after a restart).
        if frames - frames_before < FEW_FRAMES {
            return finish_checkpoint(writer, insist).await;
        }
        frames_before = frames;
    }
    if insist {
        return finish_checkpoint(writer, true).await;
    }
    Ok(false)
}

/// Ticks in a row without the writer's turn (a steady stream of large writes, a
/// slow disk) after which it is taken anyway: else the WAL would grow without end.
const MAX_SKIPPED: u32 = 10;

/// A wait for the writer's turn longer than this means a long transaction held it
/// (the pipeline keeps it 5 ms at most), which may just have committed many pages.
const LONG_WAIT: Duration = Duration::from_millis(10);

/// The writer's turn of `checkpoint`. After a long wait (unless `insist`) it copies
/// nothing, and leaves the new pages to the next tick's copy from a reader: copying
/// them here held up the next writer, 20 ms after the benchmark's bulk load of
/// accounts, and its periodic check with it.
async fn finish_checkpoint(writer: &AnyPool, insist: bool) -> Result<bool> {
    let asked = std::time::Instant::now();
    let mut conn = writer.acquire().await?;
    let take_turn = insist || asked.elapsed() < LONG_WAIT;
    if take_turn {
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").await?;
    }
    Ok(take_turn)
}

/// The statements of a schema text, comments removed.
fn statements(schema: &str) -> Vec<String> {
    let text: String = schema
        .lines()
        .map(|l| l.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Issue 5: a commit never runs SQLite's checkpoint (it held the writer for 10
    /// to 20 ms); the background task copies the WAL into the database file instead.
    #[tokio::test]
    async fn the_wal_is_checkpointed_in_the_background_not_by_commits() {
        let path = std::env::temp_dir().join(format!("refill-ckpt-{}.db", crate::new_id("t")));
        let db = Db::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let mut tx = db.begin().await.unwrap();
        let auto: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(auto, 0, "the writer must not checkpoint inside its commits");
        // 3,000 pages in one commit: three times what SQLite's automatic checkpoint
        // would have copied at once.
        tx.execute("CREATE TABLE filler (b BLOB)").await.unwrap();
        for _ in 0..3_000 {
            sqlx::query("INSERT INTO filler (b) VALUES (zeroblob(4000))")
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let copied = 3_000 * 4_000;
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(&path).unwrap().len() < copied {
            assert!(
                Instant::now() < deadline,
                "the background checkpoint never copied the WAL into the database file"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        db.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    /// Issue 5: while writes go on, a checkpoint still lets the WAL start over from
    /// its beginning (it grew without end before: the checkpoint never caught up with
    /// the last commit).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_while_writes_go_on() {
        let path = std::env::temp_dir().join(format!("refill-wal-{}.db", crate::new_id("t")));
        let db = Db::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        db.writer
            .execute("CREATE TABLE filler (b BLOB)")
            .await
            .unwrap();
        let fill = |db: Db| async move {
            sqlx::query("INSERT INTO filler (b) VALUES (zeroblob(6000))")
                .execute(&db.writer)
                .await
                .unwrap();
        };
        // Two pages or more a commit: 600 frames or more in the WAL.
        for _ in 0..300 {
            fill(db.clone()).await;
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writes = tokio::spawn({
            let (db, stop) = (db.clone(), stop.clone());
            async move {
                let mut commits = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    fill(db.clone()).await;
                    commits += 1;
                }
                commits
            }
        });
        let took_turn = checkpoint(&db.pool, &db.writer, true).await.unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let during = writes.await.unwrap();
        fill(db.clone()).await;
        let (_, frames, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert!(took_turn, "the writer's turn did not run");
        assert!(during > 0, "no write went on during the checkpoint");
        assert!(
            frames < 300,
            "the WAL holds {frames} frames: it did not start over after the checkpoint"
        );
        db.close().await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
