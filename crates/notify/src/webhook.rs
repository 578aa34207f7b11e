//! Signed webhooks (R26): a JSON envelope POSTed to the account's endpoint, with
//! `Refill-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` so the receiver can
//! check that refill sent it and that it is fresh. The receiver's guide follows; its
//! Rust example runs as a doctest.
//!
#![doc = include_str!("../WEBHOOKS.md")]

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

/// Where an account's webhooks go, and the secret they are signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub url: String,
    pub secret: String,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
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

/// POSTs signed envelopes. One client, shared by all endpoints.
#[derive(Debug, Clone)]
pub struct WebhookChannel {
    client: reqwest::Client,
}

impl WebhookChannel {
    /// A channel with the default 10 s timeout.
    pub fn new() -> Result<Self, ConfigError> {
        Self::with_timeout(DEFAULT_TIMEOUT)
    }
    /// A channel whose requests give up after `timeout` (a slow receiver is retried).
    pub fn with_timeout(timeout: Duration) -> Result<Self, ConfigError> {
        Ok(WebhookChannel {
            client: http::client(timeout)?,
        })
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
    pub async fn deliver_at(
        &self,
        endpoint: &WebhookEndpoint,
        n: &Notification,
        t: i64,
    ) -> Result<(), DeliveryError> {
        let body = envelope(n);
        let sent = self
            .client
            .post(&endpoint.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sign(&endpoint.secret, t, &body))
            .body(body)
            .send()
            .await;
        http::outcome("webhook", sent).await
    }
}

fn unix_now() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Whether an address is on the public internet: not loopback, private, link-local,
/// unspecified, broadcast, shared (100.64/10) or an IPv6 unique-local address. An
/// endpoint registered by a customer must be public, so that refill cannot be made to
/// call into the provider's own network.
pub fn is_public_ip(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_ip(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80)
            }
        },
    }
}

/// Resolves the URL's host and refuses it unless every address is public.
pub async fn check_public_url(url: &str) -> Result<(), DeliveryError> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| DeliveryError::permanent(format!("webhook: bad URL: {e}")))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| DeliveryError::permanent("webhook: the URL has no host"))?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| DeliveryError::retryable(format!("webhook: cannot resolve {host}: {e}")))?
        .collect();
    if addrs.is_empty() || addrs.iter().any(|a| !is_public_ip(a.ip())) {
        return Err(DeliveryError::permanent(format!(
            "webhook: {host} is not a public address; an endpoint registered by an account must be reachable on the internet"
        )));
    }
    Ok(())
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

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public_ip(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public_ip(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn loopback_urls_are_refused() {
        for url in [
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://[::1]:8080/",
        ] {
            let e = check_public_url(url).await.unwrap_err();
            assert!(!e.retryable, "{url}: {e:?}");
        }
    }
}
