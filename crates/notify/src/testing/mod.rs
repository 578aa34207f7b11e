//! Real receivers for tests (feature `test-support`): an SMTP server and an HTTP server,
//! each on 127.0.0.1 with a port of its own, recording what they receive and able to
//! fail on demand. They stop when dropped.
//!
//! ```ignore
//! let smtp = SmtpSink::start().await;
//! let email = EmailChannel::from_url(&smtp.url(), "billing@example.com")?;
//! smtp.fail_next(1); // the next message gets "451 try again later"
//! ```

mod http;
mod mime;
mod smtp;

pub use http::{HttpSink, ReceivedRequest};
pub use mime::MimePart;
pub use smtp::{ReceivedMail, SmtpSink};

use std::time::Duration;

/// How long `wait_for` waits by default: generous for a loaded 2-core CI machine.
pub const WAIT: Duration = Duration::from_secs(10);
