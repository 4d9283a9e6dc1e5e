//! When a person must act, so that `status.reauthorizationURL` is published (providers.md
//! §2.9): Revoked=True; `Expired` without a refresh path; `AccountMismatch`;
//! ScopesMissing=True; ExpiringSoon=True.

use super::ready::Conds;
use crate::conditions::{Reason, RoleReason, ValidReason};

/// Whether a person must reconnect. `refresh_may_save`: a refresh path exists and may still
/// renew an expired token (its refresh failed transiently), so nobody needs to act yet.
pub fn must_act(c: &Conds, refresh_may_save: bool) -> bool {
    let expired = c.valid.is_false() && c.valid.reason == Reason::Valid(ValidReason::Expired);
    c.revoked.is_true()
        || (expired && !refresh_may_save)
        || c.role.reason == Reason::Role(RoleReason::AccountMismatch)
        || c.scopes.is_true()
        || c.expiring.is_true()
}

#[cfg(test)]
mod tests {
    use super::super::ready::tests::{c, healthy};
    use super::*;
    use crate::conditions::{CondStatus, ExpiryReason, RevokedReason, RoleReason, ScopesReason};

    #[test]
    fn a_person_must_act_exactly_in_the_listed_states() {
        let expired = c(CondStatus::False, Reason::Valid(ValidReason::Expired));
        let cases: Vec<(Conds, bool, bool)> = vec![
            (healthy(), false, false),
            (Conds { revoked: c(CondStatus::True, Reason::Revoked(RevokedReason::AppDeauthorized)), ..healthy() }, false, true),
            (Conds { valid: expired.clone(), ..healthy() }, false, true),
            (Conds { valid: expired, ..healthy() }, true, false),
            (Conds { role: c(CondStatus::True, Reason::Role(RoleReason::AccountMismatch)), ..healthy() }, false, true),
            (Conds { role: c(CondStatus::True, Reason::Role(RoleReason::RoleRemoved)), ..healthy() }, false, false),
            (Conds { scopes: c(CondStatus::True, Reason::Scopes(ScopesReason::ScopesNotGranted)), ..healthy() }, false, true),
            (Conds { expiring: c(CondStatus::True, Reason::Expiry(ExpiryReason::AccessTokenExpiring)), ..healthy() }, false, true),
        ];
        for (conds, may_save, expected) in cases {
            assert_eq!(must_act(&conds, may_save), expected, "{conds:?} {may_save}");
        }
    }
}
