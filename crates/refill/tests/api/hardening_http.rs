//! HTTP strictness at the edge (api::edge, api::auth, api::metrics): one
//! Authorization header read strictly, JSON bodies only, no request framed two
//! ways, a Host on every request, and /metrics for the operator only.

use crate::checks::assert_problem;
use crate::fixtures::snapshot;
use crate::support::{TestApp, spawn, stores};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer read off a raw connection.
pub struct RawAnswer {
    pub status: u16,
    pub head: String,
    pub body: Value,
    /// The server closed the connection after it.
    pub closed: bool,
}

/// Writes `request` as is on a new connection and reads one answer (by its
/// Content-Length), then whether the server closes the connection.
pub async fn exchange(app: &TestApp, request: &[u8]) -> RawAnswer {
    let mut s = TcpStream::connect(app.running.addr).await.expect("connect");
    s.write_all(request).await.expect("request written");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_string();
                let length = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    return (head, buf[end + 4..end + 4 + length].to_vec());
                }
            }
            let n = s.read(&mut chunk).await.expect("answer read");
            assert!(
                n > 0,
                "closed before an answer: {:?}",
                String::from_utf8_lossy(&buf)
            );
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    let (head, body) = tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("an answer within 10 s");
    let closed = matches!(
        tokio::time::timeout(Duration::from_secs(2), s.read(&mut chunk)).await,
        Ok(Ok(0) | Err(_))
    );
    RawAnswer {
        status: head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        head,
        closed,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_exactly_one_authorization_header_read_strictly() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2_000).await;
        let before = snapshot(&app, &[&a]).await;
        let debits = format!("/v1/accounts/{a}/debits");
        let body = json!({"amount": 1});
        let bearer = format!("Bearer {}", app.key);
        let twice = [
            ("Authorization", bearer.as_str()),
            ("Authorization", bearer.as_str()),
        ];
        let r = app
            .send(Method::POST, &debits, Some(&body), &twice, None)
            .await;
        assert_problem(&r, 400, "invalid_authorization");
        for value in [
            format!("Bearer  {}", app.key),
            format!("Bearer {} junk", app.key),
            format!("Bearer {},", app.key),
            "Bearer ".to_string(),
            format!("Bearer\t{}", app.key),
            "Bearer".to_string(),
        ] {
            let h = [("Authorization", value.as_str())];
            let r = app.send(Method::POST, &debits, Some(&body), &h, None).await;
            assert_problem(&r, 400, "invalid_authorization");
        }
        assert_eq!(snapshot(&app, &[&a]).await, before);
        // The scheme is case-insensitive (RFC 9110).
        let lower = format!("bearer {}", app.key);
        let h = [("Authorization", lower.as_str())];
        let r = app.send(Method::POST, &debits, Some(&body), &h, None).await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_a_body_must_be_json() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2_000).await;
        let before = snapshot(&app, &[&a]).await;
        let url = format!("{}/v1/accounts/{a}/debits", app.base);
        let post = |content_type: Option<&str>| {
            let mut req = app
                .http
                .post(&url)
                .bearer_auth(&app.key)
                .body(r#"{"amount": 1}"#);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            async move {
                let r = req.send().await.expect("sent");
                let status = r.status().as_u16();
                let code = r.json::<Value>().await.unwrap_or_default()["code"].clone();
                (status, code)
            }
        };
        for ct in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/json; charset=latin1"),
            Some("application/jsonx"),
        ] {
            let (status, code) = post(ct).await;
            assert_eq!(status, 415, "{ct:?}");
            assert_eq!(code, json!("unsupported_media_type"), "{ct:?}");
        }
        assert_eq!(snapshot(&app, &[&a]).await, before);
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=\"UTF-8\"",
        ] {
            assert_eq!(post(Some(ct)).await.0, 201, "{ct}");
        }
        // No body, no Content-Type needed.
        let r = app
            .send(
                Method::GET,
                &format!("/v1/accounts/{a}"),
                None,
                &[],
                Some(&app.key),
            )
            .await;
        assert_eq!(r.status, 200);
    }
}

/// A request framed two ways (Content-Length and Transfer-Encoding) is refused and
/// its connection closed: hyper would have taken the chunked body silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_content_length_beside_transfer_encoding_is_refused() {
    for store in stores().await {
        let app = spawn(&store).await;
        let (a, _) = app.funded("a", "pm_card_visa", 2_000).await;
        let before = snapshot(&app, &[&a]).await;
        let body = r#"{"amount": 7}"#;
        for (first, second) in [
            ("Content-Length: 3", "Transfer-Encoding: chunked"),
            ("Transfer-Encoding: chunked", "content-length: 3"),
        ] {
            let request = format!(
                "POST /v1/accounts/{a}/debits HTTP/1.1\r\nHost: refill\r\n\
                 Authorization: Bearer {}\r\nContent-Type: application/json\r\n\
                 {first}\r\n{second}\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                app.key,
                body.len()
            );
            let r = exchange(&app, request.as_bytes()).await;
            assert_eq!(r.status, 400, "{}: {}", r.head, r.body);
            assert_eq!(r.body["code"], json!("ambiguous_length"));
            assert!(r.closed, "the connection is closed after it");
        }
        assert_eq!(snapshot(&app, &[&a]).await, before);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_a_request_without_host_is_refused() {
    for store in stores().await {
        let app = spawn(&store).await;
        for request in [
            &b"GET /healthz HTTP/1.0\r\n\r\n"[..],
            b"GET /healthz HTTP/1.1\r\n\r\n",
        ] {
            let r = exchange(&app, request).await;
            assert_eq!(r.status, 400, "{}", r.head);
            assert_eq!(r.body["code"], json!("missing_host"));
        }
        let r = exchange(&app, b"GET /healthz HTTP/1.0\r\nHost: refill\r\n\r\n").await;
        assert_eq!(r.status, 200, "{}", r.head);
    }
}

/// /metrics spans every tenant: the operator's only (401 without a key, as if not
/// there for an account key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edge_metrics_take_the_operator_key() {
    for store in stores().await {
        let app = spawn(&store).await;
        let a = app.account("a").await;
        let key = app.account_key(&a).await;
        let r = app.send(Method::GET, "/metrics", None, &[], None).await;
        assert_problem(&r, 401, "missing_api_key");
        let r = app
            .send(Method::GET, "/metrics", None, &[], Some(&key))
            .await;
        assert_problem(&r, 404, "route_not_found");
        let unknown = app.send(Method::GET, "/nope", None, &[], Some(&key)).await;
        assert_eq!(r.body, unknown.body, "as a route that is not there");
        let r = app.get("/metrics").await;
        assert_eq!(r.status, 200);
        assert!(
            r.body
                .as_str()
                .is_some_and(|t| t.contains("refill_http_requests_total"))
        );
    }
}
