use crate::{Result, StoreError};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, AssertSqlSafe, Executor};
use std::str::FromStr;
use std::time::Duration;

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// The schema's history: a database applies each version once, in order. A version,
/// once released, is never edited; a change is a new version.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("schema.sql")),
    (2, include_str!("migrations/002_notifications.sql")),
    (3, include_str!("migrations/003_recurring.sql")),
    (4, include_str!("migrations/004_stripe.sql")),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

    /// Row locks: PostgreSQL locks the rows it reads for update; SQLite has one
    /// writer at a time (BEGIN IMMEDIATE), so it needs none.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
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
        let pool = match dialect {
            Dialect::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; \
                                 PRAGMA busy_timeout=30000; PRAGMA foreign_keys=ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Dialect::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(24)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?
            }
        };
        Ok(Db { pool, dialect })
    }

    /// A write transaction. On SQLite it takes the write lock at once (BEGIN
    /// IMMEDIATE), so a transaction that reads and then writes never fails on upgrade.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        })
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

    /// Whether the database answers (for /readyz).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
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
