//! TikTok (providers.md §3.11): the `/v2/user/info/` probe (TT1), classified by `error.code`
//! whatever the HTTP status.

use async_trait::async_trait;

use super::oauth_errors::{self, str_at};
use std::time::Duration;

use super::http::Answer;
use super::lifecycle::{self, CodeExchange, Lifecycle, RefreshOutcome, Renewal, RevokeOutcome};
use super::{AppKeys, CheckInput, CheckReport, Interruption, Provider, ProviderHttp, ProviderProfile, TokenVerdict};
use crate::api::ProviderKind;

/// The TikTok provider (the token is the account).
pub struct Tiktok;

const KIND: ProviderKind = ProviderKind::Tiktok;
/// The API host.
const API_BASE: &str = "https://open.tiktokapis.com";
/// TT1 with its fields (the trailing slash is part of the path).
const USER_INFO: &str = "/v2/user/info/?fields=open_id,union_id,display_name";
/// The scope `/v2/user/info/` needs (TT-d).
const USER_INFO_SCOPE: &str = "user.info.basic";

static PROFILE: ProviderProfile = ProviderProfile {
    short_lived: true,
    app_keys: AppKeys::ClientIdAndSecret,
    consent_url: "https://www.tiktok.com/v2/auth/authorize/?client_key={client_id}&scope={scopes}&response_type=code&redirect_uri={redirect_uri}&state={state}",
    scope_separator: ",",
    default_scopes: &["user.info.basic", "video.upload", "video.publish"],
    reports_scopes: false,
    tokens_expire: true,
};

#[async_trait]
impl Provider for Tiktok {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn profile(&self) -> &'static ProviderProfile {
        &PROFILE
    }

    async fn check(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> CheckReport {
        let url = http.url(KIND, API_BASE, USER_INFO);
        let answer = match http.send(KIND, http.client().get(url).bearer_auth(input.token.expose())).await {
            Ok(answer) => answer,
            Err(i) => return CheckReport::interrupted(i),
        };
        // TikTok's codes decide whatever the HTTP status, except that a 3xx or 5xx is an outage
        // whatever its body says (providers.md §2.5).
        if matches!(answer.status, 300..=399 | 500..=599)
            && let Some(i) = answer.generic_transient()
        {
            return CheckReport::interrupted(i);
        }
        let body = answer.json();
        let code = body.as_ref().and_then(|b| str_at(b, "/error/code"));
        let message = body.as_ref().and_then(|b| str_at(b, "/error/message"));
        match code {
            Some("ok") => {
                let user = |field: &str| body.as_ref().and_then(|b| b.pointer("/data/user")).and_then(|u| str_at(u, field));
                let reported: Vec<&str> = [user("/open_id"), user("/union_id")].into_iter().flatten().collect();
                if reported.is_empty() {
                    return CheckReport::interrupted(Interruption::unavailable(
                        "TikTok answered /v2/user/info/ without `data.user.open_id`",
                    ));
                }
                oauth_errors::identity_report("TikTok", input, &reported, user("/display_name"))
            }
            Some("access_token_invalid") => {
                let message = oauth_errors::with_provider_message(input, "TikTok rejected the access token", message);
                CheckReport::verdict(TokenVerdict::RefreshThen(Box::new(TokenVerdict::ExpiryFallback { message })))
            }
            Some(c @ ("scope_not_authorized" | "scope_permission_missed")) => {
                oauth_errors::scope_denied_report(input, USER_INFO_SCOPE, message.filter(|m| !m.is_empty()).unwrap_or(c))
            }
            Some("rate_limit_exceeded") => {
                CheckReport::interrupted(oauth_errors::rate_limited(&answer, "TikTok rate limit (rate_limit_exceeded)".to_string(), None))
            }
            Some("internal_error") => CheckReport::interrupted(Interruption::unavailable("TikTok answered internal_error")),
            None if answer.is_success() => {
                CheckReport::interrupted(Interruption::unavailable(format!("TikTok answered HTTP {} without `error.code`", answer.status)))
            }
            code => CheckReport::interrupted(oauth_errors::transient_or_unclassified(&answer, code)),
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

/// Refresh TT2 before the probe (lead 30 min); rotating refresh tokens (§3.11).
static LIFECYCLE: Lifecycle = Lifecycle {
    renewal: Renewal::RefreshToken { keys: AppKeys::ClientIdAndSecret, rotates: true, unknown_expiry_due: true },
    lead: Duration::from_secs(30 * 60),
    revokes: true,
};

/// A form POST with `client_key` and `client_secret` (TikTok OAuth errors are a top-level
/// string `error`, whatever the HTTP status).
async fn client_post(
    http: &ProviderHttp,
    input: &CheckInput<'_>,
    path: &str,
    form: &[(&str, &str)],
) -> Option<Result<Answer, Interruption>> {
    let app = input.app?;
    let secret = app.client_secret.as_ref()?;
    let mut fields = vec![("client_key", app.client_id.as_str()), ("client_secret", secret.expose())];
    fields.extend_from_slice(form);
    Some(http.send(KIND, http.client().post(http.url(KIND, API_BASE, path)).form(&fields)).await)
}

/// TT2: `POST /v2/oauth/token/`, form `client_key, client_secret, grant_type=refresh_token,
/// refresh_token`. TT2-a persists (the answer's `open_id` is checked by the controller),
/// TT2-b `invalid_grant` → `TokenInvalidated`, TT2-c `invalid_client` → `InvalidSecret`.
async fn refresh(http: &ProviderHttp, input: &CheckInput<'_>) -> RefreshOutcome {
    let Some(refresh) = input.refresh_token else { return RefreshOutcome::NotSupported };
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.expose())];
    let answer = match client_post(http, input, "/v2/oauth/token/", &form).await {
        None => return RefreshOutcome::NotSupported,
        Some(Err(i)) => return RefreshOutcome::Interrupted(i),
        Some(Ok(a)) => a,
    };
    let body = answer.json();
    let (error, description) = lifecycle::oauth_error(body.as_ref());
    match error {
        Some("invalid_grant") => lifecycle::invalidated(input, "TikTok", description),
        Some("invalid_client") => lifecycle::client_rejected(input, "TikTok", description),
        None if answer.is_success() => match lifecycle::credential_or_transient(&answer, input.now, "TikTok") {
            RefreshOutcome::Refreshed(mut c) => {
                c.account_id = body.as_ref().and_then(|b| str_at(b, "/open_id")).map(str::to_string);
                RefreshOutcome::Refreshed(c)
            }
            other => other,
        },
        code => lifecycle::refresh_other(&answer, code),
    }
}

/// Code exchange (§2.14): `POST /v2/oauth/token/`, form `client_key, client_secret, code,
/// grant_type=authorization_code, redirect_uri, code_verifier`; the answer's `open_id` is kept.
async fn exchange_code(http: &ProviderHttp, x: &CodeExchange<'_>) -> RefreshOutcome {
    let (Some(secret), Some(verifier)) = (x.app.client_secret.as_ref(), x.code_verifier) else {
        return RefreshOutcome::NotSupported;
    };
    let form = [
        ("client_key", x.app.client_id.as_str()),
        ("client_secret", secret.expose()),
        ("code", x.code.expose()),
        ("grant_type", "authorization_code"),
        ("redirect_uri", x.redirect_uri),
        ("code_verifier", verifier.expose()),
    ];
    let answer = match http.send(KIND, http.client().post(http.url(KIND, API_BASE, "/v2/oauth/token/")).form(&form)).await {
        Ok(a) => a,
        Err(i) => return RefreshOutcome::Interrupted(i),
    };
    match lifecycle::oauth_exchange_answer(&answer, x, "TikTok") {
        RefreshOutcome::Refreshed(mut c) => {
            c.account_id = answer.json().as_ref().and_then(|b| str_at(b, "/open_id")).map(str::to_string);
            RefreshOutcome::Refreshed(c)
        }
        other => other,
    }
}

/// TT3: `POST /v2/oauth/revoke/`, form `client_key, client_secret, token={T}` → 200 `{}`;
/// `invalid_grant` = already invalid.
async fn revoke(http: &ProviderHttp, input: &CheckInput<'_>) -> RevokeOutcome {
    let answer = match client_post(http, input, "/v2/oauth/revoke/", &[("token", input.token.expose())]).await {
        None => {
            return RevokeOutcome::Skipped { why: "revoking a TikTok token needs client_id and client_secret (spec.appSecretRef)".into() };
        }
        Some(Err(i)) => return RevokeOutcome::Interrupted(i),
        Some(Ok(a)) => a,
    };
    let body = answer.json();
    match lifecycle::oauth_error(body.as_ref()).0 {
        Some("invalid_grant") => RevokeOutcome::Revoked { already_invalid: true },
        None if answer.is_success() => RevokeOutcome::Revoked { already_invalid: false },
        code => lifecycle::revoke_other(&answer, code, "TikTok"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wiremock::ResponseTemplate;
    use wiremock::matchers::query_param;

    use super::*;
    use crate::conditions::RoleReason;
    use crate::providers::TransientKind;
    use crate::providers::oauth_errors::test_support::{
        Case, answer, assert_valid_identity, assert_valid_with_denial, bearer_get, check_once, is_refresh_then_fallback,
    };

    const TT1: &str =
        r#"{"data":{"user":{"open_id":"tt-open-1","union_id":"tt-union-1"}},"error":{"code":"ok","message":"","log_id":"L1"}}"#;
    const TT_C: &str = r#"{"data":{},"error":{"code":"access_token_invalid","message":"The access token is invalid.","log_id":"L2"}}"#;
    const TT_D: &str = r#"{"data":{},"error":{"code":"scope_not_authorized","message":"Scope not authorized.","log_id":"L3"}}"#;
    const TT_E: &str = r#"{"data":{},"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded.","log_id":"L4"}}"#;

    /// Runs one check against a fake answering TT1 with `template`, asserting the exact call.
    async fn check_with(template: ResponseTemplate, account: &str) -> CheckReport {
        let call = bearer_get("/v2/user/info/").and(query_param("fields", "open_id,union_id,display_name"));
        check_once(&Tiktok, call, template, &Case::new(account).with_app()).await
    }

    #[tokio::test]
    async fn tt_a_the_account_matches_by_open_id_or_union_id() {
        for account in ["tt-open-1", "tt-union-1"] {
            let report = check_with(answer(200, TT1), account).await;
            assert_valid_identity(&report, RoleReason::IdentityConfirmed);
        }
    }

    #[tokio::test]
    async fn tt_b_another_account_is_valid_with_an_account_mismatch() {
        let report = check_with(answer(200, TT1), "tt-open-2").await;
        assert_valid_identity(&report, RoleReason::AccountMismatch);
    }

    #[tokio::test]
    async fn tt_c_an_invalid_access_token_asks_for_a_refresh_with_the_expiry_fallback() {
        let report = check_with(answer(401, TT_C), "tt-open-1").await;
        assert!(is_refresh_then_fallback(&report), "{report:?}");
    }

    #[tokio::test]
    async fn tt_c_is_classified_by_error_code_whatever_the_http_status() {
        let report = check_with(answer(200, TT_C), "tt-open-1").await;
        assert!(is_refresh_then_fallback(&report), "{report:?}");
    }

    #[tokio::test]
    async fn tt_d_missing_scopes_are_a_scope_denial_on_a_valid_token() {
        let report = check_with(answer(401, TT_D), "tt-open-1").await;
        assert_valid_with_denial(&report, "user.info.basic", "Scope not authorized.");
        let missed = TT_D.replace("scope_not_authorized", "scope_permission_missed");
        let report = check_with(answer(403, &missed), "tt-open-1").await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.scope_denials.len(), 1);
    }

    #[tokio::test]
    async fn tt_e_a_rate_limit_is_transient_rate_limited() {
        let report = check_with(answer(429, TT_E).insert_header("Retry-After", "30"), "tt-open-1").await;
        assert_eq!(report.token, None);
        let i = report.interruption.expect("rate limited");
        assert_eq!((i.kind, i.retry_after, i.unexpected), (TransientKind::RateLimited, Some(Duration::from_secs(30)), None));
    }

    #[tokio::test]
    async fn tt_e_an_internal_error_is_transient_unavailable() {
        let body = TT_E.replace("rate_limit_exceeded", "internal_error");
        let report = check_with(answer(500, &body), "tt-open-1").await;
        let i = report.interruption.expect("unavailable");
        assert_eq!((i.kind, i.unexpected), (TransientKind::Unavailable, None));
    }

    #[tokio::test]
    async fn unknown_error_codes_are_unclassified_and_bodies_without_code_transient() {
        let body = TT_E.replace("rate_limit_exceeded", "invalid_params");
        let report = check_with(answer(400, &body), "tt-open-1").await;
        assert_eq!(report.interruption.and_then(|i| i.unexpected).as_deref(), Some("HTTP 400, code invalid_params"));
        let report = check_with(ResponseTemplate::new(200).set_body_string("<html>"), "tt-open-1").await;
        assert_eq!(report.interruption.map(|i| (i.kind, i.unexpected)), Some((TransientKind::Unavailable, None)));
        let report = check_with(ResponseTemplate::new(502), "tt-open-1").await;
        assert_eq!(report.interruption.map(|i| (i.kind, i.unexpected)), Some((TransientKind::Unavailable, None)));
    }

    #[test]
    fn the_profile_follows_the_tiktok_section() {
        let p = Tiktok.profile();
        assert!(p.short_lived && !p.reports_scopes && p.tokens_expire);
        assert_eq!(p.app_keys, AppKeys::ClientIdAndSecret);
        assert_eq!(p.scope_separator, ",");
        assert!(p.consent_url.starts_with("https://www.tiktok.com/v2/auth/authorize/?client_key={client_id}&scope={scopes}"));
        assert_eq!(p.default_scopes, ["user.info.basic", "video.upload", "video.publish"]);
    }
}
