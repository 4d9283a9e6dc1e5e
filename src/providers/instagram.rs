//! Instagram API with Facebook Login (providers.md §3.2): a Facebook USER or PAGE token for an
//! Instagram professional account linked to a Page. IG1 is facebook's `debug_token`, IG2 reads
//! the account, IG3 reads the tasks on the Page the account is linked to.

use async_trait::async_trait;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::graph::{self, Effect, FACEBOOK_BASE, Graph, GraphError, TokenType};
use super::lifecycle::{CodeExchange, Lifecycle, RefreshOutcome, RevokeOutcome};
use super::meta_tokens;
use super::oauth_errors::{code_at, identity_finding};
use super::{AppKeys, CheckInput, CheckReport, Provider, ProviderHttp, ProviderProfile, RoleFinding};
use crate::api::ProviderKind;
use crate::conditions::RoleReason;
use crate::redact::scrub;

/// The Instagram provider (Instagram API with Facebook Login).
pub struct Instagram;

static PROFILE: ProviderProfile = ProviderProfile {
    short_lived: false,
    app_keys: AppKeys::ClientIdAndSecret,
    consent_url: "https://www.facebook.com/{ver}/dialog/oauth?client_id={client_id}&redirect_uri={redirect_uri}&state={state}&response_type=code&scope={scopes}",
    scope_separator: ",",
    default_scopes: &["instagram_basic", "instagram_content_publish", "pages_show_list", "pages_read_engagement"],
    reports_scopes: true,
    tokens_expire: true,
};

/// The scopes IG2 needs (G10 names them when the message does not).
const IG2_SCOPES: &str = "instagram_basic, pages_read_engagement";

/// IG-d: a Graph error saying the account is not professional, checked before the G table.
fn not_professional(error: &GraphError, input: &CheckInput<'_>) -> Option<Effect> {
    error.message.contains("not an Instagram Business").then(|| {
        Effect::Finding(RoleFinding {
            reason: RoleReason::NotProfessionalAccount,
            message: format!(
                "the Instagram account is not a professional (business or creator) account: {}",
                scrub(&error.message, &input.secrets())
            ),
        })
    })
}

/// Whether a `/me/accounts` entry is the Page linked to the Instagram account.
fn links(page: &Value, acct: &str) -> bool {
    code_at(page, "/instagram_business_account/id").as_deref() == Some(acct)
}

#[async_trait]
impl Provider for Instagram {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Instagram
    }

    fn profile(&self) -> &'static ProviderProfile {
        &PROFILE
    }

    async fn check(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> CheckReport {
        let acct = input.account_id.trim();
        let graph = Graph::new(http, ProviderKind::Instagram, FACEBOOK_BASE, &http.graph_version, input).with_pre_check(not_professional);
        let mut report = CheckReport::default();
        // IG1 (FB1), with app credentials. Granular `instagram_*` grants target Instagram
        // accounts, the others target Pages: until IG3 names the linked Page those are kept.
        let mut info = None;
        if let Some(app_token) = graph::app_token(input) {
            let Some(i) = graph.debug_token(&mut report, &app_token).await else { return report };
            report.granted_scopes = Some(i.granted(|scope, targets| covers(scope, targets, acct, None)));
            report.token_type = Some(i.token_type);
            info = Some(i);
        }
        // IG2, always.
        let path = utf8_percent_encode(acct, NON_ALPHANUMERIC).to_string();
        let Some((id, _)) = graph.probe(&mut report, &path, "id,username", IG2_SCOPES).await else { return report };
        if id != acct {
            report.role.push(identity_finding("Instagram", acct, &[&id]));
        }
        // IG3, when a role is required.
        let Some(role) = input.required_role else { return report };
        match info.as_ref().map(|i| i.token_type) {
            None => report.role.push(RoleFinding {
                reason: RoleReason::RoleNotVerifiable,
                message: "without app credentials the token type, and so the Page tasks, cannot be read".to_string(),
            }),
            Some(TokenType::Page) => report.role.push(graph::page_token_role()),
            Some(TokenType::User) => {
                let granted = report.granted_scopes.clone();
                let fields = "id,tasks,instagram_business_account";
                let page = graph.page_role(&mut report, role, granted.as_deref(), fields, |p| links(p, acct)).await;
                if let (Some(info), Some(page_id)) = (&info, page.as_ref().and_then(|p| code_at(p, "/id"))) {
                    report.granted_scopes = Some(info.granted(|scope, targets| covers(scope, targets, acct, Some(&page_id))));
                }
            }
        }
        report
    }

    fn lifecycle(&self) -> &'static Lifecycle {
        &meta_tokens::EXCHANGE_LIFECYCLE
    }

    async fn exchange_code(&self, http: &ProviderHttp, x: &CodeExchange<'_>) -> RefreshOutcome {
        meta_tokens::exchange_code(http, KIND_SELF, x).await
    }

    async fn refresh(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> RefreshOutcome {
        meta_tokens::exchange(http, KIND_SELF, input).await
    }

    async fn revoke(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> RevokeOutcome {
        meta_tokens::revoke(http, KIND_SELF, input).await
    }
}

const KIND_SELF: ProviderKind = ProviderKind::Instagram;

/// Whether a granular grant's `target_ids` cover the connection: `instagram_*` scopes must
/// target the Instagram account, the others the linked Page (kept while it is unknown).
fn covers(scope: &str, targets: &[String], acct: &str, page: Option<&str>) -> bool {
    let wanted = if scope.starts_with("instagram_") { Some(acct) } else { page };
    wanted.is_none_or(|w| targets.iter().any(|t| t == w))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wiremock::matchers::{query_param, query_param_is_missing};
    use wiremock::{MockBuilder, MockServer};

    use super::*;
    use crate::api::RequiredRole;
    use crate::conditions::RevokedReason;
    use crate::providers::graph::fixtures::*;
    use crate::providers::{ScopeDenial, TokenVerdict, TransientKind};

    const IG: &str = "17841400000000000";
    const FB1_USER: &str = r#"{"data":{"type":"USER","is_valid":true,"expires_at":1893456000,"data_access_expires_at":1893456000,"scopes":["pages_show_list","pages_read_engagement","instagram_basic"],"granular_scopes":[{"scope":"pages_read_engagement","target_ids":["2002"]},{"scope":"instagram_basic","target_ids":["17841400000000000"]}],"user_id":"3003"}}"#;
    const IG2: &str = r#"{"id":"17841400000000000","username":"example.shop"}"#;
    const IG3: &str = r#"{"data":[{"id":"2002","tasks":["CREATE_CONTENT","MODERATE","ANALYZE"],"instagram_business_account":{"id":"17841400000000000"}}]}"#;
    const IG_D: &str = r#"{"error":{"message":"The user is not an Instagram Business","type":"OAuthException","code":10}}"#;

    fn ig2() -> MockBuilder {
        get_with_token(&format!("/v24.0/{IG}")).and(query_param("fields", "id,username"))
    }

    fn ig3() -> MockBuilder {
        get_with_token("/v24.0/me/accounts")
            .and(query_param("fields", "id,tasks,instagram_business_account"))
            .and(query_param("limit", "100"))
    }

    async fn fake_with(fb1_body: Option<&str>) -> (MockServer, ProviderHttp) {
        let (server, http) = fake(ProviderKind::Instagram).await;
        if let Some(body) = fb1_body {
            fb1().respond_with(answer(200, body)).expect(1).mount(&server).await;
        }
        (server, http)
    }

    async fn check(http: &ProviderHttp, fx: &Case) -> CheckReport {
        Instagram.check(http, &fx.input()).await
    }

    #[tokio::test]
    async fn ig_a_ig1_is_facebooks_debug_token() {
        let (server, http) = fake_with(Some(&FB1_USER.replace(r#""is_valid":true"#, r#""is_valid":false"#))).await;
        ig2().respond_with(answer(200, IG2)).expect(0).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_app()).await;
        assert!(matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, .. })), "{report:?}");
    }

    #[tokio::test]
    async fn ig_a_granular_scopes_target_the_instagram_account_and_its_page() {
        let (server, http) = fake_with(Some(FB1_USER)).await;
        ig2().respond_with(answer(200, IG2)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_app()).await;
        let all = ["pages_show_list", "pages_read_engagement", "instagram_basic"].map(String::from).to_vec();
        assert_eq!(report.granted_scopes, Some(all), "Page grants are kept while the linked Page is unknown");
        let (server, http) = fake_with(Some(&FB1_USER.replace(r#"["17841400000000000"]"#, r#"["17841499999999999"]"#))).await;
        ig2().respond_with(answer(200, IG2)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_app()).await;
        assert_eq!(report.granted_scopes, Some(["pages_show_list", "pages_read_engagement"].map(String::from).to_vec()));
    }

    #[tokio::test]
    async fn ig_a_page_grants_for_another_page_than_the_linked_one_are_not_granted() {
        let (server, http) = fake_with(Some(&FB1_USER.replace(r#"["2002"]"#, r#"["2999"]"#))).await;
        ig2().respond_with(answer(200, IG2)).expect(1).mount(&server).await;
        ig3().respond_with(answer(200, IG3)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_app().with_role(RequiredRole::Editor)).await;
        assert_eq!(report.granted_scopes, Some(["pages_show_list", "instagram_basic"].map(String::from).to_vec()));
    }

    #[tokio::test]
    async fn ig_b_the_account_answering_with_its_id_is_valid() {
        let (server, http) = fake_with(Some(FB1_USER)).await;
        ig2().respond_with(answer(200, IG2)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_app()).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.account_name.as_deref(), Some("example.shop"));
        assert!(report.role.is_empty());
        assert!(report.interruption.is_none());
    }

    #[tokio::test]
    async fn ig_b_without_app_credentials_ig2_is_the_probe_and_a_role_is_not_verifiable() {
        let (server, http) = fake_with(None).await;
        ig2().respond_with(answer(200, IG2)).expect(1).mount(&server).await;
        ig3().respond_with(answer(200, IG3)).expect(0).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_role(RequiredRole::Admin)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.granted_scopes, None);
        assert_eq!(reasons(&report), vec![RoleReason::RoleNotVerifiable]);
    }

    #[tokio::test]
    async fn ig_c_another_id_is_an_account_mismatch() {
        let (server, http) = fake_with(None).await;
        ig2().respond_with(answer(200, &IG2.replace(IG, "17841499999999999"))).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::AccountMismatch]);
    }

    #[tokio::test]
    async fn ig_d_a_personal_account_is_not_professional_before_the_g_table() {
        let (server, http) = fake_with(None).await;
        ig2().respond_with(answer(400, IG_D)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::NotProfessionalAccount]);
        assert!(report.scope_denials.is_empty(), "code 10 would be G10 without IG-d");
    }

    #[tokio::test]
    async fn ig_e_linked_page_with_the_required_task_confirms_the_role() {
        let (server, http) = fake_with(Some(FB1_USER)).await;
        ig2().respond_with(answer(200, IG2)).expect(1).mount(&server).await;
        ig3().and(query_param_is_missing("after")).respond_with(answer(200, IG3)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_app().with_role(RequiredRole::Editor)).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleConfirmed]);
    }

    #[tokio::test]
    async fn ig_e_linked_page_without_the_required_task_is_insufficient_role() {
        let (server, http) = fake_with(Some(FB1_USER)).await;
        ig2().respond_with(answer(200, IG2)).expect(1).mount(&server).await;
        ig3().respond_with(answer(200, IG3)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(reasons(&report), vec![RoleReason::InsufficientRole]);
    }

    #[tokio::test]
    async fn ig_e_no_page_linked_to_the_account_is_role_removed() {
        let (server, http) = fake_with(Some(FB1_USER)).await;
        ig2().respond_with(answer(200, IG2)).expect(1).mount(&server).await;
        ig3().respond_with(answer(200, &IG3.replace(IG, "17841499999999999"))).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_app().with_role(RequiredRole::Analyst)).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleRemoved]);
    }

    #[tokio::test]
    async fn ig_e_pages_on_with_the_after_cursor() {
        let (server, http) = fake_with(Some(FB1_USER)).await;
        ig2().respond_with(answer(200, IG2)).expect(1).mount(&server).await;
        let first =
            r#"{"data":[{"id":"9","tasks":["MANAGE"]}],"paging":{"cursors":{"after":"QR"},"next":"https://elsewhere.example/next"}}"#;
        ig3().and(query_param_is_missing("after")).respond_with(answer(200, first)).expect(1).mount(&server).await;
        ig3().and(query_param("after", "QR")).respond_with(answer(200, IG3)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_app().with_role(RequiredRole::Moderator)).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleConfirmed]);
    }

    #[tokio::test]
    async fn ig_e_is_skipped_with_a_scope_denial_when_ig1_lacks_pages_show_list() {
        let (server, http) = fake_with(Some(&FB1_USER.replace(r#""pages_show_list","#, ""))).await;
        ig2().respond_with(answer(200, IG2)).expect(1).mount(&server).await;
        ig3().respond_with(answer(200, IG3)).expect(0).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(report.scope_denials.iter().map(|d| d.scope.as_str()).collect::<Vec<_>>(), vec!["pages_show_list"]);
    }

    #[tokio::test]
    async fn ig_e_page_tokens_with_a_required_role_are_not_verifiable() {
        let (server, http) = fake_with(Some(FB1_PAGE)).await;
        ig2().respond_with(answer(200, IG2)).expect(1).mount(&server).await;
        ig3().respond_with(answer(200, IG3)).expect(0).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleNotVerifiable]);
    }

    #[tokio::test]
    async fn ig_f_missing_account_is_account_not_found() {
        let (server, http) = fake_with(None).await;
        ig2().respond_with(graph_error("G11")).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG)).await;
        assert_eq!(reasons(&report), vec![RoleReason::AccountNotFound]);
    }

    #[tokio::test]
    async fn ig_f_missing_permission_on_ig2_keeps_the_token_valid_with_a_scope_denial() {
        let (server, http) = fake_with(None).await;
        let body =
            r#"{"error":{"message":"(#10) Application does not have permission for this action","type":"OAuthException","code":10}}"#;
        ig2().respond_with(answer(400, body)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(
            report.scope_denials,
            vec![ScopeDenial {
                scope: "instagram_basic, pages_read_engagement".into(),
                message: "(#10) Application does not have permission for this action".into()
            }]
        );
    }

    #[tokio::test]
    async fn ig_f_other_graph_errors_follow_the_g_table() {
        let (server, http) = fake_with(None).await;
        ig2().respond_with(graph_error("G2")).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG)).await;
        assert!(matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::AppDeauthorized, .. })));
    }

    #[tokio::test]
    async fn ig_f_rate_limit_waits_for_the_instagram_buc_estimate() {
        let (server, http) = fake_with(Some(FB1_USER)).await;
        ig2().respond_with(graph_error("G13").insert_header("X-Business-Use-Case-Usage", buc("instagram"))).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(IG).with_app()).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid), "IG1 decided the token");
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::RateLimited);
        assert_eq!(i.retry_after, Some(Duration::from_secs(300)));
    }

    #[test]
    fn the_profile_uses_facebooks_consent_url_with_instagram_scopes() {
        let p = Instagram.profile();
        assert_eq!(p.consent_url, crate::providers::facebook::Facebook.profile().consent_url);
        assert_eq!(p.app_keys, AppKeys::ClientIdAndSecret);
        assert_eq!(
            p.default_scopes.join(p.scope_separator),
            "instagram_basic,instagram_content_publish,pages_show_list,pages_read_engagement"
        );
        assert!(p.reports_scopes);
    }
}
