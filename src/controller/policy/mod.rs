//! Pure, clock-injected rules, one small module each, composed by [`super::decision::decide`]:
//! the token verdict ([`verdict`]), transient-failure counting ([`failures`]), role
//! ([`role`]), scopes ([`scopes`]), expiry ([`expiry`]), whether a refresh is due
//! ([`refresh_due`]), revoke on delete ([`revoke`]), the reauthorization URL ([`consent`]), the Ready summary ([`ready`]), kstatus's Stalled and Reconciling ([`progress`]) and
//! the Events of a transition ([`events`]). None does I/O; every one has its own table tests.

pub mod consent;
pub mod events;
pub mod expiry;
pub mod failures;
pub mod progress;
pub mod ready;
pub mod refresh_due;
pub mod revoke;
pub mod role;
pub mod scopes;
pub mod verdict;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::conditions::{CondStatus, ConditionType, Reason, find};

/// One condition's decided status, typed reason and message.
#[derive(Clone, Debug, PartialEq)]
pub struct Cond {
    /// True, False or Unknown.
    pub status: CondStatus,
    /// The reason, from the condition type's closed vocabulary.
    pub reason: Reason,
    /// What a person should know (no secrets).
    pub message: String,
}

impl Cond {
    /// A condition with this status, reason and message.
    pub fn new(status: CondStatus, reason: Reason, message: impl Into<String>) -> Self {
        Cond { status, reason, message: message.into() }
    }

    /// Whether the status is True.
    pub fn is_true(&self) -> bool {
        self.status == CondStatus::True
    }

    /// Whether the status is False.
    pub fn is_false(&self) -> bool {
        self.status == CondStatus::False
    }
}

/// The stored condition of type `t` as a `Cond` (a reason outside the vocabulary reads as
/// that type's `Pending`), or `Unknown/Pending` when there was none.
pub fn previous_cond(prev: &[Condition], t: ConditionType) -> Cond {
    match find(prev, t) {
        Some(c) => Cond {
            status: match c.status.as_str() {
                "True" => CondStatus::True,
                "False" => CondStatus::False,
                _ => CondStatus::Unknown,
            },
            reason: Reason::parse(t, &c.reason).unwrap_or(Reason::pending(t)),
            message: c.message.clone(),
        },
        None => Cond::new(CondStatus::Unknown, Reason::pending(t), "not checked yet"),
    }
}

/// A time as people read it in messages: RFC 3339 UTC, whole seconds.
pub fn fmt_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::{ValidReason, condition};

    #[test]
    fn previous_conditions_read_back_typed_and_unknown_reasons_become_pending() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let stored = vec![
            condition(&[], ConditionType::Valid, CondStatus::False, "Expired", "m".into(), Some(1), now),
            condition(&[], ConditionType::RoleLost, CondStatus::True, "SomethingNew", "m".into(), Some(1), now),
        ];
        assert_eq!(previous_cond(&stored, ConditionType::Valid).reason, Reason::Valid(ValidReason::Expired));
        let role = previous_cond(&stored, ConditionType::RoleLost);
        assert_eq!((role.status, role.reason.as_str()), (CondStatus::True, "Pending"));
        let missing = previous_cond(&stored, ConditionType::Ready);
        assert_eq!((missing.status, missing.reason.as_str()), (CondStatus::Unknown, "Pending"));
    }
}
