//! The background workers and their loops.

use crate::Refill;
use refill_store::Dialect;
use std::time::Duration;

/// Starts the background workers: the top-up executor (woken at once when work is
/// queued, else polling), notification delivery (R28), the periodic jobs (R22, R11),
/// one node at a time, and the writing of the keys' last uses, on every node. On
/// SQLite they run on a thread of their own: a worker's transaction holds the one
/// writer's connection, and debits wait for it (see
/// `refill_store::own_thread::run_on_own_thread`). Not on PostgreSQL: a connection is
/// driven by the event loop of the runtime that opened it and then serves anyone from
/// the shared pool, so once the workers' thread stopped, the connections it had
/// opened failed the HTTP handlers' queries ("Tokio context being shutdown", seen in
/// a test that stops the workers).
pub fn spawn_workers(app: Refill) -> Vec<tokio::task::AbortHandle> {
    let dialect = app.db.dialect;
    let tasks: Vec<refill_store::own_thread::Task> = vec![
        Box::pin(run_top_ups(app.clone())),
        Box::pin(deliver_notifications(app.clone())),
        Box::pin(run_periodic_jobs(app.clone())),
        Box::pin(record_key_uses(app)),
    ];
    match dialect {
        Dialect::Sqlite => refill_store::own_thread::run_on_own_thread(
            "refill-workers",
            tasks,
            refill_store::own_thread::Ends::WithCaller,
        ),
        Dialect::Postgres => tasks
            .into_iter()
            .map(|t| tokio::spawn(t).abort_handle())
            .collect(),
    }
}

async fn run_top_ups(app: Refill) {
    loop {
        let notified = app.work_ready.notified();
        match app.run_due_top_ups().await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => eprintln!("refill: executor: {e}"),
        }
        let _ = tokio::time::timeout(
            Duration::from_millis(app.config.poll_every as u64),
            notified,
        )
        .await;
    }
}

async fn deliver_notifications(app: Refill) {
    loop {
        if let Err(e) = app.deliver_notifications().await {
            eprintln!("refill: notifications: {e}");
        }
        tokio::time::sleep(Duration::from_millis(app.config.poll_every as u64)).await;
    }
}

async fn run_periodic_jobs(app: Refill) {
    loop {
        if let Err(e) = app.periodic_jobs().await {
            eprintln!("refill: periodic check: {e}");
        }
        let every = app.config.periodic_check.max(1_000) as u64;
        tokio::time::sleep(Duration::from_millis(every)).await;
    }
}

/// On every node: the keys' last uses noted here, written once a minute.
async fn record_key_uses(app: Refill) {
    let every = Duration::from_millis(crate::caches::KEY_USES_EVERY_MS as u64);
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = app.record_key_uses().await {
            eprintln!("refill: recording key uses: {e}");
        }
    }
}
