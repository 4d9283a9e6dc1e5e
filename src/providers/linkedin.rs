//! LinkedIn (providers.md §3.5): token introspection (LI1), OpenID userinfo (LI2) and
//! organizationAcls (LI3), with the young-token rule.

use std::ops::ControlFlow;
use std::time::Duration;

use async_trait::async_trait;
use jiff::SignedDuration;
use serde_json::Value;

use super::http::Answer;
use super::lifecycle::{self, CodeExchange, Lifecycle, RefreshOutcome, Renewal, RevokeOutcome};
use super::oauth_errors::{self, code_at, str_at, unix_seconds_at};
use super::{
    AppKeys, CheckInput, CheckReport, ExpiryFact, Interruption, Provider, ProviderHttp, ProviderProfile, RoleFinding, TokenVerdict,
    TransientKind, split_scopes,
};
use crate::api::{ProviderKind, RequiredRole};
use crate::conditions::{RevokedReason, RoleReason};
use crate::redact::SecretString;

/// The LinkedIn provider: organization connections (role from organizationAcls) and member
/// connections (identity from userinfo `sub`).
pub struct Linkedin;

const KIND: ProviderKind = ProviderKind::Linkedin;
/// Host of introspection, token and revoke calls.
const AUTH_BASE: &str = "https://www.linkedin.com";
/// Host of the REST API.
const API_BASE: &str = "https://api.linkedin.com";
/// Tokens younger than this may be reported revoked by mistake.
const YOUNG_TOKEN_AGE: SignedDuration = SignedDuration::from_mins(5);
/// The fixed wait of the young-token rule.
const YOUNG_TOKEN_DELAY: Duration = Duration::from_secs(30);
/// `count` of an organizationAcls page.
const ACL_PAGE_SIZE: usize = 100;
/// At most this many organizationAcls pages are read.
const ACL_MAX_PAGES: usize = 10;
/// The scopes organizationAcls needs (LI-n).
const ACL_SCOPE: &str = "rw_organization_admin or r_organization_admin";
/// Default consent scopes of an organization connection.
const ORGANIZATION_SCOPES: &[&str] = &["openid", "profile", "w_organization_social", "rw_organization_admin"];
/// Default consent scopes of a member connection.
const MEMBER_SCOPES: &[&str] = &["openid", "profile", "w_member_social"];

static PROFILE: ProviderProfile = ProviderProfile {
    short_lived: false,
    app_keys: AppKeys::ClientIdAndSecret,
    consent_url: "https://www.linkedin.com/oauth/v2/authorization?response_type=code&client_id={client_id}&redirect_uri={redirect_uri}&state={state}&scope={scopes}",
    scope_separator: " ",
    default_scopes: ORGANIZATION_SCOPES,
    reports_scopes: true,
    tokens_expire: true,
};

/// What `spec.account.id` names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Account {
    /// An organization, as its URN `urn:li:organization:<n>`.
    Organization(String),
    /// A member, as the person id of `urn:li:person:<id>`.
    Member(String),
    /// Neither form.
    Unparsable,
}

impl Account {
    fn parse(raw: &str) -> Account {
        let raw = raw.trim();
        let is_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if is_number(raw) {
            return Account::Organization(format!("urn:li:organization:{raw}"));
        }
        if let Some(n) = raw.strip_prefix("urn:li:organization:")
            && is_number(n)
        {
            return Account::Organization(raw.to_string());
        }
        if let Some(id) = raw.strip_prefix("urn:li:person:")
            && !id.is_empty()
            && !id.contains(|c: char| c == ':' || c.is_whitespace())
        {
            return Account::Member(id.to_string());
        }
        Account::Unparsable
    }
}

/// Whether an organizationAcls `role` satisfies the required level (providers.md §2.12).
fn role_qualifies(role: &str, required: RequiredRole) -> bool {
    match required {
        RequiredRole::Admin => role == "ADMINISTRATOR",
        RequiredRole::Editor | RequiredRole::Moderator => matches!(role, "ADMINISTRATOR" | "CONTENT_ADMINISTRATOR"),
        RequiredRole::Analyst => matches!(role, "ADMINISTRATOR" | "CONTENT_ADMINISTRATOR" | "ANALYST" | "CURATOR"),
    }
}

/// The young-token wait: transient, fixed 30 s, not counted as a failure.
fn young_token_wait() -> Interruption {
    Interruption {
        kind: TransientKind::Unavailable,
        retry_after: Some(YOUNG_TOKEN_DELAY),
        counts_as_failure: false,
        unexpected: None,
        detail: "LinkedIn reports a token younger than 5 minutes as revoked, which often happens right after \
                 consent; checking again in 30 s"
            .to_string(),
        app_wide: false,
    }
}

/// One check: the calls made so far and the facts they established. `Break` ends the check.
struct Run<'a, 'b> {
    http: &'a ProviderHttp,
    input: &'a CheckInput<'b>,
    report: CheckReport,
}

impl Run<'_, '_> {
    /// A token verdict ends the check.
    fn decide(&mut self, verdict: TokenVerdict) -> ControlFlow<()> {
        self.report.token = Some(verdict);
        ControlFlow::Break(())
    }

    /// A transient answer ends the check; what was decided before it stays.
    fn stop(&mut self, interruption: Interruption) -> ControlFlow<()> {
        self.report.interruption = Some(interruption);
        ControlFlow::Break(())
    }

    /// The value of a call that may have failed transiently; `Break` records the failure.
    fn proceed<T>(&mut self, outcome: Result<T, Interruption>) -> ControlFlow<(), T> {
        match outcome {
            Ok(value) => ControlFlow::Continue(value),
            Err(i) => {
                self.report.interruption = Some(i);
                ControlFlow::Break(())
            }
        }
    }

    /// An answer no row matched ends the check (see [`Run::unexpected`]).
    fn stop_unexpected(&mut self, answer: &Answer) -> ControlFlow<()> {
        let i = self.unexpected(answer);
        self.stop(i)
    }

    /// The calls in providers.md order; `Break` as soon as an answer ends the check.
    async fn run(&mut self, account: &Account) -> ControlFlow<()> {
        let app = self.input.app;
        match app.and_then(|a| Some((a.client_id.as_str(), a.client_secret.as_ref()?))) {
            Some((client_id, client_secret)) => {
                self.introspect(client_id, client_secret).await?;
                if let Account::Member(id) = account {
                    self.userinfo(Some(id), false).await?;
                }
            }
            None => {
                let member = match account {
                    Account::Member(id) => Some(id.as_str()),
                    _ => None,
                };
                self.userinfo(member, true).await?;
            }
        }
        if let (Account::Organization(urn), Some(role)) = (account, self.input.required_role) {
            self.organization_acls(urn, role).await?;
        }
        ControlFlow::Continue(())
    }

    /// A GET on the API host with the token; `rest` adds the versioned-API headers of LI3.
    async fn api_get(&self, path: &str, rest: bool) -> Result<Answer, Interruption> {
        let url = self.http.url(KIND, API_BASE, path);
        let mut request = self.http.client().get(url).bearer_auth(self.input.token.expose());
        if rest {
            request = request.header("LinkedIn-Version", self.http.linkedin_version.as_str()).header("X-Restli-Protocol-Version", "2.0.0");
        }
        self.http.send(KIND, request).await
    }

    /// An answer no row matched: 429, 5xx and 3xx are transient (LI-o), anything else is
    /// unclassified with LinkedIn's error code.
    fn unexpected(&self, answer: &Answer) -> Interruption {
        let code =
            answer.json().and_then(|b| code_at(&b, "/code").or_else(|| code_at(&b, "/serviceErrorCode")).or_else(|| code_at(&b, "/error")));
        oauth_errors::transient_or_unclassified(answer, code.as_deref())
    }

    /// Whether the token is younger than 5 minutes (LI1 `created_at`, else §2.7).
    fn is_young(&self) -> bool {
        match self.report.issued_at.or(self.input.token_issued_at) {
            Some(issued) => self.input.now.duration_since(issued) < YOUNG_TOKEN_AGE,
            None => false,
        }
    }

    /// LI-c, LI-f: the young-token rule, else Revoked `TokenInvalidated`.
    fn revoked_unless_young(&mut self, message: String) -> ControlFlow<()> {
        if self.is_young() {
            return self.stop(young_token_wait());
        }
        self.decide(TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, message })
    }

    /// LI1: `Continue` when the token is active.
    async fn introspect(&mut self, client_id: &str, client_secret: &SecretString) -> ControlFlow<()> {
        let url = self.http.url(KIND, AUTH_BASE, "/oauth/v2/introspectToken");
        let form = [("client_id", client_id), ("client_secret", client_secret.expose()), ("token", self.input.token.expose())];
        let answer = self.proceed(self.http.send(KIND, self.http.client().post(url).form(&form)).await)?;
        match answer.status {
            200..=299 => {}
            400 => return self.bad_introspection_request().await,
            401 => {
                return self.decide(TokenVerdict::InvalidSecret {
                    message: "client credentials rejected: LinkedIn token introspection answered HTTP 401".to_string(),
                });
            }
            _ => return self.stop_unexpected(&answer),
        }
        let body = self.proceed(answer.json_or_transient())?;
        self.report.issued_at = unix_seconds_at(&body, "/created_at");
        let active = body.get("active").and_then(Value::as_bool);
        match (active, str_at(&body, "/status")) {
            (Some(true), Some("active")) => {
                self.report.token = Some(TokenVerdict::Valid);
                self.report.expiry = unix_seconds_at(&body, "/expires_at").map_or(ExpiryFact::NotReported, ExpiryFact::At);
                self.report.granted_scopes = str_at(&body, "/scope").map(split_scopes);
                ControlFlow::Continue(())
            }
            (_, Some("expired")) => self.decide(TokenVerdict::RefreshThen(Box::new(TokenVerdict::Expired {
                message: "LinkedIn token introspection reports the access token expired".to_string(),
            }))),
            (_, Some("revoked")) | (Some(false), None) => {
                self.revoked_unless_young("LinkedIn token introspection reports the access token revoked".to_string())
            }
            (_, status) => self.stop(oauth_errors::unclassified(answer.status, status)),
        }
    }

    /// LI-d: introspection answered 400 (bad client id or token); userinfo tells which.
    async fn bad_introspection_request(&mut self) -> ControlFlow<()> {
        let answer = self.proceed(self.api_get("/v2/userinfo", false).await)?;
        match answer.status {
            200..=299 | 403 => self.decide(TokenVerdict::InvalidSecret {
                message: "client credentials rejected: LinkedIn token introspection answered HTTP 400 (invalid client id) \
                          while the token itself is accepted"
                    .to_string(),
            }),
            401 => self.unauthorized(&answer),
            _ => self.stop_unexpected(&answer),
        }
    }

    /// LI-f, LI-g, LI-h: an API call answered 401.
    fn unauthorized(&mut self, answer: &Answer) -> ControlFlow<()> {
        let body = answer.json();
        let code = body.as_ref().and_then(|b| str_at(b, "/code"));
        let message = body.as_ref().and_then(|b| str_at(b, "/message"));
        match code {
            Some("REVOKED_ACCESS_TOKEN") => {
                let message = oauth_errors::with_provider_message(self.input, "LinkedIn reports the access token revoked", message);
                self.revoked_unless_young(message)
            }
            Some("EXPIRED_ACCESS_TOKEN") => {
                let message = oauth_errors::with_provider_message(self.input, "LinkedIn reports the access token expired", message);
                self.decide(TokenVerdict::RefreshThen(Box::new(TokenVerdict::Expired { message })))
            }
            _ => {
                let message = oauth_errors::with_provider_message(self.input, "LinkedIn rejected the access token (HTTP 401)", message);
                self.decide(TokenVerdict::RefreshThen(Box::new(TokenVerdict::ExpiryFallback { message })))
            }
        }
    }

    /// LI2: the probe when `probe` (no app credentials), and the member identity check when
    /// `member` names the expected person id.
    async fn userinfo(&mut self, member: Option<&str>, probe: bool) -> ControlFlow<()> {
        let answer = self.proceed(self.api_get("/v2/userinfo", false).await)?;
        match answer.status {
            200..=299 => {
                let body = self.proceed(answer.json_or_transient())?;
                if probe {
                    self.report.token = Some(TokenVerdict::Valid);
                }
                if let Some(id) = member {
                    let Some(sub) = str_at(&body, "/sub") else {
                        return self.stop(Interruption::unavailable("LinkedIn userinfo answered without `sub`"));
                    };
                    self.report.role.push(oauth_errors::identity_finding("LinkedIn member", id, &[sub]));
                    self.report.account_name = str_at(&body, "/name").map(str::to_string);
                }
                ControlFlow::Continue(())
            }
            403 => {
                if probe {
                    self.report.token = Some(TokenVerdict::Valid);
                }
                if member.is_some() {
                    self.report.role.push(RoleFinding {
                        reason: RoleReason::RoleNotVerifiable,
                        message: "LinkedIn userinfo answered HTTP 403: the token lacks the openid scope, so the member \
                                  cannot be identified"
                            .to_string(),
                    });
                }
                ControlFlow::Continue(())
            }
            401 => self.unauthorized(&answer),
            _ => self.stop_unexpected(&answer),
        }
    }

    /// LI3: the member's approved roles on the organization `urn`, paged.
    async fn organization_acls(&mut self, urn: &str, required: RequiredRole) -> ControlFlow<()> {
        let mut roles_on_urn: Vec<String> = Vec::new();
        for page in 0..ACL_MAX_PAGES {
            let start = page * ACL_PAGE_SIZE;
            let path = format!("/rest/organizationAcls?q=roleAssignee&state=APPROVED&start={start}&count={ACL_PAGE_SIZE}");
            let answer = self.proceed(self.api_get(&path, true).await)?;
            match answer.status {
                200..=299 => {}
                401 => return self.unauthorized(&answer),
                403 if answer.json().and_then(|b| code_at(&b, "/code")).as_deref() == Some("ACCESS_DENIED") => {
                    let body = answer.json();
                    let message = body.as_ref().and_then(|b| str_at(b, "/message")).unwrap_or("HTTP 403 ACCESS_DENIED");
                    let denial = oauth_errors::scope_denial(self.input, ACL_SCOPE, message);
                    self.report.scope_denials.push(denial);
                    return ControlFlow::Continue(());
                }
                _ => return self.stop_unexpected(&answer),
            }
            let body = self.proceed(answer.json_or_transient())?;
            let Some(elements) = body.get("elements").and_then(Value::as_array) else {
                return self.stop(Interruption::unavailable("LinkedIn organizationAcls answered without `elements`"));
            };
            for element in elements.iter().filter(|e| str_at(e, "/organization") == Some(urn)) {
                let role = str_at(element, "/role").unwrap_or("");
                let approved = str_at(element, "/state").is_none_or(|s| s == "APPROVED");
                if approved && role_qualifies(role, required) {
                    self.report.role.push(RoleFinding {
                        reason: RoleReason::RoleConfirmed,
                        message: format!("role {role} on {urn} satisfies required role {}", required.as_str()),
                    });
                    return ControlFlow::Continue(());
                }
                let described = if approved { role.to_string() } else { format!("{role} (not approved)") };
                if !roles_on_urn.contains(&described) {
                    roles_on_urn.push(described);
                }
            }
            if elements.len() < ACL_PAGE_SIZE {
                break;
            }
        }
        let finding = if roles_on_urn.is_empty() {
            RoleFinding { reason: RoleReason::RoleRemoved, message: format!("the token's member has no approved role on {urn}") }
        } else {
            RoleFinding {
                reason: RoleReason::InsufficientRole,
                message: format!("role {} on {urn} does not satisfy required role {}", roles_on_urn.join(", "), required.as_str()),
            }
        };
        self.report.role.push(finding);
        ControlFlow::Continue(())
    }
}

#[async_trait]
impl Provider for Linkedin {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn profile(&self) -> &'static ProviderProfile {
        &PROFILE
    }

    async fn check(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> CheckReport {
        let account = Account::parse(input.account_id);
        let mut run = Run { http, input, report: CheckReport::default() };
        if account == Account::Unparsable {
            run.report.role.push(RoleFinding {
                reason: RoleReason::AccountNotFound,
                message: "unparsable account id: expected an organization id, urn:li:organization:<id> or \
                          urn:li:person:<id>"
                    .to_string(),
            });
        }
        // Break only says that an answer ended the check early; the report holds why.
        let _ = run.run(&account).await;
        run.report
    }

    fn default_scopes(&self, account_id: &str) -> &'static [&'static str] {
        match Account::parse(account_id) {
            Account::Member(_) => MEMBER_SCOPES,
            _ => ORGANIZATION_SCOPES,
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

/// Refresh LI4 before the probe (lead 10 d); the refresh token is kept (§3.5).
static LIFECYCLE: Lifecycle = Lifecycle {
    renewal: Renewal::RefreshToken { keys: AppKeys::ClientIdAndSecret, rotates: false, unknown_expiry_due: false },
    lead: Duration::from_secs(10 * 24 * 3600),
    revokes: true,
};

/// LI4: `POST /oauth/v2/accessToken`, form `grant_type=refresh_token, refresh_token,
/// client_id, client_secret`. 400 `invalid_grant` → `TokenInvalidated`; 401 / `invalid_client`
/// → `InvalidSecret`.
async fn refresh(http: &ProviderHttp, input: &CheckInput<'_>) -> RefreshOutcome {
    let Some((app, secret, refresh)) = input.app.and_then(|a| Some((a, a.client_secret.as_ref()?, input.refresh_token?))) else {
        return RefreshOutcome::NotSupported;
    };
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.expose()),
        ("client_id", app.client_id.as_str()),
        ("client_secret", secret.expose()),
    ];
    let request = http.client().post(http.url(KIND, AUTH_BASE, "/oauth/v2/accessToken")).form(&form);
    let answer = match http.send(KIND, request).await {
        Ok(a) => a,
        Err(i) => return RefreshOutcome::Interrupted(i),
    };
    let body = answer.json();
    let (error, description) = lifecycle::oauth_error(body.as_ref());
    match (answer.status, error) {
        (200..=299, _) => lifecycle::credential_or_transient(&answer, input.now, "LinkedIn"),
        (401, _) | (_, Some("invalid_client")) => lifecycle::client_rejected(input, "LinkedIn", description),
        (400, Some("invalid_grant")) => lifecycle::invalidated(input, "LinkedIn", description),
        _ => lifecycle::refresh_other(&answer, error),
    }
}

/// Code exchange (§2.14): `POST /oauth/v2/accessToken`, form `grant_type=authorization_code,
/// code, redirect_uri, client_id, client_secret`.
async fn exchange_code(http: &ProviderHttp, x: &CodeExchange<'_>) -> RefreshOutcome {
    let Some(secret) = x.app.client_secret.as_ref() else { return RefreshOutcome::NotSupported };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", x.code.expose()),
        ("redirect_uri", x.redirect_uri),
        ("client_id", x.app.client_id.as_str()),
        ("client_secret", secret.expose()),
    ];
    match http.send(KIND, http.client().post(http.url(KIND, AUTH_BASE, "/oauth/v2/accessToken")).form(&form)).await {
        Ok(answer) => lifecycle::oauth_exchange_answer(&answer, x, "LinkedIn"),
        Err(i) => RefreshOutcome::Interrupted(i),
    }
}

/// LI5: `POST /oauth/v2/revoke`, form `client_id, client_secret, token={T}`. 2xx done; 4xx →
/// `RevokeFailed`, no retry.
async fn revoke(http: &ProviderHttp, input: &CheckInput<'_>) -> RevokeOutcome {
    let Some((app, secret)) = input.app.and_then(|a| Some((a, a.client_secret.as_ref()?))) else {
        return RevokeOutcome::Skipped { why: "revoking a LinkedIn token needs client_id and client_secret (spec.appSecretRef)".into() };
    };
    let form = [("client_id", app.client_id.as_str()), ("client_secret", secret.expose()), ("token", input.token.expose())];
    let request = http.client().post(http.url(KIND, AUTH_BASE, "/oauth/v2/revoke")).form(&form);
    match http.send(KIND, request).await {
        Err(i) => RevokeOutcome::Interrupted(i),
        Ok(a) if a.is_success() => RevokeOutcome::Revoked { already_invalid: false },
        Ok(a) => {
            let body = a.json();
            lifecycle::revoke_other(&a, lifecycle::oauth_error(body.as_ref()).0, "LinkedIn")
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;
    use wiremock::matchers::{body_string_contains, header, method, path, query_param};
    use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

    use super::*;
    use crate::providers::oauth_errors::test_support::{
        Case, answer, assert_valid_identity, assert_valid_with_denial, bearer_get, check_once, fake, is_refresh_then_expired,
        is_refresh_then_fallback, now, reasons,
    };

    const LI1: &str = r#"{"active":true,"status":"active","created_at":1760000000,"expires_at":1893456000,"scope":"openid,profile,rw_organization_admin"}"#;
    const LI_B: &str = r#"{"active":false,"status":"expired","created_at":1700000000,"expires_at":1705184000}"#;
    const LI_C: &str = r#"{"active":false,"status":"revoked","created_at":1760000000,"expires_at":1893456000}"#;
    const LI_D: &str = r#"{"error":"invalid_request","error_description":"invalid client id or token"}"#;
    const LI_E: &str = r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#;
    const LI_F: &str = r#"{"status":401,"serviceErrorCode":65601,"code":"REVOKED_ACCESS_TOKEN","message":"The token used in the request has been revoked by the user"}"#;
    const LI_G: &str =
        r#"{"status":401,"serviceErrorCode":65602,"code":"EXPIRED_ACCESS_TOKEN","message":"The token used in the request has expired"}"#;
    const LI_H: &str = r#"{"status":401,"serviceErrorCode":65600,"message":"Invalid access token"}"#;
    const LI2: &str = r#"{"sub":"abc123","name":"Example Member"}"#;
    const LI3: &str = r#"{"paging":{"start":0,"count":100},"elements":[{"organization":"urn:li:organization:5001","role":"ADMINISTRATOR","state":"APPROVED","roleAssignee":"urn:li:person:abc123"}]}"#;
    const LI3_ANALYST: &str = r#"{"paging":{"start":0,"count":100},"elements":[{"organization":"urn:li:organization:5001","role":"ANALYST","state":"APPROVED","roleAssignee":"urn:li:person:abc123"}]}"#;
    const LI3_EMPTY: &str = r#"{"paging":{"start":0,"count":100},"elements":[]}"#;
    const LI_N: &str =
        r#"{"status":403,"serviceErrorCode":100,"code":"ACCESS_DENIED","message":"Not enough permissions to access: organizationAcls"}"#;
    const LI_O: &str = r#"{"status":429,"message":"Too Many Requests"}"#;

    const ORG: &str = "urn:li:organization:5001";
    const MEMBER: &str = "urn:li:person:abc123";

    /// LI1 with the exact form the contract prescribes.
    fn introspection() -> MockBuilder {
        Mock::given(method("POST"))
            .and(path("/oauth/v2/introspectToken"))
            .and(header("content-type", "application/x-www-form-urlencoded"))
            .and(header("accept", "application/json"))
            .and(body_string_contains("client_id=cid"))
            .and(body_string_contains("client_secret=csec-secret"))
            .and(body_string_contains("token=tok-secret-123"))
    }

    /// LI2 with the bearer token.
    fn userinfo() -> MockBuilder {
        bearer_get("/v2/userinfo")
    }

    /// LI3 page starting at `start`, with the versioned-API headers.
    fn acls(start: usize) -> MockBuilder {
        bearer_get("/rest/organizationAcls")
            .and(query_param("q", "roleAssignee"))
            .and(query_param("state", "APPROVED"))
            .and(query_param("start", start.to_string()))
            .and(query_param("count", "100"))
            .and(header("linkedin-version", "202603"))
            .and(header("x-restli-protocol-version", "2.0.0"))
    }

    /// A fake whose introspection answers LI1 (active) exactly once.
    async fn introspected_active() -> (MockServer, ProviderHttp) {
        let (server, http) = fake(KIND).await;
        introspection().respond_with(answer(200, LI1)).expect(1).mount(&server).await;
        (server, http)
    }

    async fn never_userinfo(server: &MockServer) {
        Mock::given(path("/v2/userinfo")).respond_with(answer(200, LI2)).expect(0).mount(server).await;
    }

    async fn never_acls(server: &MockServer) {
        Mock::given(path("/rest/organizationAcls")).respond_with(answer(200, LI3)).expect(0).mount(server).await;
    }

    async fn check(http: &ProviderHttp, case: &Case) -> CheckReport {
        Linkedin.check(http, &case.input()).await
    }

    fn ts(secs: i64) -> Timestamp {
        Timestamp::from_second(secs).unwrap()
    }

    fn young() -> Option<Timestamp> {
        Some(now() - SignedDuration::from_secs(60))
    }

    fn revoked_invalidated(report: &CheckReport) -> bool {
        matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, .. }))
    }

    #[tokio::test]
    async fn li_a_an_active_introspection_makes_the_token_valid_with_expiry_scopes_and_issue_time() {
        let (server, http) = introspected_active().await;
        never_userinfo(&server).await;
        never_acls(&server).await;
        let report = check(&http, &Case::new(ORG).with_app()).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.expiry, ExpiryFact::At(ts(1_893_456_000)));
        assert_eq!(report.issued_at, Some(ts(1_760_000_000)));
        assert_eq!(report.granted_scopes, Some(vec!["openid".to_string(), "profile".to_string(), "rw_organization_admin".to_string()]));
        assert!(report.role.is_empty(), "no role call without requiredRole: {:?}", report.role);
        assert_eq!(report.interruption, None);
    }

    #[tokio::test]
    async fn li_b_an_expired_introspection_asks_for_a_refresh_with_expired_as_fallback() {
        let (server, http) = fake(KIND).await;
        introspection().respond_with(answer(200, LI_B)).expect(1).mount(&server).await;
        never_acls(&server).await;
        let report = check(&http, &Case::new(ORG).with_app().with_role(RequiredRole::Admin)).await;
        assert!(is_refresh_then_expired(&report), "{report:?}");
        assert_eq!(report.issued_at, Some(ts(1_700_000_000)));
    }

    #[tokio::test]
    async fn li_c_an_old_token_reported_revoked_by_introspection_is_believed() {
        let (server, http) = fake(KIND).await;
        introspection().respond_with(answer(200, LI_C)).expect(1).mount(&server).await;
        never_userinfo(&server).await;
        let report = check(&http, &Case::new(ORG).with_app()).await;
        assert!(revoked_invalidated(&report), "{report:?}");
        assert_eq!(report.interruption, None);
    }

    #[tokio::test]
    async fn li_c_an_inactive_introspection_without_status_counts_as_revoked() {
        let (server, http) = fake(KIND).await;
        introspection().respond_with(answer(200, r#"{"active":false,"created_at":1760000000}"#)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(ORG).with_app()).await;
        assert!(revoked_invalidated(&report), "{report:?}");
    }

    #[tokio::test]
    async fn a_token_younger_than_five_minutes_reported_revoked_by_introspection_waits_30_seconds_without_counting_a_failure() {
        let (server, http) = fake(KIND).await;
        let created = now().as_second() - 60;
        let body = format!(r#"{{"active":false,"status":"revoked","created_at":{created},"expires_at":1893456000}}"#);
        introspection().respond_with(answer(200, &body)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(ORG).with_app()).await;
        assert_eq!(report.token, None);
        let wait = report.interruption.expect("young-token wait");
        assert_eq!(wait.kind, TransientKind::Unavailable);
        assert_eq!(wait.retry_after, Some(Duration::from_secs(30)));
        assert!(!wait.counts_as_failure);
        assert_eq!(wait.unexpected, None);
    }

    #[tokio::test]
    async fn the_young_token_scenario_never_reports_revoked_and_ends_valid() {
        let (server, http) = fake(KIND).await;
        let created = now().as_second() - 60;
        let revoked = format!(r#"{{"active":false,"status":"revoked","created_at":{created},"expires_at":1893456000}}"#);
        let active = format!(
            r#"{{"active":true,"status":"active","created_at":{created},"expires_at":1893456000,"scope":"openid,profile,rw_organization_admin"}}"#
        );
        introspection().respond_with(answer(200, &revoked)).up_to_n_times(2).expect(2).mount(&server).await;
        introspection().respond_with(answer(200, &active)).expect(1).mount(&server).await;
        let case = Case::new(ORG).with_app();
        for _ in 0..2 {
            let report = check(&http, &case).await;
            assert_eq!(report.token, None);
            assert_eq!(report.interruption.map(|i| i.counts_as_failure), Some(false));
        }
        let report = check(&http, &case).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
    }

    #[tokio::test]
    async fn li_d_a_rejected_client_id_with_a_working_token_is_an_invalid_secret() {
        for userinfo_status in [200, 403] {
            let (server, http) = fake(KIND).await;
            introspection().respond_with(answer(400, LI_D)).expect(1).mount(&server).await;
            let body = if userinfo_status == 200 { LI2 } else { LI_N };
            userinfo().respond_with(answer(userinfo_status, body)).expect(1).mount(&server).await;
            never_acls(&server).await;
            let report = check(&http, &Case::new(ORG).with_app().with_role(RequiredRole::Admin)).await;
            assert!(
                matches!(&report.token, Some(TokenVerdict::InvalidSecret { message }) if message.contains("client credentials rejected")),
                "userinfo {userinfo_status}: {report:?}"
            );
            assert!(report.role.is_empty());
        }
    }

    #[tokio::test]
    async fn li_d_a_bad_introspection_request_whose_token_userinfo_rejects_is_classified_by_the_401() {
        let (server, http) = fake(KIND).await;
        introspection().respond_with(answer(400, LI_D)).expect(1).mount(&server).await;
        userinfo().respond_with(answer(401, LI_F)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(ORG).with_app()).await;
        assert!(revoked_invalidated(&report), "{report:?}");
    }

    #[tokio::test]
    async fn li_d_without_created_at_the_young_token_rule_uses_the_first_seen_time() {
        let (server, http) = fake(KIND).await;
        introspection().respond_with(answer(400, LI_D)).expect(1).mount(&server).await;
        userinfo().respond_with(answer(401, LI_F)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(ORG).with_app().issued(young())).await;
        assert_eq!(report.token, None);
        assert_eq!(report.interruption.map(|i| (i.retry_after, i.counts_as_failure)), Some((Some(YOUNG_TOKEN_DELAY), false)));
    }

    #[tokio::test]
    async fn li_e_a_rejected_client_secret_is_an_invalid_secret() {
        let (server, http) = fake(KIND).await;
        introspection().respond_with(answer(401, LI_E)).expect(1).mount(&server).await;
        never_userinfo(&server).await;
        let report = check(&http, &Case::new(ORG).with_app()).await;
        assert!(matches!(&report.token, Some(TokenVerdict::InvalidSecret { message }) if message.contains("client credentials rejected")));
    }

    #[tokio::test]
    async fn li_f_a_revoked_answer_from_organization_acls_overrides_an_active_introspection_of_an_old_token() {
        let (server, http) = introspected_active().await;
        acls(0).respond_with(answer(401, LI_F)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(ORG).with_app().with_role(RequiredRole::Admin)).await;
        assert!(revoked_invalidated(&report), "{report:?}");
        let Some(TokenVerdict::Revoked { message, .. }) = &report.token else { unreachable!() };
        assert!(message.contains("revoked by the user"), "{message}");
    }

    #[tokio::test]
    async fn li_f_a_young_token_reported_revoked_by_userinfo_waits_instead_of_being_revoked() {
        let report = check_once(&Linkedin, userinfo(), answer(401, LI_F), &Case::new(MEMBER).issued(young())).await;
        assert_eq!(report.token, None);
        let wait = report.interruption.expect("young-token wait");
        assert_eq!((wait.retry_after, wait.counts_as_failure), (Some(YOUNG_TOKEN_DELAY), false));
    }

    #[tokio::test]
    async fn li_f_an_old_token_reported_revoked_by_userinfo_is_revoked() {
        let report = check_once(&Linkedin, userinfo(), answer(401, LI_F), &Case::new(MEMBER)).await;
        assert!(revoked_invalidated(&report), "{report:?}");
        assert_eq!(report.interruption, None);
    }

    #[tokio::test]
    async fn li_g_an_expired_answer_asks_for_a_refresh_with_expired_as_fallback() {
        let report = check_once(&Linkedin, userinfo(), answer(401, LI_G), &Case::new(MEMBER)).await;
        assert!(is_refresh_then_expired(&report), "{report:?}");
    }

    #[tokio::test]
    async fn li_h_another_401_asks_for_a_refresh_with_the_expiry_fallback() {
        let report = check_once(&Linkedin, userinfo(), answer(401, LI_H), &Case::new(ORG)).await;
        assert!(is_refresh_then_fallback(&report), "{report:?}");
    }

    #[tokio::test]
    async fn li_i_a_member_token_without_app_credentials_is_probed_and_identified_by_userinfo() {
        let (server, http) = fake(KIND).await;
        userinfo().respond_with(answer(200, LI2)).expect(2).mount(&server).await;
        Mock::given(path("/oauth/v2/introspectToken")).respond_with(answer(200, LI1)).expect(0).mount(&server).await;
        never_acls(&server).await;
        let report = check(&http, &Case::new(MEMBER).with_role(RequiredRole::Admin)).await;
        assert_valid_identity(&report, RoleReason::IdentityConfirmed);
        assert_eq!(report.account_name.as_deref(), Some("Example Member"));
        assert_eq!(report.granted_scopes, None);
        let report = check(&http, &Case::new("urn:li:person:someone-else")).await;
        assert_valid_identity(&report, RoleReason::AccountMismatch);
    }

    #[tokio::test]
    async fn li_i_a_member_token_with_app_credentials_is_introspected_then_identified() {
        let (server, http) = introspected_active().await;
        userinfo().respond_with(answer(200, LI2)).expect(1).mount(&server).await;
        never_acls(&server).await;
        let report = check(&http, &Case::new(MEMBER).with_app().with_role(RequiredRole::Editor)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.expiry, ExpiryFact::At(ts(1_893_456_000)));
        assert_eq!(reasons(&report), vec![RoleReason::IdentityConfirmed]);
    }

    #[tokio::test]
    async fn li_i_an_organization_token_without_app_credentials_is_probed_by_userinfo_without_identity() {
        let (server, http) = fake(KIND).await;
        userinfo().respond_with(answer(200, LI2)).expect(1).mount(&server).await;
        never_acls(&server).await;
        let report = check(&http, &Case::new("5001")).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn li_j_userinfo_forbidden_means_authenticated_and_a_member_identity_not_verifiable() {
        let (server, http) = fake(KIND).await;
        userinfo().respond_with(answer(403, LI_N)).expect(2).mount(&server).await;
        let report = check(&http, &Case::new(MEMBER)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::RoleNotVerifiable]);
        assert!(report.role[0].message.contains("openid"));
        let report = check(&http, &Case::new(ORG)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn li_k_an_approved_administrator_element_confirms_the_role() {
        let (server, http) = introspected_active().await;
        never_userinfo(&server).await;
        acls(0).respond_with(answer(200, LI3)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(ORG).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::RoleConfirmed]);
    }

    #[tokio::test]
    async fn li_k_a_numeric_account_id_is_the_organization_urn() {
        let (server, http) = fake(KIND).await;
        userinfo().respond_with(answer(200, LI2)).expect(1).mount(&server).await;
        acls(0).respond_with(answer(200, LI3)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new("5001").with_role(RequiredRole::Editor)).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleConfirmed]);
    }

    #[tokio::test]
    async fn li_l_elements_for_the_organization_without_a_qualifying_role_are_an_insufficient_role() {
        let (server, http) = fake(KIND).await;
        introspection().respond_with(answer(200, LI1)).expect(2).mount(&server).await;
        acls(0).respond_with(answer(200, LI3_ANALYST)).expect(2).mount(&server).await;
        let report = check(&http, &Case::new(ORG).with_app().with_role(RequiredRole::Editor)).await;
        assert_eq!(reasons(&report), vec![RoleReason::InsufficientRole]);
        assert!(report.role[0].message.contains("ANALYST"));
        let report = check(&http, &Case::new(ORG).with_app().with_role(RequiredRole::Analyst)).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleConfirmed]);
    }

    #[tokio::test]
    async fn li_m_no_element_for_the_organization_means_the_role_was_removed() {
        for (body, account) in [(LI3_EMPTY, ORG), (LI3, "urn:li:organization:7777")] {
            let (server, http) = fake(KIND).await;
            introspection().respond_with(answer(200, LI1)).expect(1).mount(&server).await;
            acls(0).respond_with(answer(200, body)).expect(1).mount(&server).await;
            let report = check(&http, &Case::new(account).with_app().with_role(RequiredRole::Analyst)).await;
            assert_eq!(reasons(&report), vec![RoleReason::RoleRemoved], "{account}");
        }
    }

    #[tokio::test]
    async fn li_n_organization_acls_access_denied_is_a_scope_denial_on_a_valid_token() {
        let (server, http) = introspected_active().await;
        acls(0).respond_with(answer(403, LI_N)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(ORG).with_app().with_role(RequiredRole::Admin)).await;
        assert_valid_with_denial(
            &report,
            "rw_organization_admin or r_organization_admin",
            "Not enough permissions to access: organizationAcls",
        );
        assert!(report.role.is_empty());
        assert_eq!(report.interruption, None);
    }

    #[tokio::test]
    async fn li_o_rate_limits_and_server_errors_on_introspection_are_transient() {
        let (server, http) = fake(KIND).await;
        introspection().respond_with(answer(429, LI_O).insert_header("Retry-After", "120")).up_to_n_times(1).mount(&server).await;
        introspection().respond_with(ResponseTemplate::new(503)).mount(&server).await;
        let case = Case::new(ORG).with_app();
        let report = check(&http, &case).await;
        assert_eq!(report.token, None);
        let i = report.interruption.expect("rate limited");
        assert_eq!((i.kind, i.retry_after, i.counts_as_failure), (TransientKind::RateLimited, Some(Duration::from_secs(120)), true));
        let report = check(&http, &case).await;
        assert_eq!(report.token, None);
        assert_eq!(report.interruption.map(|i| i.kind), Some(TransientKind::Unavailable));
    }

    #[tokio::test]
    async fn li_o_a_rate_limit_on_organization_acls_keeps_the_introspection_verdict() {
        let (server, http) = introspected_active().await;
        acls(0).respond_with(answer(429, LI_O)).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(ORG).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.expiry, ExpiryFact::At(ts(1_893_456_000)));
        assert!(report.role.is_empty());
        assert_eq!(report.interruption.map(|i| i.kind), Some(TransientKind::RateLimited));
    }

    fn acl_page(organization: &str, role: &str, n: usize) -> String {
        let element = format!(r#"{{"organization":"{organization}","role":"{role}","state":"APPROVED"}}"#);
        format!(r#"{{"elements":[{}]}}"#, vec![element; n].join(","))
    }

    #[tokio::test]
    async fn organization_acls_are_paged_by_100_until_a_page_is_not_full() {
        let (server, http) = introspected_active().await;
        acls(0).respond_with(answer(200, &acl_page("urn:li:organization:1", "ADMINISTRATOR", 100))).expect(1).mount(&server).await;
        acls(100).respond_with(answer(200, LI3)).expect(1).mount(&server).await;
        acls(200).respond_with(answer(200, LI3_EMPTY)).expect(0).mount(&server).await;
        let report = check(&http, &Case::new(ORG).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleConfirmed]);
    }

    #[tokio::test]
    async fn organization_acls_read_at_most_ten_pages() {
        let (server, http) = introspected_active().await;
        let full = acl_page("urn:li:organization:1", "ADMINISTRATOR", 100);
        for page in 0..10 {
            acls(page * 100).respond_with(answer(200, &full)).expect(1).mount(&server).await;
        }
        acls(1000).respond_with(answer(200, LI3)).expect(0).mount(&server).await;
        let report = check(&http, &Case::new(ORG).with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleRemoved]);
    }

    #[tokio::test]
    async fn an_unparsable_account_id_is_account_not_found_and_skips_the_role_call() {
        let (server, http) = introspected_active().await;
        never_userinfo(&server).await;
        never_acls(&server).await;
        let report = check(&http, &Case::new("company/acme").with_app().with_role(RequiredRole::Admin)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::AccountNotFound]);
        assert!(report.role[0].message.contains("unparsable account id"));
    }

    #[tokio::test]
    async fn a_2xx_introspection_that_is_not_json_is_transient() {
        let (server, http) = fake(KIND).await;
        introspection().respond_with(ResponseTemplate::new(200).set_body_string("<html>")).expect(1).mount(&server).await;
        let report = check(&http, &Case::new(ORG).with_app()).await;
        assert_eq!(report.token, None);
        let i = report.interruption.expect("transient");
        assert_eq!((i.kind, i.unexpected), (TransientKind::Unavailable, None));
    }

    #[tokio::test]
    async fn answers_missing_from_the_table_are_unclassified_with_status_and_code_only() {
        let report = check_once(&Linkedin, introspection(), answer(403, LI_N), &Case::new(ORG).with_app()).await;
        assert_eq!(report.token, None);
        assert_eq!(report.interruption.and_then(|i| i.unexpected).as_deref(), Some("HTTP 403, code ACCESS_DENIED"));
    }

    #[test]
    fn account_ids_parse_as_organizations_members_or_nothing() {
        assert_eq!(Account::parse("5001"), Account::Organization(ORG.to_string()));
        assert_eq!(Account::parse(" urn:li:organization:5001 "), Account::Organization(ORG.to_string()));
        assert_eq!(Account::parse(MEMBER), Account::Member("abc123".to_string()));
        for bad in ["", "acme", "urn:li:organization:acme", "urn:li:person:", "urn:li:company:5001"] {
            assert_eq!(Account::parse(bad), Account::Unparsable, "{bad:?}");
        }
    }

    #[test]
    fn the_profile_follows_the_linkedin_section() {
        let p = Linkedin.profile();
        assert!(!p.short_lived && p.reports_scopes && p.tokens_expire);
        assert_eq!(p.app_keys, AppKeys::ClientIdAndSecret);
        assert_eq!(p.scope_separator, " ");
        assert!(p.consent_url.starts_with("https://www.linkedin.com/oauth/v2/authorization?response_type=code&client_id={client_id}"));
        assert_eq!(Linkedin.default_scopes(MEMBER), ["openid", "profile", "w_member_social"]);
        assert_eq!(Linkedin.default_scopes("5001"), ["openid", "profile", "w_organization_social", "rw_organization_admin"]);
    }
}
