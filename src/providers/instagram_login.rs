//! Instagram API with Instagram Login (providers.md §3.3): one probe, IL1 `/me` on
//! graph.instagram.com, that checks the token, the account's identity and its type.

use async_trait::async_trait;

use std::time::Duration;

use super::graph::Graph;
use super::lifecycle::{CodeExchange, Lifecycle, RefreshOutcome, Renewal};
use super::meta_tokens;
use super::oauth_errors::{code_at, identity_finding, str_at};
use super::{AppKeys, CheckInput, CheckReport, Provider, ProviderHttp, ProviderProfile, RoleFinding};
use crate::api::ProviderKind;
use crate::conditions::RoleReason;

/// The Instagram Login provider: an Instagram user token for a professional account.
pub struct InstagramLogin;

/// Default host (§3.3).
const BASE: &str = "https://graph.instagram.com";

static PROFILE: ProviderProfile = ProviderProfile {
    short_lived: false,
    app_keys: AppKeys::None,
    consent_url: "https://www.instagram.com/oauth/authorize?client_id={client_id}&redirect_uri={redirect_uri}&response_type=code&scope={scopes}&state={state}",
    scope_separator: ",",
    default_scopes: &["instagram_business_basic", "instagram_business_content_publish"],
    reports_scopes: false,
    tokens_expire: true,
};

#[async_trait]
impl Provider for InstagramLogin {
    fn kind(&self) -> ProviderKind {
        ProviderKind::InstagramLogin
    }

    fn profile(&self) -> &'static ProviderProfile {
        &PROFILE
    }

    async fn check(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> CheckReport {
        let acct = input.account_id.trim();
        let graph = Graph::new(http, ProviderKind::InstagramLogin, BASE, &http.graph_version, input);
        let mut report = CheckReport::default();
        let fields = "id,user_id,username,account_type";
        let Some((id, me)) = graph.probe(&mut report, "me", fields, "instagram_business_basic").await else { return report };
        // The professional account id is `user_id`; the app-scoped `id` is accepted too.
        let user_id = code_at(&me, "/user_id");
        let reported: Vec<&str> = user_id.iter().map(String::as_str).chain([id.as_str()]).collect();
        let identity = identity_finding("Instagram", acct, &reported);
        let finding = if identity.reason == RoleReason::AccountMismatch {
            identity
        } else {
            match str_at(&me, "/account_type") {
                Some("BUSINESS" | "MEDIA_CREATOR") => identity,
                other => RoleFinding {
                    reason: RoleReason::NotProfessionalAccount,
                    message: format!(
                        "the Instagram account is not a professional account (account type {})",
                        other.unwrap_or("not reported")
                    ),
                },
            }
        };
        report.role.push(finding);
        report
    }

    fn lifecycle(&self) -> &'static Lifecycle {
        &LIFECYCLE
    }

    async fn exchange_code(&self, http: &ProviderHttp, x: &CodeExchange<'_>) -> RefreshOutcome {
        meta_tokens::exchange_code_long_lived(http, KIND_SELF, ("https://api.instagram.com", BASE), "ig_exchange_token", x).await
    }

    async fn refresh(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> RefreshOutcome {
        meta_tokens::refresh_long_lived(http, KIND_SELF, BASE, GRANT, input).await
    }
}

const KIND_SELF: ProviderKind = ProviderKind::InstagramLogin;
/// IL2's grant type.
const GRANT: &str = "ig_refresh_token";

/// Refresh IL2 after a valid probe (lead 10 d), for tokens at least 24 h old holding
/// `instagram_business_basic` (§3.3). No revoke.
static LIFECYCLE: Lifecycle = Lifecycle {
    renewal: Renewal::LongLived { scope: "instagram_business_basic" },
    lead: Duration::from_secs(10 * 24 * 3600),
    revokes: false,
};

#[cfg(test)]
mod tests {
    use wiremock::MockBuilder;
    use wiremock::matchers::query_param;

    use super::*;
    use crate::api::RequiredRole;
    use crate::conditions::RevokedReason;
    use crate::providers::graph::fixtures::*;
    use crate::providers::{TokenVerdict, TransientKind};

    const ACCT: &str = "17841400000000001";
    const IL1: &str = r#"{"id":"9001","user_id":"17841400000000001","account_type":"MEDIA_CREATOR"}"#;
    const IL_C: &str = r#"{"id":"9001","user_id":"17841400000000001","account_type":"PERSONAL"}"#;

    fn il1() -> MockBuilder {
        get_with_token("/v24.0/me").and(query_param("fields", "id,user_id,username,account_type"))
    }

    async fn answering(template: wiremock::ResponseTemplate, fx: &Case) -> CheckReport {
        let (server, http) = fake(ProviderKind::InstagramLogin).await;
        il1().respond_with(template).expect(1).mount(&server).await;
        InstagramLogin.check(&http, &fx.input()).await
    }

    #[tokio::test]
    async fn il_a_professional_account_matching_user_id_confirms_the_identity() {
        let report = answering(answer(200, IL1), &Case::new(ACCT)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::IdentityConfirmed]);
        assert_eq!(report.granted_scopes, None, "scopes come from the Secret");
    }

    #[tokio::test]
    async fn il_a_business_account_matching_id_confirms_the_identity_for_any_role() {
        let body = IL1.replace("MEDIA_CREATOR", "BUSINESS");
        let report = answering(answer(200, &body), &Case::new("9001").with_role(RequiredRole::Admin)).await;
        assert_eq!(reasons(&report), vec![RoleReason::IdentityConfirmed]);
    }

    #[tokio::test]
    async fn il_b_no_matching_id_is_an_account_mismatch_on_a_valid_token() {
        let report = answering(answer(200, IL1), &Case::new("17841499999999999")).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::AccountMismatch]);
    }

    #[tokio::test]
    async fn il_c_personal_account_is_not_professional_on_a_valid_token() {
        let report = answering(answer(200, IL_C), &Case::new(ACCT)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::NotProfessionalAccount]);
    }

    #[tokio::test]
    async fn il_d_expired_session_is_expired() {
        let report = answering(graph_error("G6"), &Case::new(ACCT)).await;
        assert!(matches!(report.token, Some(TokenVerdict::Expired { .. })), "{report:?}");
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn il_d_password_change_is_revoked() {
        let report = answering(graph_error("G1"), &Case::new(ACCT)).await;
        assert!(matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::PasswordChanged, .. })));
    }

    #[tokio::test]
    async fn il_d_rate_limit_is_transient_with_the_buc_delay() {
        let template = graph_error("G13").insert_header("X-Business-Use-Case-Usage", buc("instagram"));
        let report = answering(template, &Case::new(ACCT)).await;
        assert!(report.token.is_none());
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::RateLimited);
        assert_eq!(i.retry_after, Some(std::time::Duration::from_secs(300)));
    }

    #[tokio::test]
    async fn il_d_a_non_json_200_is_transient() {
        let report = answering(wiremock::ResponseTemplate::new(200).set_body_string("not json"), &Case::new(ACCT)).await;
        assert!(report.token.is_none());
        assert_eq!(report.interruption.map(|i| i.kind), Some(TransientKind::Unavailable));
    }

    #[test]
    fn the_profile_fills_only_the_consent_url_from_app_credentials() {
        let p = InstagramLogin.profile();
        assert_eq!(p.app_keys, AppKeys::None);
        assert!(p.consent_url.starts_with("https://www.instagram.com/oauth/authorize?client_id={client_id}"));
        assert_eq!(p.default_scopes.join(p.scope_separator), "instagram_business_basic,instagram_business_content_publish");
        assert!(!p.reports_scopes && p.tokens_expire && !p.short_lived);
    }
}
