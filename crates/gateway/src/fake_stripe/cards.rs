//! Stripe's test payment methods (`pm_card_*`) and what each does when charged or set
//! up, as the fake plays them.

#[derive(Debug, Clone, Copy)]
pub(super) enum Outcome {
    Succeed,
    /// code, decline_code, message
    Decline(&'static str, Option<&'static str>, &'static str),
    /// Off-session: declined with authentication_required; on-session: requires_action.
    AuthRequired,
    /// 3-D Secure when the card is set up (SetupIntent); charges succeed afterwards.
    AuthOnSetup,
    /// Saved fine; every charge declined (Stripe's `pm_card_chargeCustomerFail`).
    DeclineAfterAttach,
    Processing,
}

pub(super) struct TestCard {
    pub(super) token: &'static str,
    pub(super) brand: &'static str,
    pub(super) last4: &'static str,
    pub(super) outcome: Outcome,
}

pub(super) const DECLINED: &str = "Your card was declined.";

const fn card(token: &'static str, last4: &'static str, outcome: Outcome) -> TestCard {
    TestCard {
        token,
        brand: "visa",
        last4,
        outcome,
    }
}

/// Stripe's test payment methods, plus `pm_card_pending`, which Stripe lacks for
/// cards: it leaves the PaymentIntent processing until `FakeStripe::settle`.
const CARDS: &[TestCard] = &[
    card("pm_card_visa", "4242", Outcome::Succeed),
    card(
        "pm_card_chargeDeclined",
        "0002",
        Outcome::Decline("card_declined", Some("generic_decline"), DECLINED),
    ),
    card(
        "pm_card_chargeDeclinedInsufficientFunds",
        "9995",
        Outcome::Decline(
            "card_declined",
            Some("insufficient_funds"),
            "Your card has insufficient funds.",
        ),
    ),
    card(
        "pm_card_chargeDeclinedExpiredCard",
        "0069",
        Outcome::Decline("expired_card", None, "Your card has expired."),
    ),
    card(
        "pm_card_chargeDeclinedIncorrectCvc",
        "0127",
        Outcome::Decline(
            "incorrect_cvc",
            None,
            "Your card's security code is incorrect.",
        ),
    ),
    card(
        "pm_card_chargeDeclinedLostCard",
        "9987",
        Outcome::Decline("card_declined", Some("lost_card"), DECLINED),
    ),
    card(
        "pm_card_chargeDeclinedStolenCard",
        "9979",
        Outcome::Decline("card_declined", Some("stolen_card"), DECLINED),
    ),
    card(
        "pm_card_chargeDeclinedFraudulent",
        "0019",
        Outcome::Decline("card_declined", Some("fraudulent"), DECLINED),
    ),
    card(
        "pm_card_authenticationRequired",
        "3184",
        Outcome::AuthRequired,
    ),
    card("pm_card_pending", "0077", Outcome::Processing),
    card(
        "pm_card_authenticationRequiredOnSetup",
        "3155",
        Outcome::AuthOnSetup,
    ),
    card(
        "pm_card_chargeCustomerFail",
        "0341",
        Outcome::DeclineAfterAttach,
    ),
    // R31: paid at once; their refunds stay pending (refunds.rs).
    card("pm_card_refundFail", "5126", Outcome::Succeed),
    card("pm_card_refundPending", "0107", Outcome::Succeed),
];

pub(super) fn test_card(token: &str) -> Option<&'static TestCard> {
    CARDS.iter().find(|c| c.token == token)
}
