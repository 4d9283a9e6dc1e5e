//! The token verdict (providers.md §1 "→ refresh" and "expiry fallback", §2.4): from what the
//! provider said and the clock to Valid and Revoked.

use jiff::Timestamp;

use super::{Cond, fmt_time};
use crate::conditions::{CondStatus, Reason, RevokedReason, ValidReason};
use crate::providers::TokenVerdict;

/// Resolves "→ refresh" rows (their fallback applies: the refresh, if any, already ran) and the
/// expiry fallback: `Expired` if a known `expires_at` ≤ now, or for short-lived providers an
/// unknown one; else Revoked `TokenInvalidated`.
pub fn resolve(v: TokenVerdict, expires_at: Option<Timestamp>, now: Timestamp, short_lived: bool) -> TokenVerdict {
    match v {
        TokenVerdict::RefreshThen(inner) => resolve(*inner, expires_at, now, short_lived),
        TokenVerdict::ExpiryFallback { message } => {
            let passed = match expires_at {
                Some(e) => e <= now,
                None => short_lived,
            };
            if passed {
                TokenVerdict::Expired { message }
            } else {
                TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, message }
            }
        }
        other => other,
    }
}

/// The cycle's verdict: the provider's, resolved, except that a known expiry in the past is
/// `Expired` whatever the provider said, even without an answer (§2.4 "clock expiry").
pub fn decide(reported: Option<TokenVerdict>, expires_at: Option<Timestamp>, now: Timestamp, short_lived: bool) -> Option<TokenVerdict> {
    let clock_expired = expires_at.filter(|e| *e <= now);
    let verdict = reported.map(|v| resolve(v, expires_at, now, short_lived));
    match (verdict, clock_expired) {
        (Some(TokenVerdict::Valid) | None, Some(e)) => {
            Some(TokenVerdict::Expired { message: format!("the access token expired at {}", fmt_time(e)) })
        }
        (v, _) => v,
    }
}

/// Valid and Revoked for a decided verdict; `None` for a part the verdict leaves as it was
/// (InvalidSecret never touches Revoked).
pub fn conditions(v: &TokenVerdict) -> (Option<Cond>, Option<Cond>) {
    let not_revoked = |m: &str| Some(Cond::new(CondStatus::False, Reason::Revoked(RevokedReason::NotRevoked), m));
    match v {
        TokenVerdict::Valid => (
            Some(Cond::new(CondStatus::True, Reason::Valid(ValidReason::TokenValid), "the provider accepted the token")),
            not_revoked("the token is not revoked"),
        ),
        TokenVerdict::Expired { message } => (
            Some(Cond::new(CondStatus::False, Reason::Valid(ValidReason::Expired), message.clone())),
            not_revoked("the token expired; it was not revoked"),
        ),
        TokenVerdict::Revoked { reason, message } => (
            Some(Cond::new(CondStatus::False, Reason::Valid(ValidReason::Revoked), "the token was revoked; see the Revoked condition")),
            Some(Cond::new(CondStatus::True, Reason::Revoked(*reason), message.clone())),
        ),
        TokenVerdict::InvalidSecret { message } => {
            (Some(Cond::new(CondStatus::False, Reason::Valid(ValidReason::InvalidSecret), message.clone())), None)
        }
        // resolve() removes these; keep what was there should one slip through.
        TokenVerdict::ExpiryFallback { .. } | TokenVerdict::RefreshThen(_) => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn name(v: &Option<TokenVerdict>) -> &'static str {
        match v {
            Some(TokenVerdict::Valid) => "Valid",
            Some(TokenVerdict::Expired { .. }) => "Expired",
            Some(TokenVerdict::Revoked { .. }) => "Revoked",
            Some(TokenVerdict::InvalidSecret { .. }) => "InvalidSecret",
            Some(_) => "unresolved",
            None => "none",
        }
    }

    #[test]
    fn verdicts_resolve_fallbacks_and_the_clock() {
        let now = t("2026-06-01T00:00:00Z");
        let past = Some(t("2026-05-31T00:00:00Z"));
        let future = Some(t("2026-07-01T00:00:00Z"));
        let fallback = || TokenVerdict::ExpiryFallback { message: "m".into() };
        let refresh_then = |v| TokenVerdict::RefreshThen(Box::new(v));
        let cases: Vec<(Option<TokenVerdict>, Option<Timestamp>, bool, &str)> = vec![
            (Some(TokenVerdict::Valid), future, false, "Valid"),
            (Some(TokenVerdict::Valid), past, false, "Expired"),
            (None, past, false, "Expired"),
            (None, future, false, "none"),
            (Some(fallback()), past, false, "Expired"),
            (Some(fallback()), future, false, "Revoked"),
            (Some(fallback()), None, false, "Revoked"),
            (Some(fallback()), None, true, "Expired"),
            (Some(fallback()), future, true, "Revoked"),
            (Some(refresh_then(fallback())), None, true, "Expired"),
            (Some(refresh_then(TokenVerdict::Expired { message: "m".into() })), future, false, "Expired"),
            (Some(TokenVerdict::InvalidSecret { message: "m".into() }), past, false, "InvalidSecret"),
        ];
        for (reported, exp, short, expected) in cases {
            let got = decide(reported.clone(), exp, now, short);
            assert_eq!(name(&got), expected, "{reported:?} {exp:?} short={short}");
        }
    }

    #[test]
    fn revoked_pairs_with_valid_false_and_invalid_secret_leaves_revoked_alone() {
        let (v, r) = conditions(&TokenVerdict::Revoked { reason: RevokedReason::AppDeauthorized, message: "m".into() });
        assert_eq!(v.map(|c| (c.status, c.reason)), Some((CondStatus::False, Reason::Valid(ValidReason::Revoked))));
        assert_eq!(r.map(|c| (c.status, c.reason)), Some((CondStatus::True, Reason::Revoked(RevokedReason::AppDeauthorized))));
        let (v, r) = conditions(&TokenVerdict::InvalidSecret { message: "m".into() });
        assert_eq!(v.map(|c| c.reason), Some(Reason::Valid(ValidReason::InvalidSecret)));
        assert_eq!(r, None);
        let (_, r) = conditions(&TokenVerdict::Expired { message: "m".into() });
        assert_eq!(r.map(|c| c.reason), Some(Reason::Revoked(RevokedReason::NotRevoked)));
    }
}
