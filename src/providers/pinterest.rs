//! Pinterest API v5 (providers.md §3.7): the `/v5/user_account` probe (PI1), classified by
//! HTTP status and the error body's `code`.

use async_trait::async_trait;

use super::oauth_errors::{self, code_at, str_at};
use std::time::Duration;

use super::lifecycle::{self, CodeExchange, Lifecycle, RefreshOutcome, Renewal};
use super::{AppKeys, CheckInput, CheckReport, Interruption, Provider, ProviderHttp, ProviderProfile, TokenVerdict};
use crate::api::ProviderKind;

/// The Pinterest provider (the token is the account).
pub struct Pinterest;

const KIND: ProviderKind = ProviderKind::Pinterest;
/// The API host.
const API_BASE: &str = "https://api.pinterest.com";
/// The scope `/v5/user_account` needs (PI-d).
const USER_ACCOUNT_SCOPE: &str = "user_accounts:read";

static PROFILE: ProviderProfile = ProviderProfile {
    short_lived: false,
    app_keys: AppKeys::ClientIdAndSecret,
    consent_url: "https://www.pinterest.com/oauth/?client_id={client_id}&redirect_uri={redirect_uri}&response_type=code&scope={scopes}&state={state}",
    scope_separator: ",",
    default_scopes: &["user_accounts:read", "boards:read", "pins:read", "pins:write"],
    reports_scopes: false,
    tokens_expire: true,
};

#[async_trait]
impl Provider for Pinterest {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn profile(&self) -> &'static ProviderProfile {
        &PROFILE
    }

    async fn check(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> CheckReport {
        let url = http.url(KIND, API_BASE, "/v5/user_account");
        let answer = match http.send(KIND, http.client().get(url).bearer_auth(input.token.expose())).await {
            Ok(answer) => answer,
            Err(i) => return CheckReport::interrupted(i),
        };
        let body = answer.json();
        let code = body.as_ref().and_then(|b| code_at(b, "/code"));
        let message = body.as_ref().and_then(|b| str_at(b, "/message"));
        match (answer.status, code.as_deref()) {
            (200..=299, _) => {
                let id = body.as_ref().and_then(|b| code_at(b, "/id"));
                let username = body.as_ref().and_then(|b| str_at(b, "/username"));
                let reported: Vec<&str> = id.as_deref().into_iter().chain(username).collect();
                if reported.is_empty() {
                    return CheckReport::interrupted(Interruption::unavailable(
                        "Pinterest answered /v5/user_account without `id` or `username`",
                    ));
                }
                oauth_errors::identity_report("Pinterest", input, &reported, username)
            }
            (401, Some("2")) => {
                let message = oauth_errors::with_provider_message(input, "Pinterest rejected the access token", message);
                CheckReport::verdict(TokenVerdict::RefreshThen(Box::new(TokenVerdict::ExpiryFallback { message })))
            }
            (401, Some("3")) => oauth_errors::scope_denied_report(input, USER_ACCOUNT_SCOPE, message.unwrap_or("HTTP 401, code 3")),
            (429, code) => {
                let detail = format!("Pinterest rate limit (code {})", code.unwrap_or("none"));
                CheckReport::interrupted(oauth_errors::rate_limited(&answer, detail, None))
            }
            (_, code) => CheckReport::interrupted(oauth_errors::transient_or_unclassified(&answer, code)),
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
}

/// Refresh PI2 before the probe (lead 5 d); continuous refresh tokens rotate (§3.7). No revoke
/// for user tokens.
static LIFECYCLE: Lifecycle = Lifecycle {
    renewal: Renewal::RefreshToken { keys: AppKeys::ClientIdAndSecret, rotates: true, unknown_expiry_due: false },
    lead: Duration::from_secs(5 * 24 * 3600),
    revokes: false,
};

/// PI2: `POST /v5/oauth/token`, Basic, form `grant_type=refresh_token&refresh_token={R}`.
/// PI2-b (code 283) → `TokenInvalidated`; PI2-c (401 code 2) → `InvalidSecret`.
async fn refresh(http: &ProviderHttp, input: &CheckInput<'_>) -> RefreshOutcome {
    let Some((app, secret, refresh)) = input.app.and_then(|a| Some((a, a.client_secret.as_ref()?, input.refresh_token?))) else {
        return RefreshOutcome::NotSupported;
    };
    let request = http
        .client()
        .post(http.url(KIND, API_BASE, "/v5/oauth/token"))
        .basic_auth(&app.client_id, Some(secret.expose()))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.expose())]);
    let answer = match http.send(KIND, request).await {
        Ok(a) => a,
        Err(i) => return RefreshOutcome::Interrupted(i),
    };
    let body = answer.json();
    let code = body.as_ref().and_then(|b| code_at(b, "/code"));
    let message = body.as_ref().and_then(|b| str_at(b, "/message"));
    match (answer.status, code.as_deref()) {
        (200..=299, _) => lifecycle::credential_or_transient(&answer, input.now, "Pinterest"),
        (400 | 401, Some("283")) => lifecycle::invalidated(input, "Pinterest", message),
        (401, Some("2")) => lifecycle::client_rejected(input, "Pinterest", message),
        _ => lifecycle::refresh_other(&answer, code.as_deref()),
    }
}

/// Code exchange (§2.14): `POST /v5/oauth/token`, Basic, form `grant_type=authorization_code,
/// code, redirect_uri`. Code 283 (as PI2-b) refuses the code; 401 code 2 rejects the app.
async fn exchange_code(http: &ProviderHttp, x: &CodeExchange<'_>) -> RefreshOutcome {
    let Some(secret) = x.app.client_secret.as_ref() else { return RefreshOutcome::NotSupported };
    let request = http
        .client()
        .post(http.url(KIND, API_BASE, "/v5/oauth/token"))
        .basic_auth(&x.app.client_id, Some(secret.expose()))
        .form(&[("grant_type", "authorization_code"), ("code", x.code.expose()), ("redirect_uri", x.redirect_uri)]);
    let answer = match http.send(KIND, request).await {
        Ok(a) => a,
        Err(i) => return RefreshOutcome::Interrupted(i),
    };
    let body = answer.json();
    let code = body.as_ref().and_then(|b| code_at(b, "/code"));
    let message = body.as_ref().and_then(|b| str_at(b, "/message"));
    match (answer.status, code.as_deref()) {
        (400 | 401, Some("283")) => lifecycle::code_refused(x, "Pinterest", message),
        (401, Some("2")) => lifecycle::client_rejected(&lifecycle::exchange_input(x), "Pinterest", message),
        _ => lifecycle::oauth_exchange_answer(&answer, x, "Pinterest"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wiremock::ResponseTemplate;

    use super::*;
    use crate::conditions::RoleReason;
    use crate::providers::TransientKind;
    use crate::providers::oauth_errors::test_support::{
        Case, answer, assert_valid_identity, assert_valid_with_denial, bearer_get, check_once, is_refresh_then_fallback,
    };

    const PI1: &str = r#"{"account_type":"BUSINESS","id":"5005","username":"exampleshop"}"#;
    const PI_C: &str = r#"{"code":2,"message":"Authentication failed."}"#;
    const PI_D: &str = r#"{"code":3,"message":"Your token does not have sufficient permissions to perform this operation."}"#;
    const PI_E: &str = r#"{"code":29,"message":"You are not permitted to access that resource."}"#;
    const PI_F: &str = r#"{"code":8,"message":"This request exceeded a rate limit."}"#;

    /// Runs one check against a fake answering PI1 with `template`, asserting the exact call.
    async fn check_with(template: ResponseTemplate, account: &str) -> CheckReport {
        check_once(&Pinterest, bearer_get("/v5/user_account"), template, &Case::new(account).with_app()).await
    }

    #[tokio::test]
    async fn pi_a_the_account_matches_by_id_or_username() {
        for account in ["5005", "exampleshop"] {
            let report = check_with(answer(200, PI1), account).await;
            assert_valid_identity(&report, RoleReason::IdentityConfirmed);
            assert_eq!(report.account_name.as_deref(), Some("exampleshop"));
        }
    }

    #[tokio::test]
    async fn pi_b_another_account_is_valid_with_an_account_mismatch() {
        let report = check_with(answer(200, PI1), "otheruser").await;
        assert_valid_identity(&report, RoleReason::AccountMismatch);
    }

    #[tokio::test]
    async fn pi_c_authentication_failed_asks_for_a_refresh_with_the_expiry_fallback() {
        let report = check_with(answer(401, PI_C), "5005").await;
        assert!(is_refresh_then_fallback(&report), "{report:?}");
    }

    #[tokio::test]
    async fn pi_d_insufficient_permissions_is_a_scope_denial_on_a_valid_token() {
        let report = check_with(answer(401, PI_D), "5005").await;
        assert_valid_with_denial(
            &report,
            "user_accounts:read",
            "Your token does not have sufficient permissions to perform this operation.",
        );
    }

    #[tokio::test]
    async fn pi_e_a_403_is_unclassified_naming_only_status_and_code() {
        let report = check_with(answer(403, PI_E), "5005").await;
        assert_eq!(report.token, None);
        let i = report.interruption.expect("unclassified");
        assert_eq!(i.unexpected.as_deref(), Some("HTTP 403, code 29"));
        assert!(!i.detail.contains("permitted"));
    }

    #[tokio::test]
    async fn pi_f_a_rate_limit_is_transient_and_honours_retry_after() {
        let report = check_with(answer(429, PI_F), "5005").await;
        let i = report.interruption.expect("rate limited");
        assert_eq!((i.kind, i.retry_after, i.unexpected), (TransientKind::RateLimited, None, None));
        let report = check_with(answer(429, PI_F).insert_header("Retry-After", "42"), "5005").await;
        assert_eq!(report.interruption.and_then(|i| i.retry_after), Some(Duration::from_secs(42)));
    }

    #[tokio::test]
    async fn other_answers_are_transient_or_unclassified() {
        let report = check_with(answer(401, r#"{"code":1,"message":"x"}"#), "5005").await;
        assert_eq!(report.interruption.and_then(|i| i.unexpected).as_deref(), Some("HTTP 401, code 1"));
        let report = check_with(ResponseTemplate::new(502), "5005").await;
        assert_eq!(report.interruption.map(|i| (i.kind, i.unexpected)), Some((TransientKind::Unavailable, None)));
        let report = check_with(ResponseTemplate::new(200).set_body_string("<html>"), "5005").await;
        assert_eq!(report.token, None);
        assert_eq!(report.interruption.map(|i| i.kind), Some(TransientKind::Unavailable));
    }

    #[test]
    fn the_profile_follows_the_pinterest_section() {
        let p = Pinterest.profile();
        assert!(!p.short_lived && !p.reports_scopes && p.tokens_expire);
        assert_eq!(p.app_keys, AppKeys::ClientIdAndSecret);
        assert_eq!(p.scope_separator, ",");
        assert!(p.consent_url.starts_with("https://www.pinterest.com/oauth/?client_id={client_id}"));
        assert_eq!(p.default_scopes, ["user_accounts:read", "boards:read", "pins:read", "pins:write"]);
    }
}
