//! The closed vocabulary of status conditions: types, reasons, and the rule that keeps
//! `lastTransitionTime` when a condition's status does not change.
//!
//! Reasons are exactly those of providers.md §2.4; they are enums so that the compiler, not a
//! string comparison, says which reason belongs to which condition.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// A condition type written by the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionType {
    /// The token works (True), does not (False), or the operator cannot tell yet (Unknown).
    Valid,
    /// The token was revoked or invalidated by the provider or the user.
    Revoked,
    /// The connecting identity lost the role it needs, or is not the declared account.
    RoleLost,
    /// Required scopes were not granted.
    ScopesMissing,
    /// The token, its refresh token or its data access expires inside the warning window.
    ExpiringSoon,
    /// Summary: the connection can be used.
    Ready,
    /// kstatus (abnormal-true): True while a person must act before the connection can work
    /// again (revoked, expired with no refresh path, role or scopes lost, a Secret to fix).
    Stalled,
    /// kstatus (abnormal-true): True while the first check or a retry after a transient answer
    /// is pending.
    Reconciling,
}

impl ConditionType {
    /// All types, in the order they are written to status.
    pub const ALL: [ConditionType; 8] = [
        ConditionType::Ready,
        ConditionType::Valid,
        ConditionType::Revoked,
        ConditionType::RoleLost,
        ConditionType::ScopesMissing,
        ConditionType::ExpiringSoon,
        ConditionType::Stalled,
        ConditionType::Reconciling,
    ];

    /// The condition type as written in status.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConditionType::Valid => "Valid",
            ConditionType::Revoked => "Revoked",
            ConditionType::RoleLost => "RoleLost",
            ConditionType::ScopesMissing => "ScopesMissing",
            ConditionType::ExpiringSoon => "ExpiringSoon",
            ConditionType::Ready => "Ready",
            ConditionType::Stalled => "Stalled",
            ConditionType::Reconciling => "Reconciling",
        }
    }
}

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CondStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The operator cannot tell.
    Unknown,
}

impl CondStatus {
    /// As written in status.
    pub const fn as_str(self) -> &'static str {
        match self {
            CondStatus::True => "True",
            CondStatus::False => "False",
            CondStatus::Unknown => "Unknown",
        }
    }
}

macro_rules! reasons {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }
        impl $name {
            /// The reason as written in status (CamelCase, as Kubernetes expects).
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }

            /// The reason written as `s`, if it is one of this type's.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $(stringify!($variant) => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

reasons!(
    /// Reasons of the `Valid` condition.
    ValidReason {
        /// True: the provider accepted the token.
        TokenValid,
        /// False: the token expired.
        Expired,
        /// False: the token was revoked (see the Revoked condition).
        Revoked,
        /// False: the referenced Secret does not exist.
        SecretNotFound,
        /// False: a needed key is absent or empty.
        SecretKeyMissing,
        /// False: a Secret value is malformed, or the provider rejected the client credentials.
        InvalidSecret,
        /// Unknown: not checked yet.
        Pending,
        /// Unknown: the provider failed three times in a row.
        ProviderUnavailable,
        /// Unknown: the provider rate-limited three times in a row.
        RateLimited,
        /// Unknown: the operator is not allowed to read a referenced Secret (RBAC); the
        /// message names the missing permission.
        SecretAccessDenied,
    }
);

reasons!(
    /// Reasons of the `Revoked` condition.
    RevokedReason {
        /// True: the user changed their password.
        PasswordChanged,
        /// True: the user removed the app.
        AppDeauthorized,
        /// True: the account is in a security checkpoint.
        AccountCheckpointed,
        /// True: the account is unconfirmed.
        AccountUnconfirmed,
        /// True: the provider invalidated the token.
        TokenInvalidated,
        /// True: the account is suspended or closed.
        AccountSuspended,
        /// False: not revoked.
        NotRevoked,
        /// Unknown: not checked yet.
        Pending,
    }
);

reasons!(
    /// Reasons of the `RoleLost` condition.
    RoleReason {
        /// True: the identity no longer has a role on the account.
        RoleRemoved,
        /// True: the identity's role is below spec.requiredRole.
        InsufficientRole,
        /// True: the account does not exist or cannot be seen.
        AccountNotFound,
        /// True: the token belongs to another account than spec.account.id.
        AccountMismatch,
        /// True: the Instagram account is not a professional account.
        NotProfessionalAccount,
        /// False: the role was confirmed.
        RoleConfirmed,
        /// False: the token's identity is the declared account.
        IdentityConfirmed,
        /// False: no role is required.
        NoRoleRequired,
        /// False: a role is required but this token type cannot reveal it.
        RoleNotVerifiable,
        /// Unknown: not checked yet.
        Pending,
    }
);

impl RoleReason {
    /// Whether this reason makes RoleLost True.
    pub const fn is_lost(self) -> bool {
        matches!(
            self,
            RoleReason::RoleRemoved
                | RoleReason::InsufficientRole
                | RoleReason::AccountNotFound
                | RoleReason::AccountMismatch
                | RoleReason::NotProfessionalAccount
        )
    }

    /// Precedence when several verdicts apply in one cycle (providers.md §2.4): lower wins.
    pub const fn precedence(self) -> u8 {
        match self {
            RoleReason::AccountNotFound => 0,
            RoleReason::AccountMismatch => 1,
            RoleReason::NotProfessionalAccount => 2,
            RoleReason::RoleRemoved => 3,
            RoleReason::InsufficientRole => 4,
            RoleReason::RoleConfirmed => 5,
            RoleReason::IdentityConfirmed => 6,
            RoleReason::RoleNotVerifiable => 7,
            RoleReason::NoRoleRequired => 8,
            RoleReason::Pending => 9,
        }
    }
}

reasons!(
    /// Reasons of the `ScopesMissing` condition.
    ScopesReason {
        /// True: required scopes were not granted.
        ScopesNotGranted,
        /// False: every required scope was granted.
        ScopesGranted,
        /// False: no scopes are required.
        NoScopesRequired,
        /// Unknown: not checked yet.
        Pending,
        /// Unknown: neither the provider nor the Secret says which scopes were granted.
        ScopesUnverifiable,
    }
);

reasons!(
    /// Reasons of the `ExpiringSoon` condition.
    ExpiryReason {
        /// True: the access token expires inside the warning window and will not be refreshed.
        AccessTokenExpiring,
        /// True: the refresh token expires inside the warning window.
        RefreshTokenExpiring,
        /// True: the provider's data access expires inside the warning window.
        DataAccessExpiring,
        /// False: nothing expires inside the window.
        NotExpiring,
        /// False: the token never expires.
        NoExpiry,
        /// False: the expiry is not known.
        ExpiryUnknown,
        /// Unknown: not checked yet.
        Pending,
    }
);

reasons!(
    /// Reasons of `Stalled` and `Reconciling` when False (when True they carry the reason of
    /// the Ready condition they explain).
    SummaryReason {
        /// Stalled False: no person needs to act.
        NoActionNeeded,
        /// Reconciling False: the last check reached a verdict and nothing is pending.
        CheckCompleted,
    }
);

/// Any condition reason, typed by the condition it belongs to; `Ready` carries its blocker's
/// reason or `AllChecksPassed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A `Valid` reason.
    Valid(ValidReason),
    /// A `Revoked` reason.
    Revoked(RevokedReason),
    /// A `RoleLost` reason.
    Role(RoleReason),
    /// A `ScopesMissing` reason.
    Scopes(ScopesReason),
    /// An `ExpiringSoon` reason.
    Expiry(ExpiryReason),
    /// Ready=True.
    AllChecksPassed,
    /// `Stalled` or `Reconciling` False.
    Summary(SummaryReason),
}

impl Reason {
    /// "Pending" of the given condition type (Ready's is Valid's).
    pub const fn pending(t: ConditionType) -> Self {
        match t {
            ConditionType::Valid | ConditionType::Ready | ConditionType::Stalled | ConditionType::Reconciling => {
                Reason::Valid(ValidReason::Pending)
            }
            ConditionType::Revoked => Reason::Revoked(RevokedReason::Pending),
            ConditionType::RoleLost => Reason::Role(RoleReason::Pending),
            ConditionType::ScopesMissing => Reason::Scopes(ScopesReason::Pending),
            ConditionType::ExpiringSoon => Reason::Expiry(ExpiryReason::Pending),
        }
    }

    /// The reason as written in status.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Valid(r) => r.as_str(),
            Reason::Revoked(r) => r.as_str(),
            Reason::Role(r) => r.as_str(),
            Reason::Scopes(r) => r.as_str(),
            Reason::Expiry(r) => r.as_str(),
            Reason::AllChecksPassed => "AllChecksPassed",
            Reason::Summary(r) => r.as_str(),
        }
    }

    /// Reads a stored reason of a condition of type `t`; `None` for strings outside the
    /// vocabulary. Ready's reasons are tried in the blocker order (Revoked, Valid, RoleLost,
    /// ScopesMissing), so a name shared by two types reads as the first.
    pub fn parse(t: ConditionType, s: &str) -> Option<Self> {
        match t {
            ConditionType::Valid => ValidReason::parse(s).map(Reason::Valid),
            ConditionType::Revoked => RevokedReason::parse(s).map(Reason::Revoked),
            ConditionType::RoleLost => RoleReason::parse(s).map(Reason::Role),
            ConditionType::ScopesMissing => ScopesReason::parse(s).map(Reason::Scopes),
            ConditionType::ExpiringSoon => ExpiryReason::parse(s).map(Reason::Expiry),
            ConditionType::Stalled | ConditionType::Reconciling => {
                SummaryReason::parse(s).map(Reason::Summary).or_else(|| Reason::parse(ConditionType::Ready, s))
            }
            ConditionType::Ready => (s == "AllChecksPassed")
                .then_some(Reason::AllChecksPassed)
                .or_else(|| RevokedReason::parse(s).filter(|r| *r != RevokedReason::Pending).map(Reason::Revoked))
                .or_else(|| ValidReason::parse(s).map(Reason::Valid))
                .or_else(|| RoleReason::parse(s).filter(|r| *r != RoleReason::Pending).map(Reason::Role))
                .or_else(|| ScopesReason::parse(s).filter(|r| *r != ScopesReason::Pending).map(Reason::Scopes)),
        }
    }
}
/// The longest condition message written (Kubernetes allows 32768; a message is read by
/// people, and provider text in it must never make the status write fail).
pub const MAX_CONDITION_MESSAGE_BYTES: usize = 1024;

/// Builds a condition, keeping `lastTransitionTime` from `previous` when the status did not
/// change (Kubernetes API conventions), so an unchanged check writes nothing new. The message
/// is cut to [`MAX_CONDITION_MESSAGE_BYTES`].
pub fn condition(
    previous: &[Condition],
    type_: ConditionType,
    status: CondStatus,
    reason: &'static str,
    message: String,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_.as_str() && c.status == status.as_str())
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.as_str().to_string(),
        status: status.as_str().to_string(),
        reason: reason.to_string(),
        message: crate::redact::truncate_utf8(&message, MAX_CONDITION_MESSAGE_BYTES),
        observed_generation: generation,
        last_transition_time,
    }
}

/// Finds a condition by type.
pub fn find(conditions: &[Condition], type_: ConditionType) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == type_.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_transition_time_is_kept_when_status_does_not_change() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-01-02T00:00:00Z".parse().unwrap();
        let first = condition(&[], ConditionType::Valid, CondStatus::True, "TokenValid", String::new(), Some(1), t0);
        let again = condition(std::slice::from_ref(&first), ConditionType::Valid, CondStatus::True, "TokenValid", "m".into(), Some(1), t1);
        assert_eq!(again.last_transition_time, Time(t0));
        let flipped = condition(&[first], ConditionType::Valid, CondStatus::False, "Expired", String::new(), Some(1), t1);
        assert_eq!(flipped.last_transition_time, Time(t1));
    }

    #[test]
    fn reasons_print_as_camel_case_names() {
        assert_eq!(ValidReason::SecretKeyMissing.as_str(), "SecretKeyMissing");
        assert_eq!(RoleReason::NotProfessionalAccount.as_str(), "NotProfessionalAccount");
        assert!(RoleReason::AccountMismatch.is_lost());
        assert!(!RoleReason::RoleNotVerifiable.is_lost());
    }

    #[test]
    fn stored_reasons_read_back_as_the_typed_reason_of_their_condition() {
        let cases = [
            (ConditionType::Valid, "Expired", Some(Reason::Valid(ValidReason::Expired))),
            (ConditionType::Revoked, "TokenInvalidated", Some(Reason::Revoked(RevokedReason::TokenInvalidated))),
            (ConditionType::Ready, "TokenInvalidated", Some(Reason::Revoked(RevokedReason::TokenInvalidated))),
            (ConditionType::Ready, "Pending", Some(Reason::Valid(ValidReason::Pending))),
            (ConditionType::Ready, "AllChecksPassed", Some(Reason::AllChecksPassed)),
            (ConditionType::Ready, "InsufficientRole", Some(Reason::Role(RoleReason::InsufficientRole))),
            (ConditionType::RoleLost, "Expired", None),
            (ConditionType::ExpiringSoon, "bogus", None),
            (ConditionType::Stalled, "NoActionNeeded", Some(Reason::Summary(SummaryReason::NoActionNeeded))),
            (ConditionType::Stalled, "PasswordChanged", Some(Reason::Revoked(RevokedReason::PasswordChanged))),
            (ConditionType::Reconciling, "RateLimited", Some(Reason::Valid(ValidReason::RateLimited))),
            (ConditionType::Reconciling, "CheckCompleted", Some(Reason::Summary(SummaryReason::CheckCompleted))),
        ];
        for (t, s, expected) in cases {
            assert_eq!(Reason::parse(t, s), expected, "{t:?} {s}");
            if let Some(r) = expected {
                assert_eq!(r.as_str(), s);
            }
        }
    }
}
