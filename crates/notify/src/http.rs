//! What the HTTP channels (SMS, webhooks) share: one client setup and one reading of
//! outcomes as retryable or not.

use crate::{ConfigError, DeliveryError};
use std::time::Duration;

/// How much of a failed response's body goes into the error, for the operator.
const BODY_EXCERPT: usize = 300;

/// A client that never follows redirects (a webhook URL that moved must be updated by
/// its owner) and gives up on a connection after `timeout`.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    build(builder(timeout))
}

/// The settings of [`client`], for a channel to add its own.
pub(crate) fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    ensure_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("refill-notify/", env!("CARGO_PKG_VERSION")))
}

pub(crate) fn build(b: reqwest::ClientBuilder) -> Result<reqwest::Client, ConfigError> {
    b.build().map_err(|e| ConfigError::Http(chain(&e)))
}

/// reqwest is built with `rustls-no-provider`: the process needs a default provider
/// before any client exists. ring, as everywhere in refill; an existing one is kept.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race to another installer is fine: some provider is then in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// 5xx, 408 and 429 may pass; other 4xx need a change on one side or the other.
pub fn status_is_retryable(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// Reads a sent request's outcome. `what` names the call in the error ("webhook").
pub(crate) async fn outcome(
    what: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<(), DeliveryError> {
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return Err(transport_error(what, e)),
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let reason = format!("{what}: HTTP {status}: {}", excerpt(resp).await.trim());
    if status_is_retryable(status.as_u16()) {
        Err(DeliveryError::retryable(reason))
    } else {
        Err(DeliveryError::permanent(reason))
    }
}

/// The start of the body only: a receiver's error page can be any size.
async fn excerpt(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < BODY_EXCERPT {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf)
        .chars()
        .take(BODY_EXCERPT)
        .collect()
}

/// Connection refused, DNS, TLS, timeouts: worth another try; a malformed request is not.
fn transport_error(what: &str, e: reqwest::Error) -> DeliveryError {
    let retryable = !e.is_builder();
    let kind = if e.is_timeout() { "timed out: " } else { "" };
    // The URL may carry a receiver's token in its query: keep it out of logs.
    let reason = format!("{what}: {kind}{}", chain(&e.without_url()));
    DeliveryError { retryable, reason }
}

/// An error and its causes on one line.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    for _ in 0..8 {
        let Some(s) = cur else { break };
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
