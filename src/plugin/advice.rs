//! What a person must do about a connection, and how urgent it is: pure functions over the
//! typed reasons of `crate::conditions`, the words of the README's "Conditions and what to do"
//! table.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

use crate::api::SocialConnectionStatus;
use crate::conditions::{ConditionType, ExpiryReason, Reason, RevokedReason, RoleReason, ScopesReason, ValidReason};

/// What a person must do about a connection whose Ready (or ExpiringSoon) condition has this
/// reason; `None` when nothing is to be done.
pub const fn what_to_do(reason: Reason) -> Option<&'static str> {
    Some(match reason {
        Reason::AllChecksPassed | Reason::Summary(_) => return None,
        Reason::Valid(r) => match r {
            ValidReason::TokenValid => return None,
            ValidReason::Expired => "reconnect (open the reauthorization URL) and store the new token",
            ValidReason::Revoked => "see the Revoked condition",
            ValidReason::SecretNotFound => "create the Secret, or fix secretRef / appSecretRef",
            ValidReason::SecretKeyMissing => "put the value under the right key (or rename keys with secretRef.keys)",
            ValidReason::InvalidSecret => "fix the Secret's value or the app Secret",
            ValidReason::Pending => "wait: not checked yet",
            ValidReason::ProviderUnavailable => "nothing: the operator retries with backoff",
            ValidReason::RateLimited => "nothing: the operator waits as long as the provider asks",
            ValidReason::SecretAccessDenied => "grant the operator's ServiceAccount get on secrets in this namespace",
        },
        Reason::Revoked(r) => match r {
            RevokedReason::PasswordChanged => "the user reconnects",
            RevokedReason::AppDeauthorized => "the user reconnects and approves the app",
            RevokedReason::AccountCheckpointed => "the user logs in to the network, clears the checkpoint, reconnects",
            RevokedReason::AccountUnconfirmed => "the user confirms the account, reconnects",
            RevokedReason::TokenInvalidated => "reconnect",
            RevokedReason::AccountSuspended => "resolve with the network, then reconnect",
            RevokedReason::NotRevoked => return None,
            RevokedReason::Pending => "wait: not checked yet",
        },
        Reason::Role(r) => match r {
            RoleReason::RoleRemoved => "give the role back, or reconnect with a user who has it",
            RoleReason::InsufficientRole => "raise the role, or lower requiredRole",
            RoleReason::AccountNotFound => "check account.id",
            RoleReason::AccountMismatch => "reconnect with the right account, or fix account.id",
            RoleReason::NotProfessionalAccount => "switch it to Business or Creator, reconnect",
            RoleReason::RoleConfirmed | RoleReason::IdentityConfirmed | RoleReason::NoRoleRequired | RoleReason::RoleNotVerifiable => {
                return None;
            }
            RoleReason::Pending => "wait: not checked yet",
        },
        Reason::Scopes(r) => match r {
            ScopesReason::ScopesNotGranted => "reconnect and grant the missing scopes",
            ScopesReason::ScopesUnverifiable => "add the scope key to the Secret",
            ScopesReason::ScopesGranted | ScopesReason::NoScopesRequired => return None,
            ScopesReason::Pending => "wait: not checked yet",
        },
        Reason::Expiry(r) => match r {
            ExpiryReason::AccessTokenExpiring => "reconnect before it expires",
            ExpiryReason::RefreshTokenExpiring => "reconnect before the refresh token expires",
            ExpiryReason::DataAccessExpiring => "the user logs in to the app again",
            ExpiryReason::NotExpiring | ExpiryReason::NoExpiry | ExpiryReason::ExpiryUnknown => return None,
            ExpiryReason::Pending => "wait: not checked yet",
        },
    })
}

/// A condition's status, typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Ready=True.
    Ready,
    /// Ready=False: a person must act (or fix a Secret).
    Broken,
    /// Ready=Unknown or no Ready condition yet: the operator cannot tell.
    Unknown,
}

/// The connection's condition of type `t` as (status is True, is False, typed reason).
fn typed(conditions: &[Condition], t: ConditionType) -> Option<(&Condition, Option<Reason>)> {
    crate::conditions::find(conditions, t).map(|c| (c, Reason::parse(t, &c.reason)))
}

/// How a status reads to a person: readiness, the reason that matters, whether ExpiringSoon is
/// True, the expiry that matters and what to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// Ready's status.
    pub readiness: Readiness,
    /// Ready's reason as written (the blocker's), or ExpiringSoon's when only that is True.
    pub reason: Option<String>,
    /// Whether ExpiringSoon is True.
    pub expiring: bool,
    /// The expiry that ExpiringSoon is about (or, failing that, `status.expiresAt`).
    pub expiry: Option<Timestamp>,
    /// What a person must do; `None` when nothing.
    pub what_to_do: Option<&'static str>,
}

impl Assessment {
    /// Whether the connection belongs in `needs-attention`.
    pub fn needs_attention(&self) -> bool {
        self.readiness != Readiness::Ready || self.expiring
    }
}

/// Reads a status the way a person would.
pub fn assess(status: Option<&SocialConnectionStatus>) -> Assessment {
    let empty = SocialConnectionStatus::default();
    let status = status.unwrap_or(&empty);
    let ready = typed(&status.conditions, ConditionType::Ready);
    let readiness = match ready.map(|(c, _)| c.status.as_str()) {
        Some("True") => Readiness::Ready,
        Some("False") => Readiness::Broken,
        _ => Readiness::Unknown,
    };
    let expiring_cond = typed(&status.conditions, ConditionType::ExpiringSoon).filter(|(c, _)| c.status == "True");
    let expiring = expiring_cond.is_some();
    let expiry_reason = expiring_cond.and_then(|(_, r)| r);
    let time = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| t.as_ref().map(|t| t.0);
    let expiry = match expiry_reason {
        Some(Reason::Expiry(ExpiryReason::RefreshTokenExpiring)) => time(&status.refresh_token_expires_at),
        Some(Reason::Expiry(ExpiryReason::DataAccessExpiring)) => time(&status.data_access_expires_at),
        _ => None,
    }
    .or_else(|| time(&status.expires_at));
    let (reason, what) = match (readiness, ready) {
        (Readiness::Ready, _) if expiring => (expiring_cond.map(|(c, _)| c.reason.clone()), expiry_reason.and_then(what_to_do)),
        (_, Some((c, typed))) => (
            Some(c.reason.clone()),
            match typed {
                Some(r) => what_to_do(r),
                None if readiness == Readiness::Ready => None,
                None => Some("read the Ready condition's message"),
            },
        ),
        (_, None) => (None, what_to_do(Reason::pending(ConditionType::Ready))),
    };
    Assessment { readiness, reason, expiring, expiry, what_to_do: what }
}

/// Sort key of `needs-attention`: broken first, then not yet known, then expiring; within each,
/// the soonest expiry first (no known expiry after every known one), then namespace and name.
pub fn urgency_key<'a>(a: &Assessment, namespace: &'a str, name: &'a str) -> (u8, bool, Option<Timestamp>, &'a str, &'a str) {
    let class = match a.readiness {
        Readiness::Broken => 0,
        Readiness::Unknown => 1,
        Readiness::Ready => 2,
    };
    (class, a.expiry.is_none(), a.expiry, namespace, name)
}

/// A time relative to `now`, as a person reads it: "in 3d4h", "5m ago", "now".
pub fn relative(t: Timestamp, now: Timestamp) -> String {
    let secs = t.as_second().saturating_sub(now.as_second());
    let (future, abs) = (secs > 0, secs.unsigned_abs());
    if abs < 1 {
        return "now".into();
    }
    let (d, h, m, s) = (abs / 86_400, abs % 86_400 / 3600, abs % 3600 / 60, abs % 60);
    let text = if d > 0 {
        if h > 0 { format!("{d}d{h}h") } else { format!("{d}d") }
    } else if h > 0 {
        if m > 0 { format!("{h}h{m}m") } else { format!("{h}h") }
    } else if m > 0 {
        if s > 0 { format!("{m}m{s}s") } else { format!("{m}m") }
    } else {
        format!("{s}s")
    };
    if future { format!("in {text}") } else { format!("{text} ago") }
}

/// Lays out rows as a kubectl-style table: upper-case header, columns three spaces apart, no
/// trailing blanks.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (cell, &w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}   "));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn cond(t: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: t.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: Time(ts("2026-01-01T00:00:00Z")),
        }
    }

    fn status(ready: (&str, &str), expiring: (&str, &str), expires_at: Option<&str>) -> SocialConnectionStatus {
        SocialConnectionStatus {
            conditions: vec![cond("Ready", ready.0, ready.1), cond("ExpiringSoon", expiring.0, expiring.1)],
            expires_at: expires_at.map(|t| Time(ts(t))),
            refresh_token_expires_at: Some(Time(ts("2026-02-01T00:00:00Z"))),
            data_access_expires_at: Some(Time(ts("2026-03-01T00:00:00Z"))),
            ..Default::default()
        }
    }

    #[test]
    fn the_ready_reason_says_what_a_person_must_do() {
        let cases: [(Option<(&str, &str)>, (&str, &str), Readiness, Option<&str>, Option<&str>, bool); 9] = [
            (Some(("True", "AllChecksPassed")), ("False", "NotExpiring"), Readiness::Ready, Some("AllChecksPassed"), None, false),
            (
                Some(("False", "PasswordChanged")),
                ("False", "NoExpiry"),
                Readiness::Broken,
                Some("PasswordChanged"),
                Some("the user reconnects"),
                true,
            ),
            (
                Some(("False", "Expired")),
                ("False", "NoExpiry"),
                Readiness::Broken,
                Some("Expired"),
                Some("reconnect (open the reauthorization URL) and store the new token"),
                true,
            ),
            (
                Some(("False", "InsufficientRole")),
                ("False", "NoExpiry"),
                Readiness::Broken,
                Some("InsufficientRole"),
                Some("raise the role, or lower requiredRole"),
                true,
            ),
            (
                Some(("False", "ScopesNotGranted")),
                ("False", "NoExpiry"),
                Readiness::Broken,
                Some("ScopesNotGranted"),
                Some("reconnect and grant the missing scopes"),
                true,
            ),
            (
                Some(("Unknown", "ProviderUnavailable")),
                ("Unknown", "Pending"),
                Readiness::Unknown,
                Some("ProviderUnavailable"),
                Some("nothing: the operator retries with backoff"),
                true,
            ),
            (
                Some(("True", "AllChecksPassed")),
                ("True", "DataAccessExpiring"),
                Readiness::Ready,
                Some("DataAccessExpiring"),
                Some("the user logs in to the app again"),
                true,
            ),
            (
                Some(("False", "SomethingNew")),
                ("False", "NoExpiry"),
                Readiness::Broken,
                Some("SomethingNew"),
                Some("read the Ready condition's message"),
                true,
            ),
            (None, ("", ""), Readiness::Unknown, None, Some("wait: not checked yet"), true),
        ];
        for (ready, expiring, readiness, reason, todo, attention) in cases {
            let st = ready.map(|r| status(r, expiring, None));
            let a = assess(st.as_ref());
            assert_eq!(a.readiness, readiness, "{ready:?}");
            assert_eq!(a.reason.as_deref(), reason, "{ready:?}");
            assert_eq!(a.what_to_do, todo, "{ready:?}");
            assert_eq!(a.needs_attention(), attention, "{ready:?}");
        }
    }

    #[test]
    fn the_expiry_that_matters_is_the_one_expiring_soon_is_about() {
        let cases = [
            ("AccessTokenExpiring", Some("2026-01-05T00:00:00Z"), Some("2026-01-05T00:00:00Z")),
            ("RefreshTokenExpiring", Some("2026-01-05T00:00:00Z"), Some("2026-02-01T00:00:00Z")),
            ("DataAccessExpiring", None, Some("2026-03-01T00:00:00Z")),
        ];
        for (reason, expires_at, expected) in cases {
            let st = status(("True", "AllChecksPassed"), ("True", reason), expires_at);
            assert_eq!(assess(Some(&st)).expiry, expected.map(ts), "{reason}");
        }
        let not_expiring = status(("True", "AllChecksPassed"), ("False", "NotExpiring"), Some("2026-04-01T00:00:00Z"));
        assert_eq!(assess(Some(&not_expiring)).expiry, Some(ts("2026-04-01T00:00:00Z")));
    }

    #[test]
    fn broken_comes_first_then_unknown_then_expiring_each_by_soonest_expiry() {
        let a = |r: Readiness, exp: Option<&str>| Assessment {
            readiness: r,
            reason: None,
            expiring: r == Readiness::Ready,
            expiry: exp.map(ts),
            what_to_do: None,
        };
        let items = [
            ("e-late", a(Readiness::Ready, Some("2026-01-09T00:00:00Z"))),
            ("b-none", a(Readiness::Broken, None)),
            ("e-soon", a(Readiness::Ready, Some("2026-01-02T00:00:00Z"))),
            ("u", a(Readiness::Unknown, None)),
            ("b-soon", a(Readiness::Broken, Some("2026-01-03T00:00:00Z"))),
            ("b-sooner", a(Readiness::Broken, Some("2026-01-01T00:00:00Z"))),
        ];
        let mut keys: Vec<_> = items.iter().map(|(n, a)| urgency_key(a, "ns", n)).collect();
        keys.sort();
        let order: Vec<&str> = keys.iter().map(|k| k.4).collect();
        assert_eq!(order, ["b-sooner", "b-soon", "b-none", "u", "e-soon", "e-late"]);
    }

    #[test]
    fn relative_times_read_like_kubectl_ages() {
        let now = ts("2026-01-01T00:00:00Z");
        let cases = [
            ("2026-01-01T00:00:00Z", "now"),
            ("2026-01-01T00:00:42Z", "in 42s"),
            ("2026-01-01T00:05:00Z", "in 5m"),
            ("2026-01-01T00:05:07Z", "in 5m7s"),
            ("2026-01-01T03:20:00Z", "in 3h20m"),
            ("2026-01-04T04:00:00Z", "in 3d4h"),
            ("2026-01-08T00:00:00Z", "in 7d"),
            ("2025-12-31T23:55:00Z", "5m ago"),
        ];
        for (t, want) in cases {
            assert_eq!(relative(ts(t), now), want, "{t}");
        }
    }

    #[test]
    fn tables_align_columns_three_spaces_apart_without_trailing_blanks() {
        let out = table(
            &["NAME", "READY", "NOTE"],
            &[vec!["a".into(), "True".into(), "".into()], vec!["long-name".into(), "False".into(), "x y".into()]],
        );
        assert_eq!(out, "NAME        READY   NOTE\na           True\nlong-name   False   x y\n");
    }
}
