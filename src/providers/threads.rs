//! Threads (providers.md §3.4): one probe, TH1 `/v1.0/me` on graph.threads.net, that checks
//! the token and the identity behind it.

use async_trait::async_trait;

use std::time::Duration;

use super::graph::Graph;
use super::lifecycle::{CodeExchange, Lifecycle, RefreshOutcome, Renewal};
use super::meta_tokens;
use super::oauth_errors::identity_finding;
use super::{AppKeys, CheckInput, CheckReport, Provider, ProviderHttp, ProviderProfile};
use crate::api::ProviderKind;

/// The Threads provider: a Threads user token for the declared Threads user.
pub struct Threads;

/// Default host (§3.4).
const BASE: &str = "https://graph.threads.net";

/// Threads keeps its own API version, not the Graph setting (§2.1).
const VERSION: &str = "v1.0";

static PROFILE: ProviderProfile = ProviderProfile {
    short_lived: false,
    app_keys: AppKeys::None,
    consent_url: "https://threads.com/oauth/authorize?client_id={client_id}&redirect_uri={redirect_uri}&scope={scopes}&response_type=code&state={state}",
    scope_separator: ",",
    default_scopes: &["threads_basic", "threads_content_publish"],
    reports_scopes: false,
    tokens_expire: true,
};

#[async_trait]
impl Provider for Threads {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Threads
    }

    fn profile(&self) -> &'static ProviderProfile {
        &PROFILE
    }

    async fn check(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> CheckReport {
        let acct = input.account_id.trim();
        let graph = Graph::new(http, ProviderKind::Threads, BASE, VERSION, input);
        let mut report = CheckReport::default();
        if let Some((id, _)) = graph.probe(&mut report, "me", "id,username", "threads_basic").await {
            report.role.push(identity_finding("Threads", acct, &[&id]));
        }
        report
    }

    fn lifecycle(&self) -> &'static Lifecycle {
        &LIFECYCLE
    }

    async fn exchange_code(&self, http: &ProviderHttp, x: &CodeExchange<'_>) -> RefreshOutcome {
        meta_tokens::exchange_code_long_lived(http, KIND_SELF, (BASE, BASE), "th_exchange_token", x).await
    }

    async fn refresh(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> RefreshOutcome {
        meta_tokens::refresh_long_lived(http, KIND_SELF, BASE, GRANT, input).await
    }
}

const KIND_SELF: ProviderKind = ProviderKind::Threads;
/// TH2's grant type.
const GRANT: &str = "th_refresh_token";

/// Refresh TH2 after a valid probe (lead 10 d), for tokens at least 24 h old holding
/// `threads_basic` (§3.4). No revoke.
static LIFECYCLE: Lifecycle =
    Lifecycle { renewal: Renewal::LongLived { scope: "threads_basic" }, lead: Duration::from_secs(10 * 24 * 3600), revokes: false };

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wiremock::ResponseTemplate;
    use wiremock::matchers::query_param;

    use super::*;
    use crate::conditions::{RevokedReason, RoleReason};
    use crate::providers::graph::fixtures::*;
    use crate::providers::{TokenVerdict, TransientKind};

    const TH1: &str = r#"{"id":"7007","username":"example"}"#;

    async fn answering(template: ResponseTemplate, acct: &str) -> CheckReport {
        let (server, http) = fake(ProviderKind::Threads).await;
        get_with_token("/v1.0/me").and(query_param("fields", "id,username")).respond_with(template).expect(1).mount(&server).await;
        Threads.check(&http, &Case::new(acct).input()).await
    }

    #[tokio::test]
    async fn th_a_matching_id_confirms_the_identity() {
        let report = answering(answer(200, TH1), "7007").await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::IdentityConfirmed]);
        assert_eq!(report.account_name.as_deref(), Some("example"));
        assert_eq!(report.granted_scopes, None);
    }

    #[tokio::test]
    async fn th_b_another_id_is_an_account_mismatch_on_a_valid_token() {
        let report = answering(answer(200, TH1), "7008").await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::AccountMismatch]);
    }

    #[tokio::test]
    async fn th_c_invalidated_token_is_revoked() {
        let report = answering(graph_error("G5"), "7007").await;
        assert!(matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, .. })));
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn th_c_temporary_error_honours_retry_after() {
        let report = answering(graph_error("G12").insert_header("Retry-After", "60"), "7007").await;
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::Unavailable);
        assert_eq!(i.retry_after, Some(Duration::from_secs(60)));
    }

    #[tokio::test]
    async fn th_c_rate_limit_honours_retry_after() {
        let report = answering(graph_error("G13").insert_header("Retry-After", "60"), "7007").await;
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::RateLimited);
        assert_eq!(i.retry_after, Some(Duration::from_secs(60)));
    }

    #[tokio::test]
    async fn th_c_temporary_block_keeps_its_hour() {
        let report = answering(graph_error("G14"), "7007").await;
        assert_eq!(report.interruption.and_then(|i| i.retry_after), Some(Duration::from_secs(3600)));
    }

    #[tokio::test]
    async fn th_c_a_5xx_is_transient() {
        let report = answering(ResponseTemplate::new(500), "7007").await;
        assert!(report.token.is_none());
        assert_eq!(report.interruption.map(|i| i.kind), Some(TransientKind::Unavailable));
    }

    #[test]
    fn the_profile_follows_the_threads_section() {
        let p = Threads.profile();
        assert_eq!(p.app_keys, AppKeys::None);
        assert!(p.consent_url.starts_with("https://threads.com/oauth/authorize?client_id={client_id}"));
        assert_eq!(p.default_scopes.join(p.scope_separator), "threads_basic,threads_content_publish");
        assert!(!p.reports_scopes && p.tokens_expire);
    }
}
