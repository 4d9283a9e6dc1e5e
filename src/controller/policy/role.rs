//! RoleLost (providers.md §2.4): the first finding in precedence order wins; no finding and no
//! required role is `NoRoleRequired`; otherwise the previous value is kept.

use super::Cond;
use crate::api::RequiredRole;
use crate::conditions::{CondStatus, Reason, RoleReason};
use crate::providers::RoleFinding;

/// RoleLost for a cycle whose token is valid; `None` keeps the previous value.
pub fn decide(findings: &[RoleFinding], required: Option<RequiredRole>) -> Option<Cond> {
    if let Some(best) = findings.iter().min_by_key(|f| f.reason.precedence()) {
        let status = if best.reason.is_lost() { CondStatus::True } else { CondStatus::False };
        return Some(Cond::new(status, Reason::Role(best.reason), best.message.clone()));
    }
    required.is_none().then(|| Cond::new(CondStatus::False, Reason::Role(RoleReason::NoRoleRequired), "spec.requiredRole is not set"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(r: RoleReason) -> RoleFinding {
        RoleFinding { reason: r, message: "m".into() }
    }

    #[test]
    fn the_first_finding_by_precedence_decides() {
        type Row = (Vec<RoleFinding>, Option<RequiredRole>, Option<(CondStatus, RoleReason)>);
        let cases: Vec<Row> = vec![
            (vec![], None, Some((CondStatus::False, RoleReason::NoRoleRequired))),
            (vec![], Some(RequiredRole::Admin), None),
            (vec![f(RoleReason::RoleConfirmed)], Some(RequiredRole::Admin), Some((CondStatus::False, RoleReason::RoleConfirmed))),
            (vec![f(RoleReason::RoleRemoved), f(RoleReason::AccountMismatch)], None, Some((CondStatus::True, RoleReason::AccountMismatch))),
            (
                vec![f(RoleReason::NotProfessionalAccount), f(RoleReason::AccountNotFound)],
                None,
                Some((CondStatus::True, RoleReason::AccountNotFound)),
            ),
            (vec![f(RoleReason::RoleNotVerifiable)], Some(RequiredRole::Editor), Some((CondStatus::False, RoleReason::RoleNotVerifiable))),
        ];
        for (findings, required, expected) in cases {
            let got = decide(&findings, required).map(|c| (c.status, c.reason));
            assert_eq!(got, expected.map(|(s, r)| (s, Reason::Role(r))), "{findings:?}");
        }
    }
}
