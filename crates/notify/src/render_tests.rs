//! The words of each event, for people (R26).

use super::*;
use crate::events;
use serde_json::json;

fn note(event_type: &str, data: Value) -> Notification {
    Notification {
        event_id: "evt_1".into(),
        event_type: event_type.into(),
        created_ms: 1_772_373_900_000, // 2026-03-01 14:05 UTC
        account_id: "acct_1".into(),
        data,
    }
}

#[test]
fn r26_amounts_and_times_are_for_people() {
    assert_eq!(format_money(1234, Some("GBP")), "12.34 GBP");
    assert_eq!(format_money(500, Some("JPY")), "500 JPY");
    assert_eq!(format_money(5, Some("XXX")), "5 (minor units of XXX)");
    assert_eq!(format_utc(1_772_373_900_000), "2026-03-01 14:05 UTC");
    assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
}

#[test]
fn r26_html_escapes_everything_from_data() {
    let n = note(
        events::TOP_UP_FAILED,
        json!({"amount": 1000, "currency": "GBP", "code": "card_declined",
               "message": "<script>alert('x')</script> & \"more\""}),
    );
    let e = render_email(&n, Some("<b>Ada</b>"));
    assert!(!e.html.contains("<script>"), "{}", e.html);
    assert!(!e.html.contains("<b>Ada"));
    assert!(
        e.html
            .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;")
    );
    assert!(e.text.contains("<script>"), "plain text stays as written");
}

#[test]
fn r26_missing_fields_render_gracefully() {
    for t in events::ALL.iter().chain(&["something.new"]) {
        let e = render_email(&note(t, json!({})), None);
        assert!(!e.subject.is_empty() && e.text.starts_with("Hello,"), "{t}");
        assert!(
            !e.text.contains("None") && !e.text.contains("null"),
            "{t}: {}",
            e.text
        );
        let s = render_sms(&note(t, Value::Null));
        assert!(s.starts_with("refill: ") && s.len() <= 160, "{t}: {s}");
    }
}

#[test]
fn r26_subjects_stay_on_one_line() {
    let n = note("evil\r\nBcc: x@y", json!({}));
    assert!(!render_email(&n, None).subject.contains('\n'));
}

#[test]
fn r26_sms_fits_one_message_and_drops_details_first() {
    let n = note(
        events::TOP_UP_SUCCEEDED,
        json!({"amount": 2000, "total": 2400, "currency": "GBP", "balance_after": 2500,
               "transaction_id": "x".repeat(120)}),
    );
    let s = render_sms(&n);
    assert!(s.len() <= 160, "{s}");
    assert!(s.contains("topped up by 20.00 GBP") && s.contains("Charged 24.00 GBP"));
    assert!(!s.contains("xxxx"), "the long reference is dropped: {s}");
}
