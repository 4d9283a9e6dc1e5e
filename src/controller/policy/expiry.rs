//! ExpiringSoon (providers.md §2.4): `AccessTokenExpiring` when the access token expires inside
//! the warning window and no automatic refresh will extend it; `RefreshTokenExpiring` for a
//! refresh-token expiry recorded from refresh answers; `DataAccessExpiring` for Graph data
//! access; else `NoExpiry`, `ExpiryUnknown` or `NotExpiring`.

use std::time::Duration;

use jiff::Timestamp;

use super::{Cond, fmt_time};
use crate::conditions::{CondStatus, ExpiryReason, Reason};
use crate::controller::schedule;

/// Whether the operator will renew the access token before it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Renewability {
    /// A refresh path exists and will run inside the window.
    Automatic,
    /// No refresh path (no call, credentials, refresh token, or an unlabelled Secret): why.
    NoPath(String),
    /// The last refresh did not move the expiry (§2.6 "not later").
    NotExtended,
}

/// What the expiry rule looks at.
#[derive(Clone, Debug)]
pub struct ExpiryFacts {
    /// The clock.
    pub now: Timestamp,
    /// `spec.expiryWarning`.
    pub warning: Duration,
    /// Best known access-token expiry.
    pub expires_at: Option<Timestamp>,
    /// The provider says the token never expires.
    pub never: bool,
    /// Graph `data_access_expires_at`.
    pub data_access: Option<Timestamp>,
    /// The refresh token's expiry recorded from refresh answers.
    pub refresh_token_expires_at: Option<Timestamp>,
    /// Whether the access token will be renewed.
    pub renewability: Renewability,
}

/// ExpiringSoon for a cycle whose token is valid.
pub fn decide(f: &ExpiryFacts) -> Cond {
    let window_end = schedule::add(f.now, f.warning);
    let inside = |t: Option<Timestamp>| t.filter(|t| *t <= window_end);
    if let Some(e) = inside(f.expires_at) {
        let why = match &f.renewability {
            Renewability::Automatic => None,
            Renewability::NoPath(why) => Some(format!("cannot be refreshed automatically ({why})")),
            Renewability::NotExtended => Some("was refreshed, but the provider did not extend its expiry".to_string()),
        };
        if let Some(why) = why {
            return Cond::new(
                CondStatus::True,
                Reason::Expiry(ExpiryReason::AccessTokenExpiring),
                format!("the access token expires at {} and {why}; reconnect before then", fmt_time(e)),
            );
        }
    }
    if let Some(r) = inside(f.refresh_token_expires_at) {
        return Cond::new(
            CondStatus::True,
            Reason::Expiry(ExpiryReason::RefreshTokenExpiring),
            format!("the refresh token expires at {}; after that the connection needs a person to reconnect", fmt_time(r)),
        );
    }
    if let Some(d) = inside(f.data_access) {
        return Cond::new(
            CondStatus::True,
            Reason::Expiry(ExpiryReason::DataAccessExpiring),
            format!("data access expires at {}; the user must log in to the app again before then", fmt_time(d)),
        );
    }
    match f.expires_at {
        Some(e) if f.renewability == Renewability::Automatic && e <= window_end => Cond::new(
            CondStatus::False,
            Reason::Expiry(ExpiryReason::NotExpiring),
            format!("the access token expires at {} and will be refreshed automatically", fmt_time(e)),
        ),
        Some(e) => {
            Cond::new(CondStatus::False, Reason::Expiry(ExpiryReason::NotExpiring), format!("the access token expires at {}", fmt_time(e)))
        }
        None if f.never => Cond::new(CondStatus::False, Reason::Expiry(ExpiryReason::NoExpiry), "the token does not expire"),
        None => Cond::new(
            CondStatus::False,
            Reason::Expiry(ExpiryReason::ExpiryUnknown),
            "the provider and the Secret do not say when the token expires",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn facts() -> ExpiryFacts {
        ExpiryFacts {
            now: t("2026-06-01T00:00:00Z"),
            warning: Duration::from_secs(7 * 86400),
            expires_at: None,
            never: false,
            data_access: None,
            refresh_token_expires_at: None,
            renewability: Renewability::NoPath("no refresh call".into()),
        }
    }

    #[test]
    fn expiring_soon_follows_the_window_and_the_refresh_path() {
        let soon = Some(t("2026-06-04T00:00:00Z"));
        let later = Some(t("2026-07-01T00:00:00Z"));
        let cases: Vec<(ExpiryFacts, CondStatus, ExpiryReason)> = vec![
            (ExpiryFacts { expires_at: soon, ..facts() }, CondStatus::True, ExpiryReason::AccessTokenExpiring),
            (
                ExpiryFacts { expires_at: soon, renewability: Renewability::Automatic, ..facts() },
                CondStatus::False,
                ExpiryReason::NotExpiring,
            ),
            (
                ExpiryFacts { expires_at: soon, renewability: Renewability::NotExtended, ..facts() },
                CondStatus::True,
                ExpiryReason::AccessTokenExpiring,
            ),
            (
                ExpiryFacts { expires_at: soon, renewability: Renewability::Automatic, refresh_token_expires_at: soon, ..facts() },
                CondStatus::True,
                ExpiryReason::RefreshTokenExpiring,
            ),
            (ExpiryFacts { expires_at: later, refresh_token_expires_at: later, ..facts() }, CondStatus::False, ExpiryReason::NotExpiring),
            (ExpiryFacts { never: true, data_access: soon, ..facts() }, CondStatus::True, ExpiryReason::DataAccessExpiring),
            (ExpiryFacts { never: true, ..facts() }, CondStatus::False, ExpiryReason::NoExpiry),
            (facts(), CondStatus::False, ExpiryReason::ExpiryUnknown),
            (
                ExpiryFacts { expires_at: soon, warning: Duration::from_secs(48 * 3600), ..facts() },
                CondStatus::False,
                ExpiryReason::NotExpiring,
            ),
        ];
        for (f, status, reason) in cases {
            let c = decide(&f);
            assert_eq!((c.status, c.reason), (status, Reason::Expiry(reason)), "{f:?}");
        }
    }

    #[test]
    fn the_message_names_why_no_refresh_will_happen() {
        let c = decide(&ExpiryFacts {
            expires_at: Some(t("2026-06-04T00:00:00Z")),
            renewability: Renewability::NoPath("the Secret lacks the label social.connections.dev/managed=true".into()),
            ..facts()
        });
        assert!(c.message.contains("social.connections.dev/managed"), "{}", c.message);
    }
}
