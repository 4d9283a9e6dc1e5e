//! ScopesMissing (providers.md §2.4): required = `spec.requiredScopes`; granted = the
//! provider's answer this cycle, else the Secret's `scope`; "lacks permission" answers name the
//! scope a call needed.

use super::Cond;
use crate::conditions::{CondStatus, Reason, ScopesReason};
use crate::providers::ScopeDenial;

/// What the scope rule decided.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopesOutcome {
    /// The condition; `None` keeps the previous one.
    pub condition: Option<Cond>,
    /// Granted scopes to store; `None` keeps the stored ones.
    pub granted: Option<Vec<String>>,
    /// Required scopes that were not granted.
    pub missing: Vec<String>,
}

/// The scopes of a cycle whose token is valid. `interrupted`: a transient answer ended the
/// cycle, so an absent source keeps the previous values rather than becoming unverifiable.
pub fn decide(
    required: &[String],
    provider_granted: Option<&Vec<String>>,
    secret_granted: Option<&Vec<String>>,
    denials: &[ScopeDenial],
    previous_missing: &[String],
    interrupted: bool,
) -> ScopesOutcome {
    let granted = provider_granted.or(secret_granted).cloned();
    if !denials.is_empty() {
        let names: Vec<String> = denials.iter().map(|d| d.scope.clone()).collect();
        let msgs: Vec<String> = denials.iter().map(|d| format!("{}: {}", d.scope, d.message)).collect();
        let msg = format!("the provider refused a call that needs {}", msgs.join("; "));
        return ScopesOutcome { condition: Some(not_granted(msg)), granted, missing: names };
    }
    if required.is_empty() {
        let c = Cond::new(CondStatus::False, Reason::Scopes(ScopesReason::NoScopesRequired), "spec.requiredScopes is empty");
        return ScopesOutcome { condition: Some(c), granted, missing: vec![] };
    }
    let Some(g) = granted else {
        if interrupted {
            return ScopesOutcome { condition: None, granted: None, missing: previous_missing.to_vec() };
        }
        let c = Cond::new(
            CondStatus::Unknown,
            Reason::Scopes(ScopesReason::ScopesUnverifiable),
            "neither the provider nor the Secret's scope key says which scopes were granted",
        );
        return ScopesOutcome { condition: Some(c), granted: None, missing: vec![] };
    };
    let missing: Vec<String> = required.iter().filter(|s| !g.contains(s)).cloned().collect();
    let condition = if missing.is_empty() {
        Cond::new(CondStatus::False, Reason::Scopes(ScopesReason::ScopesGranted), "every required scope is granted")
    } else {
        not_granted(format!("required scopes not granted: {}; reconnect and grant them", missing.join(", ")))
    };
    ScopesOutcome { condition: Some(condition), granted: Some(g), missing }
}

fn not_granted(message: String) -> Cond {
    Cond::new(CondStatus::True, Reason::Scopes(ScopesReason::ScopesNotGranted), message)
}

/// Telegram bot tokens have no scopes at all (§3.10).
pub fn bot_token() -> Cond {
    Cond::new(CondStatus::False, Reason::Scopes(ScopesReason::NoScopesRequired), "Telegram bot tokens have no scopes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn scopes_are_matched_exactly_from_the_best_source() {
        let required = v(&["a", "b"]);
        let denial = ScopeDenial { scope: "pages_read_engagement".into(), message: "(#10)".into() };
        type Row<'a> = (Option<Vec<String>>, Option<Vec<String>>, Vec<ScopeDenial>, bool, Option<ScopesReason>, Vec<&'a str>);
        let cases: Vec<Row> = vec![
            (Some(v(&["a", "b"])), None, vec![], false, Some(ScopesReason::ScopesGranted), vec![]),
            (Some(v(&["a"])), Some(v(&["a", "b"])), vec![], false, Some(ScopesReason::ScopesNotGranted), vec!["b"]),
            (None, Some(v(&["A", "b"])), vec![], false, Some(ScopesReason::ScopesNotGranted), vec!["a"]),
            (None, None, vec![], false, Some(ScopesReason::ScopesUnverifiable), vec![]),
            (None, None, vec![], true, None, vec!["old"]),
            (Some(v(&["a", "b"])), None, vec![denial], false, Some(ScopesReason::ScopesNotGranted), vec!["pages_read_engagement"]),
        ];
        for (provider, secret, denials, interrupted, reason, missing) in cases {
            let out = decide(&required, provider.as_ref(), secret.as_ref(), &denials, &v(&["old"]), interrupted);
            assert_eq!(out.condition.map(|c| c.reason), reason.map(Reason::Scopes), "{provider:?} {secret:?}");
            assert_eq!(out.missing, v(&missing));
        }
        let none = decide(&[], None, None, &[], &[], false);
        assert_eq!(none.condition.map(|c| c.reason), Some(Reason::Scopes(ScopesReason::NoScopesRequired)));
    }
}
