//! Stripe's own checks of a charge's amount (https://docs.stripe.com/currencies):
//! three-decimal currencies only in multiples of 10, and at least the minimum charge.
//! The fake refuses what Stripe refuses, with Stripe's error shape (a 400
//! `invalid_request_error` naming `param: amount`), so tests show that refill never
//! sends such an amount (R1) and what it does when one is refused (R23).

use super::Reply;
use axum::http::StatusCode;
use refill_domain::money::format_minor;
use refill_domain::{Currency, Money};
use serde_json::json;

fn refused(code: &str, message: String) -> Reply {
    let doc_url = format!(
        "https://stripe.com/docs/error-codes/{}",
        code.replace('_', "-")
    );
    let body = json!({"error": {"type": "invalid_request_error", "code": code,
        "param": "amount", "message": message, "doc_url": doc_url}});
    (StatusCode::BAD_REQUEST, body)
}

/// Ok, or the 400 Stripe answers a charge of `amount` in `currency` (lower case, as
/// sent) with. A currency refill does not know is left to the rest of the fake.
pub(super) fn check(amount: i64, currency: &str) -> Result<(), Reply> {
    let Ok(c) = Currency::parse(&currency.to_ascii_uppercase()) else {
        return Ok(());
    };
    let rules = c.gateway();
    if amount % rules.step != 0 {
        let example = amount - amount.rem_euclid(rules.step);
        return Err(refused(
            "invalid_charge_amount",
            format!(
                "Invalid amount: {currency} amounts must be rounded to the nearest ten \
                 (the last digit must be 0), for example {example} instead of {amount}."
            ),
        ));
    }
    if amount < rules.minimum_charge {
        let least = Money::new(rules.minimum_charge, c);
        return Err(refused(
            "amount_too_small",
            format!(
                "Amount must be at least {} {currency}",
                format_minor(least.amount, c)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r1_the_fake_refuses_what_stripe_refuses() {
        assert!(check(1_100, "bhd").is_ok());
        let (status, body) = check(1_101, "bhd").unwrap_err();
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "invalid_charge_amount");
        assert_eq!(body["error"]["param"], "amount");
        let (_, body) = check(100, "huf").unwrap_err();
        assert_eq!(body["error"]["code"], "amount_too_small");
        assert_eq!(
            body["error"]["message"],
            "Amount must be at least 175.00 huf"
        );
        assert!(check(17_500, "huf").is_ok());
        assert!(check(1, "xyz").is_ok());
    }
}
