//! refill's notification channels (R26): email over SMTP, SMS over a Twilio-style HTTP
//! API, and signed webhooks. The outbox (R28) lives in the store; its worker renders a
//! [`Notification`] and calls one channel's `deliver`, then uses [`DeliveryError::retryable`]
//! and [`retry`] to decide between "try again later" and "give up".
//!
//! Delivery is at least once: a receiver may see one event twice and must dedupe by id.

mod address;
mod destination;
pub mod email;
mod http;
pub mod render;
pub mod retry;
pub mod sms;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod webhook;

pub use address::{is_public_ip, why_not_public};
pub use destination::{DestinationError, Reach};
pub use email::EmailChannel;
pub use http::status_is_retryable;
pub use render::{EmailContent, render_email, render_sms};
pub use retry::{RetryPolicy, backoff_delay_ms, give_up};
pub use sms::SmsChannel;
pub use webhook::{WebhookChannel, WebhookEndpoint, sign, verify_signature};

use serde::{Deserialize, Serialize};

/// The event types refill emits (R26), as they appear in `Notification::event_type`
/// and in the webhook envelope's `type`: the domain's one list.
pub mod events {
    pub use refill_domain::notifications::EVENT_TYPES as ALL;
    pub use refill_domain::notifications::event_types::*;
}

/// One event to deliver, as the outbox stores it. `data` holds the event's fields
/// (amounts in minor units with a `currency` code); missing fields render gracefully.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub event_id: String,
    pub event_type: String,
    /// When the event happened, unix milliseconds UTC.
    pub created_ms: i64,
    pub account_id: String,
    pub data: serde_json::Value,
}

/// Why a delivery failed, and whether trying again later can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct DeliveryError {
    /// True for outages, timeouts, 5xx, 408, 429, SMTP 4xx; false when only a change of
    /// configuration or recipient can fix it (other 4xx, SMTP 5xx, bad addresses).
    pub retryable: bool,
    pub reason: String,
}

impl DeliveryError {
    pub fn retryable(reason: impl Into<String>) -> Self {
        DeliveryError {
            retryable: true,
            reason: reason.into(),
        }
    }
    pub fn permanent(reason: impl Into<String>) -> Self {
        DeliveryError {
            retryable: false,
            reason: reason.into(),
        }
    }
}

/// A channel that cannot be built from its settings (bad URL, address, credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid SMTP URL: {0}")]
    SmtpUrl(String),
    #[error("invalid email address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("invalid SMS settings: {0}")]
    Sms(String),
    #[error("cannot build HTTP client: {0}")]
    Http(String),
}
