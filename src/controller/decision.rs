//! The pure heart of the controller: from what the Secret and the provider said, and the
//! previous status, decide the new status, the Events to record and when to check next
//! (providers.md §2.3–§2.5, §2.9, §2.13). [`decide`] composes the small rules of
//! [`super::policy`]; no I/O and an injected clock, so every rule is table-tested, here as a
//! whole and in each policy module on its own.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::consent::{ConsentParams, consent_url, union_scopes};
use super::events::Notice;
use super::policy::events::Transition;
use super::policy::expiry::{ExpiryFacts, Renewability};
use super::policy::ready::Conds;
use super::policy::{Cond, consent, events, expiry, failures, fmt_time, previous_cond, progress, ready, role, scopes, verdict};
use super::schedule;
use crate::api::{MAX_STATUS_NAME_LEN, ProviderKind, SocialConnectionSpec, SocialConnectionStatus, bounded_scopes};
use crate::conditions::{CondStatus, ConditionType, Reason, ValidReason, condition};
use crate::providers::{CheckReport, ExpiryFact, ProviderProfile, TokenVerdict};
use crate::redact::truncate_utf8;
use crate::secrets::SecretProblem;

pub use super::policy::failures::FAILURES_BEFORE_UNKNOWN;

/// How soon a connection whose Secret the operator may not read is looked at again (an RBAC
/// fix wakes nothing).
pub const FORBIDDEN_RETRY: Duration = Duration::from_secs(60);

/// What the cycle found before deciding.
#[derive(Clone, Debug)]
pub enum Findings {
    /// A Secret problem found without calling the provider (§2.2).
    Secret(SecretProblem),
    /// The provider was asked.
    Checked {
        /// The provider's facts.
        report: Box<CheckReport>,
        /// The token Secret's expiry.
        secret_expires_at: Option<Timestamp>,
        /// The token Secret's scopes.
        secret_scopes: Option<Vec<String>>,
        /// Fingerprint of the current access token.
        fingerprint: String,
    },
}

/// Everything a decision depends on.
#[derive(Clone, Debug)]
pub struct DecisionInput<'a> {
    /// The clock of this cycle.
    pub now: Timestamp,
    /// When the provider's last answer arrived (retry delays count from it, §2.5); `now` when
    /// no provider was asked.
    pub answered_at: Timestamp,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `<namespace>/<name>`, the consent URL's state.
    pub object_key: &'a str,
    /// The spec.
    pub spec: &'a SocialConnectionSpec,
    /// The status before this cycle.
    pub previous: &'a SocialConnectionStatus,
    /// The provider's static facts.
    pub profile: &'a ProviderProfile,
    /// Default scopes for the consent URL.
    pub default_scopes: &'a [&'a str],
    /// The app's client id, when known.
    pub client_id: Option<&'a str>,
    /// The operator's default redirect URL.
    pub default_redirect_url: Option<&'a str>,
    /// Graph API version (consent URLs of Meta providers).
    pub graph_version: &'a str,
    /// The operator's own link for this connection when the connect flow is on (§2.14):
    /// `{public}/connect/{namespace}/{name}`.
    pub connect_link: Option<&'a str>,
    /// The check-requested annotation value handled by this cycle.
    pub check_request: Option<&'a str>,
    /// What the cycle found.
    pub findings: Findings,
    /// Numbers in [0, 1): (the connection's phase, which places its regular checks in the
    /// interval (see `spread`), a uniform random number for retry jitter).
    pub jitter: (f64, f64),
    /// What refresh did or could do this cycle.
    pub refresh: RefreshView<'a>,
}

/// A refresh outcome of this cycle, for status and Events (§2.6 "Outcomes in status").
#[derive(Clone, Debug, PartialEq)]
pub enum RefreshEvent {
    /// A new token was stored in the Secret.
    Stored {
        /// When the answer arrived.
        at: Timestamp,
        /// Fingerprint of the stored access token.
        fingerprint: String,
        /// The stored expiry.
        expires_at: Option<Timestamp>,
        /// The refresh token's expiry from the answer.
        refresh_token_expires_at: Option<Timestamp>,
        /// The refresh ran after the probe (Meta family): the probe's expiry was the old token's.
        after_probe: bool,
    },
    /// The provider refused the refresh (the verdict went into the report): `RefreshFailed`.
    Refused {
        /// The classified reason, for the Event.
        why: String,
    },
    /// A requested refresh cannot be made: `RefreshFailed` saying why.
    Blocked {
        /// Why (names what to change).
        why: String,
    },
}

/// Refresh facts of the cycle.
#[derive(Clone, Debug)]
pub struct RefreshView<'a> {
    /// The outcome, when a refresh ran or a request was refused.
    pub event: Option<RefreshEvent>,
    /// The `refresh-requested-at` value this cycle handled.
    pub request: Option<&'a str>,
    /// Whether an automatic refresh will renew the access token (ExpiringSoon).
    pub renewability: Renewability,
    /// When the refresh window opens next (scheduling).
    pub window_opens: Option<Timestamp>,
    /// A refresh may still save an expired token (it failed transiently).
    pub may_save: bool,
}

impl Default for RefreshView<'_> {
    fn default() -> Self {
        RefreshView {
            event: None,
            request: None,
            renewability: Renewability::NoPath("the provider has no refresh call for this token".into()),
            window_opens: None,
            may_save: false,
        }
    }
}

/// The outcome of a decision.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The new status.
    pub status: SocialConnectionStatus,
    /// Events to record, one per transition.
    pub notices: Vec<Notice>,
    /// When to reconcile again.
    pub requeue_after: Duration,
}

/// `status.renewalTime` for a valid token: when the refresh window opens, while an automatic
/// refresh will renew the token. A window already open keeps the time recorded before, so
/// that a refresh waiting for its turn writes nothing new on every pass.
fn renewal_time(refresh: &RefreshView<'_>, previous: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
    if refresh.renewability != Renewability::Automatic {
        return None;
    }
    let opens = refresh.window_opens?;
    match previous {
        Some(p) if opens <= now && p <= now => Some(p),
        _ => Some(opens),
    }
}

/// Decides the new status, events and requeue delay by composing the rules of [`policy`].
pub fn decide(input: DecisionInput<'_>) -> Decision {
    let now = input.now;
    let prev = input.previous;
    let prev_conds = &prev.conditions;
    let spec = input.spec;
    let mut status = prev.clone();
    status.observed_generation = input.generation;
    if let Some(v) = input.check_request {
        status.last_handled_check_request = Some(v.to_string());
    }
    if let Some(v) = input.refresh.request {
        status.last_handled_refresh_request = Some(v.to_string());
    }
    let stored = match &input.refresh.event {
        Some(RefreshEvent::Stored { at, fingerprint, expires_at, refresh_token_expires_at, after_probe }) => {
            status.last_refresh_time = Some(Time(*at));
            status.refresh_count = Some(prev.refresh_count.unwrap_or(0).saturating_add(1));
            if let Some(r) = refresh_token_expires_at {
                status.refresh_token_expires_at = Some(Time(*r));
            }
            Some((*at, fingerprint.clone(), *expires_at, *after_probe))
        }
        _ => None,
    };

    let mut valid = previous_cond(prev_conds, ConditionType::Valid);
    let mut revoked = previous_cond(prev_conds, ConditionType::Revoked);
    let mut role = previous_cond(prev_conds, ConditionType::RoleLost);
    let mut scopes = previous_cond(prev_conds, ConditionType::ScopesMissing);
    let mut expiring = previous_cond(prev_conds, ConditionType::ExpiringSoon);
    let prev_valid = valid.clone();
    let mut notices = Vec::new();
    let interval = spec.check_interval();
    let warning = spec.expiry_warning();
    let mut next_check: Timestamp;
    let mut unexpected = None;
    let mut secret_problem = false;

    match &input.findings {
        Findings::Secret(problem) => {
            let reason = match problem {
                SecretProblem::NotFound { .. } => ValidReason::SecretNotFound,
                SecretProblem::KeyMissing { .. } => ValidReason::SecretKeyMissing,
                SecretProblem::Invalid { .. } => ValidReason::InvalidSecret,
                SecretProblem::Forbidden { .. } => ValidReason::SecretAccessDenied,
            };
            // Whether the token works cannot be known while the Secret cannot be read.
            let st = if matches!(problem, SecretProblem::Forbidden { .. }) { CondStatus::Unknown } else { CondStatus::False };
            valid = Cond::new(st, Reason::Valid(reason), problem.to_string());
            // No provider call is scheduled: the Secret watch wakes the connection as soon as
            // the Secret changes. Keeping status free of a new due time makes a repeated
            // problem an identical status, so nothing is written.
            // A permission fix produces no Secret event: look again soon.
            next_check = match problem {
                SecretProblem::Forbidden { .. } => schedule::add(now, FORBIDDEN_RETRY.min(interval)),
                _ => schedule::add(now, interval),
            };
            secret_problem = true;
        }
        Findings::Checked { report, secret_expires_at, secret_scopes, fingerprint } => {
            let same_token = prev.token_fingerprint.as_deref() == Some(fingerprint.as_str());
            if !same_token {
                status.token_fingerprint = Some(fingerprint.clone());
                status.token_first_seen_time = Some(Time(now));
                status.data_access_expires_at = None;
            }
            // A token the operator wrote was issued when the answer arrived (§2.7).
            if let Some((at, _, _, false)) = &stored {
                status.token_first_seen_time = Some(Time(*at));
            }
            let prev_expiry = if same_token { prev.expires_at.as_ref().map(|t| t.0) } else { None };
            let mut never_expires = !input.profile.tokens_expire;
            let expires_at = match report.expiry {
                ExpiryFact::At(t) => Some(t),
                ExpiryFact::Never => {
                    never_expires = true;
                    None
                }
                // The latest provider value (kept in status) wins over the Secret's (§1).
                ExpiryFact::NotReported => prev_expiry.or(*secret_expires_at).filter(|_| !never_expires),
            };
            // A refresh after the probe replaced the probed token: its expiry is the new one.
            let expires_at = match &stored {
                Some((at, fp, exp, true)) => {
                    status.token_fingerprint = Some(fp.clone());
                    status.token_first_seen_time = Some(Time(*at));
                    *exp
                }
                _ => expires_at,
            };
            status.expires_at = expires_at.map(Time);
            if let Some(d) = report.data_access_expires_at {
                status.data_access_expires_at = Some(Time(d));
            }
            if let Some(name) = &report.account_name {
                status.account_name = Some(truncate_utf8(name, MAX_STATUS_NAME_LEN));
            }
            status.last_check_time = Some(Time(now));

            let verdict = verdict::decide(report.token.clone(), expires_at, now, input.profile.short_lived);
            let interruption = report.interruption.as_ref();
            let prev_failures = prev.consecutive_failures.unwrap_or(0);
            let failures = failures::count(prev_failures, verdict.is_some() && report.token.is_some(), interruption);
            status.consecutive_failures = Some(failures);

            match &verdict {
                Some(v) => {
                    let (v_cond, r_cond) = verdict::conditions(v);
                    if let Some(c) = v_cond {
                        valid = c;
                    }
                    if let Some(c) = r_cond {
                        revoked = c;
                    }
                }
                None => {
                    if let Some(c) = interruption.and_then(|i| failures::transient_valid(&valid, failures, i)) {
                        valid = c;
                    }
                }
            }
            if failures::crossed_threshold(prev_failures, failures)
                && let Some(i) = interruption
            {
                notices.push(Notice::ProviderUnavailable { detail: i.detail.clone(), failures });
            }
            if let Some(i) = interruption {
                unexpected = i.unexpected.clone();
            }
            if verdict.is_some() {
                status.last_successful_check_time = Some(Time(now));
            }

            // Identity and role; scopes; expiry. Skipped while Valid is not True.
            if matches!(verdict, Some(TokenVerdict::Valid)) {
                if let Some(c) = role::decide(&report.role, spec.required_role) {
                    role = c;
                }
                let out = scopes::decide(
                    &spec.required_scopes,
                    report.granted_scopes.as_ref(),
                    secret_scopes.as_ref(),
                    &report.scope_denials,
                    &prev.missing_scopes,
                    interruption.is_some(),
                );
                if let Some(c) = out.condition {
                    scopes = c;
                }
                if let Some(g) = out.granted {
                    status.granted_scopes = bounded_scopes(g);
                }
                status.missing_scopes = bounded_scopes(out.missing);

                expiring = expiry::decide(&ExpiryFacts {
                    now,
                    warning,
                    expires_at,
                    never: never_expires,
                    data_access: status.data_access_expires_at.as_ref().map(|t| t.0),
                    refresh_token_expires_at: status.refresh_token_expires_at.as_ref().map(|t| t.0),
                    renewability: input.refresh.renewability.clone(),
                });
                status.renewal_time = renewal_time(&input.refresh, prev.renewal_time.as_ref().map(|t| t.0), now).map(Time);
            } else if verdict.is_some() {
                // A token the provider refuses is renewed by no refresh: a person must act.
                status.renewal_time = None;
            }

            next_check = match interruption {
                Some(i) => {
                    let delay = match i.retry_after {
                        Some(d) if !i.counts_as_failure => d,
                        Some(d) => schedule::provider_delay(d, input.jitter.1),
                        None => schedule::backoff(failures.max(1).unsigned_abs(), input.jitter.1),
                    };
                    schedule::add(input.answered_at.max(now), delay)
                }
                None => {
                    let next = schedule::next_check(now, interval, expires_at, warning, input.jitter.0);
                    input.refresh.window_opens.filter(|w| *w < next).unwrap_or(next)
                }
            };
        }
    }

    if spec.provider == ProviderKind::Telegram && valid.is_true() {
        scopes = scopes::bot_token();
    }

    let conds = Conds { valid, revoked, role, scopes, expiring };
    let ready = ready::decide(&conds);
    let (stalled, reconciling) = progress::decide(&ready, input.refresh.may_save);

    // Reauthorization URL (§2.9): while a person must act.
    let may_save = input.refresh.may_save;
    // With the connect flow on (§2.14): the operator's link, whenever §2.9 would publish one
    // and while the token Secret does not exist (first connection); never without app
    // credentials (telegram needs none).
    let first_connection = matches!(&input.findings, Findings::Secret(SecretProblem::NotFound { field: "secretRef", .. }));
    let has_app = input.client_id.is_some() || spec.provider == ProviderKind::Telegram;
    status.reauthorization_url = if let Some(link) = input.connect_link {
        ((consent::must_act(&conds, may_save) || first_connection) && has_app).then(|| link.to_string())
    } else if consent::must_act(&conds, may_save) {
        consent_url(
            input.profile,
            &ConsentParams {
                client_id: input.client_id,
                redirect_uri: spec.redirect_url.as_deref().or(input.default_redirect_url),
                state: input.object_key,
                scopes: union_scopes(&spec.required_scopes, &status.granted_scopes),
                default_scopes: input.default_scopes,
                graph_version: input.graph_version,
                code_challenge: None,
            },
        )
    } else {
        None
    };

    // Events, one per transition (§2.13).
    let prev_ready = previous_cond(prev_conds, ConditionType::Ready);
    let prev_expiring = previous_cond(prev_conds, ConditionType::ExpiringSoon);
    notices.extend(events::transitions(&Transition {
        prev_valid: &prev_valid,
        prev_ready: &prev_ready,
        prev_expiring: &prev_expiring,
        now: &conds,
        ready: &ready,
        url: status.reauthorization_url.as_deref(),
        refresh_may_save: may_save,
    }));
    match &input.refresh.event {
        Some(RefreshEvent::Stored { expires_at, .. }) => notices.push(Notice::TokenRefreshed { expires_at: expires_at.map(fmt_time) }),
        Some(RefreshEvent::Refused { why } | RefreshEvent::Blocked { why }) => notices.push(Notice::RefreshFailed { why: why.clone() }),
        None => {}
    }
    if let Some(what) = unexpected {
        notices.push(Notice::UnexpectedProviderResponse { what });
    }

    let generation = input.generation;
    let mk = |t: ConditionType, c: &Cond| condition(prev_conds, t, c.status, c.reason.as_str(), c.message.clone(), generation, now);
    status.conditions = vec![
        mk(ConditionType::Ready, &ready),
        mk(ConditionType::Valid, &conds.valid),
        mk(ConditionType::Revoked, &conds.revoked),
        mk(ConditionType::RoleLost, &conds.role),
        mk(ConditionType::ScopesMissing, &conds.scopes),
        mk(ConditionType::ExpiringSoon, &conds.expiring),
        mk(ConditionType::Stalled, &stalled),
        mk(ConditionType::Reconciling, &reconciling),
    ];
    status.not_ready_reason = (!ready.is_true()).then(|| ready.reason.as_str().to_string());
    if next_check <= now {
        next_check = schedule::add(now, Duration::from_secs(1));
    }
    status.next_check_time = if secret_problem { None } else { Some(Time(next_check)) };
    let requeue_from = input.answered_at.max(now);
    Decision { requeue_after: schedule::duration_between(requeue_from, next_check).max(Duration::from_secs(1)), status, notices }
}

#[cfg(test)]
// Table tests: each row is a tuple of inputs and expected (status, reason) pairs.
#[allow(clippy::type_complexity)]
mod tests {
    use super::*;
    use crate::api::RequiredRole;
    use crate::conditions::{RevokedReason, RoleReason, find};
    use crate::providers::{Interruption, RoleFinding, ScopeDenial};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }
    const NOW: &str = "2026-06-01T00:00:00Z";

    #[test]
    fn renewal_time_is_set_only_while_an_automatic_refresh_will_renew_the_token() {
        let now = t(NOW);
        let view =
            |r: Renewability, opens: Option<&str>| RefreshView { renewability: r, window_opens: opens.map(t), ..RefreshView::default() };
        let cases: [(RefreshView<'_>, Option<&str>, Option<&str>); 6] = [
            // (refresh view, previous renewalTime, expected)
            (view(Renewability::Automatic, Some("2026-06-05T00:00:00Z")), None, Some("2026-06-05T00:00:00Z")),
            (view(Renewability::Automatic, Some("2026-06-05T00:00:00Z")), Some("2026-05-01T00:00:00Z"), Some("2026-06-05T00:00:00Z")),
            // The window is open (a refresh waits for its turn): the recorded time stays.
            (view(Renewability::Automatic, Some(NOW)), Some("2026-05-31T23:00:00Z"), Some("2026-05-31T23:00:00Z")),
            (view(Renewability::Automatic, Some(NOW)), None, Some(NOW)),
            (view(Renewability::NoPath("unlabelled".into()), Some("2026-06-05T00:00:00Z")), Some("2026-06-05T00:00:00Z"), None),
            (view(Renewability::NotExtended, Some("2026-06-05T00:00:00Z")), None, None),
        ];
        for (i, (v, prev, want)) in cases.into_iter().enumerate() {
            assert_eq!(renewal_time(&v, prev.map(t), now), want.map(t), "case {i}");
        }
    }

    fn spec(provider: ProviderKind) -> SocialConnectionSpec {
        SocialConnectionSpec { redirect_url: Some("https://app.example/cb".into()), ..SocialConnectionSpec::new(provider, "2002", "tok") }
    }

    fn profile() -> ProviderProfile {
        *crate::providers::for_kind(ProviderKind::Facebook).profile()
    }

    fn short_lived_profile() -> ProviderProfile {
        ProviderProfile { short_lived: true, ..profile() }
    }

    struct Case {
        spec: SocialConnectionSpec,
        previous: SocialConnectionStatus,
        profile: ProviderProfile,
        findings: Findings,
        answered_at: Option<Timestamp>,
        refresh: RefreshView<'static>,
        connect_link: Option<&'static str>,
        client_id: Option<&'static str>,
    }

    fn checked(report: CheckReport) -> Findings {
        Findings::Checked { report: Box::new(report), secret_expires_at: None, secret_scopes: None, fingerprint: "abcd".into() }
    }

    fn case(findings: Findings) -> Case {
        Case {
            spec: spec(ProviderKind::Facebook),
            previous: SocialConnectionStatus::default(),
            profile: profile(),
            findings,
            answered_at: None,
            refresh: RefreshView::default(),
            connect_link: None,
            client_id: Some("cid"),
        }
    }

    fn run(c: &Case) -> Decision {
        decide(DecisionInput {
            now: t(NOW),
            answered_at: c.answered_at.unwrap_or(t(NOW)),
            generation: Some(1),
            object_key: "ns/conn",
            spec: &c.spec,
            previous: &c.previous,
            profile: &c.profile,
            default_scopes: &["pages_show_list"],
            client_id: c.client_id,
            default_redirect_url: None,
            graph_version: "v24.0",
            connect_link: c.connect_link,
            check_request: None,
            findings: c.findings.clone(),
            jitter: (0.0, 0.0),
            refresh: c.refresh.clone(),
        })
    }

    fn cond(d: &Decision, ty: ConditionType) -> (&str, &str) {
        let c = find(&d.status.conditions, ty).unwrap();
        (c.status.as_str(), c.reason.as_str())
    }

    fn valid_report() -> CheckReport {
        CheckReport::verdict(TokenVerdict::Valid)
    }

    #[test]
    fn a_valid_token_with_nothing_required_is_ready() {
        let d = run(&case(checked(valid_report())));
        assert_eq!(cond(&d, ConditionType::Ready), ("True", "AllChecksPassed"));
        assert_eq!(cond(&d, ConditionType::Valid), ("True", "TokenValid"));
        assert_eq!(cond(&d, ConditionType::Revoked), ("False", "NotRevoked"));
        assert_eq!(cond(&d, ConditionType::RoleLost), ("False", "NoRoleRequired"));
        assert_eq!(cond(&d, ConditionType::ScopesMissing), ("False", "NoScopesRequired"));
        assert_eq!(cond(&d, ConditionType::ExpiringSoon), ("False", "ExpiryUnknown"));
        assert_eq!(d.status.not_ready_reason, None);
        assert_eq!(d.status.observed_generation, Some(1));
        assert!(d.notices.is_empty(), "first success after Pending is not a restoration");
        assert_eq!(d.status.reauthorization_url, None);
    }

    #[test]
    fn verdicts_map_to_conditions_as_the_contract_says() {
        let revoked = TokenVerdict::Revoked { reason: RevokedReason::PasswordChanged, message: "m".into() };
        let cases: Vec<(TokenVerdict, Option<Timestamp>, bool, (&str, &str), (&str, &str), (&str, &str))> = vec![
            (revoked, None, false, ("False", "Revoked"), ("True", "PasswordChanged"), ("False", "PasswordChanged")),
            (
                TokenVerdict::Expired { message: "m".into() },
                None,
                false,
                ("False", "Expired"),
                ("False", "NotRevoked"),
                ("False", "Expired"),
            ),
            (
                TokenVerdict::InvalidSecret { message: "m".into() },
                None,
                false,
                ("False", "InvalidSecret"),
                ("Unknown", "Pending"),
                ("False", "InvalidSecret"),
            ),
            // Expiry fallback: known and passed -> Expired; known and ahead -> TokenInvalidated.
            (
                TokenVerdict::ExpiryFallback { message: "m".into() },
                Some(t("2026-05-01T00:00:00Z")),
                false,
                ("False", "Expired"),
                ("False", "NotRevoked"),
                ("False", "Expired"),
            ),
            (
                TokenVerdict::ExpiryFallback { message: "m".into() },
                Some(t("2026-07-01T00:00:00Z")),
                false,
                ("False", "Revoked"),
                ("True", "TokenInvalidated"),
                ("False", "TokenInvalidated"),
            ),
            // Unknown expiry: long-lived tokens are invalidated, short-lived ones expired.
            (
                TokenVerdict::ExpiryFallback { message: "m".into() },
                None,
                false,
                ("False", "Revoked"),
                ("True", "TokenInvalidated"),
                ("False", "TokenInvalidated"),
            ),
            (
                TokenVerdict::ExpiryFallback { message: "m".into() },
                None,
                true,
                ("False", "Expired"),
                ("False", "NotRevoked"),
                ("False", "Expired"),
            ),
            // Without refresh, a "-> refresh" row takes its fallback.
            (
                TokenVerdict::RefreshThen(Box::new(TokenVerdict::Expired { message: "m".into() })),
                None,
                false,
                ("False", "Expired"),
                ("False", "NotRevoked"),
                ("False", "Expired"),
            ),
        ];
        for (verdict, secret_exp, short, valid, revoked, ready) in cases {
            let mut c = case(Findings::Checked {
                report: Box::new(CheckReport::verdict(verdict.clone())),
                secret_expires_at: secret_exp,
                secret_scopes: None,
                fingerprint: "f".into(),
            });
            if short {
                c.profile = short_lived_profile();
            }
            let d = run(&c);
            assert_eq!(cond(&d, ConditionType::Valid), valid, "{verdict:?}");
            assert_eq!(cond(&d, ConditionType::Revoked), revoked, "{verdict:?}");
            assert_eq!(cond(&d, ConditionType::Ready), ready, "{verdict:?}");
        }
    }

    #[test]
    fn with_the_connect_flow_the_link_is_the_operators_own_and_also_shown_before_the_first_token() {
        let link = "https://connect.example/connect/ns/conn";
        let revoked = checked(CheckReport::verdict(TokenVerdict::Revoked { reason: RevokedReason::AppDeauthorized, message: "m".into() }));
        let d = run(&Case { connect_link: Some(link), ..case(revoked.clone()) });
        assert_eq!(d.status.reauthorization_url.as_deref(), Some(link));
        assert!(d.notices.iter().any(|n| n.to_event().note.unwrap_or_default().contains(link)), "{:?}", d.notices);
        // No app credentials: no link.
        let d = run(&Case { connect_link: Some(link), client_id: None, ..case(revoked) });
        assert_eq!(d.status.reauthorization_url, None);
        // First connection: the token Secret does not exist yet.
        let absent = Findings::Secret(SecretProblem::NotFound { name: "tok".into(), field: "secretRef" });
        let d = run(&Case { connect_link: Some(link), ..case(absent.clone()) });
        assert_eq!(d.status.reauthorization_url.as_deref(), Some(link));
        assert_eq!(run(&case(absent)).status.reauthorization_url, None, "without the flow §2.9 applies unchanged");
        let app_absent = Findings::Secret(SecretProblem::NotFound { name: "app".into(), field: "appSecretRef" });
        assert_eq!(run(&Case { connect_link: Some(link), ..case(app_absent) }).status.reauthorization_url, None);
        // Healthy: nothing to do, no link.
        let d = run(&Case { connect_link: Some(link), ..case(checked(CheckReport::verdict(TokenVerdict::Valid))) });
        assert_eq!(d.status.reauthorization_url, None);
    }

    #[test]
    fn revoked_tokens_ask_for_reauthorization_with_a_url() {
        let d = run(&case(checked(CheckReport::verdict(TokenVerdict::Revoked {
            reason: RevokedReason::AppDeauthorized,
            message: "app removed".into(),
        }))));
        let url = d.status.reauthorization_url.clone().unwrap();
        assert!(
            url.starts_with(
                "https://www.facebook.com/v24.0/dialog/oauth?client_id=cid&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&state=ns%2Fconn"
            ),
            "{url}"
        );
        assert!(
            matches!(
                &d.notices[..],
                [Notice::ReauthorizationRequired {
                    reason: Reason::Revoked(crate::conditions::RevokedReason::AppDeauthorized),
                    url: Some(_),
                    ..
                }]
            ),
            "{:?}",
            d.notices
        );
    }

    #[test]
    fn a_known_expiry_in_the_past_is_expired_even_when_the_provider_says_valid() {
        let c = case(Findings::Checked {
            report: Box::new(valid_report()),
            secret_expires_at: Some(t("2026-05-31T00:00:00Z")),
            secret_scopes: None,
            fingerprint: "f".into(),
        });
        let d = run(&c);
        assert_eq!(cond(&d, ConditionType::Valid), ("False", "Expired"));
    }

    #[test]
    fn clock_expiry_applies_even_when_the_provider_is_unreachable() {
        let c = case(Findings::Checked {
            report: Box::new(CheckReport::interrupted(Interruption::unavailable("HTTP 503"))),
            secret_expires_at: Some(t("2026-05-31T00:00:00Z")),
            secret_scopes: None,
            fingerprint: "f".into(),
        });
        assert_eq!(cond(&run(&c), ConditionType::Valid), ("False", "Expired"));
    }

    fn previous_after(findings: Findings) -> SocialConnectionStatus {
        run(&case(findings)).status
    }

    #[test]
    fn transient_answers_keep_a_valid_token_valid_until_the_third_in_a_row() {
        let mut status = previous_after(checked(valid_report()));
        let mut events = vec![];
        for n in 1..=4 {
            let mut c = case(checked(CheckReport::interrupted(Interruption::unavailable("HTTP 503"))));
            c.previous = status.clone();
            let d = run(&c);
            let valid = cond(&d, ConditionType::Valid);
            if n < 3 {
                assert_eq!(valid, ("True", "TokenValid"), "answer {n}");
                assert_eq!(cond(&d, ConditionType::Ready), ("True", "AllChecksPassed"));
            } else {
                assert_eq!(valid, ("Unknown", "ProviderUnavailable"), "answer {n}");
                assert_eq!(cond(&d, ConditionType::Revoked), ("False", "NotRevoked"));
            }
            assert_eq!(d.status.consecutive_failures, Some(n));
            events.extend(d.notices.iter().map(|x| x.reason()));
            status = d.status;
        }
        assert_eq!(events, vec!["ProviderUnavailable"], "one event, on the third failure");
        // The next definite answer resets the count.
        let mut c = case(checked(valid_report()));
        c.previous = status;
        let d = run(&c);
        assert_eq!(d.status.consecutive_failures, Some(0));
        assert_eq!(cond(&d, ConditionType::Valid), ("True", "TokenValid"));
    }

    #[test]
    fn a_pending_connection_takes_the_transient_reason_at_once() {
        let d = run(&case(checked(CheckReport::interrupted(Interruption::rate_limited("429", None)))));
        assert_eq!(cond(&d, ConditionType::Valid), ("Unknown", "RateLimited"));
        assert_eq!(cond(&d, ConditionType::Ready), ("Unknown", "RateLimited"));
        assert_eq!(cond(&d, ConditionType::Revoked), ("Unknown", "Pending"));
    }

    #[test]
    fn transient_answers_never_revoke_a_revoked_or_valid_token_and_wait_as_told() {
        let prev = previous_after(checked(CheckReport::verdict(TokenVerdict::Revoked {
            reason: RevokedReason::TokenInvalidated,
            message: "m".into(),
        })));
        let mut c = case(checked(CheckReport::interrupted(Interruption::rate_limited("BUC", Some(Duration::from_secs(300))))));
        c.previous = prev;
        let d = run(&c);
        assert_eq!(cond(&d, ConditionType::Revoked), ("True", "TokenInvalidated"));
        assert_eq!(d.requeue_after, Duration::from_secs(300));
        assert!(d.notices.is_empty(), "no second ReauthorizationRequired: {:?}", d.notices);
    }

    #[test]
    fn backoff_applies_without_a_provider_delay_and_young_token_waits_do_not_count() {
        let d = run(&case(checked(CheckReport::interrupted(Interruption::unavailable("503")))));
        assert_eq!(d.requeue_after, Duration::from_secs(5));
        let young =
            Interruption { counts_as_failure: false, retry_after: Some(Duration::from_secs(30)), ..Interruption::unavailable("young") };
        let d = run(&case(checked(CheckReport::interrupted(young))));
        assert_eq!(d.requeue_after, Duration::from_secs(30));
        assert_eq!(d.status.consecutive_failures, Some(0));
    }

    #[test]
    fn role_findings_follow_precedence_and_required_role() {
        let f = |r: RoleReason| RoleFinding { reason: r, message: "m".into() };
        let cases: Vec<(Vec<RoleFinding>, Option<RequiredRole>, (&str, &str), (&str, &str))> = vec![
            (vec![], None, ("False", "NoRoleRequired"), ("True", "AllChecksPassed")),
            (vec![f(RoleReason::IdentityConfirmed)], None, ("False", "IdentityConfirmed"), ("True", "AllChecksPassed")),
            (vec![f(RoleReason::RoleConfirmed)], Some(RequiredRole::Admin), ("False", "RoleConfirmed"), ("True", "AllChecksPassed")),
            (
                vec![f(RoleReason::RoleNotVerifiable)],
                Some(RequiredRole::Admin),
                ("False", "RoleNotVerifiable"),
                ("True", "AllChecksPassed"),
            ),
            (vec![f(RoleReason::InsufficientRole)], Some(RequiredRole::Admin), ("True", "InsufficientRole"), ("False", "InsufficientRole")),
            (
                vec![f(RoleReason::RoleRemoved), f(RoleReason::AccountMismatch)],
                None,
                ("True", "AccountMismatch"),
                ("False", "AccountMismatch"),
            ),
            (
                vec![f(RoleReason::NotProfessionalAccount), f(RoleReason::AccountNotFound)],
                None,
                ("True", "AccountNotFound"),
                ("False", "AccountNotFound"),
            ),
        ];
        for (findings, required, role, ready) in cases {
            let mut c = case(checked(CheckReport { token: Some(TokenVerdict::Valid), role: findings.clone(), ..Default::default() }));
            c.spec.required_role = required;
            let d = run(&c);
            assert_eq!(cond(&d, ConditionType::RoleLost), role, "{findings:?}");
            assert_eq!(cond(&d, ConditionType::Ready), ready, "{findings:?}");
        }
    }

    #[test]
    fn role_and_scopes_keep_their_values_while_the_token_is_not_valid() {
        let mut c = case(checked(CheckReport {
            token: Some(TokenVerdict::Valid),
            role: vec![RoleFinding { reason: RoleReason::RoleRemoved, message: "m".into() }],
            ..Default::default()
        }));
        let prev = run(&c).status;
        c = case(checked(CheckReport::verdict(TokenVerdict::Expired { message: "m".into() })));
        c.previous = prev;
        let d = run(&c);
        assert_eq!(cond(&d, ConditionType::RoleLost), ("True", "RoleRemoved"));
        // Ready's blocker order: Revoked, Valid, RoleLost, ScopesMissing.
        assert_eq!(cond(&d, ConditionType::Ready), ("False", "Expired"));
    }

    #[test]
    fn scopes_are_compared_exactly_with_provider_or_secret_sources() {
        let s = |v: &[&str]| Some(v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        let cases: Vec<(Option<Vec<String>>, Option<Vec<String>>, Vec<ScopeDenial>, (&str, &str), Vec<&str>)> = vec![
            (s(&["a", "b"]), None, vec![], ("False", "ScopesGranted"), vec![]),
            (s(&["a"]), None, vec![], ("True", "ScopesNotGranted"), vec!["b"]),
            (None, s(&["a", "b"]), vec![], ("False", "ScopesGranted"), vec![]),
            (None, s(&["A", "b"]), vec![], ("True", "ScopesNotGranted"), vec!["a"]),
            (None, None, vec![], ("Unknown", "ScopesUnverifiable"), vec![]),
            (
                s(&["a", "b"]),
                None,
                vec![ScopeDenial { scope: "pages_read_engagement".into(), message: "(#10)".into() }],
                ("True", "ScopesNotGranted"),
                vec!["pages_read_engagement"],
            ),
        ];
        for (provider, secret, denials, expected, missing) in cases {
            let mut c = case(Findings::Checked {
                report: Box::new(CheckReport {
                    token: Some(TokenVerdict::Valid),
                    granted_scopes: provider.clone(),
                    scope_denials: denials,
                    ..Default::default()
                }),
                secret_expires_at: None,
                secret_scopes: secret.clone(),
                fingerprint: "f".into(),
            });
            c.spec.required_scopes = vec!["a".into(), "b".into()];
            let d = run(&c);
            assert_eq!(cond(&d, ConditionType::ScopesMissing), expected, "{provider:?} {secret:?}");
            assert_eq!(d.status.missing_scopes, missing);
            if expected.0 == "True" {
                assert_eq!(cond(&d, ConditionType::Ready).0, "False");
                assert!(d.status.reauthorization_url.is_some());
            }
        }
    }

    #[test]
    fn expiry_inside_the_window_warns_once_and_does_not_block_ready() {
        let mut c = case(checked(CheckReport {
            token: Some(TokenVerdict::Valid),
            expiry: ExpiryFact::At(t("2026-06-04T00:00:00Z")),
            ..Default::default()
        }));
        let d = run(&c);
        assert_eq!(cond(&d, ConditionType::ExpiringSoon), ("True", "AccessTokenExpiring"));
        assert_eq!(cond(&d, ConditionType::Ready), ("True", "AllChecksPassed"));
        assert_eq!(d.notices.iter().map(|n| n.reason()).collect::<Vec<_>>(), vec!["TokenExpiringSoon"]);
        assert!(d.status.reauthorization_url.is_some());
        // The next check at the same state records nothing new.
        c.previous = d.status.clone();
        let again = run(&c);
        assert!(again.notices.is_empty());
        // Outside a shorter window: NotExpiring; "never": NoExpiry; data access: DataAccessExpiring.
        c = case(checked(CheckReport {
            token: Some(TokenVerdict::Valid),
            expiry: ExpiryFact::At(t("2026-06-04T00:00:00Z")),
            ..Default::default()
        }));
        c.spec.expiry_warning = Some("48h".into());
        assert_eq!(cond(&run(&c), ConditionType::ExpiringSoon), ("False", "NotExpiring"));
        c = case(checked(CheckReport { token: Some(TokenVerdict::Valid), expiry: ExpiryFact::Never, ..Default::default() }));
        assert_eq!(cond(&run(&c), ConditionType::ExpiringSoon), ("False", "NoExpiry"));
        c = case(checked(CheckReport {
            token: Some(TokenVerdict::Valid),
            expiry: ExpiryFact::Never,
            data_access_expires_at: Some(t("2026-06-02T00:00:00Z")),
            ..Default::default()
        }));
        assert_eq!(cond(&run(&c), ConditionType::ExpiringSoon), ("True", "DataAccessExpiring"));
    }

    #[test]
    fn secret_problems_are_reported_and_recover_with_a_restored_event() {
        let problem = SecretProblem::NotFound { name: "tok".into(), field: "secretRef" };
        let ok = previous_after(checked(valid_report()));
        let mut c = case(Findings::Secret(problem.clone()));
        c.previous = ok;
        let d = run(&c);
        assert_eq!(cond(&d, ConditionType::Valid), ("False", "SecretNotFound"));
        assert_eq!(cond(&d, ConditionType::Ready), ("False", "SecretNotFound"));
        assert!(find(&d.status.conditions, ConditionType::Valid).unwrap().message.contains("\"tok\""));
        assert_eq!(d.notices.iter().map(|n| n.reason()).collect::<Vec<_>>(), vec!["SecretNotFound"]);
        // Same problem again: identical status (nothing to write), no new event.
        let mut again = case(Findings::Secret(problem));
        again.previous = d.status.clone();
        let d2 = run(&again);
        assert_eq!(d2.status, d.status);
        assert!(d2.notices.is_empty());
        // Fixed: Ready again, with ConnectionRestored.
        let mut fixed = case(checked(valid_report()));
        fixed.previous = d.status;
        let d3 = run(&fixed);
        assert_eq!(cond(&d3, ConditionType::Ready), ("True", "AllChecksPassed"));
        assert_eq!(d3.notices.iter().map(|n| n.reason()).collect::<Vec<_>>(), vec!["ConnectionRestored"]);
    }

    #[test]
    fn an_unchanged_check_keeps_transition_times() {
        let first = previous_after(checked(valid_report()));
        let mut c = case(checked(valid_report()));
        c.previous = first.clone();
        let d = run(&c);
        for (a, b) in first.conditions.iter().zip(&d.status.conditions) {
            assert_eq!(a.last_transition_time, b.last_transition_time);
        }
    }

    #[test]
    fn unclassified_answers_record_an_event_naming_status_and_code_only() {
        let d = run(&case(checked(CheckReport::interrupted(Interruption::unclassified("HTTP 403, code 29")))));
        assert!(matches!(&d.notices[..], [Notice::UnexpectedProviderResponse { what }] if what == "HTTP 403, code 29"));
    }

    #[test]
    fn telegram_bot_tokens_need_no_scopes() {
        let mut c = case(checked(valid_report()));
        c.spec = spec(ProviderKind::Telegram);
        c.spec.required_scopes = vec!["x".into()];
        assert_eq!(cond(&run(&c), ConditionType::ScopesMissing), ("False", "NoScopesRequired"));
    }

    #[test]
    fn a_retry_delay_counts_from_when_the_answer_arrived_not_from_the_cycle_start() {
        let i = Interruption::rate_limited("429", Some(Duration::from_secs(60)));
        let mut c = case(checked(CheckReport::interrupted(i)));
        c.answered_at = Some(t("2026-06-01T00:00:30Z"));
        let d = run(&c);
        assert_eq!(d.status.next_check_time.map(|x| x.0), Some(t("2026-06-01T00:01:30Z")));
        assert_eq!(d.requeue_after, Duration::from_secs(60));
    }

    #[test]
    fn a_secret_the_operator_may_not_read_is_unknown_names_the_permission_and_is_retried_soon() {
        let problem = SecretProblem::Forbidden { name: "tok".into(), field: "secretRef" };
        let d = run(&case(Findings::Secret(problem)));
        assert_eq!(cond(&d, ConditionType::Valid), ("Unknown", "SecretAccessDenied"));
        assert_eq!(cond(&d, ConditionType::Ready), ("Unknown", "SecretAccessDenied"));
        let msg = &find(&d.status.conditions, ConditionType::Valid).unwrap().message;
        assert!(msg.contains("\"get\" on \"secrets\"") && msg.contains("tok"), "{msg}");
        assert_eq!(d.requeue_after, FORBIDDEN_RETRY);
        assert!(d.notices.is_empty());
    }

    #[test]
    fn a_huge_failure_count_in_status_does_not_overflow() {
        let i = Interruption::unavailable("down");
        let mut c = case(checked(CheckReport::interrupted(i)));
        c.previous.consecutive_failures = Some(i32::MAX);
        let d = run(&c);
        assert_eq!(d.status.consecutive_failures, Some(i32::MAX));
        assert!(d.requeue_after <= schedule::MAX_BACKOFF);
    }

    #[test]
    fn hostile_names_and_scope_lists_are_bounded_before_they_reach_status() {
        let mut report = valid_report();
        report.account_name = Some("n".repeat(10_000));
        report.granted_scopes = Some((0..1000).map(|i| format!("scope{i}")).chain(["s".repeat(300)]).collect());
        let d = run(&case(checked(report)));
        assert!(d.status.account_name.as_ref().is_some_and(|n| n.len() <= MAX_STATUS_NAME_LEN));
        assert_eq!(d.status.granted_scopes.len(), crate::api::MAX_STATUS_SCOPES);
        assert!(d.status.granted_scopes.iter().all(|s| s.len() <= crate::api::MAX_STATUS_SCOPE_LEN));
    }

    #[test]
    fn a_stored_refresh_counts_records_its_time_and_announces_the_new_expiry() {
        let at = t("2026-05-31T23:59:59Z");
        let mut c = case(checked(CheckReport { token: Some(TokenVerdict::Valid), ..Default::default() }));
        c.previous.refresh_count = Some(2);
        c.refresh.event = Some(RefreshEvent::Stored {
            at,
            fingerprint: "abcd".into(),
            expires_at: Some(t("2026-06-01T02:00:00Z")),
            refresh_token_expires_at: Some(t("2026-09-01T00:00:00Z")),
            after_probe: false,
        });
        c.refresh.renewability = Renewability::Automatic;
        c.refresh.request = Some("now-1");
        let d = run(&c);
        assert_eq!(d.status.refresh_count, Some(3));
        assert_eq!(d.status.last_refresh_time, Some(Time(at)));
        assert_eq!(d.status.token_first_seen_time, Some(Time(at)), "the operator's write is the issue time");
        assert_eq!(d.status.refresh_token_expires_at, Some(Time(t("2026-09-01T00:00:00Z"))));
        assert_eq!(d.status.last_handled_refresh_request.as_deref(), Some("now-1"));
        assert_eq!(d.notices.iter().map(|n| n.reason()).collect::<Vec<_>>(), vec!["TokenRefreshed"]);
    }

    #[test]
    fn an_after_probe_refresh_replaces_the_probed_expiry_and_fingerprint() {
        let mut c = case(checked(CheckReport {
            token: Some(TokenVerdict::Valid),
            expiry: ExpiryFact::At(t("2026-06-03T00:00:00Z")),
            ..Default::default()
        }));
        c.refresh.event = Some(RefreshEvent::Stored {
            at: t(NOW),
            fingerprint: "new-fp".into(),
            expires_at: Some(t("2026-07-31T00:00:00Z")),
            refresh_token_expires_at: None,
            after_probe: true,
        });
        c.refresh.renewability = Renewability::Automatic;
        let d = run(&c);
        assert_eq!(d.status.token_fingerprint.as_deref(), Some("new-fp"));
        assert_eq!(d.status.expires_at, Some(Time(t("2026-07-31T00:00:00Z"))));
        assert_eq!(cond(&d, ConditionType::ExpiringSoon), ("False", "NotExpiring"));
    }

    #[test]
    fn refused_or_impossible_refreshes_record_one_refresh_failed_event() {
        for event in [
            RefreshEvent::Refused { why: "TokenInvalidated: X refused the refresh token".into() },
            RefreshEvent::Blocked { why: "the token Secret lacks the label".into() },
        ] {
            let mut c = case(checked(valid_report()));
            c.refresh.event = Some(event.clone());
            let d = run(&c);
            assert_eq!(d.notices.iter().map(|n| n.reason()).collect::<Vec<_>>(), vec!["RefreshFailed"], "{event:?}");
        }
    }

    #[test]
    fn an_automatic_refresh_ahead_keeps_expiring_soon_false_and_the_window_schedules_the_next_check() {
        let mut c = case(checked(CheckReport {
            token: Some(TokenVerdict::Valid),
            expiry: ExpiryFact::At(t("2026-06-04T00:00:00Z")),
            ..Default::default()
        }));
        c.refresh.renewability = Renewability::Automatic;
        c.refresh.window_opens = Some(t("2026-06-01T00:20:00Z"));
        let d = run(&c);
        assert_eq!(cond(&d, ConditionType::ExpiringSoon), ("False", "NotExpiring"));
        assert!(d.notices.is_empty());
        assert_eq!(d.requeue_after, Duration::from_secs(20 * 60));
        assert_eq!(d.status.reauthorization_url, None);
    }

    #[test]
    fn an_expired_token_a_refresh_may_still_save_asks_nobody_to_reconnect() {
        let mut c = case(checked(CheckReport::verdict(TokenVerdict::Expired { message: "m".into() })));
        c.refresh.may_save = true;
        let d = run(&c);
        assert_eq!(cond(&d, ConditionType::Valid), ("False", "Expired"));
        assert!(d.notices.is_empty(), "{:?}", d.notices);
        assert_eq!(d.status.reauthorization_url, None);
    }
}
