//! The channels against real receivers on 127.0.0.1 (R26, R28): what arrives, how it
//! is signed, and which failures are worth retrying.

use refill_notify::testing::{FakeDns, HttpSink, SmtpSink, WAIT};
use refill_notify::{
    DeliveryError, DestinationError, EmailChannel, Notification, Reach, SmsChannel, WebhookChannel,
    WebhookEndpoint, events, render_email, render_sms, verify_signature,
};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2026-03-01 14:05 UTC.
const CREATED: i64 = 1_772_373_900_000;
const DAY: i64 = 86_400_000;
const FROM: &str = "Example Billing <billing@example.com>";
const SECRET: &str = "whsec_test_secret";

fn note(i: usize, event_type: &str, data: Value) -> Notification {
    Notification {
        event_id: format!("evt_{i:03}"),
        event_type: event_type.into(),
        created_ms: CREATED,
        account_id: "acct_42".into(),
        data,
    }
}

/// One notification of each type, with what its email must say.
fn samples() -> Vec<(Notification, Vec<&'static str>)> {
    let list: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            events::TOP_UP_SUCCEEDED,
            json!({"amount": 1234, "tax": 247, "total": 1481, "currency": "GBP",
                   "top_up_id": "top_01", "transaction_id": "txn_ABC123",
                   "card_brand": "visa", "card_last4": "4242", "balance_after": 2234}),
            vec![
                "12.34 GBP",
                "2.47 GBP",
                "14.81 GBP",
                "2026-03-01 14:05 UTC",
                "Visa ending in 4242",
                "txn_ABC123",
                "top_01",
                "22.34 GBP",
            ],
        ),
        (
            events::TOP_UP_FAILED,
            json!({"amount": 1000, "currency": "GBP", "code": "insufficient_funds",
                   "message": "Your card has insufficient funds.",
                   "next_attempt_ms": CREATED + DAY}),
            vec![
                "10.00 GBP",
                "insufficient funds",
                "2026-03-02 14:05 UTC",
                "add another card",
            ],
        ),
        (
            events::AUTO_TOP_UP_DISABLED,
            json!({"reason": "too_many_failures", "failures": 3}),
            vec![
                "3 top-up attempts in a row failed",
                "turn automatic top-up on again",
            ],
        ),
        (
            events::BALANCE_LOW,
            json!({"balance": 400, "currency": "EUR", "low_balance_threshold": 500}),
            vec!["4.00 EUR", "5.00 EUR", "Top up now"],
        ),
        (
            events::BALANCE_APPROACHING_THRESHOLD,
            json!({"balance": 520, "currency": "USD", "threshold": 500}),
            vec!["5.20 USD", "5.00 USD"],
        ),
        (
            events::CAP_REACHED,
            json!({"cap": "daily", "until_ms": CREATED - 14 * 3_600_000 - 5 * 60_000 + DAY}),
            vec!["daily limit", "2026-03-02 00:00 UTC", "Top up manually"],
        ),
        (
            events::PAYMENT_REVERSED,
            json!({"amount": 1234, "currency": "GBP", "balance_after": -200}),
            vec!["12.34 GBP", "-2.00 GBP", "below zero"],
        ),
    ];
    list.into_iter()
        .enumerate()
        .map(|(i, (t, data, want))| (note(i, t, data), want))
        .collect()
}

fn refused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn assert_retryable(r: Result<(), DeliveryError>, retryable: bool, what: &str) {
    let e = r.expect_err(what);
    assert_eq!(e.retryable, retryable, "{what}: {e:?}");
}

#[tokio::test]
async fn r26_every_event_arrives_by_email_with_text_html_and_receipt() {
    let smtp = SmtpSink::start().await;
    let email = EmailChannel::from_url(&smtp.url(), FROM).unwrap();
    let samples = samples();
    for (n, _) in &samples {
        email
            .deliver("ada@example.net", Some("Ada & Co <x>"), n)
            .await
            .unwrap();
    }
    let got = smtp.wait_for(samples.len(), WAIT).await;
    assert_eq!(got.len(), samples.len());
    for ((n, want), m) in samples.iter().zip(&got) {
        let rendered = render_email(n, Some("Ada & Co <x>"));
        assert_eq!(m.from, "billing@example.com");
        assert_eq!(m.to, vec!["ada@example.net".to_string()]);
        assert_eq!(
            m.header("Subject").as_deref(),
            Some(rendered.subject.as_str())
        );
        assert!(
            m.header("Content-Type")
                .unwrap()
                .starts_with("multipart/alternative")
        );
        assert_eq!(
            m.header("Message-ID"),
            Some(format!("<{}@refill>", n.event_id))
        );
        let (text, html) = (m.text().unwrap(), m.html().unwrap());
        assert!(text.starts_with("Hello Ada & Co <x>,"), "{text}");
        assert!(html.contains("Hello Ada &amp; Co &lt;x&gt;,"), "{html}");
        for w in want {
            assert!(
                text.contains(w),
                "{}: text lacks {w:?}:\n{text}",
                n.event_type
            );
            assert!(
                html.contains(w),
                "{}: html lacks {w:?}:\n{html}",
                n.event_type
            );
        }
    }
    let receipt = &got[0];
    assert!(receipt.header("Subject").unwrap().contains("Receipt"));
    assert!(
        receipt
            .html()
            .unwrap()
            .contains("<th align=\"left\">Total charged</th><td>14.81 GBP</td>")
    );
}

#[tokio::test]
async fn r26_email_logs_in_with_url_credentials() {
    let smtp = SmtpSink::start().await;
    let url = format!("smtp://mailer:p%40ss@{}", smtp.addr());
    let email = EmailChannel::from_url(&url, FROM).unwrap();
    let (n, _) = &samples()[3];
    email.deliver("ada@example.net", None, n).await.unwrap();
    let got = smtp.wait_for(1, WAIT).await;
    assert_eq!(got[0].auth, Some(("mailer".into(), "p@ss".into())));
}

#[tokio::test]
async fn r28_smtp_451_is_retryable_and_the_retry_arrives() {
    let smtp = SmtpSink::start().await;
    let email = EmailChannel::from_url(&smtp.url(), FROM).unwrap();
    let (n, _) = &samples()[0];
    smtp.fail_next(1);
    assert_retryable(email.deliver("ada@example.net", None, n).await, true, "451");
    assert!(smtp.messages().is_empty());
    email.deliver("ada@example.net", None, n).await.unwrap();
    assert_eq!(smtp.wait_for(1, WAIT).await.len(), 1);
}

#[tokio::test]
async fn r28_email_unreachable_server_is_retryable_bad_address_is_not() {
    let (n, _) = &samples()[0];
    let url = format!("smtp://127.0.0.1:{}", refused_port());
    let down = EmailChannel::from_url(&url, FROM).unwrap();
    assert_retryable(
        down.deliver("ada@example.net", None, n).await,
        true,
        "refused",
    );
    let smtp = SmtpSink::start().await;
    let email = EmailChannel::from_url(&smtp.url(), FROM).unwrap();
    assert_retryable(
        email.deliver("not an address", None, n).await,
        false,
        "bad to",
    );
}

#[tokio::test]
async fn r26_every_event_arrives_by_sms_as_twilio_form_with_basic_auth() {
    let http = HttpSink::start().await;
    let sms = SmsChannel::new(&http.url(), "AC0123456789", "tok_secret", "+15005550006").unwrap();
    let samples = samples();
    for (n, _) in &samples {
        sms.deliver("+447700900123", n).await.unwrap();
    }
    let got = http.wait_for(samples.len(), WAIT).await;
    for ((n, _), r) in samples.iter().zip(&got) {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/2010-04-01/Accounts/AC0123456789/Messages.json");
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(
            r.basic_auth(),
            Some(("AC0123456789".into(), "tok_secret".into()))
        );
        assert_eq!(r.form_value("To").as_deref(), Some("+447700900123"));
        assert_eq!(r.form_value("From").as_deref(), Some("+15005550006"));
        let body = r.form_value("Body").unwrap();
        assert_eq!(body, render_sms(n));
        assert!(body.chars().count() <= 160, "{body}");
    }
    let receipt = got[0].form_value("Body").unwrap();
    assert!(
        receipt.contains("12.34 GBP") && receipt.contains("14.81 GBP"),
        "{receipt}"
    );
}

#[tokio::test]
async fn r28_sms_5xx_408_429_are_retryable_other_4xx_are_not() {
    let http = HttpSink::start().await;
    let sms = SmsChannel::new(&http.url(), "AC1", "tok", "+15005550006").unwrap();
    for (status, retryable) in [
        (500, true),
        (503, true),
        (408, true),
        (429, true),
        (400, false),
        (401, false),
    ] {
        http.respond_with(status, 1);
        let r = sms.send("+447700900123", "hi").await;
        assert_retryable(r, retryable, &format!("HTTP {status}"));
    }
    sms.send("+447700900123", "hi").await.unwrap();
}

#[tokio::test]
async fn r26_every_event_arrives_by_signed_webhook() {
    let http = HttpSink::start().await;
    let hook = WebhookChannel::new().unwrap();
    let endpoint = WebhookEndpoint {
        url: format!("{}/hooks/refill", http.url()),
        secret: SECRET.into(),
        reach: Reach::Any,
    };
    let samples = samples();
    for (n, _) in &samples {
        hook.deliver(&endpoint, n).await.unwrap();
    }
    let got = http.wait_for(samples.len(), WAIT).await;
    for ((n, _), r) in samples.iter().zip(&got) {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/hooks/refill")
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        let env = r.json();
        assert_eq!(env["id"], n.event_id.as_str());
        assert_eq!(env["type"], n.event_type.as_str());
        assert_eq!(env["created"], CREATED / 1000);
        assert_eq!(env["data"], n.data);
        let sig = r.header("refill-signature").unwrap();
        assert!(
            verify_signature(SECRET, sig, &r.body, unix_now(), 300),
            "{sig}"
        );
        let mut tampered = r.body.clone();
        tampered.extend_from_slice(b" ");
        assert!(!verify_signature(SECRET, sig, &tampered, unix_now(), 300));
        assert!(!verify_signature(
            "whsec_other",
            sig,
            &r.body,
            unix_now(),
            300
        ));
        assert!(
            !verify_signature(SECRET, sig, &r.body, unix_now() + 3600, 300),
            "replayed later"
        );
    }
}

#[tokio::test]
async fn r28_webhook_failures_are_classified() {
    let http = HttpSink::start().await;
    let hook = WebhookChannel::new().unwrap();
    let endpoint = WebhookEndpoint {
        url: http.url(),
        secret: SECRET.into(),
        reach: Reach::Any,
    };
    let (n, _) = &samples()[0];
    let cases = [
        (500, true),
        (502, true),
        (408, true),
        (429, true),
        (400, false),
        (404, false),
        (410, false),
        (301, false),
    ];
    for (status, retryable) in cases {
        http.respond_with(status, 1);
        assert_retryable(
            hook.deliver(&endpoint, n).await,
            retryable,
            &format!("HTTP {status}"),
        );
    }
    hook.deliver(&endpoint, n).await.unwrap();
    assert_eq!(
        http.requests().len(),
        cases.len() + 1,
        "no redirect was followed"
    );
}

#[tokio::test]
async fn r28_webhook_timeout_and_refused_connection_are_retryable() {
    let http = HttpSink::start().await;
    http.set_delay(Duration::from_secs(3));
    let hook = WebhookChannel::with_timeout(Duration::from_millis(200)).unwrap();
    let (n, _) = &samples()[0];
    let slow = WebhookEndpoint {
        url: http.url(),
        secret: SECRET.into(),
        reach: Reach::Any,
    };
    let e = hook.deliver(&slow, n).await.unwrap_err();
    assert!(e.retryable && e.reason.contains("timed out"), "{e:?}");
    let down = WebhookEndpoint {
        url: format!("http://127.0.0.1:{}/x", refused_port()),
        secret: SECRET.into(),
        reach: Reach::Any,
    };
    assert_retryable(hook.deliver(&down, n).await, true, "refused");
    let bad = WebhookEndpoint {
        url: "not a url".into(),
        secret: SECRET.into(),
        reach: Reach::Any,
    };
    assert_retryable(hook.deliver(&bad, n).await, false, "bad url");
}

fn hook_to(url: &str, reach: Reach) -> WebhookEndpoint {
    WebhookEndpoint {
        url: url.into(),
        secret: SECRET.into(),
        reach,
    }
}

fn assert_not_public(r: Result<(), DeliveryError>, address: &str, why: &str) {
    let e = r.expect_err(address);
    assert!(!e.retryable, "{address}: {e:?}");
    assert!(
        e.reason.contains(address) && e.reason.contains(why),
        "{address}, {why}: {e:?}"
    );
}

/// The connection goes to the address the lookup gave (the fake resolver's, never the
/// system's), looked up once per delivery, and refused when that address is private.
#[tokio::test]
async fn r26_a_public_endpoint_whose_host_resolves_to_a_private_address_is_not_sent_to() {
    let http = HttpSink::start().await;
    let dns = FakeDns::new();
    dns.set("hooks.example.test", &["127.0.0.1"]);
    let hook = WebhookChannel::with_fake_dns(Duration::from_secs(5), dns.clone()).unwrap();
    let url = format!("http://hooks.example.test:{}/h", http.addr().port());
    let (n, _) = &samples()[0];
    hook.deliver(&hook_to(&url, Reach::Any), n).await.unwrap();
    assert_eq!((dns.lookups(), http.requests().len()), (1, 1));
    for round in 1..=2 {
        let r = hook.deliver(&hook_to(&url, Reach::Public), n).await;
        assert_not_public(r, "127.0.0.1", "loopback");
        assert_eq!(dns.lookups(), 1 + round, "one lookup per delivery");
    }
    // One private address among public ones is enough to refuse.
    dns.set("hooks.example.test", &["93.184.216.34", "10.0.0.7"]);
    let r = hook.deliver(&hook_to(&url, Reach::Public), n).await;
    assert_not_public(r, "10.0.0.7", "private");
    assert_eq!(http.requests().len(), 1, "nothing sent to the refused");
}

#[tokio::test]
async fn r26_a_host_that_no_longer_resolves_is_retried_not_sent() {
    let dns = FakeDns::new();
    let hook = WebhookChannel::with_fake_dns(Duration::from_secs(5), dns.clone()).unwrap();
    let (n, _) = &samples()[0];
    let e = hook
        .deliver(&hook_to("https://gone.example.test/h", Reach::Public), n)
        .await
        .unwrap_err();
    assert!(
        e.retryable && e.reason.contains("cannot resolve gone.example.test"),
        "{e:?}"
    );
    assert_eq!(dns.lookups(), 1);
}

/// Addresses written into the URL are connected to without a lookup: checked as given,
/// whatever their spelling. The operator's endpoint at the same URL is delivered.
#[tokio::test]
async fn r26_literal_private_addresses_in_any_spelling_are_refused_for_public_endpoints() {
    let http = HttpSink::start().await;
    let dns = FakeDns::new();
    let hook = WebhookChannel::with_fake_dns(Duration::from_secs(5), dns.clone()).unwrap();
    let port = http.addr().port();
    let (n, _) = &samples()[0];
    for (host, address, why) in [
        ("2130706433", "127.0.0.1", "loopback"),
        ("0x7f.1", "127.0.0.1", "loopback"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1", "loopback"),
        ("[::127.0.0.1]", "::7f00:1", "IPv4-compatible"),
        ("[64:ff9b::7f00:1]", "64:ff9b::7f00:1", "NAT64"),
        ("[2002:7f00:1::1]", "2002:7f00:1::1", "6to4"),
        ("[fec0::1]", "fec0::1", "site-local"),
        ("198.18.0.1", "198.18.0.1", "benchmarking"),
        ("0.1.2.3", "0.1.2.3", "this network"),
    ] {
        let url = format!("http://{host}:{port}/h");
        let r = hook.deliver(&hook_to(&url, Reach::Public), n).await;
        assert_not_public(r, address, why);
    }
    assert_eq!((dns.lookups(), http.requests().len()), (0, 0));
    let url = format!("http://2130706433:{port}/h");
    hook.deliver(&hook_to(&url, Reach::Any), n).await.unwrap();
    assert_eq!(http.requests().len(), 1);
}

#[tokio::test]
async fn r26_registration_resolves_the_host_and_checks_every_address() {
    let dns = FakeDns::new();
    dns.set("public.example.test", &["93.184.216.34", "2606:4700::1111"]);
    dns.set("mixed.example.test", &["93.184.216.34", "fd00::7"]);
    dns.set("nat64.example.test", &["64:ff9b::a00:7"]);
    let hook = WebhookChannel::with_fake_dns(Duration::from_secs(5), dns).unwrap();
    let check = |url: &'static str, reach| hook.check_destination(url, reach);
    assert_eq!(
        check("https://public.example.test/h", Reach::Public).await,
        Ok(())
    );
    for (url, address) in [
        ("https://mixed.example.test/h", "fd00::7"),
        ("https://nat64.example.test/h", "64:ff9b::a00:7"),
        ("http://[::127.0.0.1]/", "::7f00:1"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
    ] {
        match check(url, Reach::Public).await {
            Err(DestinationError::NotPublic { address: a, .. }) => {
                assert_eq!(a.to_string(), address, "{url}")
            }
            other => panic!("{url}: {other:?}"),
        }
        assert_eq!(check(url, Reach::Any).await, Ok(()), "{url}");
    }
    for reach in [Reach::Public, Reach::Any] {
        let r = check("https://nowhere.example.test/h", reach).await;
        assert!(
            matches!(r, Err(DestinationError::Unresolvable { .. })),
            "{r:?}"
        );
        let r = check("not a url", reach).await;
        assert!(matches!(r, Err(DestinationError::BadUrl(_))), "{r:?}");
    }
}

/// The system's resolver: a name under .invalid never resolves (RFC 6761).
#[tokio::test]
async fn r26_registration_refuses_a_name_the_system_cannot_resolve() {
    let hook = WebhookChannel::new().unwrap();
    let r = hook
        .check_destination("https://nowhere.invalid/h", Reach::Any)
        .await;
    assert!(
        matches!(r, Err(DestinationError::Unresolvable { .. })),
        "{r:?}"
    );
}
