//! The `leases` table: one node at a time runs a periodic job.

use crate::{Result, Tx};

/// Takes or renews the named lease for `owner` until `until`; false if another
/// owner holds it.
pub async fn try_lease(tx: &mut Tx, name: &str, owner: &str, now: i64, until: i64) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until \
         WHERE leases.owner = excluded.owner OR leases.until < $4",
    )
    .bind(name)
    .bind(owner)
    .bind(until)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
