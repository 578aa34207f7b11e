//! Words for `top_up.pending` (R11): a card payment the bank has not settled yet,
//! never told as a success.

use super::*;

pub(super) fn draft(n: &Notification, f: &Fields) -> Draft {
    let amount = f.money("amount");
    let credited = f.0.get("credited").and_then(Value::as_bool) == Some(true);
    let mut rows = Vec::new();
    push(&mut rows, "Amount", amount.clone());
    push(&mut rows, "Tax", f.money("tax"));
    push(&mut rows, "Total", f.money("total"));
    rows.push(("Date", format_utc(n.created_ms)));
    push(&mut rows, "Paid with", paid_with(f));
    push(&mut rows, "Transaction id", f.text("transaction_id"));
    push(&mut rows, "Top-up id", f.text("top_up_id"));
    push(&mut rows, "Balance now", f.money("balance_after"));
    let now = match credited {
        true => "Its credit can be used now; it is taken back if the payment fails.",
        false => "Its credit is added to your balance when the payment settles.",
    };
    Draft {
        subject: format!("Your payment{} is pending", of(&amount)),
        lead: format!(
            "Your card payment{} is pending at your bank. {now}",
            of(&amount)
        ),
        rows,
        advice: vec![
            "We will write again when the bank settles it; this is not a receipt yet.".into(),
        ],
    }
}

pub(super) fn sms_parts(f: &Fields) -> (String, Vec<Option<String>>) {
    let amount = f.money("amount");
    (
        format!("your payment{} is pending at your bank.", of(&amount)),
        vec![f.text("transaction_id").map(|t| format!("Ref {t}"))],
    )
}
