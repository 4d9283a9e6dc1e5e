//! Google Business Profile accounts through Google OAuth (providers.md §3.9): GO1, then GB1
//! `GET /v1/accounts/{n}` when a role is required.

use async_trait::async_trait;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::google::{self, ApiOutcome};
use super::http::Answer;
use super::lifecycle::{CodeExchange, Lifecycle, RefreshOutcome, RevokeOutcome};
use super::{CheckInput, CheckReport, Interruption, Provider, ProviderHttp, ProviderProfile, RoleFinding, ScopeDenial};
use crate::api::{ProviderKind, RequiredRole};
use crate::conditions::RoleReason;
use crate::redact;

/// The Google Business Profile provider.
pub struct GoogleBusinessProfile;

const KIND: ProviderKind = ProviderKind::GoogleBusinessProfile;

/// Default host of the Account Management API.
const API_BASE: &str = "https://mybusinessaccountmanagement.googleapis.com";

/// The scope GB1 needs (GB-e names it `business.manage`; required scopes are full URLs).
const MANAGE_SCOPE: &str = "https://www.googleapis.com/auth/business.manage";

/// Characters kept as they are in the account path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

static PROFILE: ProviderProfile = google::profile(&[MANAGE_SCOPE]);

#[async_trait]
impl Provider for GoogleBusinessProfile {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn profile(&self) -> &'static ProviderProfile {
        &PROFILE
    }

    async fn check(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> CheckReport {
        let role_call = input.required_role.map(|_| {
            let number = utf8_percent_encode(account_number(input.account_id), SEGMENT);
            http.url(KIND, API_BASE, &format!("/v1/accounts/{number}"))
        });
        google::check(http, KIND, input, role_call, gb1_rows).await
    }

    fn lifecycle(&self) -> &'static Lifecycle {
        &google::LIFECYCLE
    }

    async fn exchange_code(&self, http: &ProviderHttp, x: &CodeExchange<'_>) -> RefreshOutcome {
        google::exchange_code(http, KIND, x).await
    }

    async fn refresh(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> RefreshOutcome {
        google::refresh(http, KIND, input).await
    }

    async fn revoke(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> RevokeOutcome {
        google::revoke(http, KIND, input).await
    }
}

/// The `<n>` of `spec.account.id`, written as `accounts/<n>` or `<n>`.
fn account_number(account_id: &str) -> &str {
    let id = account_id.trim();
    id.strip_prefix("accounts/").unwrap_or(id)
}

/// `spec.account.id` normalised to `accounts/<n>`.
pub fn normalise_account(account_id: &str) -> String {
    format!("accounts/{}", account_number(account_id))
}

/// Whether an account `role` satisfies `required` (providers.md §2.12).
pub fn role_qualifies(role: &str, required: RequiredRole) -> bool {
    match required {
        RequiredRole::Admin => matches!(role, "PRIMARY_OWNER" | "OWNER"),
        RequiredRole::Editor => matches!(role, "PRIMARY_OWNER" | "OWNER" | "MANAGER"),
        RequiredRole::Moderator | RequiredRole::Analyst => {
            matches!(role, "PRIMARY_OWNER" | "OWNER" | "MANAGER" | "SITE_MANAGER")
        }
    }
}

/// The GB table for a GB1 answer (GB-h = GO-c and 3xx/5xx are applied by [`google::check`]).
fn gb1_rows(answer: &Answer, json: Option<&Value>, input: &CheckInput<'_>) -> Option<ApiOutcome> {
    let account = normalise_account(input.account_id);
    let finding = |reason, message| Some(ApiOutcome::Role(RoleFinding { reason, message }));
    if answer.is_success() {
        let Some(body) = json.and_then(Value::as_object) else {
            return Some(ApiOutcome::Transient(Interruption::unavailable(format!(
                "Google Business Profile answered HTTP {} with a body that is not the expected JSON",
                answer.status
            ))));
        };
        let required = input.required_role?;
        return match body.get("role").and_then(Value::as_str) {
            // GB-a.
            Some(role) if role_qualifies(role, required) => {
                finding(RoleReason::RoleConfirmed, format!("the token's user is {} of {account}", redact::scrub(role, &[])))
            }
            // GB-b.
            Some(role) => finding(
                RoleReason::InsufficientRole,
                format!(
                    "the token's user is {} of {account}, which does not give the required role {}",
                    redact::scrub(role, &[]),
                    required.as_str()
                ),
            ),
            // GB-c.
            None => finding(
                RoleReason::RoleNotVerifiable,
                format!("Google did not return the token user's role on {account}, so it cannot be checked"),
            ),
        };
    }
    let reasons = google::error_reasons(json);
    let status = google::error_status(json);
    let message = redact::scrub(google::error_message(json).unwrap_or("no message"), &input.secrets());
    match answer.status {
        // GB-d.
        404 if status == Some("NOT_FOUND") => {
            finding(RoleReason::AccountNotFound, format!("{account} was not found or is not visible to the token's user: {message}"))
        }
        // GB-e.
        403 if reasons.contains(&"ACCESS_TOKEN_SCOPE_INSUFFICIENT") => {
            Some(ApiOutcome::ScopeDenied(ScopeDenial { scope: MANAGE_SCOPE.to_string(), message }))
        }
        // GB-f: unclassified, but say what it most likely means.
        403 if reasons.contains(&"SERVICE_DISABLED") => {
            let mut interruption = Interruption::unclassified("HTTP 403, reason SERVICE_DISABLED");
            interruption.detail.push_str(" (the My Business Account Management API is not enabled for the app's Google Cloud project)");
            Some(ApiOutcome::Transient(interruption))
        }
        // GB-g.
        403 if status == Some("PERMISSION_DENIED") => {
            finding(RoleReason::RoleRemoved, format!("the token's user has no access to {account}: {message}"))
        }
        // GB-i: GO-h, with the hint a quota of 0 deserves.
        _ => google::rate_limit(answer, json).map(|mut interruption| {
            interruption.detail = format!(
                "Google Business Profile API quota exhausted (HTTP {} RESOURCE_EXHAUSTED); a quota of 0 \
                 requests per minute means the Google Cloud project lacks Business Profile API approval",
                answer.status
            );
            ApiOutcome::Transient(interruption)
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::google::testing::*;
    use crate::providers::{TokenVerdict, TransientKind};
    use std::time::Duration;
    use wiremock::matchers::path;
    use wiremock::{Mock, ResponseTemplate};

    const GO1_GBP: &str = r#"{"aud":"cid","scope":"https://www.googleapis.com/auth/business.manage","expires_in":"3599"}"#;
    const GO_C: &str = r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#;
    const GB1: &str = r#"{"name":"accounts/123456789","accountName":"Example Bakery","type":"PERSONAL","role":"OWNER"}"#;
    const GB_D: &str = r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#;
    const GB_E: &str = r#"{"error":{"code":403,"message":"Insufficient scopes.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}"#;
    const GB_G: &str = r#"{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}"#;
    const GB_I: &str = r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#;

    /// The exact GB1 call for account 123456789, answered once.
    fn gb1(response: ResponseTemplate) -> Mock {
        bearer_get("/v1/accounts/123456789", &[]).respond_with(response).expect(1)
    }

    /// GO1 answers 200; GB1 answers `response`.
    async fn check_with_gb1(account: &str, role: RequiredRole, response: ResponseTemplate) -> CheckReport {
        let (_server, http) = fake("google-business-profile", vec![go1(answer(200, GO1_GBP)), gb1(response)]).await;
        let token = token();
        GoogleBusinessProfile.check(&http, &input(&token, account, Some(role))).await
    }

    async fn gb1_says(response: ResponseTemplate) -> CheckReport {
        check_with_gb1("accounts/123456789", RequiredRole::Admin, response).await
    }

    #[tokio::test]
    async fn without_a_required_role_only_tokeninfo_is_called() {
        let unused = Mock::given(path("/v1/accounts/123456789")).respond_with(answer(200, GB1)).expect(0);
        let (_server, http) = fake("google-business-profile", vec![go1(answer(200, GO1_GBP)), unused]).await;
        let token = token();
        let report = GoogleBusinessProfile.check(&http, &input(&token, "accounts/123456789", None)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.granted_scopes, Some(vec![MANAGE_SCOPE.to_string()]));
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn gb_a_a_qualifying_role_is_confirmed_for_both_account_id_forms() {
        for account in ["accounts/123456789", "123456789", " 123456789 "] {
            let report = check_with_gb1(account, RequiredRole::Admin, answer(200, GB1)).await;
            assert_eq!(report.token, Some(TokenVerdict::Valid));
            assert_eq!(role_of(&report), vec![RoleReason::RoleConfirmed], "{account}");
            assert!(report.role[0].message.contains("accounts/123456789"));
        }
    }

    #[tokio::test]
    async fn gb_b_a_lower_role_is_insufficient() {
        let report = gb1_says(answer(200, &GB1.replace("OWNER", "SITE_MANAGER"))).await;
        assert_eq!(role_of(&report), vec![RoleReason::InsufficientRole]);
        assert!(report.role[0].message.contains("SITE_MANAGER"));
    }

    #[tokio::test]
    async fn gb_c_an_answer_without_role_is_not_verifiable() {
        let report = gb1_says(answer(200, r#"{"name":"accounts/123456789","accountName":"Example Bakery","type":"PERSONAL"}"#)).await;
        assert_eq!(role_of(&report), vec![RoleReason::RoleNotVerifiable]);
        assert!(report.role[0].message.contains("did not return"));
    }

    #[tokio::test]
    async fn gb_d_not_found_is_account_not_found() {
        let report = gb1_says(answer(404, GB_D)).await;
        assert_eq!(role_of(&report), vec![RoleReason::AccountNotFound]);
        assert_eq!(report.token, Some(TokenVerdict::Valid));
    }

    #[tokio::test]
    async fn gb_e_insufficient_scope_names_business_manage() {
        let report = gb1_says(answer(403, GB_E)).await;
        assert_scope_denial_on_valid_token(&report, "https://www.googleapis.com/auth/business.manage", "Insufficient scopes.");
    }

    #[tokio::test]
    async fn gb_f_a_disabled_service_is_unclassified() {
        let report = gb1_says(answer(403, &GB_E.replace("ACCESS_TOKEN_SCOPE_INSUFFICIENT", "SERVICE_DISABLED"))).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert!(report.role.is_empty() && report.scope_denials.is_empty());
        let i = report.interruption.unwrap();
        assert_eq!(i.unexpected.as_deref(), Some("HTTP 403, reason SERVICE_DISABLED"));
        assert!(i.detail.contains("not enabled"));
    }

    #[tokio::test]
    async fn gb_g_other_permission_denials_are_role_removed() {
        let report = gb1_says(answer(403, GB_G)).await;
        assert_eq!(role_of(&report), vec![RoleReason::RoleRemoved]);
        assert!(report.role[0].message.contains("The caller does not have permission"));
    }

    #[tokio::test]
    async fn gb_h_a_401_is_go_c() {
        let report = gb1_says(answer(401, GO_C)).await;
        assert!(is_refresh_then_fallback(&report.token), "{:?}", report.token);
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn gb_i_resource_exhausted_is_a_rate_limit_that_mentions_api_approval() {
        let report = gb1_says(answer(429, GB_I).insert_header("retry-after", "60")).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::RateLimited);
        assert_eq!(i.retry_after, Some(Duration::from_secs(60)));
        assert!(i.detail.contains("quota of 0") && i.detail.contains("approval"), "{}", i.detail);
        assert_eq!(i.unexpected, None);
    }

    #[tokio::test]
    async fn other_answers_are_unclassified_with_status_and_code_only() {
        let report = gb1_says(answer(400, r#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#)).await;
        assert_eq!(report.interruption.unwrap().unexpected.as_deref(), Some("HTTP 400, status INVALID_ARGUMENT"));
    }

    #[test]
    fn account_ids_are_normalised_to_accounts_n() {
        assert_eq!(normalise_account("accounts/123"), "accounts/123");
        assert_eq!(normalise_account("123"), "accounts/123");
        assert_eq!(normalise_account(" 123 "), "accounts/123");
    }

    #[test]
    fn role_levels_follow_the_role_map() {
        use RequiredRole::*;
        // (role, admin, editor, moderator, analyst)
        let table = [
            ("PRIMARY_OWNER", true, true, true, true),
            ("OWNER", true, true, true, true),
            ("MANAGER", false, true, true, true),
            ("SITE_MANAGER", false, false, true, true),
            ("COMMUNITY_MANAGER", false, false, false, false),
            ("ROLE_UNSPECIFIED", false, false, false, false),
        ];
        for (role, admin, editor, moderator, analyst) in table {
            for (level, expected) in [(Admin, admin), (Editor, editor), (Moderator, moderator), (Analyst, analyst)] {
                assert_eq!(role_qualifies(role, level), expected, "{role} as {}", level.as_str());
            }
        }
    }

    #[test]
    fn the_profile_follows_the_contract() {
        let p = GoogleBusinessProfile.profile();
        assert!(p.short_lived && p.reports_scopes);
        assert_eq!(p.consent_url, google::CONSENT_URL);
        assert_eq!(p.default_scopes, ["https://www.googleapis.com/auth/business.manage"]);
    }
}
