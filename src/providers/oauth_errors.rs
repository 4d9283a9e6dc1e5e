//! Pieces shared by the OAuth 2.0 providers with JSON error bodies (linkedin, x, pinterest,
//! tiktok): reading the fields their classification tables match on, the unclassified answer
//! (providers.md §2.5), identity findings (§2.4) and "lacks permission" answers.

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::http::Answer;
use super::{CheckInput, CheckReport, Interruption, RoleFinding, ScopeDenial, TokenVerdict};
use crate::conditions::RoleReason;
use crate::redact;

/// Longest provider error code copied into an `UnexpectedProviderResponse` event.
const MAX_CODE_CHARS: usize = 64;

/// A string or integer field of a JSON body, by JSON pointer, as a string (providers send
/// error codes and ids as either).
pub fn code_at(body: &Value, pointer: &str) -> Option<String> {
    match body.pointer(pointer)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A string field of a JSON body, by JSON pointer.
pub fn str_at<'a>(body: &'a Value, pointer: &str) -> Option<&'a str> {
    body.pointer(pointer)?.as_str()
}

/// An integer field holding unix seconds, by JSON pointer, as a timestamp (`None` when a
/// timestamp cannot hold it).
pub fn unix_seconds_at(body: &Value, pointer: &str) -> Option<Timestamp> {
    super::numbers::timestamp_from_json_secs(body.pointer(pointer)?)
}

/// Whether a provider error code is short and plain enough to appear in an event: codes are
/// identifiers, so anything else is body text and is left out.
fn is_code_like(code: &str) -> bool {
    !code.is_empty()
        && code.chars().count() <= MAX_CODE_CHARS
        && code.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'))
}

/// The unclassified answer (§2.5) for an HTTP status and the provider's error code, if it
/// gave one: `HTTP 403, code 29`. Only status and code, never body text.
pub fn unclassified(status: u16, code: Option<&str>) -> Interruption {
    match code.filter(|c| is_code_like(c)) {
        Some(c) => Interruption::unclassified(format!("HTTP {status}, code {c}")),
        None => Interruption::unclassified(format!("HTTP {status}")),
    }
}

/// An answer no row of the provider's table matched: the shared transient reading of 3xx,
/// 429 and 5xx (§2.5) when it applies, else unclassified with the provider's error code.
pub fn transient_or_unclassified(answer: &Answer, code: Option<&str>) -> Interruption {
    answer.generic_transient().unwrap_or_else(|| unclassified(answer.status, code))
}

/// A rate-limit row of a provider's table, waiting as long as `Retry-After` asks (§2.5 rule 2)
/// or, without it, as long as `fallback` says.
pub fn rate_limited(answer: &Answer, detail: String, fallback: Option<Duration>) -> Interruption {
    Interruption::rate_limited(detail, answer.retry_after().or(fallback))
}

/// The identity finding of a probe that names the token's account (§2.4): `IdentityConfirmed`
/// when `account_id` is one of the `reported` ids, else `AccountMismatch`.
pub fn identity_finding(provider: &str, account_id: &str, reported: &[&str]) -> RoleFinding {
    let account_id = account_id.trim();
    if reported.contains(&account_id) {
        RoleFinding { reason: RoleReason::IdentityConfirmed, message: format!("the token belongs to {provider} account {account_id}") }
    } else {
        let actual = reported.first().copied().unwrap_or("unknown");
        RoleFinding {
            reason: RoleReason::AccountMismatch,
            message: format!("the token belongs to {provider} account {actual}, not {account_id}"),
        }
    }
}

/// A probe that accepted the token and named its account: Valid plus the identity finding.
pub fn identity_report(provider: &str, input: &CheckInput<'_>, reported: &[&str], name: Option<&str>) -> CheckReport {
    CheckReport {
        token: Some(TokenVerdict::Valid),
        role: vec![identity_finding(provider, input.account_id, reported)],
        account_name: name.map(str::to_string),
        ..Default::default()
    }
}

/// A "lacks permission" answer (§2.4): the scope the call needs and the provider's message,
/// scrubbed of secrets.
pub fn scope_denial(input: &CheckInput<'_>, scope: &str, message: &str) -> ScopeDenial {
    ScopeDenial { scope: scope.to_string(), message: redact::scrub(message, &input.secrets()) }
}

/// A probe that accepted the token but lacks permission: Valid plus the scope denial.
pub fn scope_denied_report(input: &CheckInput<'_>, scope: &str, message: &str) -> CheckReport {
    CheckReport { token: Some(TokenVerdict::Valid), scope_denials: vec![scope_denial(input, scope, message)], ..Default::default() }
}

/// A provider message for a verdict: `prefix`, then the scrubbed provider message if any.
pub fn with_provider_message(input: &CheckInput<'_>, prefix: &str, message: Option<&str>) -> String {
    match message.map(str::trim).filter(|m| !m.is_empty()) {
        Some(m) => format!("{prefix}: {}", redact::scrub(m, &input.secrets())),
        None => prefix.to_string(),
    }
}

/// Test fixtures shared by the providers' fake-server tests.
#[cfg(test)]
pub(crate) mod test_support {
    use jiff::Timestamp;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

    use crate::api::{ProviderKind, RequiredRole};
    use crate::conditions::RoleReason;
    use crate::providers::endpoints::Endpoints;
    use crate::providers::{AppCredentials, CheckInput, CheckReport, Provider, ProviderHttp, TokenVerdict};
    use crate::redact::SecretString;

    /// The access token every test sends.
    pub const TOKEN: &str = "tok-secret-123";
    /// The app's client id.
    pub const CLIENT_ID: &str = "cid";
    /// The app's client secret.
    pub const CLIENT_SECRET: &str = "csec-secret";

    /// The clock of every test cycle.
    pub fn now() -> Timestamp {
        Timestamp::from_second(1_772_366_400).unwrap_or_else(|_| unreachable!()) // 2026-03-01T12:00:00Z
    }

    /// A fake server for `kind` and a client whose calls of that provider go to it.
    pub async fn fake(kind: ProviderKind) -> (MockServer, ProviderHttp) {
        let server = MockServer::start().await;
        let endpoints = Endpoints::from_sources(&[format!("{}={}", kind.as_str(), server.uri())], None)
            .unwrap_or_else(|e| panic!("endpoint override: {e}"));
        let http = ProviderHttp::with_endpoints(endpoints).unwrap_or_else(|e| panic!("client: {e}"));
        (server, http)
    }

    /// A JSON answer with the literal body of providers.md.
    pub fn answer(status: u16, body: &str) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
    }

    /// A `GET` of `url_path` sending the test token as Bearer and `Accept: application/json`.
    pub fn bearer_get(url_path: &str) -> MockBuilder {
        Mock::given(method("GET"))
            .and(path(url_path))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .and(header("accept", "application/json"))
    }

    /// One check of `provider` against a fake that expects exactly one call matching `call`
    /// and answers it with `template`.
    pub async fn check_once(provider: &dyn Provider, call: MockBuilder, template: ResponseTemplate, case: &Case) -> CheckReport {
        let (server, http) = fake(provider.kind()).await;
        call.respond_with(template).expect(1).mount(&server).await;
        provider.check(&http, &case.input()).await
    }

    /// The role reasons of a report, in order.
    pub fn reasons(report: &CheckReport) -> Vec<RoleReason> {
        report.role.iter().map(|f| f.reason).collect()
    }

    /// Asserts a Valid token whose only identity finding has `reason`.
    pub fn assert_valid_identity(report: &CheckReport, reason: RoleReason) {
        assert_eq!(report.token, Some(TokenVerdict::Valid), "{report:?}");
        assert_eq!(reasons(report), vec![reason], "{report:?}");
    }

    /// Asserts a Valid token with exactly one "lacks permission" answer for `scope` carrying
    /// the provider's `message`.
    pub fn assert_valid_with_denial(report: &CheckReport, scope: &str, message: &str) {
        assert_eq!(report.token, Some(TokenVerdict::Valid), "{report:?}");
        assert_eq!(report.scope_denials.len(), 1, "{report:?}");
        assert_eq!(report.scope_denials[0].scope, scope);
        assert_eq!(report.scope_denials[0].message, message);
    }

    /// Whether the verdict is "→ refresh" with the expiry fallback.
    pub fn is_refresh_then_fallback(report: &CheckReport) -> bool {
        matches!(report.token.as_ref(), Some(TokenVerdict::RefreshThen(inner)) if matches!(**inner, TokenVerdict::ExpiryFallback { .. }))
    }

    /// Whether the verdict is "→ refresh" with `Expired` as fallback.
    pub fn is_refresh_then_expired(report: &CheckReport) -> bool {
        matches!(report.token.as_ref(), Some(TokenVerdict::RefreshThen(inner)) if matches!(**inner, TokenVerdict::Expired { .. }))
    }

    /// The owned parts of a [`CheckInput`].
    pub struct Case {
        /// `spec.account.id`.
        pub account: String,
        /// The access token.
        pub token: SecretString,
        /// App credentials.
        pub app: Option<AppCredentials>,
        /// `spec.requiredRole`.
        pub role: Option<RequiredRole>,
        /// Issue or first-seen time of the token.
        pub issued_at: Option<Timestamp>,
    }

    impl Case {
        /// A case without app credentials or required role.
        pub fn new(account: &str) -> Self {
            Case {
                account: account.to_string(),
                token: SecretString::new(TOKEN),
                app: None,
                role: None,
                issued_at: Some(Timestamp::from_second(1_700_000_000).unwrap_or_else(|_| unreachable!())),
            }
        }

        /// With app credentials `cid` / `csec-secret`.
        pub fn with_app(mut self) -> Self {
            self.app = Some(AppCredentials { client_id: CLIENT_ID.to_string(), client_secret: Some(SecretString::new(CLIENT_SECRET)) });
            self
        }

        /// With a required role.
        pub fn with_role(mut self, role: RequiredRole) -> Self {
            self.role = Some(role);
            self
        }

        /// With the token first seen at this time.
        pub fn issued(mut self, at: Option<Timestamp>) -> Self {
            self.issued_at = at;
            self
        }

        /// The check input.
        pub fn input(&self) -> CheckInput<'_> {
            CheckInput {
                account_id: &self.account,
                token: &self.token,
                refresh_token: None,
                app: self.app.as_ref(),
                required_role: self.role,
                known_expires_at: None,
                token_issued_at: self.issued_at,
                now: now(),
            }
        }
    }
}
