//! Revoke on delete (providers.md §2.8): whether the finalizer belongs on a connection, which
//! Event a revoke outcome gives, and whether a transient answer is tried again before the bound.
//! The I/O (reading Secrets, calling the provider, patching the finalizer) is
//! [`crate::controller::finalizer`]'s.

use std::time::Duration;

use crate::controller::events::Notice;
use crate::controller::schedule;
use crate::providers::RevokeOutcome;

/// Default bound on the retries of a transient revoke answer (§2.8: at most 10 min).
pub const DEFAULT_REVOKE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// What to do with the finalizer of a connection that is not being deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalizerChange {
    /// `spec.revokeOnDelete` is true and the finalizer is missing.
    Add,
    /// `spec.revokeOnDelete` is false or absent and the finalizer is still there.
    Remove,
    /// Nothing to change.
    Keep,
}

/// The finalizer change for a connection: present exactly while `spec.revokeOnDelete` is true.
pub fn finalizer_change(revoke_on_delete: bool, has_finalizer: bool) -> FinalizerChange {
    match (revoke_on_delete, has_finalizer) {
        (true, false) => FinalizerChange::Add,
        (false, true) => FinalizerChange::Remove,
        _ => FinalizerChange::Keep,
    }
}

/// One revoke attempt's context.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attempt {
    /// Time since the deletion was requested (`metadata.deletionTimestamp`).
    pub elapsed: Duration,
    /// How long transient answers are retried (`--revoke-timeout`).
    pub bound: Duration,
    /// Transient answers in a row, this one included (for the backoff of §2.5 rule 7).
    pub transient_in_a_row: u32,
    /// A jitter draw in [0, 1).
    pub jitter: f64,
}

/// What follows a revoke attempt.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    /// Record this Event and release the finalizer.
    Finish(Notice),
    /// Try again after this wait (the finalizer stays).
    Retry(Duration),
}

/// The step after a revoke outcome (§2.8): 2xx or "already invalid" → `TokenRevoked`; no
/// revoke API → `RevokeNotSupported`; missing credentials → `RevokeSkipped`; other answers →
/// `RevokeFailed`; a transient answer is retried after the §2.5 delay (the provider's, else
/// backoff), never past the bound, and once the bound has passed it is `RevokeFailed`.
pub fn next(outcome: RevokeOutcome, attempt: &Attempt) -> Next {
    match outcome {
        RevokeOutcome::Revoked { already_invalid } => Next::Finish(Notice::TokenRevoked { already_invalid }),
        RevokeOutcome::Failed { message } => Next::Finish(Notice::RevokeFailed { why: message }),
        RevokeOutcome::NotSupported => Next::Finish(Notice::RevokeNotSupported),
        RevokeOutcome::Skipped { why } => Next::Finish(Notice::RevokeSkipped { why }),
        RevokeOutcome::Interrupted(i) => {
            let Some(left) = attempt.bound.checked_sub(attempt.elapsed).filter(|d| !d.is_zero()) else {
                return Next::Finish(Notice::RevokeFailed {
                    why: format!(
                        "the provider answered transiently for {} s, the revoke timeout ({}); last answer: {}",
                        attempt.elapsed.as_secs(),
                        humantime::format_duration(attempt.bound),
                        i.detail
                    ),
                });
            };
            let delay = match i.retry_after {
                Some(d) => schedule::provider_delay(d, attempt.jitter),
                None => schedule::backoff(attempt.transient_in_a_row.max(1), attempt.jitter),
            };
            // The last try comes at the bound itself, so a deletion never waits longer.
            Next::Retry(delay.min(left).max(schedule::MIN_RETRY))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Interruption;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn attempt(elapsed: u64, bound: u64, n: u32) -> Attempt {
        Attempt { elapsed: secs(elapsed), bound: secs(bound), transient_in_a_row: n, jitter: 0.0 }
    }

    #[test]
    fn the_finalizer_is_present_exactly_while_revoke_on_delete_is_true() {
        let cases = [
            (true, false, FinalizerChange::Add),
            (true, true, FinalizerChange::Keep),
            (false, true, FinalizerChange::Remove),
            (false, false, FinalizerChange::Keep),
        ];
        for (wants, has, expected) in cases {
            assert_eq!(finalizer_change(wants, has), expected, "revokeOnDelete={wants} finalizer={has}");
        }
    }

    #[test]
    fn every_final_outcome_gives_its_event_and_releases_the_finalizer() {
        let a = attempt(0, 600, 0);
        let cases = [
            (RevokeOutcome::Revoked { already_invalid: false }, "TokenRevoked", "Normal"),
            (RevokeOutcome::Revoked { already_invalid: true }, "TokenRevoked", "Normal"),
            (RevokeOutcome::Failed { message: "HTTP 401".into() }, "RevokeFailed", "Warning"),
            (RevokeOutcome::NotSupported, "RevokeNotSupported", "Normal"),
            (RevokeOutcome::Skipped { why: "no client_id".into() }, "RevokeSkipped", "Normal"),
        ];
        for (outcome, reason, kind) in cases {
            let label = format!("{outcome:?}");
            match next(outcome, &a) {
                Next::Finish(n) => {
                    assert_eq!(n.reason(), reason, "{label}");
                    assert_eq!(format!("{:?}", n.event_type()), kind, "{label}");
                }
                other => panic!("{label}: expected an Event, got {other:?}"),
            }
        }
    }

    #[test]
    fn transient_answers_are_retried_with_backoff_until_the_bound_then_fail() {
        let outage = || RevokeOutcome::Interrupted(Interruption::unavailable("HTTP 503"));
        let told = |s| RevokeOutcome::Interrupted(Interruption::rate_limited("HTTP 429", Some(secs(s))));
        // (outcome, elapsed, bound, transient in a row, expected wait; None = RevokeFailed)
        let cases = [
            (outage(), 0, 600, 1, Some(5)),
            (outage(), 30, 600, 3, Some(20)),
            (outage(), 590, 600, 5, Some(10)),
            (outage(), 599, 600, 5, Some(1)),
            (outage(), 600, 600, 6, None),
            (outage(), 3600, 600, 1, None),
            (outage(), 0, 0, 1, None),
            (told(120), 0, 600, 1, Some(120)),
            (told(120), 540, 600, 1, Some(60)),
            (told(0), 0, 600, 1, Some(1)),
            (outage(), 0, 600, 0, Some(5)),
            (outage(), 0, 600, u32::MAX, Some(600)),
        ];
        for (outcome, elapsed, bound, n, expected) in cases {
            let label = format!("{outcome:?} elapsed={elapsed} bound={bound} n={n}");
            let got = next(outcome, &attempt(elapsed, bound, n));
            match (got, expected) {
                (Next::Retry(d), Some(s)) => assert_eq!(d, secs(s), "{label}"),
                (Next::Finish(Notice::RevokeFailed { why }), None) => {
                    assert!(why.contains("revoke timeout") && why.contains("HTTP"), "{label}: {why}")
                }
                (got, _) => panic!("{label}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn the_default_bound_is_ten_minutes() {
        assert_eq!(DEFAULT_REVOKE_TIMEOUT, secs(600));
    }
}
