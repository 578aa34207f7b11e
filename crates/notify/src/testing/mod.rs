//! Real receivers for tests (feature `test-support`): an SMTP server and an HTTP server,
//! each on 127.0.0.1 with a port of its own, recording what they receive and able to
//! fail on demand. They stop when dropped. And a resolver answering from a table.
//!
//! ```
//! use refill_notify::testing::{SmtpSink, WAIT};
//! use refill_notify::{EmailChannel, EmailContent};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() {
//!     let smtp = SmtpSink::start().await;
//!     let email = EmailChannel::from_url(&smtp.url(), "billing@example.com").unwrap();
//!     let hi = EmailContent { subject: "Hi".into(), text: "hi".into(), html: "<p>hi</p>".into() };
//!     smtp.fail_next(1); // the next message gets "451 try again later"
//!     assert!(email.send("ada@example.net", &hi, None).await.unwrap_err().retryable);
//!     email.send("ada@example.net", &hi, None).await.unwrap();
//!     assert_eq!(smtp.wait_for(1, WAIT).await[0].text().as_deref(), Some("hi"));
//! }
//! ```

mod dns;
mod http;
mod mime;
mod smtp;

pub use dns::FakeDns;
pub use http::{HttpSink, ReceivedRequest};
pub use mime::MimePart;
pub use smtp::{ReceivedMail, SmtpSink};

use std::time::Duration;

/// How long `wait_for` waits by default: generous for a loaded 2-core CI machine.
pub const WAIT: Duration = Duration::from_secs(10);
