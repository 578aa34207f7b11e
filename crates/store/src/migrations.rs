//! The schema's history (`migrations/*.sql`) and how a database is brought up to date.

use crate::{Db, Dialect, Result};
use sqlx::{AssertSqlSafe, Executor};

/// The schema's history: a database applies each version once, in order. A version,
/// once released, is never edited; a change is a new version.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/001_schema.sql")),
    (2, include_str!("migrations/002_notifications.sql")),
    (3, include_str!("migrations/003_recurring.sql")),
    (4, include_str!("migrations/004_stripe.sql")),
    (5, include_str!("migrations/005_entry_items.sql")),
    (6, include_str!("migrations/006_api_keys.sql")),
    (7, include_str!("migrations/007_accounts.sql")),
    (8, include_str!("migrations/008_refunds.sql")),
    (12, include_str!("migrations/012_money_a.sql")),
    (13, include_str!("migrations/013_money_b.sql")),
    (14, include_str!("migrations/014_seed.sql")),
    (15, include_str!("migrations/015_portal.sql")),
];

impl Db {
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
            for statement in statements(&in_dialect(self.dialect, text)) {
                tx.execute(AssertSqlSafe(statement)).await?;
            }
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(wall_clock_ms())
                .execute(&mut *tx)
                .await?;
            count += 1;
        }
        tx.commit().await?;
        Ok(count)
    }
}

/// The wall clock, for bookkeeping that is not a domain time (migration dates).
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A migration's text with this store's words in place.
fn in_dialect(dialect: Dialect, text: &str) -> String {
    let serial = match dialect {
        Dialect::Sqlite => "INTEGER PRIMARY KEY",
        Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    text.replace("{SERIAL}", serial)
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
