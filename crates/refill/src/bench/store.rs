//! The databases the bench runs on: a fresh one per measurement, removed after,
//! and a checkpoint before each figure.

use std::path::PathBuf;

/// A database server the bench makes fresh databases on.
pub enum Store {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Store {
    pub fn name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    fn pg_name(label: &str) -> String {
        format!("refill_bench_{}_{label}", std::process::id())
    }

    /// A new, empty database for `label`; its URL.
    pub async fn fresh(&self, label: &str) -> anyhow::Result<String> {
        match self {
            Store::Sqlite(dir) => Ok(format!("sqlite://{}/{label}.db", dir.display())),
            Store::Postgres(admin) => {
                let name = Store::pg_name(label);
                self.admin(&format!("DROP DATABASE IF EXISTS {name}"))
                    .await?;
                self.admin(&format!("CREATE DATABASE {name}")).await?;
                let (base, _) = admin
                    .rsplit_once('/')
                    .ok_or_else(|| anyhow::anyhow!("a PostgreSQL URL ends with /dbname"))?;
                Ok(format!("{base}/{name}"))
            }
        }
    }

    /// Drops what `fresh(label)` made (PostgreSQL; SQLite files go with the
    /// bench's directory).
    pub async fn remove(&self, label: &str) {
        if let Store::Postgres(_) = self {
            let sql = format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                Store::pg_name(label)
            );
            let _ = self.admin(&sql).await;
        }
    }

    /// Writes out what the earlier figures left for the database to do (a
    /// checkpoint), so that a figure does not pay for the writes of the one before:
    /// PostgreSQL's checkpoint after the batch phase's writes, falling in the
    /// half-rate phase, took its p99 to 287 ms and once to 6.6 s (p50 3.2 s).
    pub async fn settle(&self, db: &refill_store::Db) {
        use refill_store::sqlx::Executor;
        let sqlite = async {
            let mut conn = db.writer_connection().await?;
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
            anyhow::Ok(())
        };
        let done = match self {
            Store::Postgres(_) => self.admin("CHECKPOINT").await,
            Store::Sqlite(_) => sqlite.await,
        };
        if let Err(e) = done {
            // A PostgreSQL role without superuser or pg_checkpoint cannot; the
            // figures are still taken, with whatever the database was doing.
            eprintln!(
                "bench: {}: no checkpoint before this figure: {e}",
                self.name()
            );
        }
    }

    async fn admin(&self, sql: &str) -> anyhow::Result<()> {
        use refill_store::sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
        let Store::Postgres(admin) = self else {
            return Ok(());
        };
        let mut conn = PgConnection::connect(admin).await?;
        conn.execute(AssertSqlSafe(sql.to_string())).await?;
        Ok(())
    }
}
