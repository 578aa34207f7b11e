//! refill's domain rules, pure: no I/O, no async, no clock reads (time is passed in as
//! unix milliseconds). The rules (R1..R31) are those of `shared/domain.md`; each
//! function names the rule it implements.

pub mod accounts;
pub mod auto_top_up;
pub mod balance;
pub mod checkout;
pub mod currency;
pub mod debit;
pub mod error;
mod event_type;
pub mod events;
pub mod ledger;
pub mod money;
pub mod notifications;
pub mod recurring;
pub mod refund_lifecycle;
pub mod refunds;
pub mod resources;
pub mod schema;
pub mod time;
pub mod top_up;
pub mod verification;

pub use error::{DomainError, ErrorKind};
pub use money::{Currency, Money};

/// Milliseconds since the Unix epoch, UTC. Every time in refill is one of these.
pub type Millis = i64;

pub const MINUTE: Millis = 60_000;
pub const HOUR: Millis = 60 * MINUTE;
pub const DAY: Millis = 24 * HOUR;
