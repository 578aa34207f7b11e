//! refill: prepaid balances with automatic top-up. This crate is the edge: the HTTP
//! API, the settings, the server and the commands (serve, demo, verify, bench).

pub mod api;
pub mod bench;
pub mod connections;
pub mod demo;
pub mod events_cli;
pub mod openapi;
pub mod portal;
pub mod server;
pub mod settings;
pub mod verify;

pub use server::{Running, start};
pub use settings::Settings;

/// Installs ring as the TLS crypto provider (reqwest is built without a default one,
/// to keep the build lean). Safe to call more than once.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Lowers the priority of the calling thread (the HTTP runtime's workers call it as
/// they start). Why: a debit batch is a chain of short steps on two other threads,
/// the pipeline's and the database connection's (SQLite runs each connection on a
/// thread of its own). When the request threads keep every core busy, each step
/// waited for a core, 40 to 380 us a step, and the pipeline, the one serial part of
/// the path, slowed down (measured in the bench: 1.19 ms a batch, 0.91 ms with the
/// request threads at nice 5). The pipeline's thread and the writer's connection are
/// made from the main thread, so they keep the normal priority; a process may always
/// lower its own threads' priority, so this needs no privilege.
pub fn yield_to_commit_path() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take plain integers and touch no memory of ours;
    // on Linux, PRIO_PROCESS with a thread id sets that one thread's nice value.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 5);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// This thread's nice value.
    fn nice() -> i32 {
        // SAFETY: as in `yield_to_commit_path`; errno is cleared first because -1 is
        // also a valid nice value.
        unsafe {
            *libc::__errno_location() = 0;
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::getpriority(libc::PRIO_PROCESS, tid)
        }
    }

    /// The request threads step aside for the commit path (nice 5), each on its own:
    /// the thread that made them (whence the pipeline's thread) keeps its priority.
    #[test]
    fn a_request_thread_runs_at_nice_5_and_only_it() {
        let before = nice();
        let on_request_thread = std::thread::spawn(|| {
            super::yield_to_commit_path();
            nice()
        })
        .join()
        .expect("the thread ran");
        // Lowering one's priority needs no privilege; a thread already below 5 can be
        // raised back to 5 only with privilege, else it stays where it was.
        let kept_lower = before > 5 && on_request_thread == before;
        assert!(
            on_request_thread == 5 || kept_lower,
            "nice {on_request_thread}"
        );
        assert_eq!(nice(), before, "the calling thread is untouched");
    }
}
