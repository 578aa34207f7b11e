//! Words for the refund events (R31): asked for, approved, rejected, paid back,
//! failed.

use super::*;

const REQUESTED: &str = "refund.requested";
const APPROVED: &str = "refund.approved";
const REJECTED: &str = "refund.rejected";
const SUCCEEDED: &str = "refund.succeeded";
const FAILED: &str = "refund.failed";

pub(super) fn is_refund(event_type: &str) -> bool {
    [REQUESTED, APPROVED, REJECTED, SUCCEEDED, FAILED].contains(&event_type)
}

/// The rows every refund email shows.
fn rows(n: &Notification, f: &Fields) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    push(&mut rows, "Refund", f.money("amount"));
    push(&mut rows, "Refund id", f.text("refund_id"));
    push(&mut rows, "Top-up id", f.text("top_up_id"));
    rows.push(("Date", format_utc(n.created_ms)));
    rows
}

pub(super) fn draft(n: &Notification, f: &Fields) -> Draft {
    let amount = f.money("amount");
    let mut rows = rows(n, f);
    let (subject, lead, advice) = match n.event_type.as_str() {
        REQUESTED => {
            push(&mut rows, "Your reason", f.text("reason"));
            (
                format!("We received your refund request{}", of(&amount)),
                format!("We received your request for a refund{}.", of(&amount)),
                "We will review it and let you know our decision.",
            )
        }
        APPROVED => {
            push(
                &mut rows,
                "Taken from your balance",
                f.money("credit_reversed"),
            );
            push(&mut rows, "Tax refunded", f.money("tax_reversed"));
            push(&mut rows, "Balance after", f.money("balance_after"));
            (
                format!("Your refund{} was approved", of(&amount)),
                format!("We approved a refund{} to your card.", of(&amount)),
                "The credit it pays back was taken from your balance. The money reaches your card when your bank has processed it.",
            )
        }
        REJECTED => {
            push(&mut rows, "Reason", f.text("decision_reason"));
            (
                format!("Your refund request{} was declined", of(&amount)),
                format!("We could not approve your refund request{}.", of(&amount)),
                "Your balance is unchanged. Reply to this email if you have questions.",
            )
        }
        SUCCEEDED => {
            push(&mut rows, "Transaction id", f.text("transaction_id"));
            (
                format!("Your refund{} was paid", of(&amount)),
                format!("Your refund{} was paid back to your card.", of(&amount)),
                "Quote the transaction id if you contact your bank about it.",
            )
        }
        _ => {
            push(&mut rows, "Reason", f.text("message"));
            push(&mut rows, "Balance after", f.money("balance_after"));
            (
                format!("Your refund{} failed", of(&amount)),
                format!("Your refund{} could not be paid to your card.", of(&amount)),
                "The credit it had taken is back on your balance. Contact us to be refunded another way.",
            )
        }
    };
    Draft {
        subject,
        lead,
        rows,
        advice: vec![advice.to_string()],
    }
}

pub(super) fn sms_parts(n: &Notification, f: &Fields) -> (String, Vec<Option<String>>) {
    let amount = f.money("amount");
    let balance = f.money("balance_after").map(|b| format!("Balance {b}."));
    match n.event_type.as_str() {
        REQUESTED => (format!("refund request{} received.", of(&amount)), vec![]),
        APPROVED => (format!("refund{} approved.", of(&amount)), vec![balance]),
        REJECTED => (
            format!("refund request{} declined.", of(&amount)),
            vec![f.text("decision_reason")],
        ),
        SUCCEEDED => (format!("refund{} paid to your card.", of(&amount)), vec![]),
        _ => (
            format!(
                "refund{} failed; the credit is back on your balance.",
                of(&amount)
            ),
            vec![balance],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn r31_refund_notices_say_what_happened_to_the_money() {
        let n = |t: &str, data| Notification {
            event_id: "evt_1".into(),
            event_type: t.into(),
            created_ms: 1_772_373_900_000,
            account_id: "acct_1".into(),
            data,
        };
        let approved = n(
            APPROVED,
            json!({"amount": 1200, "currency": "GBP", "credit_reversed": 1000,
                "tax_reversed": 200, "balance_after": 4000, "refund_id": "rfd_1"}),
        );
        let e = render_email(&approved, None);
        assert_eq!(e.subject, "Your refund of 12.00 GBP was approved");
        assert!(
            e.text.contains("10.00 GBP") && e.text.contains("rfd_1"),
            "{}",
            e.text
        );
        let rejected = n(
            REJECTED,
            json!({"amount": 500, "currency": "GBP", "decision_reason": "used already"}),
        );
        assert!(render_email(&rejected, None).text.contains("used already"));
        assert_eq!(
            render_sms(&rejected),
            "refill: refund request of 5.00 GBP declined. used already"
        );
        let failed = n(
            FAILED,
            json!({"amount": 500, "currency": "GBP", "balance_after": 900}),
        );
        assert!(render_sms(&failed).contains("Balance 9.00 GBP."));
    }
}
