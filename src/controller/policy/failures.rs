//! Counting transient answers (providers.md §2.5): a Valid token stays Valid through two in a
//! row; the third turns Valid Unknown and records one `ProviderUnavailable` Event.

use super::Cond;
use crate::conditions::{CondStatus, Reason, ValidReason};
use crate::providers::{Interruption, TransientKind};

/// Transient answers in a row after which Valid becomes Unknown (§2.5).
pub const FAILURES_BEFORE_UNKNOWN: i32 = 3;

/// The new `consecutiveFailures`: a classified verdict resets the count (to one if the same
/// cycle also ended in a counted transient answer); otherwise a counted interruption adds one.
pub fn count(previous: i32, definite: bool, interruption: Option<&Interruption>) -> i32 {
    let counted = i32::from(interruption.is_some_and(|i| i.counts_as_failure));
    if definite { counted } else { previous.saturating_add(counted) }
}

/// Valid while the provider gives no verdict: Unknown with `RateLimited` or
/// `ProviderUnavailable` from the third failure on, or at once when Valid is already Unknown;
/// `None` keeps the previous Valid.
pub fn transient_valid(previous_valid: &Cond, failures: i32, interruption: &Interruption) -> Option<Cond> {
    if failures < FAILURES_BEFORE_UNKNOWN && previous_valid.status != CondStatus::Unknown {
        return None;
    }
    let reason = match interruption.kind {
        TransientKind::RateLimited => ValidReason::RateLimited,
        TransientKind::Unavailable => ValidReason::ProviderUnavailable,
    };
    Some(Cond::new(
        CondStatus::Unknown,
        Reason::Valid(reason),
        format!("{} ({} failed checks in a row); retrying", interruption.detail, failures),
    ))
}

/// Whether this cycle crossed the threshold (one Event per crossing).
pub fn crossed_threshold(previous: i32, now: i32) -> bool {
    now >= FAILURES_BEFORE_UNKNOWN && previous < FAILURES_BEFORE_UNKNOWN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_up_reset_on_a_verdict_and_ignore_uncounted_waits() {
        let outage = Interruption::unavailable("503");
        let young = Interruption { counts_as_failure: false, ..Interruption::unavailable("young") };
        let cases = [
            (0, false, Some(&outage), 1),
            (2, false, Some(&outage), 3),
            (5, true, None, 0),
            (5, true, Some(&outage), 1),
            (2, false, Some(&young), 2),
            (i32::MAX, false, Some(&outage), i32::MAX),
        ];
        for (prev, definite, i, expected) in cases {
            assert_eq!(count(prev, definite, i), expected, "{prev} {definite} {i:?}");
        }
    }

    #[test]
    fn valid_turns_unknown_on_the_third_failure_or_at_once_when_pending() {
        let valid = Cond::new(CondStatus::True, Reason::Valid(ValidReason::TokenValid), "m");
        let pending = Cond::new(CondStatus::Unknown, Reason::Valid(ValidReason::Pending), "m");
        let rate = Interruption::rate_limited("429", None);
        assert_eq!(transient_valid(&valid, 2, &rate), None);
        assert_eq!(transient_valid(&valid, 3, &rate).map(|c| c.reason), Some(Reason::Valid(ValidReason::RateLimited)));
        let outage = Interruption::unavailable("503");
        assert_eq!(transient_valid(&pending, 1, &outage).map(|c| c.reason), Some(Reason::Valid(ValidReason::ProviderUnavailable)));
        assert!(crossed_threshold(2, 3) && !crossed_threshold(3, 4) && !crossed_threshold(1, 2));
    }
}
