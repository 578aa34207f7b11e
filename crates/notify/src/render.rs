//! Words for people (R26): the email (plain text and HTML) and the SMS for each event.
//!
//! Each event is first drafted as a subject, a lead sentence, a table of facts and some
//! advice; the text and HTML emails are two writings of the same draft, so they never
//! disagree. `data` comes from our own outbox, but may lack fields (older rows, partial
//! events): a missing field drops its line, never the message.

use crate::Notification;
use refill_domain::auto_top_up::{SourceKind, civil_from_days};
use refill_domain::events::EventType;
use refill_domain::money::{Currency, format_minor};
use serde_json::Value;

mod pending;
mod refunds;

/// Signs every message. The operator's brand would go here once it is configurable.
const BRAND: &str = "refill";
const SMS_LIMIT: usize = 160;

/// A rendered email: the subject, a plain-text body and an HTML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailContent {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What an email says, before it is written as text or HTML.
struct Draft {
    subject: String,
    lead: String,
    rows: Vec<(&'static str, String)>,
    advice: Vec<String>,
}

/// The email for `n`, addressed to `recipient_name` when known.
pub fn render_email(n: &Notification, recipient_name: Option<&str>) -> EmailContent {
    let d = draft(n);
    let greeting = match recipient_name.map(str::trim).filter(|s| !s.is_empty()) {
        Some(name) => format!("Hello {name},"),
        None => "Hello,".to_string(),
    };
    let footer = format!(
        "Account {} - event {} ({})",
        n.account_id, n.event_id, n.event_type
    );
    EmailContent {
        subject: one_line(&d.subject),
        text: write_text(&d, &greeting, &footer),
        html: write_html(&d, &greeting, &footer),
    }
}

fn write_text(d: &Draft, greeting: &str, footer: &str) -> String {
    let mut out = format!("{greeting}\n\n{}\n", d.lead);
    if !d.rows.is_empty() {
        out.push('\n');
        let width = d.rows.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
        for (k, v) in &d.rows {
            out.push_str(&format!("{:<width$}  {v}\n", format!("{k}:")));
        }
    }
    for a in &d.advice {
        out.push_str(&format!("\n{a}\n"));
    }
    out.push_str(&format!("\n-- \n{BRAND}\n{footer}\n"));
    out
}

fn write_html(d: &Draft, greeting: &str, footer: &str) -> String {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\
         <body style=\"font-family:sans-serif;line-height:1.5\">\n",
    );
    out.push_str(&format!(
        "<p>{}</p>\n<p>{}</p>\n",
        esc(greeting),
        esc(&d.lead)
    ));
    if !d.rows.is_empty() {
        out.push_str("<table cellpadding=\"4\" style=\"border-collapse:collapse\">\n");
        for (k, v) in &d.rows {
            out.push_str(&format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
                esc(k),
                esc(v)
            ));
        }
        out.push_str("</table>\n");
    }
    for a in &d.advice {
        out.push_str(&format!("<p>{}</p>\n", esc(a)));
    }
    out.push_str(&format!(
        "<p style=\"color:#666;font-size:small\">{}<br>{}</p>\n</body></html>\n",
        esc(BRAND),
        esc(footer)
    ));
    out
}

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Headers must stay on one line whatever the data holds.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The event's type, if this version knows it.
fn event_type(n: &Notification) -> Option<EventType> {
    n.event_type.parse().ok()
}

fn draft(n: &Notification) -> Draft {
    let f = Fields(&n.data);
    match event_type(n) {
        Some(EventType::TopUpSucceeded) => top_up_succeeded(n, &f),
        Some(EventType::TopUpPending) => pending::draft(n, &f),
        Some(EventType::TopUpFailed) => top_up_failed(n, &f),
        Some(EventType::AutoTopUpDisabled) => auto_top_up_disabled(n, &f),
        Some(EventType::BalanceLow) => balance_low(n, &f),
        Some(EventType::BalanceApproachingThreshold) => approaching_threshold(n, &f),
        Some(EventType::CapReached) => cap_reached(n, &f),
        Some(EventType::PaymentReversed) => payment_reversed(n, &f),
        _ if refunds::is_refund(&n.event_type) => refunds::draft(n, &f),
        _ => other(n, &f),
    }
}

fn top_up_succeeded(n: &Notification, f: &Fields) -> Draft {
    let amount = f.money("amount");
    let mut rows = Vec::new();
    push(&mut rows, "Amount credited", amount.clone());
    push(&mut rows, "Tax", f.money("tax"));
    push(&mut rows, "Total charged", f.money("total"));
    rows.push(("Date", format_utc(n.created_ms)));
    push(&mut rows, "Paid with", paid_with(f));
    push(&mut rows, "Transaction id", f.text("transaction_id"));
    push(&mut rows, "Top-up id", f.text("top_up_id"));
    push(&mut rows, "Balance after", f.money("balance_after"));
    Draft {
        subject: format!("Receipt: your balance was topped up{}", by(&amount)),
        lead: format!(
            "Your balance was topped up{}. This email is your receipt.",
            by(&amount)
        ),
        rows,
        advice: vec!["Quote the transaction id if you contact us about this payment.".into()],
    }
}

fn top_up_failed(n: &Notification, f: &Fields) -> Draft {
    let amount = f.money("amount");
    let code = f.text("code").or_else(|| f.text("reason"));
    let (why, todo) = failure_words(code.as_deref());
    let next = f.int("next_attempt_ms").map(format_utc);
    let mut rows = Vec::new();
    push(&mut rows, "Amount", amount.clone());
    push(
        &mut rows,
        "Reason",
        f.text("message").or(Some(format!("{}.", capitalise(why)))),
    );
    push(&mut rows, "Reason code", code);
    rows.push(("Date", format_utc(n.created_ms)));
    rows.push((
        "Next attempt",
        next.clone().unwrap_or_else(|| "none planned".into()),
    ));
    let then = match next {
        Some(t) => format!("We will try again at {t}."),
        None => "No further automatic attempt is planned.".into(),
    };
    Draft {
        subject: format!("Your top-up{} failed", of(&amount)),
        lead: format!("We could not top up your balance{}: {why}.", by(&amount)),
        rows,
        advice: vec![todo.to_string(), then],
    }
}

/// What a decline code means to a person, and what they can do about it.
fn failure_words(code: Option<&str>) -> (&'static str, &'static str) {
    const CARD: &str =
        "Check your card with your bank or add another card; you can also top up manually.";
    const NEW_CARD: &str = "Add another card to keep your service running.";
    const WAIT: &str = "There is nothing you need to do: this is not a problem with your card.";
    match code.unwrap_or("") {
        "insufficient_funds" => ("your card has insufficient funds", CARD),
        "expired_card" => (
            "your card has expired",
            "Update your card details or add another card.",
        ),
        "lost_card" | "stolen_card" => ("the card was reported lost or stolen", NEW_CARD),
        "fraudulent" => (
            "the bank blocked the payment as possibly fraudulent",
            NEW_CARD,
        ),
        "authentication_required" => (
            "your bank asks you to confirm the payment (3-D Secure)",
            "Sign in to your account and confirm the payment; until then we will not try again.",
        ),
        "gateway_unavailable" | "gateway_timeout" | "processing_error" | "outage" => {
            ("the payment provider did not answer in time", WAIT)
        }
        "insufficient_balance" | "source_insufficient" => (
            "the main account's balance cannot cover the transfer",
            "Top up the main account, or ask its owner to.",
        ),
        _ => ("your card was declined", CARD),
    }
}

fn auto_top_up_disabled(n: &Notification, f: &Fields) -> Draft {
    let failures = f.int("failures");
    let reason = f.text("reason");
    let why = disabled_words(reason.as_deref(), failures);
    let mut rows = vec![("Reason", capitalise(&why))];
    push(
        &mut rows,
        "Failed attempts in a row",
        failures.map(|c| c.to_string()),
    );
    rows.push(("Date", format_utc(n.created_ms)));
    Draft {
        subject: "Automatic top-up has been turned off".into(),
        lead: format!("We turned off automatic top-up on your account: {why}."),
        rows,
        advice: vec![
            "Your balance will no longer be topped up automatically, so your service may stop when it runs out.".into(),
            "Update your payment details and turn automatic top-up on again, or top up manually.".into(),
        ],
    }
}

fn disabled_words(reason: Option<&str>, failures: Option<i64>) -> String {
    match reason.unwrap_or("") {
        "failures" | "too_many_failures" | "consecutive_failures" | "" => match failures {
            Some(c) => format!("{c} top-up attempts in a row failed"),
            None => "top-up attempts kept failing".into(),
        },
        "hard_decline" | "lost_card" | "stolen_card" | "fraudulent" => {
            "the bank refused the card for good (reported lost, stolen or blocked)".into()
        }
        "payment_method_removed" | "payment_method_disabled" => {
            "the card used for it was removed or is no longer valid".into()
        }
        "payer_removed" | "payer_disabled" => "the billing contact was removed".into(),
        other => other.replace('_', " "),
    }
}

fn balance_low(n: &Notification, f: &Fields) -> Draft {
    let balance = f.money("balance");
    let alert = f.money("low_balance_threshold");
    let mut rows = Vec::new();
    push(&mut rows, "Balance", balance.clone());
    push(&mut rows, "Alert threshold", alert.clone());
    rows.push(("Date", format_utc(n.created_ms)));
    let lead = match (&balance, &alert) {
        (Some(b), Some(a)) => format!("Your balance is {b}, below your low-balance alert of {a}."),
        (Some(b), None) => format!("Your balance is low: {b}."),
        _ => "Your balance is low.".into(),
    };
    Draft {
        subject: format!("Your balance is low{}", colon(&balance)),
        lead,
        rows,
        advice: vec!["Top up now to avoid an interruption of your service.".into()],
    }
}

fn approaching_threshold(n: &Notification, f: &Fields) -> Draft {
    let balance = f.money("balance");
    let threshold = f.money("threshold");
    let mut rows = Vec::new();
    push(&mut rows, "Balance", balance.clone());
    push(&mut rows, "Automatic top-up threshold", threshold.clone());
    rows.push(("Date", format_utc(n.created_ms)));
    let lead = match (&balance, &threshold) {
        (Some(b), Some(t)) => {
            format!("Your balance is {b}, close to your automatic top-up threshold of {t}.")
        }
        _ => "Your balance is close to your automatic top-up threshold.".into(),
    };
    Draft {
        subject: "Your balance is nearing your top-up threshold".into(),
        lead,
        rows,
        advice: vec![
            "If automatic top-up is on, we will top up when the balance reaches the threshold: make sure your card is valid. If it is off, top up manually.".into(),
        ],
    }
}

fn cap_reached(n: &Notification, f: &Fields) -> Draft {
    let period = cap_period(f);
    let until = f.int("until_ms").map(format_utc);
    let mut rows = Vec::new();
    push(&mut rows, "Limit", f.text("cap").map(|c| capitalise(&c)));
    push(&mut rows, "No automatic top-ups until", until.clone());
    rows.push(("Date", format_utc(n.created_ms)));
    let lead = match &until {
        Some(u) => format!(
            "Your {period}limit on automatic top-ups has been reached, so no automatic top-up will run until {u}."
        ),
        None => format!(
            "Your {period}limit on automatic top-ups has been reached, so automatic top-ups are paused."
        ),
    };
    Draft {
        subject: format!("Your {period}automatic top-up limit has been reached"),
        lead,
        rows,
        advice: vec![
            "Top up manually if you need more credit before then, or raise the limit in your settings.".into(),
            "If you did not expect this many top-ups, check your recent usage.".into(),
        ],
    }
}

/// "daily " or "monthly " (with its space), or nothing for an unknown cap.
fn cap_period(f: &Fields) -> &'static str {
    match f.text("cap").as_deref() {
        Some("daily") => "daily ",
        Some("monthly") => "monthly ",
        _ => "",
    }
}

fn payment_reversed(n: &Notification, f: &Fields) -> Draft {
    let amount = f.money("amount");
    let mut rows = Vec::new();
    push(&mut rows, "Amount reversed", amount.clone());
    push(&mut rows, "Balance after", f.money("balance_after"));
    push(&mut rows, "Transaction id", f.text("transaction_id"));
    rows.push(("Date", format_utc(n.created_ms)));
    Draft {
        subject: format!("A payment{} was reversed", of(&amount)),
        lead: format!(
            "Your bank reversed the payment{}, so we removed that credit from your balance.",
            of(&amount)
        ),
        rows,
        advice: vec![
            "If your balance is now below zero, usage is blocked until it is repaid: top up to restore your service.".into(),
        ],
    }
}

/// An event type this version does not know: still say something useful.
fn other(n: &Notification, f: &Fields) -> Draft {
    let mut rows = vec![("Event", n.event_type.clone())];
    rows.push(("Date", format_utc(n.created_ms)));
    if let Some(s) = f.text("message") {
        rows.push(("Details", s));
    }
    Draft {
        subject: format!("Account update: {}", n.event_type),
        lead: "There is an update on your account.".into(),
        rows,
        advice: vec![],
    }
}

/// The SMS for `n`: the essential sentence, plus optional details while they fit in
/// one 160-character message.
pub fn render_sms(n: &Notification) -> String {
    let f = Fields(&n.data);
    let (core, extras) = sms_parts(n, &f);
    let mut out = format!("{BRAND}: {core}");
    for e in extras.into_iter().flatten() {
        if out.chars().count() + 1 + e.chars().count() <= SMS_LIMIT {
            out.push(' ');
            out.push_str(&e);
        }
    }
    out
}

fn sms_parts(n: &Notification, f: &Fields) -> (String, Vec<Option<String>>) {
    let amount = f.money("amount");
    match event_type(n) {
        Some(EventType::TopUpSucceeded) => (
            format!("balance topped up{}.", by(&amount)),
            vec![
                f.money("total").map(|t| format!("Charged {t}.")),
                f.money("balance_after").map(|b| format!("Balance {b}.")),
                f.text("transaction_id").map(|t| format!("Ref {t}")),
            ],
        ),
        Some(EventType::TopUpFailed) => {
            let code = f.text("code").or_else(|| f.text("reason"));
            let (why, _) = failure_words(code.as_deref());
            (
                format!("top-up{} failed: {why}.", of(&amount)),
                vec![
                    f.int("next_attempt_ms")
                        .map(|t| format!("Next try {}.", format_utc(t))),
                ],
            )
        }
        Some(EventType::AutoTopUpDisabled) => (
            format!(
                "automatic top-up turned off: {}.",
                disabled_words(f.text("reason").as_deref(), f.int("failures"))
            ),
            vec![Some("Update your card and turn it on again.".into())],
        ),
        Some(EventType::BalanceLow) => (
            format!("your balance is low{}.", colon(&f.money("balance"))),
            vec![Some("Top up to avoid interruption.".into())],
        ),
        Some(EventType::BalanceApproachingThreshold) => (
            format!(
                "your balance{} is near your top-up threshold.",
                is(&f.money("balance"))
            ),
            vec![f.money("threshold").map(|t| format!("Threshold {t}."))],
        ),
        Some(EventType::CapReached) => (
            format!("{}automatic top-up limit reached.", cap_period(f)),
            vec![
                f.int("until_ms")
                    .map(|t| format!("Paused until {}.", format_utc(t))),
                Some("Top up manually if needed.".into()),
            ],
        ),
        Some(EventType::PaymentReversed) => (
            format!("your bank reversed a payment{}.", of(&amount)),
            vec![
                f.money("balance_after")
                    .map(|b| format!("Balance now {b}.")),
            ],
        ),
        Some(EventType::TopUpPending) => pending::sms_parts(f),
        _ if refunds::is_refund(&n.event_type) => refunds::sms_parts(n, f),
        _ => (format!("account update ({}).", n.event_type), vec![]),
    }
}

/// Read-only access to an event's `data`, tolerant of missing or oddly typed fields.
struct Fields<'a>(&'a Value);

impl Fields<'_> {
    fn text(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            Value::Number(x) => Some(x.to_string()),
            _ => None,
        }
    }
    fn int(&self, key: &str) -> Option<i64> {
        match self.0.get(key)? {
            Value::Number(x) => x.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
    /// "12.34 GBP" from minor units and the event's `currency` (R1).
    fn money(&self, key: &str) -> Option<String> {
        let amount = self.int(key)?;
        Some(format_money(amount, self.text("currency").as_deref()))
    }
}

/// Minor units for people: "12.34 GBP"; an unknown currency shows its raw minor units
/// rather than a guessed decimal point.
pub fn format_money(amount: i64, currency: Option<&str>) -> String {
    match currency.map(|c| (c, Currency::parse(c))) {
        Some((_, Ok(c))) => format!("{} {c}", format_minor(amount, c)),
        Some((code, Err(_))) => format!("{amount} (minor units of {code})"),
        None => format!("{amount} (minor units)"),
    }
}

/// "2026-03-01 14:05 UTC" from unix milliseconds.
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        s / 3600,
        s / 60 % 60
    )
}

fn paid_with(f: &Fields) -> Option<String> {
    if f.text("source").as_deref() == Some(SourceKind::Transfer.as_str()) {
        return Some("Transfer from the main account".into());
    }
    match (
        f.text("card_brand").map(|b| brand(&b)),
        f.text("card_last4"),
    ) {
        (Some(b), Some(l)) => Some(format!("{b} ending in {l}")),
        (None, Some(l)) => Some(format!("Card ending in {l}")),
        (b, None) => b,
    }
}

fn brand(b: &str) -> String {
    match b.to_ascii_lowercase().as_str() {
        "visa" => "Visa".into(),
        "mastercard" => "Mastercard".into(),
        "amex" | "american_express" => "American Express".into(),
        "discover" => "Discover".into(),
        "jcb" => "JCB".into(),
        "diners" => "Diners Club".into(),
        "unionpay" => "UnionPay".into(),
        _ => capitalise(b),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn push(rows: &mut Vec<(&'static str, String)>, label: &'static str, value: Option<String>) {
    if let Some(v) = value {
        rows.push((label, v));
    }
}

fn by(amount: &Option<String>) -> String {
    amount
        .as_ref()
        .map(|a| format!(" by {a}"))
        .unwrap_or_default()
}

fn of(amount: &Option<String>) -> String {
    amount
        .as_ref()
        .map(|a| format!(" of {a}"))
        .unwrap_or_default()
}

fn colon(amount: &Option<String>) -> String {
    amount
        .as_ref()
        .map(|a| format!(": {a}"))
        .unwrap_or_default()
}

fn is(amount: &Option<String>) -> String {
    amount
        .as_ref()
        .map(|a| format!(" ({a})"))
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
