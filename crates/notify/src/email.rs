//! Email over SMTP (R26), with lettre. One multipart/alternative message (plain text and
//! HTML) per notification; the Message-ID is derived from the event id, so a mail that
//! arrives twice (at-least-once delivery) carries the same id both times.
//!
//! Connection URLs (lettre's syntax):
//! - `smtp://host:25` plain SMTP, no TLS (a local relay or a test sink);
//! - `smtp://user:pass@host:587?tls=required` STARTTLS, refused if the server lacks it;
//! - `smtp://host:587?tls=opportunistic` STARTTLS when offered, else plain;
//! - `smtps://user:pass@host:465` TLS from the first byte.
//!
//! TLS is rustls with ring, checking certificates against the system's roots. Without
//! TLS, credentials cross the network in the clear: use `smtp://user:pass@` only to a
//! relay on the same host or a trusted network. User and password are percent-decoded.
//! A path names the EHLO domain: `smtp://host:25/mail.example.com`.

use crate::{ConfigError, DeliveryError, Notification, render};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::Error as SmtpError;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::time::Duration;

/// Per SMTP command; lettre's own default is a minute.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct EmailChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for EmailChannel {
    // The transport holds the SMTP credentials: show only the sender.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl EmailChannel {
    /// A channel sending through `url` (see the module docs) as `from_address`
    /// (`billing@example.com` or `Example Billing <billing@example.com>`).
    pub fn from_url(url: &str, from_address: &str) -> Result<Self, ConfigError> {
        Self::from_url_with_timeout(url, from_address, DEFAULT_TIMEOUT)
    }

    pub fn from_url_with_timeout(
        url: &str,
        from_address: &str,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        let from = parse_mailbox(from_address)?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| ConfigError::SmtpUrl(crate::http::chain(&e)))?
            .timeout(Some(timeout))
            .build();
        Ok(EmailChannel { transport, from })
    }

    /// Renders `n` and sends it to `to_email`, greeting `recipient_name` when known.
    pub async fn deliver(
        &self,
        to_email: &str,
        recipient_name: Option<&str>,
        n: &Notification,
    ) -> Result<(), DeliveryError> {
        let content = render::render_email(n, recipient_name);
        self.send(to_email, &content, Some(&n.event_id)).await
    }

    /// Sends `content` as is. `event_id`, when given, becomes the Message-ID.
    pub async fn send(
        &self,
        to_email: &str,
        content: &render::EmailContent,
        event_id: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let to = parse_mailbox(to_email).map_err(|e| DeliveryError::permanent(e.to_string()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(content.subject.clone())
            .message_id(event_id.map(message_id))
            .multipart(MultiPart::alternative_plain_html(
                content.text.clone(),
                content.html.clone(),
            ))
            .map_err(|e| DeliveryError::permanent(format!("email: cannot build message: {e}")))?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(smtp_error)
    }
}

fn parse_mailbox(address: &str) -> Result<Mailbox, ConfigError> {
    address.trim().parse().map_err(|e| ConfigError::Address {
        address: address.chars().take(200).collect(),
        reason: format!("{e}"),
    })
}

/// `<evt_123@refill>`: stable per event; only characters safe in a msg-id are kept.
fn message_id(event_id: &str) -> String {
    let local: String = event_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        .take(200)
        .collect();
    format!("<{local}@refill>")
}

/// SMTP 4xx and network trouble pass; 5xx (mailbox unknown, relay denied) and errors
/// on our side (no usable AUTH mechanism, bad message) need a person.
fn smtp_error(e: SmtpError) -> DeliveryError {
    let retryable = !(e.is_permanent() || e.is_client());
    DeliveryError {
        retryable,
        reason: format!("email: {}", crate::http::chain(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r26_smtp_urls_parse_with_and_without_tls() {
        let from = "Billing <billing@example.com>";
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://user:p%40ss@mail.example.com:587?tls=required",
            "smtp://mail.example.com:587?tls=opportunistic",
            "smtps://user:pass@mail.example.com:465",
        ] {
            assert!(EmailChannel::from_url(url, from).is_ok(), "{url}");
        }
        for url in ["http://x", "smtp://x?tls=maybe", "not a url"] {
            assert!(
                matches!(
                    EmailChannel::from_url(url, from),
                    Err(ConfigError::SmtpUrl(_))
                ),
                "{url}"
            );
        }
        assert!(matches!(
            EmailChannel::from_url("smtp://x", "not an address"),
            Err(ConfigError::Address { .. })
        ));
    }

    #[test]
    fn r26_message_id_is_stable_and_safe() {
        assert_eq!(message_id("evt_01J>\r\nX"), "<evt_01JX@refill>");
    }
}
