//! SMS through a Twilio-style HTTP API (R26): `POST {base}/2010-04-01/Accounts/{sid}/
//! Messages.json`, form-encoded `To`, `From`, `Body`, with HTTP basic auth (sid, token).
//! Any provider with a Twilio-compatible endpoint works by changing `base_url`.

use crate::{ConfigError, DeliveryError, Notification, http, render};
use std::time::Duration;

pub const TWILIO_BASE_URL: &str = "https://api.twilio.com";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct SmsChannel {
    messages_url: String,
    account_sid: String,
    auth_token: String,
    from: String,
    client: reqwest::Client,
}

impl std::fmt::Debug for SmsChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsChannel")
            .field("messages_url", &self.messages_url)
            .field("from", &self.from)
            .field("auth_token", &"<redacted>")
            .finish()
    }
}

impl SmsChannel {
    /// `base_url` is e.g. [`TWILIO_BASE_URL`]; `from` is the sender number or id.
    pub fn new(
        base_url: &str,
        account_sid: &str,
        auth_token: &str,
        from: &str,
    ) -> Result<Self, ConfigError> {
        // The sid goes into the URL path: only let through what Twilio issues.
        if account_sid.is_empty() || !account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ConfigError::Sms(
                "account sid must be letters and digits".into(),
            ));
        }
        if auth_token.is_empty() || from.trim().is_empty() {
            return Err(ConfigError::Sms("auth token and from are required".into()));
        }
        Ok(SmsChannel {
            messages_url: format!(
                "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
                base_url.trim_end_matches('/')
            ),
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            from: from.trim().into(),
            client: http::client(DEFAULT_TIMEOUT)?,
        })
    }

    /// Renders `n` for SMS and sends it to `to_phone` (E.164, e.g. "+447700900123").
    pub async fn deliver(&self, to_phone: &str, n: &Notification) -> Result<(), DeliveryError> {
        self.send(to_phone, &render::render_sms(n)).await
    }

    /// Sends `body` as is.
    pub async fn send(&self, to_phone: &str, body: &str) -> Result<(), DeliveryError> {
        if to_phone.trim().is_empty() {
            return Err(DeliveryError::permanent("sms: no recipient number"));
        }
        let form = [
            ("To", to_phone.trim()),
            ("From", &self.from),
            ("Body", body),
        ];
        let sent = self
            .client
            .post(&self.messages_url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await;
        http::outcome("sms", sent).await
    }
}
