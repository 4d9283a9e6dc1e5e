//! The Events of one cycle's transitions (providers.md §2.13): one per transition, never one per
//! reconcile.

use super::Cond;
use super::ready::Conds;
use crate::conditions::{CondStatus, ExpiryReason, Reason, ValidReason};
use crate::controller::events::Notice;

/// The conditions before and after the cycle.
#[derive(Clone, Debug)]
pub struct Transition<'a> {
    /// Valid, Ready and ExpiringSoon before.
    pub prev_valid: &'a Cond,
    /// Ready before.
    pub prev_ready: &'a Cond,
    /// ExpiringSoon before.
    pub prev_expiring: &'a Cond,
    /// The decided conditions.
    pub now: &'a Conds,
    /// Ready now.
    pub ready: &'a Cond,
    /// `status.reauthorizationURL` now.
    pub url: Option<&'a str>,
    /// An expired token can still be saved by a refresh (no person needs to act yet).
    pub refresh_may_save: bool,
}

/// The condition-change Events: `SecretNotFound`, `ReauthorizationRequired`,
/// `ConnectionRestored`, `TokenExpiringSoon`.
pub fn transitions(t: &Transition<'_>) -> Vec<Notice> {
    let mut notices = Vec::new();
    let c = t.now;
    let secret_not_found = Reason::Valid(ValidReason::SecretNotFound);
    if c.valid.reason == secret_not_found && t.prev_valid.reason != secret_not_found {
        notices.push(Notice::SecretNotFound { message: c.valid.message.clone() });
    }
    let expired = c.valid.is_false() && c.valid.reason == Reason::Valid(ValidReason::Expired) && !t.refresh_may_save;
    let person_must_act = c.revoked.is_true() || expired || c.role.is_true() || c.scopes.is_true();
    let ready_changed = t.prev_ready.status != CondStatus::False || t.prev_ready.reason != t.ready.reason;
    if t.ready.is_false() && person_must_act && ready_changed {
        notices.push(Notice::ReauthorizationRequired {
            reason: t.ready.reason,
            cause: t.ready.message.clone(),
            url: t.url.map(str::to_string),
        });
    }
    if t.ready.is_true() && t.prev_ready.is_false() {
        notices.push(Notice::ConnectionRestored);
    }
    if c.expiring.is_true() && !t.prev_expiring.is_true() {
        let reason = match c.expiring.reason {
            Reason::Expiry(r) => r,
            _ => ExpiryReason::AccessTokenExpiring,
        };
        notices.push(Notice::TokenExpiringSoon { reason, message: c.expiring.message.clone() });
    }
    notices
}

#[cfg(test)]
mod tests {
    use super::super::ready::decide as ready;
    use super::super::ready::tests::{c, healthy};
    use super::*;
    use crate::conditions::{RevokedReason, RoleReason};

    fn names(n: &[Notice]) -> Vec<&'static str> {
        n.iter().map(Notice::reason).collect()
    }

    #[test]
    fn each_transition_records_one_event_and_steady_states_none() {
        let ok = healthy();
        let ok_ready = ready(&ok);
        let revoked = Conds {
            revoked: c(CondStatus::True, Reason::Revoked(RevokedReason::TokenInvalidated)),
            valid: c(CondStatus::False, Reason::Valid(ValidReason::Revoked)),
            ..healthy()
        };
        let revoked_ready = ready(&revoked);
        let pending = c(CondStatus::Unknown, Reason::Valid(ValidReason::Pending));
        let expiring = Conds { expiring: c(CondStatus::True, Reason::Expiry(ExpiryReason::AccessTokenExpiring)), ..healthy() };
        let expired = Conds { valid: c(CondStatus::False, Reason::Valid(ValidReason::Expired)), ..healthy() };
        let expired_ready = ready(&expired);
        let role = Conds { role: c(CondStatus::True, Reason::Role(RoleReason::RoleRemoved)), ..healthy() };
        let role_ready = ready(&role);
        let t = |_: &str, prev_ready: &Cond, prev_exp: &Cond, now: &Conds, ready: &Cond, may_save: bool| {
            transitions(&Transition {
                prev_valid: &ok.valid,
                prev_ready,
                prev_expiring: prev_exp,
                now,
                ready,
                url: None,
                refresh_may_save: may_save,
            })
        };
        assert!(names(&t("", &pending, &ok.expiring, &ok, &ok_ready, false)).is_empty(), "first success is no restoration");
        assert_eq!(names(&t("", &ok_ready, &ok.expiring, &revoked, &revoked_ready, false)), ["ReauthorizationRequired"]);
        assert!(names(&t("", &revoked_ready, &ok.expiring, &revoked, &revoked_ready, false)).is_empty(), "no repeat");
        assert_eq!(names(&t("", &revoked_ready, &ok.expiring, &ok, &ok_ready, false)), ["ConnectionRestored"]);
        assert_eq!(names(&t("", &ok_ready, &ok.expiring, &expiring, &ready(&expiring), false)), ["TokenExpiringSoon"]);
        assert_eq!(names(&t("", &ok_ready, &ok.expiring, &expired, &expired_ready, false)), ["ReauthorizationRequired"]);
        assert!(names(&t("", &ok_ready, &ok.expiring, &expired, &expired_ready, true)).is_empty(), "a refresh may still save it");
        assert_eq!(names(&t("", &ok_ready, &ok.expiring, &role, &role_ready, false)), ["ReauthorizationRequired"]);
        let gone = Conds { valid: c(CondStatus::False, Reason::Valid(ValidReason::SecretNotFound)), ..healthy() };
        assert_eq!(names(&t("", &ok_ready, &ok.expiring, &gone, &ready(&gone), false)), ["SecretNotFound"]);
    }
}
