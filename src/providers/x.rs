//! X, OAuth 2.0 user tokens (providers.md §3.6): the `/2/users/me` probe (X1), classified by
//! HTTP status and the problem `type` suffix.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::http::Answer;
use super::lifecycle::{self, CodeExchange, Lifecycle, RefreshOutcome, Renewal, RevokeOutcome};
use super::numbers;
use super::oauth_errors::{self, str_at};
use super::{AppCredentials, AppKeys, CheckInput, CheckReport, Interruption, Provider, ProviderHttp, ProviderProfile, TokenVerdict};
use crate::api::ProviderKind;
use crate::conditions::RevokedReason;

/// The X provider (OAuth 2.0 user-context tokens; the token is the account).
pub struct X;

const KIND: ProviderKind = ProviderKind::X;
/// The API host.
const API_BASE: &str = "https://api.x.com";
/// The scopes `/2/users/me` needs (X-f).
const ME_SCOPES: &str = "users.read tweet.read";

static PROFILE: ProviderProfile = ProviderProfile {
    short_lived: true,
    app_keys: AppKeys::ClientId,
    consent_url: "https://x.com/i/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={redirect_uri}&scope={scopes}&state={state}&code_challenge={code_challenge}&code_challenge_method=S256",
    scope_separator: " ",
    default_scopes: &["tweet.read", "users.read", "tweet.write", "offline.access"],
    reports_scopes: false,
    tokens_expire: true,
};

/// The `<kind>` of a problem `type` ending in `/problems/<kind>` (the host varies).
fn problem_kind(problem_type: &str) -> Option<&str> {
    problem_type.rsplit_once("/problems/").map(|(_, kind)| kind)
}

/// Rule 3 of providers.md §2.5: `x-rate-limit-reset` (unix seconds) − the answer's arrival,
/// when still ahead; a reset beyond the calendar waits the longest delay.
fn rate_limit_reset(answer: &Answer) -> Option<Duration> {
    let wait = numbers::delay_until_unix_text(answer.header("x-rate-limit-reset")?, answer.received_at)?;
    (!wait.is_zero()).then_some(wait)
}

/// X-d, X-e, X-f: a 403 problem.
fn forbidden(input: &CheckInput<'_>, body: Option<&Value>) -> CheckReport {
    let problem_type = body.and_then(|b| str_at(b, "/type")).unwrap_or("");
    let detail = body.and_then(|b| str_at(b, "/detail")).unwrap_or("");
    if problem_kind(problem_type) == Some("unsupported-authentication") {
        let message = oauth_errors::with_provider_message(input, "the access token is not an OAuth 2.0 user-context token", Some(detail));
        return CheckReport::verdict(TokenVerdict::InvalidSecret { message });
    }
    let suspended = |s: &str| s.to_ascii_lowercase().contains("suspended");
    if suspended(problem_type) || suspended(detail) {
        let message = oauth_errors::with_provider_message(input, "X reports the account suspended", Some(detail));
        return CheckReport::verdict(TokenVerdict::Revoked { reason: RevokedReason::AccountSuspended, message });
    }
    let message = match (problem_type, detail) {
        ("", "") => "X answered HTTP 403".to_string(),
        (t, "") | ("", t) => t.to_string(),
        (t, d) => format!("{t}: {d}"),
    };
    oauth_errors::scope_denied_report(input, ME_SCOPES, &message)
}

#[async_trait]
impl Provider for X {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn profile(&self) -> &'static ProviderProfile {
        &PROFILE
    }

    async fn check(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> CheckReport {
        let url = http.url(KIND, API_BASE, "/2/users/me");
        let answer = match http.send(KIND, http.client().get(url).bearer_auth(input.token.expose())).await {
            Ok(answer) => answer,
            Err(i) => return CheckReport::interrupted(i),
        };
        let body = answer.json();
        match answer.status {
            200..=299 => {
                let Some(id) = body.as_ref().and_then(|b| str_at(b, "/data/id")) else {
                    return CheckReport::interrupted(Interruption::unavailable("X answered /2/users/me without `data.id`"));
                };
                let name = body.as_ref().and_then(|b| str_at(b, "/data/username"));
                oauth_errors::identity_report("X", input, &[id], name)
            }
            401 => {
                let detail = body.as_ref().and_then(|b| str_at(b, "/detail"));
                let message = oauth_errors::with_provider_message(input, "X rejected the access token (HTTP 401)", detail);
                CheckReport::verdict(TokenVerdict::RefreshThen(Box::new(TokenVerdict::ExpiryFallback { message })))
            }
            403 => forbidden(input, body.as_ref()),
            429 => {
                let kind = body.as_ref().and_then(|b| str_at(b, "/type")).and_then(problem_kind).unwrap_or("too-many-requests");
                let detail = format!("X rate limit ({kind})");
                let reset = rate_limit_reset(&answer);
                CheckReport::interrupted(oauth_errors::rate_limited(&answer, detail, reset))
            }
            _ => {
                let code = body.as_ref().and_then(|b| str_at(b, "/type")).and_then(problem_kind);
                CheckReport::interrupted(oauth_errors::transient_or_unclassified(&answer, code))
            }
        }
    }

    fn lifecycle(&self) -> &'static Lifecycle {
        &LIFECYCLE
    }

    async fn exchange_code(&self, http: &ProviderHttp, x: &CodeExchange<'_>) -> RefreshOutcome {
        exchange_code(http, x).await
    }

    async fn refresh(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> RefreshOutcome {
        refresh(http, input).await
    }

    async fn revoke(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> RevokeOutcome {
        revoke(http, input).await
    }
}

/// Refresh X2 before the probe (lead 15 min); single-use refresh tokens (§3.6).
static LIFECYCLE: Lifecycle = Lifecycle {
    renewal: Renewal::RefreshToken { keys: AppKeys::ClientId, rotates: true, unknown_expiry_due: true },
    lead: Duration::from_secs(15 * 60),
    revokes: true,
};

/// A form POST to `path` with `client_id` in the form and Basic when the app has a secret
/// (confidential clients).
fn client_post(http: &ProviderHttp, path: &str, app: &AppCredentials, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    fields.push(("client_id", app.client_id.as_str()));
    let request = http.client().post(http.url(KIND, API_BASE, path)).form(&fields);
    match &app.client_secret {
        Some(secret) => request.basic_auth(&app.client_id, Some(secret.expose())),
        None => request,
    }
}

/// X2: `POST /2/oauth2/token`, form `grant_type=refresh_token&refresh_token={R}&client_id={cid}`
/// (+ Basic with a secret). X2-b → `InvalidSecret`; X2-c → `TokenInvalidated`.
async fn refresh(http: &ProviderHttp, input: &CheckInput<'_>) -> RefreshOutcome {
    let (Some(app), Some(refresh)) = (input.app.filter(|a| !a.client_id.is_empty()), input.refresh_token) else {
        return RefreshOutcome::NotSupported;
    };
    let request = client_post(http, "/2/oauth2/token", app, &[("grant_type", "refresh_token"), ("refresh_token", refresh.expose())]);
    let answer = match http.send(KIND, request).await {
        Ok(a) => a,
        Err(i) => return RefreshOutcome::Interrupted(i),
    };
    let body = answer.json();
    let (error, description) = lifecycle::oauth_error(body.as_ref());
    match (answer.status, error) {
        (200..=299, _) => lifecycle::credential_or_transient(&answer, input.now, "X"),
        (401, Some("invalid_client" | "unauthorized_client")) => lifecycle::client_rejected(input, "X", description),
        (400, Some("invalid_request" | "invalid_grant")) => lifecycle::invalidated(input, "X", description),
        _ => lifecycle::refresh_other(&answer, error),
    }
}

/// Code exchange (§2.14): `POST /2/oauth2/token`, form `code, grant_type=authorization_code,
/// client_id, redirect_uri, code_verifier` (+ Basic with a secret). PKCE is mandatory.
async fn exchange_code(http: &ProviderHttp, x: &CodeExchange<'_>) -> RefreshOutcome {
    let Some(verifier) = x.code_verifier else { return RefreshOutcome::NotSupported };
    let form = [
        ("code", x.code.expose()),
        ("grant_type", "authorization_code"),
        ("redirect_uri", x.redirect_uri),
        ("code_verifier", verifier.expose()),
    ];
    match http.send(KIND, client_post(http, "/2/oauth2/token", x.app, &form)).await {
        Ok(answer) => lifecycle::oauth_exchange_answer(&answer, x, "X"),
        Err(i) => RefreshOutcome::Interrupted(i),
    }
}

/// X3: `POST /2/oauth2/revoke` for `{R}` (hint `refresh_token`), then for `{T}` (hint
/// `access_token`), authenticated like X2. 2xx done; 400 already invalid.
async fn revoke(http: &ProviderHttp, input: &CheckInput<'_>) -> RevokeOutcome {
    let Some(app) = input.app.filter(|a| !a.client_id.is_empty()) else {
        return RevokeOutcome::Skipped { why: "revoking an X token needs the app's client_id (spec.appSecretRef)".into() };
    };
    let mut tokens = Vec::new();
    if let Some(r) = input.refresh_token {
        tokens.push((r, "refresh_token"));
    }
    tokens.push((input.token, "access_token"));
    let mut all_invalid = true;
    for (token, hint) in tokens {
        let request = client_post(http, "/2/oauth2/revoke", app, &[("token", token.expose()), ("token_type_hint", hint)]);
        let answer = match http.send(KIND, request).await {
            Ok(a) => a,
            Err(i) => return RevokeOutcome::Interrupted(i),
        };
        match answer.status {
            200..=299 => all_invalid = false,
            400 => {}
            _ => {
                let body = answer.json();
                return lifecycle::revoke_other(&answer, lifecycle::oauth_error(body.as_ref()).0, "X");
            }
        }
    }
    RevokeOutcome::Revoked { already_invalid: all_invalid }
}

#[cfg(test)]
mod tests {
    use wiremock::ResponseTemplate;

    use super::*;
    use crate::conditions::RoleReason;
    use crate::providers::TransientKind;
    use crate::providers::oauth_errors::test_support::{
        Case, TOKEN, answer, assert_valid_identity, assert_valid_with_denial, bearer_get, check_once, is_refresh_then_fallback,
    };
    use jiff::Timestamp;

    const X1: &str = r#"{"data":{"id":"4004","name":"Example","username":"example"}}"#;
    const X_C: &str = r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#;
    const X_D: &str = r#"{"title":"Unsupported Authentication","detail":"Application-Only is forbidden.","type":"https://api.x.com/2/problems/unsupported-authentication","status":403}"#;
    const X_E: &str =
        r#"{"title":"Forbidden","detail":"User is suspended.","type":"https://api.x.com/2/problems/user-suspended","status":403}"#;
    const X_F: &str = r#"{"title":"Client Forbidden","detail":"App not enrolled.","reason":"client-not-enrolled","type":"https://api.x.com/2/problems/client-forbidden"}"#;
    const X_G: &str = r#"{"title":"Too Many Requests","type":"about:blank","status":429,"detail":"Too Many Requests"}"#;

    /// Runs one check against a fake answering X1 with `template`, asserting the exact call.
    async fn check_with(template: ResponseTemplate, account: &str) -> CheckReport {
        check_once(&X, bearer_get("/2/users/me"), template, &Case::new(account).with_app()).await
    }

    #[tokio::test]
    async fn x_a_the_declared_user_is_valid_and_identity_confirmed() {
        let report = check_with(answer(200, X1), "4004").await;
        assert_valid_identity(&report, RoleReason::IdentityConfirmed);
        assert_eq!(report.account_name.as_deref(), Some("example"));
        assert_eq!(report.interruption, None);
    }

    #[tokio::test]
    async fn x_b_another_user_is_valid_with_an_account_mismatch() {
        let report = check_with(answer(200, X1), "9999").await;
        assert_valid_identity(&report, RoleReason::AccountMismatch);
        assert!(report.role[0].message.contains("4004"));
    }

    #[tokio::test]
    async fn x_c_a_401_asks_for_a_refresh_with_the_expiry_fallback() {
        let report = check_with(answer(401, X_C), "4004").await;
        assert!(is_refresh_then_fallback(&report), "{report:?}");
    }

    #[tokio::test]
    async fn x_d_an_app_only_token_is_an_invalid_secret() {
        let report = check_with(answer(403, X_D), "4004").await;
        assert!(matches!(report.token, Some(TokenVerdict::InvalidSecret { .. })), "{report:?}");
    }

    #[tokio::test]
    async fn x_e_a_suspended_user_is_revoked_account_suspended() {
        let report = check_with(answer(403, X_E), "4004").await;
        assert!(matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::AccountSuspended, .. })), "{report:?}");
    }

    #[tokio::test]
    async fn x_f_another_403_is_a_scope_denial_with_type_and_detail_on_a_valid_token() {
        let report = check_with(answer(403, X_F), "4004").await;
        assert_valid_with_denial(&report, "users.read tweet.read", "https://api.x.com/2/problems/client-forbidden: App not enrolled.");
    }

    #[tokio::test]
    async fn x_f_provider_messages_are_scrubbed_of_the_token() {
        let body = format!(r#"{{"type":"https://api.x.com/2/problems/client-forbidden","detail":"token {TOKEN} not enrolled"}}"#);
        let report = check_with(answer(403, &body), "4004").await;
        assert!(report.scope_denials[0].message.contains("token <redacted> not enrolled"));
        assert!(!report.scope_denials[0].message.contains(TOKEN));
    }

    #[tokio::test]
    async fn x_g_a_429_waits_until_x_rate_limit_reset_counted_from_the_answer() {
        // The reset is absolute: the wait counts from when the answer arrived (the real clock).
        let reset = (Timestamp::now().as_second() + 60).to_string();
        let report = check_with(answer(429, X_G).insert_header("x-rate-limit-reset", reset.as_str()), "4004").await;
        assert_eq!(report.token, None);
        let i = report.interruption.expect("rate limited");
        assert_eq!(i.kind, TransientKind::RateLimited);
        // Whole seconds, and the answer may arrive a little later on a loaded machine.
        let wait = i.retry_after.expect("a wait").as_secs();
        assert!((40..=60).contains(&wait), "{wait}");
        assert_eq!(i.unexpected, None);
    }

    #[tokio::test]
    async fn x_g_retry_after_wins_over_x_rate_limit_reset() {
        let reset = (Timestamp::now().as_second() + 60).to_string();
        let template = answer(429, X_G).insert_header("x-rate-limit-reset", reset.as_str()).insert_header("retry-after", "5");
        let report = check_with(template, "4004").await;
        assert_eq!(report.interruption.and_then(|i| i.retry_after), Some(Duration::from_secs(5)));
    }

    #[tokio::test]
    async fn x_g_a_usage_cap_without_headers_is_rate_limited_with_backoff() {
        let body = r#"{"title":"Usage capped","type":"https://api.x.com/2/problems/usage-capped","detail":"Usage cap exceeded"}"#;
        let report = check_with(answer(429, body), "4004").await;
        let i = report.interruption.expect("rate limited");
        assert_eq!((i.kind, i.retry_after), (TransientKind::RateLimited, None));
    }

    #[tokio::test]
    async fn server_errors_are_transient_and_other_answers_unclassified() {
        let report = check_with(ResponseTemplate::new(503), "4004").await;
        assert_eq!(report.interruption.map(|i| (i.kind, i.unexpected)), Some((TransientKind::Unavailable, None)));
        let body = r#"{"title":"Not Found","type":"https://api.x.com/2/problems/resource-not-found","detail":"x"}"#;
        let report = check_with(answer(404, body), "4004").await;
        assert_eq!(report.interruption.and_then(|i| i.unexpected).as_deref(), Some("HTTP 404, code resource-not-found"));
        let report = check_with(ResponseTemplate::new(200).set_body_string("not json"), "4004").await;
        assert_eq!(report.token, None);
        assert_eq!(report.interruption.map(|i| (i.kind, i.unexpected)), Some((TransientKind::Unavailable, None)));
    }

    #[test]
    fn the_profile_follows_the_x_section() {
        let p = X.profile();
        assert!(p.short_lived && !p.reports_scopes && p.tokens_expire);
        assert_eq!(p.app_keys, AppKeys::ClientId);
        assert_eq!(p.scope_separator, " ");
        assert!(p.consent_url.contains("&code_challenge={code_challenge}&code_challenge_method=S256"));
        assert_eq!(p.default_scopes, ["tweet.read", "users.read", "tweet.write", "offline.access"]);
    }
}
