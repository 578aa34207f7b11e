//! Assertions shared by the tests: refusals as problem+json, and answers to requests
//! sent at once under one idempotency key.

use crate::support::Resp;

/// A refusal as RFC 9457 problem+json with the stable `code`.
#[track_caller]
pub fn assert_problem(r: &Resp, status: u16, code: &str) {
    assert_eq!(
        r.status, status,
        "expected {status} {code}, got {}: {}",
        r.status, r.body
    );
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!(ct, "application/problem+json", "content-type of {code}");
    assert_eq!(r.code(), code, "{}", r.body);
    assert_eq!(
        r.body["status"].as_u64(),
        Some(u64::from(status)),
        "{}",
        r.body
    );
    for field in ["type", "title", "detail"] {
        assert!(
            r.body[field].as_str().is_some_and(|s| !s.is_empty()),
            "problem field {field} missing: {}",
            r.body
        );
    }
}

#[track_caller]
pub fn assert_rule(r: &Resp, rule: &str) {
    assert_eq!(r.body["rule"].as_str(), Some(rule), "{}", r.body);
}

#[track_caller]
pub fn assert_created(r: &Resp) {
    assert_eq!(r.status, 201, "{}", r.body);
}

/// Requests sent at once with one idempotency key: each was answered (201) or told
/// the key is in use (409), and every 201 is the same answer.
pub fn twins_answered_once(all: &[&Resp]) {
    for r in all {
        assert!(
            r.status == 201 || (r.status == 409 && r.code() == "idempotency_key_in_use"),
            "{}: {}",
            r.status,
            r.body
        );
    }
    let answers: Vec<&&Resp> = all.iter().filter(|r| r.status == 201).collect();
    assert!(!answers.is_empty());
    assert!(
        answers.iter().all(|r| r.body == answers[0].body),
        "one answer"
    );
}
