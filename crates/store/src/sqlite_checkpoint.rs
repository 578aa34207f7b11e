//! SQLite's WAL, copied into the database file by a task of its own instead of by the
//! commit that fills it (which held the writer, and every debit behind it).

use crate::Result;
use sqlx::{AnyPool, Executor};
use std::time::Duration;

/// How often the background checkpoint runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Copies the WAL's committed pages into the database file, on a timer, on a thread
/// of its own, until the last clone of the `Db` is gone (see `checkpoint`).
pub(crate) fn checkpoint_in_background(pool: AnyPool, writer: AnyPool, alive: std::sync::Weak<()>) {
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
    let ends = crate::own_thread::Ends::WithCaller;
    crate::own_thread::run_on_own_thread("refill-checkpoint", vec![Box::pin(task)], ends);
}

/// Copies the WAL into the database file in passive checkpoints (none waits for
/// anyone nor stops a reader). From a reader's connection, the bulk is copied while
/// commits go on, again while the last copy let many frames in. Then, once a copy let
/// in only a few, from the writer's connection in its turn between two writes, what
/// was committed meanwhile: a few pages. Then the WAL is wholly copied and nothing was
/// written since, so the next write starts the WAL over from its beginning (unless a
/// reader is inside it). Without the writer's turn, under writes that never pause the
/// WAL was never wholly copied when a write began, and it grew without end: 1.5 GB in
/// the benchmark, each commit's fsync slower.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;
    use std::time::Instant;

    /// A commit never runs SQLite's checkpoint (it held the writer for 10
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

    /// While writes go on, a checkpoint still lets the WAL start over from
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
