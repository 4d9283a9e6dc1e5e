//! Ready (providers.md §2.4): True iff Valid is True and Revoked, RoleLost, ScopesMissing are
//! False; False with the first blocker's reason in the order Revoked, Valid, RoleLost,
//! ScopesMissing; otherwise Unknown.

use super::Cond;
use crate::conditions::{CondStatus, Reason, ValidReason};

/// The five decided conditions Ready summarises.
#[derive(Clone, Debug)]
pub struct Conds {
    /// Valid.
    pub valid: Cond,
    /// Revoked.
    pub revoked: Cond,
    /// RoleLost.
    pub role: Cond,
    /// ScopesMissing.
    pub scopes: Cond,
    /// ExpiringSoon.
    pub expiring: Cond,
}

/// The Ready condition.
pub fn decide(c: &Conds) -> Cond {
    let blocker = |x: &Cond| Cond::new(CondStatus::False, x.reason, x.message.clone());
    if c.revoked.is_true() {
        blocker(&c.revoked)
    } else if c.valid.is_false() {
        blocker(&c.valid)
    } else if c.role.is_true() {
        blocker(&c.role)
    } else if c.scopes.is_true() {
        blocker(&c.scopes)
    } else if c.valid.is_true() && c.revoked.is_false() && c.role.is_false() && c.scopes.is_false() {
        Cond::new(CondStatus::True, Reason::AllChecksPassed, "the connection works")
    } else if c.valid.status == CondStatus::Unknown {
        Cond::new(CondStatus::Unknown, c.valid.reason, c.valid.message.clone())
    } else {
        Cond::new(CondStatus::Unknown, Reason::Valid(ValidReason::Pending), "checks have not all completed")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::conditions::{ExpiryReason, RevokedReason, RoleReason, ScopesReason};

    pub fn c(status: CondStatus, reason: Reason) -> Cond {
        Cond::new(status, reason, "m")
    }

    pub fn healthy() -> Conds {
        Conds {
            valid: c(CondStatus::True, Reason::Valid(ValidReason::TokenValid)),
            revoked: c(CondStatus::False, Reason::Revoked(RevokedReason::NotRevoked)),
            role: c(CondStatus::False, Reason::Role(RoleReason::NoRoleRequired)),
            scopes: c(CondStatus::False, Reason::Scopes(ScopesReason::NoScopesRequired)),
            expiring: c(CondStatus::False, Reason::Expiry(ExpiryReason::NotExpiring)),
        }
    }

    #[test]
    fn ready_takes_the_first_blocker_in_order() {
        let revoked = c(CondStatus::True, Reason::Revoked(RevokedReason::TokenInvalidated));
        let expired = c(CondStatus::False, Reason::Valid(ValidReason::Expired));
        let role = c(CondStatus::True, Reason::Role(RoleReason::RoleRemoved));
        let unknown = c(CondStatus::Unknown, Reason::Valid(ValidReason::RateLimited));
        let cases: Vec<(Conds, CondStatus, Reason)> = vec![
            (healthy(), CondStatus::True, Reason::AllChecksPassed),
            (Conds { revoked: revoked.clone(), valid: expired.clone(), ..healthy() }, CondStatus::False, revoked.reason),
            (Conds { valid: expired.clone(), role: role.clone(), ..healthy() }, CondStatus::False, expired.reason),
            (Conds { role: role.clone(), ..healthy() }, CondStatus::False, role.reason),
            (Conds { valid: unknown.clone(), ..healthy() }, CondStatus::Unknown, unknown.reason),
            (
                Conds { role: c(CondStatus::Unknown, Reason::Role(RoleReason::Pending)), ..healthy() },
                CondStatus::Unknown,
                Reason::Valid(ValidReason::Pending),
            ),
        ];
        for (conds, status, reason) in cases {
            let r = decide(&conds);
            assert_eq!((r.status, r.reason), (status, reason), "{conds:?}");
        }
    }
}
