//! R14: the refund of a card's verification charge, owed until the gateway makes it:
//! its key in each round, and when it is asked for again.

use crate::Millis;
use crate::top_up::verification_refund_key;

/// R14, R25: the key of a verification charge's refund in `round`: a new round (a new
/// request) only after the gateway said the last refund failed; a refund whose
/// outcome is unknown is asked again under the same key.
pub fn verification_refund_round_key(verification_key: &str, round: i64) -> String {
    match round {
        0 => verification_refund_key(verification_key),
        n => format!("{}_{n}", verification_refund_key(verification_key)),
    }
}

/// R14: when a verification refund that failed `attempts` times is tried again:
/// after `base`, doubling, at most an hour apart.
pub fn verification_refund_retry_at(now: Millis, attempts: i64, base: Millis) -> Millis {
    let doubled = base.saturating_mul(1 << attempts.clamp(0, 20));
    now.saturating_add(doubled.min(crate::HOUR))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top_up::verification_key;

    #[test]
    fn r14_a_verification_refund_is_retried_under_its_key_then_a_new_round() {
        let key = verification_key("pm_1", 2, false);
        assert_eq!(
            verification_refund_round_key(&key, 0),
            "verify_pm_1_2_refund"
        );
        assert_eq!(
            verification_refund_round_key(&key, 1),
            "verify_pm_1_2_refund_1"
        );
        let m = crate::MINUTE;
        assert_eq!(verification_refund_retry_at(0, 0, m), m);
        assert_eq!(verification_refund_retry_at(0, 3, m), 8 * m);
        assert_eq!(
            verification_refund_retry_at(0, 60, m),
            crate::HOUR,
            "bounded"
        );
    }
}
