//! Google OAuth calls GO1–GO3 (providers.md §3.8), shared by youtube and
//! google-business-profile: the GO1 tokeninfo probe, the GO rows that apply to every Google
//! answer (GO-c 401, GO-h rate limits), and the check flow "GO1, then the provider's role call".
//!
//! Refresh (GO2) and revoke (GO3) live here too: both Google providers make them alike.

use jiff::Timestamp;
use serde_json::Value;
use url::Url;

use super::http::Answer;
use super::lifecycle::{self, Lifecycle, RefreshOutcome, Renewal, RevokeOutcome};
use super::{
    AppKeys, CheckInput, CheckReport, ExpiryFact, Interruption, ProviderHttp, ProviderProfile, RoleFinding, ScopeDenial, TokenVerdict,
    split_scopes,
};
use crate::api::ProviderKind;
use crate::redact;

/// Default host of the Google OAuth calls (tokeninfo, token, revoke).
pub const OAUTH_BASE: &str = "https://oauth2.googleapis.com";

/// The Google consent URL template (providers.md §3.8), shared by both Google providers.
pub const CONSENT_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth?client_id={client_id}&redirect_uri={redirect_uri}&response_type=code&scope={scopes}&access_type=offline&prompt=consent&include_granted_scopes=true&state={state}";

/// The profile of a Google provider: hourly tokens refreshed with client id and secret, the
/// Google consent URL, space-separated scopes reported by tokeninfo.
pub const fn profile(default_scopes: &'static [&'static str]) -> ProviderProfile {
    ProviderProfile {
        short_lived: true,
        app_keys: AppKeys::ClientIdAndSecret,
        consent_url: CONSENT_URL,
        scope_separator: " ",
        default_scopes,
        reports_scopes: true,
        tokens_expire: true,
    }
}

/// GO2 before the probe (lead 10 min), not rotating; GO3 revokes (§3.8).
pub static LIFECYCLE: Lifecycle = Lifecycle {
    renewal: Renewal::RefreshToken { keys: AppKeys::ClientIdAndSecret, rotates: false, unknown_expiry_due: false },
    lead: std::time::Duration::from_secs(10 * 60),
    revokes: true,
};

/// GO2: `POST /token`, form `grant_type=refresh_token, refresh_token, client_id,
/// client_secret`. GO-e `invalid_grant` → `TokenInvalidated`; GO-f (401 `invalid_client`, 400
/// `unauthorized_client`) → `InvalidSecret`; GO-h transient.
pub async fn refresh(http: &ProviderHttp, kind: ProviderKind, input: &CheckInput<'_>) -> RefreshOutcome {
    let Some((app, secret, refresh)) = input.app.and_then(|a| Some((a, a.client_secret.as_ref()?, input.refresh_token?))) else {
        return RefreshOutcome::NotSupported;
    };
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.expose()),
        ("client_id", app.client_id.as_str()),
        ("client_secret", secret.expose()),
    ];
    let answer = match http.send(kind, http.client().post(http.url(kind, OAUTH_BASE, "/token")).form(&form)).await {
        Ok(a) => a,
        Err(i) => return RefreshOutcome::Interrupted(i),
    };
    let json = answer.json();
    let (error, description) = lifecycle::oauth_error(json.as_ref());
    match (answer.status, error) {
        (200..=299, _) => lifecycle::credential_or_transient(&answer, input.now, "Google"),
        (400, Some("invalid_grant")) => lifecycle::invalidated(input, "Google", description),
        (401, Some("invalid_client")) | (400, Some("unauthorized_client")) => lifecycle::client_rejected(input, "Google", description),
        _ => match rate_limit(&answer, json.as_ref()) {
            Some(i) => RefreshOutcome::Interrupted(i),
            None => lifecycle::refresh_other(&answer, error.or(error_status(json.as_ref()))),
        },
    }
}

/// Code exchange (§2.14): `POST /token`, form `code, client_id, client_secret, redirect_uri,
/// grant_type=authorization_code, code_verifier`.
pub async fn exchange_code(http: &ProviderHttp, kind: ProviderKind, x: &lifecycle::CodeExchange<'_>) -> RefreshOutcome {
    let (Some(secret), Some(verifier)) = (x.app.client_secret.as_ref(), x.code_verifier) else {
        return RefreshOutcome::NotSupported;
    };
    let form = [
        ("code", x.code.expose()),
        ("client_id", x.app.client_id.as_str()),
        ("client_secret", secret.expose()),
        ("redirect_uri", x.redirect_uri),
        ("grant_type", "authorization_code"),
        ("code_verifier", verifier.expose()),
    ];
    match http.send(kind, http.client().post(http.url(kind, OAUTH_BASE, "/token")).form(&form)).await {
        Ok(answer) => lifecycle::oauth_exchange_answer(&answer, x, "Google"),
        Err(i) => RefreshOutcome::Interrupted(i),
    }
}

/// GO3: `POST /revoke?token={R}` (`{T}` without one), form content type, empty body, no app
/// credentials. 2xx done; 400 `invalid_token` already invalid.
pub async fn revoke(http: &ProviderHttp, kind: ProviderKind, input: &CheckInput<'_>) -> RevokeOutcome {
    let token = input.refresh_token.unwrap_or(input.token);
    let mut url = http.url(kind, OAUTH_BASE, "/revoke");
    url.query_pairs_mut().append_pair("token", token.expose());
    let request = http.client().post(url).header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body("");
    let answer = match http.send(kind, request).await {
        Ok(a) => a,
        Err(i) => return RevokeOutcome::Interrupted(i),
    };
    let json = answer.json();
    let error = lifecycle::oauth_error(json.as_ref()).0;
    match (answer.status, error) {
        (200..=299, _) => RevokeOutcome::Revoked { already_invalid: false },
        (400, Some("invalid_token")) => RevokeOutcome::Revoked { already_invalid: true },
        _ => match rate_limit(&answer, json.as_ref()) {
            Some(i) => RevokeOutcome::Interrupted(i),
            None => lifecycle::revoke_other(&answer, error, "Google"),
        },
    }
}

/// What a provider's own table says about the answer to its role call (YT1, GB1).
#[derive(Clone, Debug, PartialEq)]
pub enum ApiOutcome {
    /// A role or account finding (the token stays as GO1 decided).
    Role(RoleFinding),
    /// A "lacks permission" answer: the token stays valid.
    ScopeDenied(ScopeDenial),
    /// The answer decides about the token itself (YT-g, GO-c).
    Token(TokenVerdict),
    /// A transient answer: the verdict so far is kept.
    Transient(Interruption),
}

/// Classifies a role-call answer by the provider's table; `None` when no row of it matches,
/// so that the shared GO rows (GO-h) and finally "unclassified" apply.
pub type ApiRows = fn(&Answer, Option<&Value>, &CheckInput<'_>) -> Option<ApiOutcome>;

/// The check of a Google provider: GO1, then (when `role_call` is given and GO1 said the token
/// is valid) the provider's role call with Bearer, classified by `rows`, then by the shared GO
/// rows. Decisions taken before a transient answer are kept in the report.
pub async fn check(http: &ProviderHttp, kind: ProviderKind, input: &CheckInput<'_>, role_call: Option<Url>, rows: ApiRows) -> CheckReport {
    let mut report = probe(http, kind, input).await;
    if report.token != Some(TokenVerdict::Valid) {
        return report;
    }
    let Some(url) = role_call else {
        return report;
    };
    let request = http.client().get(url).bearer_auth(input.token.expose());
    let outcome = match http.send(kind, request).await {
        Ok(answer) => classify_api(&answer, input, rows),
        Err(interruption) => ApiOutcome::Transient(interruption),
    };
    match outcome {
        ApiOutcome::Role(finding) => report.role.push(finding),
        ApiOutcome::ScopeDenied(denial) => report.scope_denials.push(denial),
        ApiOutcome::Token(verdict) => report.token = Some(verdict),
        ApiOutcome::Transient(interruption) => report.interruption = Some(interruption),
    }
    report
}

/// GO1: `GET /tokeninfo?access_token={T}` and the GO rows that apply to it.
pub async fn probe(http: &ProviderHttp, kind: ProviderKind, input: &CheckInput<'_>) -> CheckReport {
    let mut url = http.url(kind, OAUTH_BASE, "/tokeninfo");
    url.query_pairs_mut().append_pair("access_token", input.token.expose());
    match http.send(kind, http.client().get(url)).await {
        Ok(answer) => classify_tokeninfo(&answer, input),
        Err(interruption) => CheckReport::interrupted(interruption),
    }
}

/// The GO rows for a GO1 answer.
fn classify_tokeninfo(answer: &Answer, input: &CheckInput<'_>) -> CheckReport {
    let json = answer.json();
    if let Some(outcome) = shared_rows(answer, json.as_ref(), input) {
        return outcome.map_or_else(CheckReport::interrupted, CheckReport::verdict);
    }
    if answer.is_success() {
        return match json.as_ref().and_then(Value::as_object) {
            Some(body) => valid_report(body, input.now),
            None => CheckReport::interrupted(Interruption::unavailable(format!(
                "Google tokeninfo answered HTTP {} with a body that is not the expected JSON",
                answer.status
            ))),
        };
    }
    let error = json.as_ref().and_then(|j| j.get("error")).and_then(Value::as_str);
    if answer.status == 400 && error == Some("invalid_token") {
        let description = json.as_ref().and_then(|j| j.get("error_description")).and_then(Value::as_str);
        return CheckReport::verdict(refresh_then_fallback(&format!(
            "Google tokeninfo rejected the access token (invalid_token: {})",
            redact::scrub(description.unwrap_or("no description"), &input.secrets())
        )));
    }
    if let Some(rate) = rate_limit(answer, json.as_ref()) {
        return CheckReport::interrupted(rate);
    }
    CheckReport::interrupted(Interruption::unclassified(describe(answer, json.as_ref())))
}

/// GO-a: Valid, expiry now + `expires_in`, scopes from `scope`.
fn valid_report(body: &serde_json::Map<String, Value>, now: Timestamp) -> CheckReport {
    let expiry =
        body.get("expires_in").and_then(|v| super::numbers::expiry_from_expires_in(v, now)).map_or(ExpiryFact::NotReported, ExpiryFact::At);
    CheckReport {
        token: Some(TokenVerdict::Valid),
        granted_scopes: body.get("scope").and_then(Value::as_str).map(split_scopes),
        expiry,
        ..Default::default()
    }
}

/// GO-b / GO-c: refresh, else the expiry fallback of short-lived tokens.
fn refresh_then_fallback(message: &str) -> TokenVerdict {
    TokenVerdict::RefreshThen(Box::new(TokenVerdict::ExpiryFallback { message: message.to_string() }))
}

/// Classifies an answer to a Google API call (YT1, GB1): shared transients and GO-c first,
/// then the provider's rows, then GO-h, else unclassified.
fn classify_api(answer: &Answer, input: &CheckInput<'_>, rows: ApiRows) -> ApiOutcome {
    let json = answer.json();
    shared_rows(answer, json.as_ref(), input)
        .map(|outcome| outcome.map_or_else(ApiOutcome::Transient, ApiOutcome::Token))
        .or_else(|| rows(answer, json.as_ref(), input))
        .or_else(|| rate_limit(answer, json.as_ref()).map(ApiOutcome::Transient))
        .unwrap_or_else(|| ApiOutcome::Transient(Interruption::unclassified(describe(answer, json.as_ref()))))
}

/// Rows that come before any table: 3xx and 5xx are transient (§2.5); a 401 is GO-c.
fn shared_rows(answer: &Answer, json: Option<&Value>, input: &CheckInput<'_>) -> Option<Result<TokenVerdict, Interruption>> {
    if matches!(answer.status, 300..=399 | 500..=599) {
        return answer.generic_transient().map(Err);
    }
    if answer.status == 401 {
        let message = error_message(json).unwrap_or("no message");
        return Some(Ok(refresh_then_fallback(&format!(
            "Google rejected the access token (HTTP 401: {})",
            redact::scrub(message, &input.secrets())
        ))));
    }
    None
}

/// GO-h: HTTP 429 or status `RESOURCE_EXHAUSTED` is a transient rate limit.
pub fn rate_limit(answer: &Answer, json: Option<&Value>) -> Option<Interruption> {
    (answer.status == 429 || error_status(json) == Some("RESOURCE_EXHAUSTED"))
        .then(|| Interruption::rate_limited(format!("Google rate limit (HTTP {} RESOURCE_EXHAUSTED)", answer.status), answer.retry_after()))
}

/// `error.message` of a Google API error body.
pub fn error_message(json: Option<&Value>) -> Option<&str> {
    json?.get("error")?.get("message")?.as_str()
}

/// `error.status` of a Google API error body (`PERMISSION_DENIED`, `NOT_FOUND`, …).
pub fn error_status(json: Option<&Value>) -> Option<&str> {
    json?.get("error")?.get("status")?.as_str()
}

/// The reasons a Google API error body gives: `error.errors[].reason` (YouTube Data API) and
/// `error.details[].reason` (`google.rpc.ErrorInfo`), in that order.
pub fn error_reasons(json: Option<&Value>) -> Vec<&str> {
    let Some(error) = json.and_then(|j| j.get("error")) else {
        return Vec::new();
    };
    ["errors", "details"]
        .iter()
        .filter_map(|list| error.get(*list)?.as_array())
        .flatten()
        .filter_map(|item| item.get("reason")?.as_str())
        .collect()
}

/// HTTP status and the provider's error code only, for an unclassified answer (never a body):
/// `HTTP 403, reason SERVICE_DISABLED`, `HTTP 400, error invalid_request`, `HTTP 418`.
pub fn describe(answer: &Answer, json: Option<&Value>) -> String {
    let error = json.and_then(|j| j.get("error"));
    let code = if let Some(reason) = error_reasons(json).first() {
        Some(format!("reason {reason}"))
    } else if let Some(status) = error_status(json) {
        Some(format!("status {status}"))
    } else {
        error.and_then(Value::as_str).map(|oauth| format!("error {oauth}"))
    };
    match code {
        Some(code) => format!("HTTP {}, {}", answer.status, redact::scrub(&code, &[])),
        None => format!("HTTP {}", answer.status),
    }
}

/// Fakes and inputs shared by the tests of both Google providers.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::api::RequiredRole;
    use crate::providers::endpoints::Endpoints;
    use crate::providers::http::USER_AGENT;
    use crate::redact::SecretString;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    /// The access token the fakes expect.
    pub const TOKEN: &str = "ya29.example-access-token";

    /// The clock of every test check.
    pub fn now() -> Timestamp {
        "2026-04-01T12:00:00Z".parse().unwrap()
    }

    /// The access token as the Secret holds it.
    pub fn token() -> SecretString {
        SecretString::new(TOKEN)
    }

    /// A check input with no refresh token, app or known expiry.
    pub fn input<'a>(token: &'a SecretString, account_id: &'a str, role: Option<RequiredRole>) -> CheckInput<'a> {
        CheckInput {
            account_id,
            token,
            refresh_token: None,
            app: None,
            required_role: role,
            known_expires_at: None,
            token_issued_at: None,
            now: now(),
        }
    }

    /// A JSON answer with a literal body.
    pub fn answer(status: u16, body: &str) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
    }

    /// A request with exactly these query parameters, in this order.
    pub fn exact_query(expected: &'static [(&'static str, &'static str)]) -> impl Fn(&Request) -> bool + Send + Sync {
        move |r: &Request| {
            let got: Vec<(String, String)> = r.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            got.iter().map(|(k, v)| (k.as_str(), v.as_str())).eq(expected.iter().copied())
        }
    }

    /// The exact GO1 call (no Authorization header, only `access_token`), answered once.
    pub fn go1(response: ResponseTemplate) -> Mock {
        Mock::given(method("GET"))
            .and(path("/tokeninfo"))
            .and(query_param("access_token", TOKEN))
            .and(|r: &Request| r.url.query_pairs().count() == 1 && !r.headers.contains_key("authorization"))
            .and(header("accept", "application/json"))
            .and(header("user-agent", USER_AGENT))
            .respond_with(response)
            .expect(1)
    }

    /// A GET with Bearer and the common headers, on `api_path` with exactly `query`.
    pub fn bearer_get(api_path: &str, query: &'static [(&'static str, &'static str)]) -> wiremock::MockBuilder {
        Mock::given(method("GET"))
            .and(path(api_path))
            .and(exact_query(query))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(header("accept", "application/json"))
            .and(header("user-agent", USER_AGENT))
    }

    /// A fake provider with these mocks, and a client pointed at it for `provider`.
    pub async fn fake(provider: &str, mocks: Vec<Mock>) -> (MockServer, ProviderHttp) {
        let server = MockServer::start().await;
        for mock in mocks {
            mock.mount(&server).await;
        }
        let endpoints = Endpoints::from_sources(&[format!("{provider}={}", server.uri())], None).unwrap();
        (server, ProviderHttp::with_endpoints(endpoints).unwrap())
    }

    /// The RoleLost reasons a report found.
    pub fn role_of(report: &CheckReport) -> Vec<crate::conditions::RoleReason> {
        report.role.iter().map(|f| f.reason).collect()
    }

    /// Asserts a "lacks permission" row: the token stays valid, one denial, nothing else.
    pub fn assert_scope_denial_on_valid_token(report: &CheckReport, scope: &str, message: &str) {
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.scope_denials, vec![ScopeDenial { scope: scope.to_string(), message: message.to_string() }]);
        assert!(report.role.is_empty());
        assert_eq!(report.interruption, None);
    }

    /// Whether a verdict is "→ refresh; expiry fallback" (GO-b, GO-c).
    pub fn is_refresh_then_fallback(verdict: &Option<TokenVerdict>) -> bool {
        matches!(verdict, Some(TokenVerdict::RefreshThen(inner)) if matches!(**inner, TokenVerdict::ExpiryFallback { .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::providers::TransientKind;
    use std::time::Duration;

    const GO1: &str = r#"{"aud":"cid","scope":"https://www.googleapis.com/auth/youtube.readonly https://www.googleapis.com/auth/youtube.upload","expires_in":"3599"}"#;
    const GO_B: &str = r#"{"error":"invalid_token","error_description":"Invalid Value"}"#;
    const GO_C: &str = r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#;
    const GO_H: &str = r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#;

    async fn probe_answer(go1_answer: wiremock::Mock) -> CheckReport {
        let (_server, http) = fake("youtube", vec![go1_answer]).await;
        let token = token();
        probe(&http, ProviderKind::Youtube, &input(&token, "UCexample00000000000000", None)).await
    }

    #[tokio::test]
    async fn go_a_tokeninfo_200_is_valid_with_expiry_and_scopes() {
        let report = probe_answer(go1(answer(200, GO1))).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.expiry, ExpiryFact::At("2026-04-01T12:59:59Z".parse().unwrap()));
        assert_eq!(
            report.granted_scopes,
            Some(vec![
                "https://www.googleapis.com/auth/youtube.readonly".to_string(),
                "https://www.googleapis.com/auth/youtube.upload".to_string(),
            ])
        );
        assert_eq!(report.interruption, None);
    }

    #[tokio::test]
    async fn go_a_expires_in_may_be_a_number() {
        let report = probe_answer(go1(answer(200, r#"{"aud":"cid","scope":"a b","expires_in":120}"#))).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.expiry, ExpiryFact::At("2026-04-01T12:02:00Z".parse().unwrap()));
    }

    #[tokio::test]
    async fn go_b_invalid_token_refreshes_with_the_expiry_fallback() {
        let report = probe_answer(go1(answer(400, GO_B))).await;
        assert!(is_refresh_then_fallback(&report.token), "{:?}", report.token);
        let Some(TokenVerdict::RefreshThen(inner)) = report.token else { unreachable!() };
        assert_eq!(
            *inner,
            TokenVerdict::ExpiryFallback { message: "Google tokeninfo rejected the access token (invalid_token: Invalid Value)".into() }
        );
        assert_eq!(report.interruption, None);
    }

    #[tokio::test]
    async fn go_c_a_401_on_tokeninfo_refreshes_with_the_expiry_fallback() {
        let report = probe_answer(go1(answer(401, GO_C))).await;
        assert!(is_refresh_then_fallback(&report.token), "{:?}", report.token);
    }

    #[tokio::test]
    async fn go_h_rate_limit_on_tokeninfo_is_transient_with_retry_after() {
        let report = probe_answer(go1(answer(429, GO_H).insert_header("retry-after", "30"))).await;
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::RateLimited);
        assert_eq!(i.retry_after, Some(Duration::from_secs(30)));
        assert_eq!(i.unexpected, None);
        assert_eq!(report.token, None);
    }

    #[tokio::test]
    async fn other_tokeninfo_errors_are_unclassified_and_name_only_status_and_code() {
        let report = probe_answer(go1(answer(400, r#"{"error":"invalid_request","error_description":"details"}"#))).await;
        let i = report.interruption.unwrap();
        assert_eq!(i.unexpected.as_deref(), Some("HTTP 400, error invalid_request"));
        assert_eq!(report.token, None);
    }

    #[tokio::test]
    async fn a_tokeninfo_200_that_is_not_json_is_transient() {
        let report = probe_answer(go1(answer(200, "<html>"))).await;
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::Unavailable);
        assert_eq!(i.unexpected, None);
    }

    #[tokio::test]
    async fn a_tokeninfo_5xx_is_transient() {
        let report = probe_answer(go1(answer(503, ""))).await;
        assert_eq!(report.interruption.unwrap().kind, TransientKind::Unavailable);
    }

    #[test]
    fn error_reasons_read_both_google_error_shapes() {
        let yt: Value = serde_json::from_str(r#"{"error":{"errors":[{"reason":"quotaExceeded"}]}}"#).unwrap();
        let rpc: Value =
            serde_json::from_str(r#"{"error":{"status":"PERMISSION_DENIED","details":[{"@type":"x"},{"reason":"SERVICE_DISABLED"}]}}"#)
                .unwrap();
        assert_eq!(error_reasons(Some(&yt)), vec!["quotaExceeded"]);
        assert_eq!(error_reasons(Some(&rpc)), vec!["SERVICE_DISABLED"]);
        assert_eq!(error_status(Some(&rpc)), Some("PERMISSION_DENIED"));
        assert!(error_reasons(None).is_empty());
    }

    #[test]
    fn the_google_profile_follows_the_contract() {
        let p = profile(&["s"]);
        assert!(p.short_lived && p.reports_scopes && p.tokens_expire);
        assert_eq!(p.app_keys, AppKeys::ClientIdAndSecret);
        assert_eq!(p.scope_separator, " ");
        assert_eq!(
            CONSENT_URL,
            "https://accounts.google.com/o/oauth2/v2/auth?client_id={client_id}&redirect_uri={redirect_uri}&response_type=code&scope={scopes}&access_type=offline&prompt=consent&include_granted_scopes=true&state={state}"
        );
    }
}
