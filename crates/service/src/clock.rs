//! Time comes from a `Clock`, never from the system directly, so that the rules about
//! intervals, retries and caps are tested with a simulated clock, without sleeps.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync {
    /// Unix milliseconds, UTC.
    fn now_ms(&self) -> i64;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        refill_store::wall_clock_ms()
    }
}

/// A clock that moves only when told to (tests, demos).
#[derive(Clone, Default)]
pub struct SimClock(Arc<AtomicI64>);

impl SimClock {
    pub fn at(ms: i64) -> SimClock {
        SimClock(Arc::new(AtomicI64::new(ms)))
    }
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
