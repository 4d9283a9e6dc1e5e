//! Should the token be refreshed now? (providers.md §2.3 steps 2, 4, 5; §2.6 refresh lead,
//! write guard, manual refresh; §2.7 token age; §3.3 minimum age). A chain of small pure
//! checks, as cert-manager decides "renew now": first whether a refresh path exists at all,
//! then whether the window (or a request) makes it due.

use std::time::Duration;

use jiff::Timestamp;

use super::expiry::Renewability;
use crate::api::{MANAGED_LABEL, RefreshPolicy};
use crate::controller::schedule;
use crate::providers::{Lifecycle, Renewal, TokenType};

/// Lifetime of a long-lived Instagram/Threads token (§3.3): 60 days.
const LONG_LIVED_LIFETIME: Duration = Duration::from_secs(60 * 24 * 3600);
/// A long-lived token must be at least this old before it may be refreshed (§3.3).
const MIN_AGE: Duration = Duration::from_secs(24 * 3600);
/// `expires_at` further away than this means the token is younger than a day (§3.3).
const TOO_YOUNG_EXPIRY: Duration = Duration::from_secs(59 * 24 * 3600);

/// Why no refresh can be made. Each names what a person can change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// The provider has no refresh call.
    NoRefreshCall,
    /// The token Secret does not carry the opt-in label.
    Unlabelled,
    /// The Secret has no refresh token.
    NoRefreshToken,
    /// The app Secret, or a key of it the refresh needs, is missing.
    MissingCredentials,
    /// Meta PAGE tokens are never refreshed.
    PageToken,
    /// A Meta-family token that already expired cannot be refreshed.
    AlreadyExpired,
    /// instagram-login / threads: the token is younger than 24 h.
    TooYoung {
        /// When it will be old enough.
        until: Timestamp,
    },
    /// instagram-login / threads: the token lacks the scope the refresh needs.
    ScopeMissing(&'static str),
    /// The provider's check did not accept the token this cycle (Meta-family refreshes need it).
    NotValidThisCycle,
}

impl Blocker {
    /// The human-readable reason, naming what to change.
    pub fn message(&self) -> String {
        match self {
            Blocker::NoRefreshCall => "the provider has no refresh call for this token".into(),
            Blocker::Unlabelled => format!(
                "the token Secret lacks the label {MANAGED_LABEL}: \"true\", so the operator may not write a refreshed token into it; add the label to let it keep the token alive"
            ),
            Blocker::NoRefreshToken => "the token Secret has no refresh token".into(),
            Blocker::MissingCredentials => {
                "the refresh needs the app's client credentials (spec.appSecretRef with client_id and client_secret)".into()
            }
            Blocker::PageToken => "Page tokens are never refreshed".into(),
            Blocker::AlreadyExpired => "the token already expired and this provider cannot refresh expired tokens".into(),
            Blocker::TooYoung { until } => format!(
                "the provider refreshes only tokens at least 24 hours old; this one may be refreshed from {}",
                super::fmt_time(*until)
            ),
            Blocker::ScopeMissing(scope) => format!("the token was not granted {scope}, which the refresh needs"),
            Blocker::NotValidThisCycle => "the provider did not accept the token in this check".into(),
        }
    }
}

/// What the refresh rules look at.
#[derive(Clone, Debug)]
pub struct RefreshFacts<'a> {
    /// The clock.
    pub now: Timestamp,
    /// The provider's refresh and revoke calls.
    pub lifecycle: &'a Lifecycle,
    /// `spec.refresh.policy`.
    pub policy: RefreshPolicy,
    /// `spec.refresh.renewBefore`.
    pub renew_before: Option<Duration>,
    /// The token Secret carries `social.connections.dev/managed: "true"`.
    pub managed: bool,
    /// The Secret has a refresh token.
    pub has_refresh_token: bool,
    /// The app Secret has `client_id`.
    pub has_client_id: bool,
    /// The app Secret has `client_secret`.
    pub has_client_secret: bool,
    /// Best known access-token expiry.
    pub expires_at: Option<Timestamp>,
    /// The issue time from the provider or from the operator's own write (§2.7), not the
    /// first-seen time.
    pub issued_at: Option<Timestamp>,
    /// When the operator first saw the current token.
    pub first_seen: Option<Timestamp>,
    /// Scopes granted (provider or Secret), when known.
    pub granted_scopes: Option<&'a [String]>,
    /// The last refresh of this token did not move its expiry: not repeated.
    pub not_extended: bool,
}

/// The facts only the check of this cycle gives (post-probe refreshes, §2.3 step 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeFacts {
    /// The probe said the token is valid.
    pub valid: bool,
    /// The Meta token type, when reported.
    pub token_type: Option<TokenType>,
    /// The provider says the token never expires.
    pub never_expires: bool,
}

/// A refresh that is due, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The token entered the refresh window (expires_at − lead ≤ now).
    Window,
    /// A changed `refresh-requested-at` annotation.
    Requested,
    /// A "→ refresh" row of the provider's table.
    ProviderAnswer,
}

/// Whether the provider refreshes before the probe (step 2) or after it (step 5).
pub fn refreshes_before_probe(l: &Lifecycle) -> bool {
    matches!(l.renewal, Renewal::RefreshToken { .. })
}

/// The checks that need no probe: a refresh call, the write guard, a refresh token, the app
/// credentials.
pub fn static_path(f: &RefreshFacts<'_>) -> Result<(), Blocker> {
    match f.lifecycle.renewal {
        Renewal::None => return Err(Blocker::NoRefreshCall),
        // Write guard: a rotating provider kills the old credential, so a refresh whose result
        // cannot be stored would lose the token. No call is made for unlabelled Secrets.
        _ if !f.managed => return Err(Blocker::Unlabelled),
        Renewal::RefreshToken { keys, .. } => {
            if !f.has_refresh_token {
                return Err(Blocker::NoRefreshToken);
            }
            let needs_secret = keys == crate::providers::AppKeys::ClientIdAndSecret;
            if !f.has_client_id || (needs_secret && !f.has_client_secret) {
                return Err(Blocker::MissingCredentials);
            }
        }
        Renewal::MetaExchange => {
            if !(f.has_client_id && f.has_client_secret) {
                return Err(Blocker::MissingCredentials);
            }
        }
        Renewal::LongLived { .. } => {}
    }
    if f.not_extended {
        return Err(Blocker::NoRefreshCall);
    }
    Ok(())
}

/// The issue time for the 24 h rule (§3.3): the known issue time; else the earlier of the
/// first-seen time and `expires_at` − 60 d.
fn age_issue_time(f: &RefreshFacts<'_>) -> Option<Timestamp> {
    f.issued_at.or_else(|| {
        let from_expiry = f.expires_at.map(|e| schedule::sub(e, LONG_LIVED_LIFETIME));
        match (f.first_seen, from_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    })
}

/// The checks of a post-probe refresh (Meta family): valid this cycle, USER token, not expired,
/// provider minimum age and scope.
pub fn probe_path(f: &RefreshFacts<'_>, p: &ProbeFacts) -> Result<(), Blocker> {
    static_path(f)?;
    match f.lifecycle.renewal {
        Renewal::MetaExchange | Renewal::LongLived { .. } => {
            if f.expires_at.is_some_and(|e| e <= f.now) {
                return Err(Blocker::AlreadyExpired);
            }
            if !p.valid {
                return Err(Blocker::NotValidThisCycle);
            }
        }
        _ => return Ok(()),
    }
    if let Renewal::MetaExchange = f.lifecycle.renewal
        && (p.token_type != Some(TokenType::User) || p.never_expires)
    {
        return Err(Blocker::PageToken);
    }
    if let Renewal::LongLived { scope } = f.lifecycle.renewal {
        if !f.granted_scopes.is_some_and(|g| g.iter().any(|s| s == scope)) {
            return Err(Blocker::ScopeMissing(scope));
        }
        let old_enough_at = age_issue_time(f).map(|t| schedule::add(t, MIN_AGE));
        let too_young_by_expiry = f.expires_at.is_some_and(|e| e > schedule::add(f.now, TOO_YOUNG_EXPIRY));
        match old_enough_at {
            Some(until) if until > f.now => return Err(Blocker::TooYoung { until }),
            None => return Err(Blocker::TooYoung { until: schedule::add(f.now, MIN_AGE) }),
            _ if too_young_by_expiry => {
                let until = f.expires_at.map(|e| schedule::sub(e, TOO_YOUNG_EXPIRY)).unwrap_or(f.now);
                return Err(Blocker::TooYoung { until });
            }
            _ => {}
        }
    }
    Ok(())
}

/// The refresh lead (§2.6): `renewBefore`; else a third of the lifetime when both the expiry
/// and an issue time (provider or own write) are known; else the provider default.
pub fn lead(f: &RefreshFacts<'_>) -> Duration {
    if let Some(d) = f.renew_before {
        return d;
    }
    if let (Some(e), Some(i)) = (f.expires_at, f.issued_at)
        && let Ok(life) = Duration::try_from(e.duration_since(i))
        && !life.is_zero()
    {
        return life / 3;
    }
    f.lifecycle.lead
}

/// Whether the window makes a refresh due (policy Auto only): a known `expires_at` − lead ≤
/// now, or for x and tiktok an unknown expiry.
pub fn window_due(f: &RefreshFacts<'_>) -> bool {
    if f.policy == RefreshPolicy::Never {
        return false;
    }
    match f.expires_at {
        Some(e) => schedule::sub(e, lead(f)) <= f.now,
        None => matches!(f.lifecycle.renewal, Renewal::RefreshToken { unknown_expiry_due: true, .. }),
    }
}

/// When the next scheduled refresh can run, for scheduling the next check: the window's
/// opening (now, when it is open already), or the end of a minimum-age wait; `None` without a
/// path.
pub fn window_opens(f: &RefreshFacts<'_>, p: Option<&ProbeFacts>) -> Option<Timestamp> {
    if f.policy == RefreshPolicy::Never {
        return None;
    }
    let path = match p {
        Some(p) if !refreshes_before_probe(f.lifecycle) => probe_path(f, p),
        _ => static_path(f),
    };
    let opens = match f.expires_at {
        Some(e) => schedule::sub(e, lead(f)),
        None if window_due(f) => f.now,
        None => return None,
    };
    match path {
        Ok(()) => Some(opens.max(f.now)),
        Err(Blocker::TooYoung { until }) => Some(opens.max(until)),
        Err(_) => None,
    }
}

/// The refresh due before the probe (step 2): window or request, for refresh-token
/// providers with a path. A request that cannot be served returns the blocker.
pub fn before_probe(f: &RefreshFacts<'_>, requested: bool) -> Result<Option<Trigger>, Blocker> {
    if !refreshes_before_probe(f.lifecycle) {
        return Ok(None);
    }
    match static_path(f) {
        Err(b) if requested => Err(b),
        Err(_) => Ok(None),
        Ok(()) if requested => Ok(Some(Trigger::Requested)),
        Ok(()) => Ok(window_due(f).then_some(Trigger::Window)),
    }
}

/// A "→ refresh" row (step 4): refresh when a path exists and none was made this cycle.
pub fn on_refresh_row(f: &RefreshFacts<'_>, refreshed_this_cycle: bool) -> Option<Trigger> {
    (!refreshed_this_cycle && refreshes_before_probe(f.lifecycle) && static_path(f).is_ok()).then_some(Trigger::ProviderAnswer)
}

/// The refresh due after the probe (step 5, Meta family): window or request.
pub fn after_probe(f: &RefreshFacts<'_>, p: &ProbeFacts, requested: bool) -> Result<Option<Trigger>, Blocker> {
    if !f.lifecycle.renewal.exists() {
        return if requested { Err(Blocker::NoRefreshCall) } else { Ok(None) };
    }
    if refreshes_before_probe(f.lifecycle) {
        return Ok(None);
    }
    match probe_path(f, p) {
        Err(b) if requested => Err(b),
        Err(_) => Ok(None),
        Ok(()) if requested => Ok(Some(Trigger::Requested)),
        Ok(()) => Ok(window_due(f).then_some(Trigger::Window)),
    }
}

/// For ExpiringSoon: whether an automatic refresh will extend the token.
pub fn renewability(f: &RefreshFacts<'_>, p: Option<&ProbeFacts>) -> Renewability {
    if f.not_extended {
        return Renewability::NotExtended;
    }
    let path = match p {
        Some(p) if !refreshes_before_probe(f.lifecycle) => probe_path(f, p),
        _ => static_path(f),
    };
    match path {
        // A blocker that only waits (age) still leaves an automatic refresh ahead.
        Ok(()) | Err(Blocker::TooYoung { .. }) if f.policy == RefreshPolicy::Auto => Renewability::Automatic,
        Ok(()) | Err(Blocker::TooYoung { .. }) => Renewability::NoPath("spec.refresh.policy is Never".into()),
        Err(b) => Renewability::NoPath(b.message()),
    }
}

/// Whether a refresh-token expiry recorded from refresh answers has passed: then a refused
/// refresh means Expired rather than revoked (§2.6).
pub fn refresh_token_expired(recorded: Option<Timestamp>, now: Timestamp) -> bool {
    recorded.is_some_and(|r| r <= now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ProviderKind;
    use crate::providers::for_kind;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const NOW: &str = "2026-06-01T00:00:00Z";

    fn facts(kind: ProviderKind) -> RefreshFacts<'static> {
        RefreshFacts {
            now: t(NOW),
            lifecycle: for_kind(kind).lifecycle(),
            policy: RefreshPolicy::Auto,
            renew_before: None,
            managed: true,
            has_refresh_token: true,
            has_client_id: true,
            has_client_secret: true,
            expires_at: None,
            issued_at: None,
            first_seen: None,
            granted_scopes: None,
            not_extended: false,
        }
    }

    fn minus(t: Timestamp, hours: i64) -> Timestamp {
        t.checked_sub(jiff::SignedDuration::from_hours(hours)).unwrap()
    }

    fn valid_user() -> ProbeFacts {
        ProbeFacts { valid: true, token_type: Some(TokenType::User), never_expires: false }
    }

    #[test]
    fn the_lead_is_renew_before_then_a_third_of_the_lifetime_then_the_provider_default() {
        let now = t(NOW);
        let mut f = facts(ProviderKind::Linkedin);
        f.expires_at = Some(t("2026-06-21T00:00:00Z"));
        assert_eq!(lead(&f), Duration::from_secs(10 * 86400), "provider default");
        f.issued_at = Some(t("2026-05-22T00:00:00Z")); // 30 days of life
        assert_eq!(lead(&f), Duration::from_secs(10 * 86400), "a third of 30 d");
        f.issued_at = Some(minus(now, 24 * 3)); // 23 days of life from 3 days ago
        assert_eq!(lead(&f), Duration::from_secs(23 * 86400 / 3));
        f.renew_before = Some(Duration::from_secs(3600));
        assert_eq!(lead(&f), Duration::from_secs(3600));
    }

    #[test]
    fn the_window_opens_at_expiry_minus_lead_and_never_disables_it() {
        let cases: Vec<(ProviderKind, Option<&str>, RefreshPolicy, bool)> = vec![
            (ProviderKind::Linkedin, Some("2026-06-10T00:00:00Z"), RefreshPolicy::Auto, true),
            (ProviderKind::Linkedin, Some("2026-06-12T00:00:00Z"), RefreshPolicy::Auto, false),
            (ProviderKind::Linkedin, Some("2026-06-10T00:00:00Z"), RefreshPolicy::Never, false),
            (ProviderKind::Linkedin, None, RefreshPolicy::Auto, false),
            (ProviderKind::X, None, RefreshPolicy::Auto, true),
            (ProviderKind::Tiktok, None, RefreshPolicy::Auto, true),
            (ProviderKind::Youtube, Some("2026-06-01T00:09:00Z"), RefreshPolicy::Auto, true),
            (ProviderKind::Youtube, Some("2026-06-01T00:11:00Z"), RefreshPolicy::Auto, false),
            (ProviderKind::Pinterest, Some("2026-06-05T00:00:00Z"), RefreshPolicy::Auto, true),
        ];
        for (kind, exp, policy, due) in cases {
            let f = RefreshFacts { expires_at: exp.map(t), policy, ..facts(kind) };
            assert_eq!(window_due(&f), due, "{kind} {exp:?} {policy:?}");
        }
    }

    #[test]
    fn refresh_token_providers_refresh_before_the_probe_only_with_a_path() {
        let due = Some("2026-06-01T00:05:00Z");
        let cases: Vec<(RefreshFacts<'static>, bool, Result<Option<Trigger>, Blocker>)> = vec![
            (RefreshFacts { expires_at: due.map(t), ..facts(ProviderKind::Youtube) }, false, Ok(Some(Trigger::Window))),
            (facts(ProviderKind::Youtube), false, Ok(None)),
            (facts(ProviderKind::Youtube), true, Ok(Some(Trigger::Requested))),
            (RefreshFacts { policy: RefreshPolicy::Never, ..facts(ProviderKind::Youtube) }, true, Ok(Some(Trigger::Requested))),
            (RefreshFacts { managed: false, expires_at: due.map(t), ..facts(ProviderKind::X) }, false, Ok(None)),
            (RefreshFacts { managed: false, ..facts(ProviderKind::X) }, true, Err(Blocker::Unlabelled)),
            (RefreshFacts { has_refresh_token: false, ..facts(ProviderKind::Tiktok) }, true, Err(Blocker::NoRefreshToken)),
            (RefreshFacts { has_client_secret: false, ..facts(ProviderKind::Pinterest) }, true, Err(Blocker::MissingCredentials)),
            (RefreshFacts { has_client_secret: false, ..facts(ProviderKind::X) }, true, Ok(Some(Trigger::Requested))),
            (RefreshFacts { has_client_id: false, ..facts(ProviderKind::X) }, true, Err(Blocker::MissingCredentials)),
            (facts(ProviderKind::Telegram), true, Ok(None)),
            (facts(ProviderKind::Facebook), true, Ok(None)),
        ];
        for (f, requested, expected) in cases {
            assert_eq!(before_probe(&f, requested), expected, "{:?} requested={requested}", f.lifecycle.renewal);
        }
        let telegram = facts(ProviderKind::Telegram);
        assert_eq!(after_probe(&telegram, &valid_user(), true), Err(Blocker::NoRefreshCall), "a request without refresh call says why");
        assert_eq!(after_probe(&telegram, &valid_user(), false), Ok(None));
        assert_eq!(on_refresh_row(&facts(ProviderKind::X), false), Some(Trigger::ProviderAnswer));
        assert_eq!(on_refresh_row(&facts(ProviderKind::X), true), None, "at most one refresh per cycle");
        assert_eq!(on_refresh_row(&RefreshFacts { managed: false, ..facts(ProviderKind::X) }, false), None, "write guard");
    }

    #[test]
    fn the_meta_exchange_needs_a_still_valid_user_token_with_app_credentials() {
        let window = Some(t("2026-06-05T00:00:00Z"));
        let f = || RefreshFacts { expires_at: window, ..facts(ProviderKind::Facebook) };
        let page = ProbeFacts { token_type: Some(TokenType::Page), ..valid_user() };
        let invalid = ProbeFacts { valid: false, ..valid_user() };
        let cases: Vec<(RefreshFacts<'static>, ProbeFacts, bool, Result<Option<Trigger>, Blocker>)> = vec![
            (f(), valid_user(), false, Ok(Some(Trigger::Window))),
            (RefreshFacts { expires_at: Some(t("2026-07-01T00:00:00Z")), ..f() }, valid_user(), false, Ok(None)),
            (f(), page, true, Err(Blocker::PageToken)),
            (f(), ProbeFacts { never_expires: true, ..valid_user() }, true, Err(Blocker::PageToken)),
            (f(), invalid, true, Err(Blocker::NotValidThisCycle)),
            (RefreshFacts { expires_at: Some(t("2026-05-31T00:00:00Z")), ..f() }, valid_user(), true, Err(Blocker::AlreadyExpired)),
            (RefreshFacts { has_client_secret: false, ..f() }, valid_user(), true, Err(Blocker::MissingCredentials)),
            (RefreshFacts { managed: false, ..f() }, valid_user(), true, Err(Blocker::Unlabelled)),
            (RefreshFacts { expires_at: Some(t("2026-07-01T00:00:00Z")), ..f() }, valid_user(), true, Ok(Some(Trigger::Requested))),
        ];
        for (facts, probe, requested, expected) in cases {
            assert_eq!(after_probe(&facts, &probe, requested), expected, "{probe:?} requested={requested} exp={:?}", facts.expires_at);
        }
    }

    #[test]
    fn long_lived_tokens_are_refreshed_only_from_24_hours_of_age_with_their_scope() {
        let now = t(NOW);
        let scopes = vec!["instagram_business_basic".to_string()];
        let th_scopes = vec!["threads_basic".to_string()];
        let base = |kind, s: &'static Vec<String>| RefreshFacts {
            has_refresh_token: false,
            has_client_id: false,
            has_client_secret: false,
            granted_scopes: Some(s.as_slice()),
            expires_at: Some(t("2026-06-05T00:00:00Z")),
            ..facts(kind)
        };
        let s: &'static Vec<String> = Box::leak(Box::new(scopes));
        let th: &'static Vec<String> = Box::leak(Box::new(th_scopes));
        let p = ProbeFacts { valid: true, token_type: None, never_expires: false };
        // Old enough by expiry (first seen just now, but expires in 4 d → issued ≥ 56 d ago).
        let f = RefreshFacts { first_seen: Some(now), ..base(ProviderKind::InstagramLogin, s) };
        assert_eq!(after_probe(&f, &p, false), Ok(Some(Trigger::Window)));
        // Issued (written by the operator) an hour ago: too young until it is a day old.
        let f = RefreshFacts { issued_at: Some(minus(now, 1)), ..base(ProviderKind::InstagramLogin, s) };
        assert!(matches!(after_probe(&f, &p, true), Err(Blocker::TooYoung { until }) if until == t("2026-06-01T23:00:00Z")));
        // Unknown expiry, first seen 2 h ago: too young; 25 h ago: due (unknown expiry counts as inside the window).
        let f = RefreshFacts { expires_at: None, first_seen: Some(minus(now, 2)), ..base(ProviderKind::Threads, th) };
        assert!(matches!(after_probe(&f, &p, true), Err(Blocker::TooYoung { .. })));
        let f = RefreshFacts { expires_at: None, first_seen: Some(minus(now, 25)), ..base(ProviderKind::Threads, th) };
        assert_eq!(after_probe(&f, &p, true), Ok(Some(Trigger::Requested)));
        // More than 59 days to go also means too young.
        let f = RefreshFacts {
            expires_at: Some(t("2026-07-31T00:00:00Z")),
            issued_at: Some(minus(now, 48)),
            ..base(ProviderKind::Threads, th)
        };
        assert!(matches!(after_probe(&f, &p, true), Err(Blocker::TooYoung { .. })));
        // The scope is needed.
        let f = RefreshFacts { first_seen: Some(now), granted_scopes: None, ..base(ProviderKind::InstagramLogin, s) };
        assert_eq!(after_probe(&f, &p, true), Err(Blocker::ScopeMissing("instagram_business_basic")));
    }

    #[test]
    fn the_next_refresh_is_scheduled_at_the_window_or_the_end_of_the_age_wait() {
        let now = t(NOW);
        let f = RefreshFacts { expires_at: Some(t("2026-06-20T00:00:00Z")), ..facts(ProviderKind::Linkedin) };
        assert_eq!(window_opens(&f, None), Some(t("2026-06-10T00:00:00Z")));
        let open = RefreshFacts { expires_at: Some(t("2026-06-03T00:00:00Z")), ..facts(ProviderKind::Linkedin) };
        assert_eq!(window_opens(&open, None), Some(now), "already open: now");
        assert_eq!(window_opens(&RefreshFacts { managed: false, ..open.clone() }, None), None, "no path, no schedule");
        assert_eq!(window_opens(&RefreshFacts { policy: RefreshPolicy::Never, ..open }, None), None);
        let scopes: &'static [String] = Box::leak(vec!["threads_basic".to_string()].into_boxed_slice());
        let young = RefreshFacts {
            expires_at: Some(t("2026-06-01T12:00:00Z")),
            issued_at: Some(minus(now, 2)),
            granted_scopes: Some(scopes),
            ..facts(ProviderKind::Threads)
        };
        let p = ProbeFacts { valid: true, token_type: None, never_expires: false };
        assert_eq!(window_opens(&young, Some(&p)), Some(t("2026-06-01T22:00:00Z")), "waits for the 24 h age");
    }

    #[test]
    fn renewability_tells_expiring_soon_whether_a_refresh_will_come() {
        assert_eq!(renewability(&facts(ProviderKind::X), None), Renewability::Automatic);
        let unlabelled = renewability(&RefreshFacts { managed: false, ..facts(ProviderKind::X) }, None);
        assert!(matches!(&unlabelled, Renewability::NoPath(m) if m.contains(MANAGED_LABEL)), "{unlabelled:?}");
        assert!(matches!(renewability(&facts(ProviderKind::Telegram), None), Renewability::NoPath(_)));
        assert_eq!(renewability(&RefreshFacts { not_extended: true, ..facts(ProviderKind::X) }, None), Renewability::NotExtended);
        let never = renewability(&RefreshFacts { policy: RefreshPolicy::Never, ..facts(ProviderKind::X) }, None);
        assert!(matches!(never, Renewability::NoPath(_)));
        let page = ProbeFacts { token_type: Some(TokenType::Page), ..valid_user() };
        assert!(matches!(renewability(&facts(ProviderKind::Facebook), Some(&page)), Renewability::NoPath(_)));
        assert_eq!(renewability(&facts(ProviderKind::Facebook), Some(&valid_user())), Renewability::Automatic);
    }
}
