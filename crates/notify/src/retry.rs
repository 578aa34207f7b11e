//! When to try a failed delivery again (R28: never lost, yet a receiver that is down is
//! not hammered). Pure: time and randomness are passed in.

use refill_domain::{DAY, HOUR, Millis};

pub const DEFAULT_BASE_MS: i64 = 30_000;
pub const DEFAULT_CAP_MS: i64 = 4 * HOUR;
/// Like the big webhook senders: three days of retries, then the event is marked failed.
pub const DEFAULT_MAX_AGE_MS: i64 = 3 * DAY;

/// The delay before retry number `attempt` (1 = the first retry): doubling from
/// `base_ms`, at most `cap_ms`, with "equal jitter": half of it fixed, half scaled by
/// `random_unit` (in [0, 1)). The fixed half keeps a floor under the delay; the random
/// half spreads out the retries of many events that failed in the same outage.
pub fn backoff_delay_ms(attempt: u32, random_unit: f64, base_ms: i64, cap_ms: i64) -> i64 {
    let ceiling = ceiling_ms(attempt, base_ms.max(0), cap_ms.max(0));
    let half = ceiling / 2;
    let r = if random_unit.is_finite() {
        random_unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    // `as` saturates; min() guards against float rounding on huge ceilings.
    let jitter = ((ceiling - half) as f64 * r) as i64;
    half.saturating_add(jitter).min(ceiling)
}

/// base * 2^(attempt-1), capped, without overflow.
fn ceiling_ms(attempt: u32, base: i64, cap: i64) -> i64 {
    let doublings = attempt.saturating_sub(1).min(62);
    base.checked_mul(1i64 << doublings)
        .unwrap_or(i64::MAX)
        .min(cap)
}

/// True once a notification first tried at `first_attempt_ms` has been retried for
/// `max_age_ms` ([`DEFAULT_MAX_AGE_MS`] by default).
pub fn give_up(first_attempt_ms: Millis, now_ms: Millis, max_age_ms: i64) -> bool {
    now_ms.saturating_sub(first_attempt_ms) >= max_age_ms
}

/// The retry settings of a deployment, with the defaults above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_ms: i64,
    pub cap_ms: i64,
    pub max_age_ms: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_ms: DEFAULT_BASE_MS,
            cap_ms: DEFAULT_CAP_MS,
            max_age_ms: DEFAULT_MAX_AGE_MS,
        }
    }
}

impl RetryPolicy {
    /// After retryable failure number `attempt` at `now_ms`: when to try next, or None
    /// to give up. The last try is pulled in to the deadline rather than skipped.
    pub fn next_attempt_ms(
        &self,
        attempt: u32,
        first_attempt_ms: Millis,
        now_ms: Millis,
        random_unit: f64,
    ) -> Option<Millis> {
        if give_up(first_attempt_ms, now_ms, self.max_age_ms) {
            return None;
        }
        let delay = backoff_delay_ms(attempt, random_unit, self.base_ms, self.cap_ms);
        let deadline = first_attempt_ms.saturating_add(self.max_age_ms);
        Some(now_ms.saturating_add(delay).min(deadline))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r28_backoff_doubles_from_base_with_equal_jitter() {
        assert_eq!(backoff_delay_ms(1, 0.0, 1000, 60_000), 500);
        assert_eq!(backoff_delay_ms(1, 0.5, 1000, 60_000), 750);
        assert_eq!(backoff_delay_ms(2, 0.0, 1000, 60_000), 1000);
        assert_eq!(backoff_delay_ms(3, 0.0, 1000, 60_000), 2000);
        assert_eq!(backoff_delay_ms(3, 0.999_999, 1000, 60_000), 3999);
        assert_eq!(backoff_delay_ms(0, 0.0, 1000, 60_000), 500, "0 counts as 1");
    }

    #[test]
    fn r28_backoff_stays_within_half_and_full_ceiling_and_is_capped() {
        for attempt in 0..200u32 {
            let ceiling = ceiling_ms(attempt, 30_000, DEFAULT_CAP_MS);
            assert!(ceiling <= DEFAULT_CAP_MS);
            let mut last = -1;
            for i in 0..100 {
                let d = backoff_delay_ms(attempt, f64::from(i) / 100.0, 30_000, DEFAULT_CAP_MS);
                assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d}");
                assert!(d >= last, "monotone in the random unit");
                last = d;
            }
        }
        assert_eq!(
            backoff_delay_ms(40, 0.0, 30_000, DEFAULT_CAP_MS),
            DEFAULT_CAP_MS / 2
        );
    }

    #[test]
    fn r28_backoff_survives_extreme_inputs() {
        for r in [f64::NAN, f64::INFINITY, -1.0, 2.0] {
            let d = backoff_delay_ms(u32::MAX, r, i64::MAX, i64::MAX);
            assert!((i64::MAX / 2..=i64::MAX).contains(&d), "{r}: {d}");
        }
        assert_eq!(backoff_delay_ms(5, 0.5, -10, 100), 0);
        assert_eq!(backoff_delay_ms(5, 0.5, 10, -100), 0);
    }

    #[test]
    fn r28_give_up_after_max_age() {
        let first = 1_000_000;
        assert!(!give_up(first, first, DEFAULT_MAX_AGE_MS));
        assert!(!give_up(
            first,
            first + DEFAULT_MAX_AGE_MS - 1,
            DEFAULT_MAX_AGE_MS
        ));
        assert!(give_up(
            first,
            first + DEFAULT_MAX_AGE_MS,
            DEFAULT_MAX_AGE_MS
        ));
        assert!(
            !give_up(first, first - 5, DEFAULT_MAX_AGE_MS),
            "clock went back"
        );
        assert!(
            give_up(i64::MIN, i64::MAX, DEFAULT_MAX_AGE_MS),
            "no overflow"
        );
    }

    #[test]
    fn r28_policy_schedules_until_the_deadline_then_gives_up() {
        let p = RetryPolicy::default();
        let first = 0;
        assert_eq!(
            p.next_attempt_ms(1, first, 0, 0.0),
            Some(DEFAULT_BASE_MS / 2)
        );
        let near_end = DEFAULT_MAX_AGE_MS - 1000;
        assert_eq!(
            p.next_attempt_ms(50, first, near_end, 0.9),
            Some(DEFAULT_MAX_AGE_MS)
        );
        assert_eq!(p.next_attempt_ms(51, first, DEFAULT_MAX_AGE_MS, 0.0), None);
    }
}
