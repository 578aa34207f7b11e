//! Signed webhooks (R26): a JSON envelope POSTed to the account's endpoint, with
//! `Refill-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` so the receiver can
//! check that refill sent it and that it is fresh. The receiver's guide follows; its
//! Rust example runs as a doctest.
//!
#![doc = include_str!("../WEBHOOKS.md")]

use crate::destination::{self, DestinationError, Lookup, Reach, Resolver};
use crate::{ConfigError, DeliveryError, Notification, http};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const SIGNATURE_HEADER: &str = "Refill-Signature";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How old a signature a receiver should accept, as in the examples.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

type HmacSha256 = Hmac<Sha256>;

/// Where an account's webhooks go, the secret they are signed with, and which
/// addresses the URL may lead to.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub url: String,
    pub secret: String,
    pub reach: Reach,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("reach", &self.reach)
            .finish()
    }
}

/// The body receivers get. `account` names the account the event belongs to, for
/// endpoints shared by a main account and its sub-accounts.
#[derive(Serialize)]
struct Envelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    created: i64,
    account: &'a str,
    data: &'a serde_json::Value,
}

/// The JSON body for `n`: `{"id", "type", "created" (unix seconds), "account", "data"}`.
pub fn envelope(n: &Notification) -> Vec<u8> {
    let env = Envelope {
        id: &n.event_id,
        event_type: &n.event_type,
        created: n.created_ms.div_euclid(1000),
        account: &n.account_id,
        data: &n.data,
    };
    serde_json::to_vec(&env).expect("a JSON value always serialises")
}

/// The `Refill-Signature` header value for `body` sent at unix time `t`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hex::encode(mac(secret, t, body).finalize().into_bytes())
    )
}

fn mac(secret: &str, t: i64, body: &[u8]) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// True when `header` carries a `v1` signature of `body` by `secret`, made within
/// `tolerance_secs` of `now_unix` (either side, for clock skew). Several `v1` entries
/// are allowed (secret rotation); the comparison is constant-time.
pub fn verify_signature(
    secret: &str,
    header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> bool {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',').take(16) {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.extend(hex::decode(v).ok()),
            _ => {}
        }
    }
    let Some(t) = t else { return false };
    if now_unix.abs_diff(t) > tolerance_secs.max(0).unsigned_abs() {
        return false;
    }
    sigs.iter()
        .any(|s| mac(secret, t, body).verify_slice(s).is_ok())
}

/// POSTs signed envelopes. Two clients, shared by all endpoints: one per [`Reach`].
#[derive(Debug, Clone)]
pub struct WebhookChannel {
    /// For endpoints that must be public: every connection resolves its host once and
    /// is refused unless all the addresses are public. No connection is kept idle, so
    /// each delivery resolves and checks again; no proxy, which would resolve the
    /// host itself, out of the check's sight.
    public: reqwest::Client,
    /// For the operator's endpoints: any address, connections reused.
    any: reqwest::Client,
    lookup: Lookup,
}

impl WebhookChannel {
    /// A channel with the default 10 s timeout.
    pub fn new() -> Result<Self, ConfigError> {
        Self::with_timeout(DEFAULT_TIMEOUT)
    }
    /// A channel whose requests give up after `timeout` (a slow receiver is retried).
    pub fn with_timeout(timeout: Duration) -> Result<Self, ConfigError> {
        Self::build(timeout, Lookup::System)
    }
    /// As [`with_timeout`](Self::with_timeout), host names looked up in `dns` only.
    #[cfg(feature = "test-support")]
    pub fn with_fake_dns(
        timeout: Duration,
        dns: crate::testing::FakeDns,
    ) -> Result<Self, ConfigError> {
        Self::build(timeout, Lookup::Fake(dns))
    }

    fn build(timeout: Duration, lookup: Lookup) -> Result<Self, ConfigError> {
        let resolver = |reach| Resolver {
            lookup: lookup.clone(),
            reach,
        };
        let public = http::builder(timeout)
            .dns_resolver(resolver(Reach::Public))
            .pool_max_idle_per_host(0)
            .no_proxy();
        let any = http::builder(timeout).dns_resolver(resolver(Reach::Any));
        Ok(WebhookChannel {
            public: http::build(public)?,
            any: http::build(any)?,
            lookup,
        })
    }

    /// Checks where `url` leads, as a delivery would, for registering an endpoint: its
    /// host must resolve, and every address be one `reach` allows.
    pub async fn check_destination(&self, url: &str, reach: Reach) -> Result<(), DestinationError> {
        destination::check(url, reach, &self.lookup).await
    }

    /// Delivers `n` to `endpoint`, signed now. 2xx is success; see [`DeliveryError`].
    pub async fn deliver(
        &self,
        endpoint: &WebhookEndpoint,
        n: &Notification,
    ) -> Result<(), DeliveryError> {
        self.deliver_at(endpoint, n, unix_now()).await
    }

    /// As [`deliver`](Self::deliver), signed at `t` (unix seconds): for tests and replays.
    /// An address the endpoint's reach does not allow fails it unsent, permanently.
    pub async fn deliver_at(
        &self,
        endpoint: &WebhookEndpoint,
        n: &Notification,
        t: i64,
    ) -> Result<(), DeliveryError> {
        destination::check_literal(&endpoint.url, endpoint.reach)?;
        let client = match endpoint.reach {
            Reach::Public => &self.public,
            Reach::Any => &self.any,
        };
        let body = envelope(n);
        let sent = client
            .post(&endpoint.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sign(&endpoint.secret, t, &body))
            .body(body)
            .send()
            .await;
        if let Err(e) = &sent
            && let Some(refused) = destination::refusal_in(e)
        {
            return Err(refused.into());
        }
        http::outcome("webhook", sent).await
    }
}

fn unix_now() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r26_signature_is_hmac_sha256_of_t_dot_body() {
        // Computed independently, with Python's hmac module.
        assert_eq!(
            sign("key", 1_700_000_000, b"{}"),
            "t=1700000000,v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn r26_verify_accepts_fresh_and_rejects_tampered_stale_or_malformed() {
        let body = br#"{"id":"evt_1"}"#;
        let h = sign("whsec", 1000, body);
        assert!(verify_signature("whsec", &h, body, 1000, 300));
        assert!(verify_signature("whsec", &h, body, 1300, 300));
        assert!(verify_signature("whsec", &h, body, 700, 300), "clock skew");
        assert!(!verify_signature("whsec", &h, body, 1301, 300), "stale");
        assert!(
            !verify_signature("other", &h, body, 1000, 300),
            "wrong secret"
        );
        assert!(!verify_signature(
            "whsec",
            &h,
            br#"{"id":"evt_2"}"#,
            1000,
            300
        ));
        let moved = h.replace("t=1000", "t=1001");
        assert!(
            !verify_signature("whsec", &moved, body, 1000, 300),
            "t is signed"
        );
        for bad in ["", "t=1000", "v1=00", "t=x,v1=zz", "garbage"] {
            assert!(!verify_signature("whsec", bad, body, 1000, 300), "{bad}");
        }
    }

    #[test]
    fn r26_verify_accepts_any_of_several_v1_during_rotation() {
        let body = b"x";
        let new = sign("new", 5, body);
        let old_sig = sign("old", 5, body)
            .split_once("v1=")
            .unwrap()
            .1
            .to_string();
        let both = format!("{new},v1={old_sig}");
        assert!(verify_signature("old", &both, body, 5, 10));
        assert!(verify_signature("new", &both, body, 5, 10));
    }

    #[test]
    fn r26_envelope_has_id_type_created_seconds_and_data() {
        let n = Notification {
            event_id: "evt_9".into(),
            event_type: "balance.low".into(),
            created_ms: 1_700_000_000_999,
            account_id: "acct_1".into(),
            data: serde_json::json!({"balance": 1}),
        };
        let v: serde_json::Value = serde_json::from_slice(&envelope(&n)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": "evt_9", "type": "balance.low", "created": 1_700_000_000i64,
                               "account": "acct_1", "data": {"balance": 1}})
        );
    }
}
