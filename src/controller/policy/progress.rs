//! kstatus's abnormal-true conditions (sigs.k8s.io/cli-utils kstatus, what Flux's health
//! checks and `kubectl wait` read): `Stalled=True` while a person must act, so that a GitOps
//! wait fails at once with the blocker's reason instead of timing out; `Reconciling=True` while
//! the first check or a retry after a transient answer is pending. Both False on a working
//! connection. Derived from Ready alone (plus whether a refresh may still save an expired
//! token), so they change exactly when Ready does and never cause a write of their own.

use super::Cond;
use crate::conditions::{CondStatus, Reason, SummaryReason, ValidReason};

/// (Stalled, Reconciling) for a connection whose Ready condition is `ready`.
/// `refresh_may_save`: a refresh failed transiently and may still renew an expired token.
pub fn decide(ready: &Cond, refresh_may_save: bool) -> (Cond, Cond) {
    let not_stalled = || Cond::new(CondStatus::False, Reason::Summary(SummaryReason::NoActionNeeded), "no person needs to act");
    let stalled = || Cond::new(CondStatus::True, ready.reason, ready.message.clone());
    let settled = |why: &str| Cond::new(CondStatus::False, Reason::Summary(SummaryReason::CheckCompleted), why);
    let pending = |why: String| Cond::new(CondStatus::True, ready.reason, why);
    match ready.status {
        CondStatus::True => (not_stalled(), settled("the last check passed")),
        CondStatus::False if ready.reason == Reason::Valid(ValidReason::Expired) && refresh_may_save => {
            (not_stalled(), pending(format!("{}; a refresh that may still renew it is retried after a transient failure", ready.message)))
        }
        CondStatus::False => (stalled(), settled("the last check reached a verdict: a person must act (see Stalled)")),
        // A permission a person must grant.
        CondStatus::Unknown if ready.reason == Reason::Valid(ValidReason::SecretAccessDenied) => {
            (stalled(), settled("the token Secret cannot be read: a person must grant access (see Stalled)"))
        }
        // Not checked yet, or retrying after transient answers.
        CondStatus::Unknown => (not_stalled(), pending(ready.message.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::{RevokedReason, RoleReason, ScopesReason};

    #[test]
    fn a_person_must_act_means_stalled_and_waiting_for_an_answer_means_reconciling() {
        use CondStatus::{False, True, Unknown};
        let v = Reason::Valid;
        let cases: [(CondStatus, Reason, bool, (CondStatus, Reason), (CondStatus, Reason)); 11] = [
            // (Ready, its reason, a refresh may save it) → (Stalled, its reason), (Reconciling, its reason)
            (
                True,
                Reason::AllChecksPassed,
                false,
                (False, Reason::Summary(SummaryReason::NoActionNeeded)),
                (False, Reason::Summary(SummaryReason::CheckCompleted)),
            ),
            (
                False,
                Reason::Revoked(RevokedReason::PasswordChanged),
                false,
                (True, Reason::Revoked(RevokedReason::PasswordChanged)),
                (False, Reason::Summary(SummaryReason::CheckCompleted)),
            ),
            (
                False,
                v(ValidReason::Expired),
                false,
                (True, v(ValidReason::Expired)),
                (False, Reason::Summary(SummaryReason::CheckCompleted)),
            ),
            (
                False,
                v(ValidReason::Expired),
                true,
                (False, Reason::Summary(SummaryReason::NoActionNeeded)),
                (True, v(ValidReason::Expired)),
            ),
            (
                False,
                v(ValidReason::SecretNotFound),
                false,
                (True, v(ValidReason::SecretNotFound)),
                (False, Reason::Summary(SummaryReason::CheckCompleted)),
            ),
            (
                False,
                Reason::Role(RoleReason::InsufficientRole),
                false,
                (True, Reason::Role(RoleReason::InsufficientRole)),
                (False, Reason::Summary(SummaryReason::CheckCompleted)),
            ),
            (
                False,
                Reason::Scopes(ScopesReason::ScopesNotGranted),
                false,
                (True, Reason::Scopes(ScopesReason::ScopesNotGranted)),
                (False, Reason::Summary(SummaryReason::CheckCompleted)),
            ),
            (
                Unknown,
                v(ValidReason::SecretAccessDenied),
                false,
                (True, v(ValidReason::SecretAccessDenied)),
                (False, Reason::Summary(SummaryReason::CheckCompleted)),
            ),
            (
                Unknown,
                v(ValidReason::Pending),
                false,
                (False, Reason::Summary(SummaryReason::NoActionNeeded)),
                (True, v(ValidReason::Pending)),
            ),
            (
                Unknown,
                v(ValidReason::ProviderUnavailable),
                false,
                (False, Reason::Summary(SummaryReason::NoActionNeeded)),
                (True, v(ValidReason::ProviderUnavailable)),
            ),
            (
                Unknown,
                v(ValidReason::RateLimited),
                false,
                (False, Reason::Summary(SummaryReason::NoActionNeeded)),
                (True, v(ValidReason::RateLimited)),
            ),
        ];
        for (i, (status, reason, may_save, want_stalled, want_reconciling)) in cases.into_iter().enumerate() {
            let ready = Cond::new(status, reason, "why");
            let (stalled, reconciling) = decide(&ready, may_save);
            assert_eq!((stalled.status, stalled.reason), want_stalled, "case {i}: Stalled");
            assert_eq!((reconciling.status, reconciling.reason), want_reconciling, "case {i}: Reconciling");
            // Never both: a connection waits for a person or for an answer, not for both.
            assert!(!(stalled.is_true() && reconciling.is_true()), "case {i}");
        }
    }

    #[test]
    fn a_stalled_connection_says_what_blocks_it_in_the_words_of_ready() {
        let ready = Cond::new(CondStatus::False, Reason::Revoked(RevokedReason::AppDeauthorized), "the user removed the app; reconnect");
        let (stalled, _) = decide(&ready, false);
        assert_eq!(stalled.message, ready.message);
    }
}
