//! Work that must not wait behind the HTTP requests runs on threads of its own: the
//! debit pipeline, the workers, SQLite's checkpoint.

use std::future::Future;
use std::pin::Pin;
use tokio::task::AbortHandle;

/// A task for `run_on_own_thread`.
pub type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs `tasks` on a new thread named `name`, with an event loop of its own, until
/// every one has ended or been aborted, or, with `Ends::WithCaller`, the runtime
/// that called this has shut down (a test's, say: the tasks must not outlive the app
/// they serve); returns a handle to abort each. Why: the HTTP runtime's threads are
/// busy (and run at a lower priority, see the `refill` crate's
/// `yield_to_commit_path`), and a task there waits in the run queue behind hundreds
/// of requests at each step. The debit pipeline's batch is a chain of round
/// trips to the database, and so is a worker's transaction or the checkpoint's turn
/// on the writer, which on SQLite hold the one writer's connection meanwhile: on the
/// HTTP runtime, each step waited and the debits waited behind the held connection
/// (measured with perf).
pub fn run_on_own_thread(name: &str, tasks: Vec<Task>, ends: Ends) -> Vec<AbortHandle> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot start the {name} thread's event loop: {e}"));
    let handles: Vec<_> = tasks.into_iter().map(|t| runtime.spawn(t)).collect();
    let aborts: Vec<_> = handles.iter().map(|h| h.abort_handle()).collect();
    // Dropped when the thread's tasks are all done, which ends the guard below.
    let (done, thread_done) = tokio::sync::oneshot::channel::<()>();
    let caller = tokio::runtime::Handle::try_current();
    if let (Ends::WithCaller, Ok(caller)) = (ends, caller) {
        let guard = AbortOnDrop(aborts.clone());
        caller.spawn(async move {
            let _guard = guard;
            let _ = thread_done.await;
        });
    }
    let thread = name.to_string();
    let spawned = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _done = done;
            runtime.block_on(async {
                for h in handles {
                    if let Err(e) = h.await
                        && e.is_panic()
                    {
                        eprintln!("refill: a task of the thread {thread} panicked: {e}");
                    }
                }
            })
        });
    if let Err(e) = spawned {
        // Without its thread the work cannot run at all: debits would hang.
        panic!("cannot start the {name} thread: {e}");
    }
    aborts
}

/// When the tasks of `run_on_own_thread` end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ends {
    /// When they return, or are aborted through their handles.
    ByThemselves,
    /// Also when the runtime that started them shuts down.
    WithCaller,
}

/// Aborts its tasks when dropped (when the runtime holding it shuts down, or the
/// tasks are done).
struct AbortOnDrop(Vec<AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
