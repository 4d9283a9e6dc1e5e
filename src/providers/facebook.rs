//! Facebook Pages (providers.md §3.1): FB1 `debug_token` when app credentials exist, FB2
//! `/me` for Page tokens and tokens checked without app credentials, FB3 `/me/accounts` for
//! the Page role. Errors follow the Graph family rules in [`super::graph`].

use async_trait::async_trait;

use super::graph::{self, FACEBOOK_BASE, Graph, TokenType};
use super::lifecycle::{CodeExchange, Lifecycle, RefreshOutcome, RevokeOutcome};
use super::meta_tokens;
use super::oauth_errors::{code_at, identity_finding};
use super::{AppKeys, CheckInput, CheckReport, Provider, ProviderHttp, ProviderProfile};
use crate::api::ProviderKind;

/// The Facebook provider: long-lived USER or PAGE tokens for a Facebook Page.
pub struct Facebook;

static PROFILE: ProviderProfile = ProviderProfile {
    short_lived: false,
    app_keys: AppKeys::ClientIdAndSecret,
    consent_url: "https://www.facebook.com/{ver}/dialog/oauth?client_id={client_id}&redirect_uri={redirect_uri}&state={state}&response_type=code&scope={scopes}",
    scope_separator: ",",
    default_scopes: &["pages_show_list", "pages_read_engagement", "pages_manage_posts"],
    reports_scopes: true,
    tokens_expire: true,
};

#[async_trait]
impl Provider for Facebook {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Facebook
    }

    fn profile(&self) -> &'static ProviderProfile {
        &PROFILE
    }

    async fn check(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> CheckReport {
        let acct = input.account_id.trim();
        let graph = Graph::new(http, ProviderKind::Facebook, FACEBOOK_BASE, &http.graph_version, input);
        let mut report = CheckReport::default();
        // FB1, with app credentials.
        let mut token_type = None;
        if let Some(app_token) = graph::app_token(input) {
            let Some(info) = graph.debug_token(&mut report, &app_token).await else { return report };
            report.granted_scopes = Some(info.granted(|_, targets| targets.iter().any(|t| t == acct)));
            token_type = Some(info.token_type);
            report.token_type = token_type;
        }
        // FB2: without FB1 a liveness probe whose id tells the type; for PAGE tokens an
        // identity check (FB-b, FB-c, FB-d).
        if token_type != Some(TokenType::User) {
            let Some((id, _)) = graph.probe(&mut report, "me", "id,name", "public_profile").await else { return report };
            match token_type {
                Some(TokenType::Page) if id != acct => report.role.push(identity_finding("Facebook", acct, &[&id])),
                Some(_) => {}
                None => {
                    token_type = Some(if id == acct { TokenType::Page } else { TokenType::User });
                    report.token_type = token_type;
                }
            }
        }
        // FB3, when a role is required.
        if let Some(role) = input.required_role {
            if token_type == Some(TokenType::Page) {
                report.role.push(graph::page_token_role());
            } else {
                let granted = report.granted_scopes.clone();
                let is_page = |p: &serde_json::Value| code_at(p, "/id").as_deref() == Some(acct);
                graph.page_role(&mut report, role, granted.as_deref(), "id,name,tasks", is_page).await;
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

const KIND_SELF: ProviderKind = ProviderKind::Facebook;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use jiff::Timestamp;
    use wiremock::matchers::{query_param, query_param_is_missing};

    use super::*;
    use crate::api::RequiredRole;
    use crate::conditions::{RevokedReason, RoleReason};
    use crate::providers::graph::fixtures::*;
    use crate::providers::{ExpiryFact, ScopeDenial, TokenVerdict, TransientKind};

    const PAGE: &str = "2002";
    const FB1_USER: &str = r#"{"data":{"type":"USER","is_valid":true,"expires_at":1893456000,"data_access_expires_at":1893456000,"scopes":["pages_show_list","pages_manage_posts"],"granular_scopes":[{"scope":"pages_manage_posts","target_ids":["2002"]}],"user_id":"3003"}}"#;
    const D1: &str = r#"{"error":{"message":"Invalid OAuth access token signature.","type":"OAuthException","code":190}}"#;
    const D4: &str = r#"{"data":{"type":"USER","is_valid":false,"expires_at":1893456000,"scopes":[],"error":{"code":190,"subcode":460,"message":"password changed"}}}"#;
    const D5: &str = r#"{"data":{"type":"USER","is_valid":false,"expires_at":1600000000,"scopes":[]}}"#;
    const D6: &str = r#"{"data":{"type":"APP","is_valid":true,"scopes":[]}}"#;
    const FB2: &str = r#"{"id":"2002","name":"Example Page"}"#;
    const FB3: &str = r#"{"data":[{"id":"2002","name":"Example Page","tasks":["ANALYZE","ADVERTISE","MODERATE","CREATE_CONTENT","MANAGE"]}],"paging":{"cursors":{"before":"QQ","after":"QR"}}}"#;

    /// Runs the check of `fx` against the fake behind `http`.
    async fn check(http: &ProviderHttp, fx: &Case) -> CheckReport {
        Facebook.check(http, &fx.input()).await
    }

    fn fb2() -> wiremock::MockBuilder {
        get_with_token("/v24.0/me").and(query_param("fields", "id,name"))
    }

    fn fb3() -> wiremock::MockBuilder {
        get_with_token("/v24.0/me/accounts").and(query_param("fields", "id,name,tasks")).and(query_param("limit", "100"))
    }

    /// A fake whose FB1 answers `status` and `body`.
    async fn with_fb1_status(status: u16, body: &str) -> (wiremock::MockServer, ProviderHttp) {
        let (server, http) = fake(ProviderKind::Facebook).await;
        fb1().respond_with(answer(status, body)).expect(1).mount(&server).await;
        (server, http)
    }

    async fn with_fb1(body: &str) -> (wiremock::MockServer, ProviderHttp) {
        with_fb1_status(200, body).await
    }

    /// The report of a check with app credentials whose FB1 answers `status` and `body`.
    async fn after_fb1(status: u16, body: &str) -> CheckReport {
        let (_server, http) = with_fb1_status(status, body).await;
        check(&http, &Case::new(PAGE).with_app()).await
    }

    #[tokio::test]
    async fn fb_a_d3_valid_user_token_reports_expiry_data_access_and_scopes() {
        let report = after_fb1(200, FB1_USER).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.expiry, ExpiryFact::At(Timestamp::from_second(1893456000).unwrap()));
        assert_eq!(report.data_access_expires_at, Some(Timestamp::from_second(1893456000).unwrap()));
        assert_eq!(report.granted_scopes, Some(vec!["pages_show_list".to_string(), "pages_manage_posts".to_string()]));
        assert!(report.role.is_empty(), "no role required, no role call");
        assert!(report.interruption.is_none());
    }

    #[tokio::test]
    async fn fb_a_d3_reads_issued_at_when_present() {
        let body = r#"{"data":{"type":"USER","is_valid":true,"expires_at":1893456000,"issued_at":1780000000,"scopes":[]}}"#;
        let report = after_fb1(200, body).await;
        assert_eq!(report.issued_at, Some(Timestamp::from_second(1780000000).unwrap()));
        assert_eq!(report.data_access_expires_at, None);
    }

    #[tokio::test]
    async fn fb_a_granular_scopes_for_other_pages_count_as_not_granted() {
        let (_server, http) = with_fb1(FB1_USER).await;
        let report = check(&http, &Case::new("4004").with_app()).await;
        assert_eq!(report.granted_scopes, Some(vec!["pages_show_list".to_string()]));
    }

    #[tokio::test]
    async fn fb_a_d1_rejected_app_token_is_invalid_secret() {
        let report = after_fb1(400, D1).await;
        assert!(
            matches!(report.token, Some(TokenVerdict::InvalidSecret { ref message }) if message.contains("client credentials rejected"))
        );
        let report = after_fb1(400, r#"{"error":{"message":"Invalid appsecret","type":"OAuthException","code":100}}"#).await;
        assert!(matches!(report.token, Some(TokenVerdict::InvalidSecret { .. })), "{report:?}");
    }

    #[tokio::test]
    async fn fb_a_d2_throttled_app_token_is_transient() {
        for (id, kind) in [("G12", TransientKind::Unavailable), ("G13", TransientKind::RateLimited), ("G14", TransientKind::RateLimited)] {
            let report = after_fb1(400, g(id)).await;
            assert!(report.token.is_none(), "{id}");
            assert_eq!(report.interruption.map(|i| i.kind), Some(kind), "{id}");
        }
    }

    #[tokio::test]
    async fn fb_a_other_top_level_debug_token_errors_are_unclassified() {
        let report = after_fb1(400, g("G5").replace("190", "12").as_str()).await;
        assert_eq!(report.interruption.and_then(|i| i.unexpected).as_deref(), Some("HTTP 400, code 12"));
    }

    #[tokio::test]
    async fn fb_a_d4_error_inside_data_follows_the_g_table() {
        let (_server, http) = with_fb1(D4).await;
        let report = check(&http, &Case::new(PAGE).with_app().with_role(RequiredRole::Admin)).await;
        assert!(matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::PasswordChanged, .. })), "{report:?}");
        assert_eq!(report.granted_scopes, None, "D4 scopes are ignored");
        assert_eq!(report.expiry, ExpiryFact::NotReported);
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn fb_a_d4_every_g1_to_g8_subcode_maps_like_the_g_table() {
        let cases = [
            (460, Some(RevokedReason::PasswordChanged)),
            (458, Some(RevokedReason::AppDeauthorized)),
            (459, Some(RevokedReason::AccountCheckpointed)),
            (464, Some(RevokedReason::AccountUnconfirmed)),
            (467, Some(RevokedReason::TokenInvalidated)),
            (463, None),
        ];
        for (subcode, reason) in cases {
            let body = D4.replace("460", &subcode.to_string());
            let token = after_fb1(200, &body).await.token;
            match reason {
                Some(r) => assert!(matches!(token, Some(TokenVerdict::Revoked { reason, .. }) if reason == r), "{subcode}: {token:?}"),
                None => assert!(matches!(token, Some(TokenVerdict::Expired { .. })), "{subcode}: {token:?}"),
            }
        }
        let token = after_fb1(200, &D4.replace(r#""subcode":460,"#, "")).await.token;
        assert!(matches!(token, Some(TokenVerdict::ExpiryFallback { .. })), "{token:?}");
        let report = after_fb1(200, &D4.replace("460", "492")).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::RoleRemoved]);
    }

    #[tokio::test]
    async fn fb_a_d5_invalid_token_past_its_expiry_is_expired() {
        let report = after_fb1(200, D5).await;
        assert!(matches!(report.token, Some(TokenVerdict::Expired { .. })), "{report:?}");
    }

    #[tokio::test]
    async fn fb_a_d5_invalid_token_without_passed_expiry_is_invalidated() {
        for expires in ["0", "1893456000"] {
            let report = after_fb1(200, &D5.replace("1600000000", expires)).await;
            assert!(
                matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, .. })),
                "{expires}: {report:?}"
            );
        }
    }

    #[tokio::test]
    async fn fb_a_d6_app_token_in_the_token_secret_is_invalid_secret() {
        let report = after_fb1(200, D6).await;
        assert!(matches!(report.token, Some(TokenVerdict::InvalidSecret { .. })), "{report:?}");
    }

    #[tokio::test]
    async fn fb_a_a_non_json_debug_token_answer_is_transient() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        fb1().respond_with(wiremock::ResponseTemplate::new(200).set_body_string("ok")).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app()).await;
        assert_eq!(report.interruption.map(|i| i.kind), Some(TransientKind::Unavailable));
        assert!(report.token.is_none());
    }

    #[tokio::test]
    async fn fb_b_page_token_whose_id_is_the_page_is_valid_and_never_expires() {
        let (server, http) = with_fb1(FB1_PAGE).await;
        fb2().respond_with(answer(200, FB2)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app()).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.expiry, ExpiryFact::Never);
        assert_eq!(report.data_access_expires_at, None);
        assert_eq!(report.account_name.as_deref(), Some("Example Page"));
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn fb_b_without_app_credentials_the_page_id_makes_a_page_token() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        fb2().respond_with(answer(200, FB2)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_role(RequiredRole::Editor)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.granted_scopes, None, "scopes come from the Secret");
        assert_eq!(report.expiry, ExpiryFact::NotReported);
        assert_eq!(reasons(&report), vec![RoleReason::RoleNotVerifiable]);
    }

    #[tokio::test]
    async fn fb_c_page_token_of_another_page_is_an_account_mismatch() {
        let (server, http) = with_fb1(FB1_PAGE).await;
        fb2().respond_with(answer(200, &FB2.replace("2002", "2999"))).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app()).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::AccountMismatch]);
    }

    #[tokio::test]
    async fn fb_d_without_app_credentials_another_id_is_a_valid_user_token() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        fb2().respond_with(answer(200, r#"{"id":"3003","name":"Example User"}"#)).expect(1).mount(&server).await;
        fb3().respond_with(answer(200, FB3)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_role(RequiredRole::Admin)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::RoleConfirmed], "USER tokens get FB3");
    }

    #[tokio::test]
    async fn fb_d_without_a_required_role_no_role_call_is_made() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        fb2().respond_with(answer(200, r#"{"id":"3003"}"#)).expect(1).mount(&server).await;
        fb3().respond_with(answer(200, FB3)).expect(0).mount(&server).await;
        let report = check(&http, &Case::new(PAGE)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn fb_e_page_with_the_required_task_confirms_the_role() {
        let (server, http) = with_fb1(FB1_USER).await;
        fb3().and(query_param_is_missing("after")).respond_with(answer(200, FB3)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::RoleConfirmed]);
    }

    #[tokio::test]
    async fn fb_f_page_without_the_required_task_is_insufficient_role() {
        let (server, http) = with_fb1(FB1_USER).await;
        let body = r#"{"data":[{"id":"2002","name":"Example Page","tasks":["ANALYZE"]}]}"#;
        fb3().respond_with(answer(200, body)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app().with_role(RequiredRole::Moderator)).await;
        assert_eq!(reasons(&report), vec![RoleReason::InsufficientRole]);
    }

    #[tokio::test]
    async fn fb_g_page_absent_from_the_users_pages_is_role_removed() {
        let (server, http) = with_fb1(FB1_USER).await;
        fb3().respond_with(answer(200, &FB3.replace("2002", "2999"))).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app().with_role(RequiredRole::Analyst)).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleRemoved]);
    }

    #[tokio::test]
    async fn fb3_pages_on_with_the_after_cursor_until_the_page_appears() {
        let (server, http) = with_fb1(FB1_USER).await;
        let first =
            r#"{"data":[{"id":"9","tasks":["MANAGE"]}],"paging":{"cursors":{"after":"QR"},"next":"https://elsewhere.example/next"}}"#;
        fb3().and(query_param_is_missing("after")).respond_with(answer(200, first)).expect(1).mount(&server).await;
        let second = r#"{"data":[{"id":"2002","tasks":["CREATE_CONTENT"]}],"paging":{"cursors":{"after":"QS"}}}"#;
        fb3().and(query_param("after", "QR")).respond_with(answer(200, second)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app().with_role(RequiredRole::Editor)).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleConfirmed]);
    }

    #[tokio::test]
    async fn fb3_stops_after_ten_pages() {
        let (server, http) = with_fb1(FB1_USER).await;
        let endless =
            r#"{"data":[{"id":"9","tasks":["MANAGE"]}],"paging":{"cursors":{"after":"QR"},"next":"https://elsewhere.example/next"}}"#;
        fb3().respond_with(answer(200, endless)).expect(10).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app().with_role(RequiredRole::Editor)).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleNotVerifiable]);
    }

    #[tokio::test]
    async fn fb3_is_skipped_with_a_scope_denial_when_fb1_lacks_pages_show_list() {
        let (server, http) = with_fb1(&FB1_USER.replace(r#""pages_show_list","#, "")).await;
        fb3().respond_with(answer(200, FB3)).expect(0).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.scope_denials.iter().map(|d| d.scope.as_str()).collect::<Vec<_>>(), vec!["pages_show_list"]);
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn page_tokens_with_a_required_role_are_not_verifiable() {
        let (server, http) = with_fb1(FB1_PAGE).await;
        fb2().respond_with(answer(200, FB2)).expect(1).mount(&server).await;
        fb3().respond_with(answer(200, FB3)).expect(0).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleNotVerifiable]);
    }

    #[tokio::test]
    async fn fb_h_graph_error_on_fb2_follows_the_g_table() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        fb2().respond_with(graph_error("G5")).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE)).await;
        assert!(matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, .. })));
    }

    #[tokio::test]
    async fn fb_h_graph_error_on_fb3_follows_the_g_table() {
        let (server, http) = with_fb1(FB1_USER).await;
        fb3().respond_with(graph_error("G9")).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::RoleRemoved]);
    }

    #[tokio::test]
    async fn fb_h_missing_permission_on_fb3_is_a_scope_denial() {
        let (server, http) = with_fb1(FB1_USER).await;
        fb3().respond_with(graph_error("G10")).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(
            report.scope_denials,
            vec![ScopeDenial { scope: "pages_read_engagement".into(), message: "(#10) Requires pages_read_engagement permission".into() }]
        );
    }

    #[tokio::test]
    async fn a_rate_limited_role_call_keeps_the_verdict_and_waits_for_the_buc_estimate() {
        let (server, http) = with_fb1(FB1_USER).await;
        fb3().respond_with(graph_error("G13").insert_header("X-Business-Use-Case-Usage", buc("pages"))).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid), "decided before the transient answer");
        assert!(report.granted_scopes.is_some());
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::RateLimited);
        assert_eq!(i.retry_after, Some(Duration::from_secs(300)));
    }

    #[tokio::test]
    async fn a_blocked_probe_waits_an_hour() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        fb2().respond_with(graph_error("G14")).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE)).await;
        assert!(report.token.is_none());
        assert_eq!(report.interruption.and_then(|i| i.retry_after), Some(Duration::from_secs(3600)));
    }

    #[tokio::test]
    async fn a_5xx_on_the_probe_is_transient() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        fb2().respond_with(wiremock::ResponseTemplate::new(502)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(PAGE)).await;
        assert!(report.token.is_none());
        assert_eq!(report.interruption.map(|i| i.kind), Some(TransientKind::Unavailable));
    }

    #[test]
    fn the_profile_publishes_the_facebook_consent_url_with_app_credentials() {
        let p = Facebook.profile();
        assert_eq!(p.app_keys, AppKeys::ClientIdAndSecret);
        assert!(p.consent_url.starts_with("https://www.facebook.com/{ver}/dialog/oauth?client_id={client_id}"));
        assert_eq!(p.default_scopes.join(p.scope_separator), "pages_show_list,pages_read_engagement,pages_manage_posts");
        assert!(p.reports_scopes && p.tokens_expire && !p.short_lived);
    }
}
