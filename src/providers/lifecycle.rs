//! The token lifecycle calls beyond the check: refresh (providers.md §2.6), revoke (§2.8) and
//! the code exchange of the connect flow (§2.14). Providers return typed credentials and
//! outcomes; they never touch Kubernetes types. The controller decides *when* to call (its
//! refresh policy) and stores what comes back (the guarded write-back in `secrets`).

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::http::Answer;
use super::oauth_errors::{self, str_at};
use super::{AppKeys, CheckInput, Interruption, TokenVerdict};
use crate::conditions::RevokedReason;
use crate::redact::{self, SecretString};

/// Longest lifetime accepted from a provider's `expires_in`-style number (ten years): larger
/// values are clamped, never an overflow.
const MAX_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How a provider renews an access token (providers.md §2.3 steps 2 and 5, §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// No refresh call exists (telegram).
    None,
    /// The OAuth refresh-token grant, made before the probe (step 2) and on "→ refresh" rows
    /// (linkedin, x, pinterest, youtube, google-business-profile, tiktok).
    RefreshToken {
        /// App Secret keys the refresh call needs.
        keys: AppKeys,
        /// The provider issues a new refresh token with every refresh and kills the old one.
        rotates: bool,
        /// An unknown `expires_at` also makes the refresh due (x, tiktok: their probes report
        /// no expiry).
        unknown_expiry_due: bool,
    },
    /// Meta's `fb_exchange_token` (facebook, instagram): USER tokens only, with app
    /// credentials, after `debug_token` said valid this cycle (step 5).
    MetaExchange,
    /// `ig_refresh_token` / `th_refresh_token` (instagram-login, threads): after a valid probe
    /// (step 5), for tokens at least 24 h old holding `scope`.
    LongLived {
        /// The scope the token must hold.
        scope: &'static str,
    },
}

impl Renewal {
    /// Whether a refresh call exists at all.
    pub fn exists(self) -> bool {
        self != Renewal::None
    }
}

/// What a provider knows about its refresh and revoke calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    /// How tokens are renewed.
    pub renewal: Renewal,
    /// The provider default of the refresh lead ("Lead" in its section of providers.md, §4).
    pub lead: Duration,
    /// Whether a revoke call exists (`RevokeNotSupported` otherwise).
    pub revokes: bool,
}

/// Lifecycle of a provider without refresh or revoke calls.
pub const NO_LIFECYCLE: Lifecycle = Lifecycle { renewal: Renewal::None, lead: Duration::ZERO, revokes: false };

/// A credential a provider issued (refresh answer or code exchange). Expiries are relative to
/// the answer; the controller turns them into times when it stores them.
#[derive(Clone, Debug, PartialEq)]
pub struct NewCredential {
    /// The new access token.
    pub access_token: SecretString,
    /// A non-empty refresh token, when the answer returned one.
    pub refresh_token: Option<SecretString>,
    /// `expires_in` of the answer (clamped to ten years); `None`: the answer has no expiry.
    pub expires_in: Option<Duration>,
    /// The refresh token's expiry, when the answer gives one.
    pub refresh_token_expires_at: Option<Timestamp>,
    /// `scope` verbatim, when returned.
    pub scope: Option<String>,
    /// The account the answer names, where it names one (TikTok `open_id`).
    pub account_id: Option<String>,
}

/// The outcome of a refresh call.
#[derive(Clone, Debug, PartialEq)]
pub enum RefreshOutcome {
    /// The provider issued a new credential: store it.
    Refreshed(NewCredential),
    /// The provider refused: the verdict says why (`Revoked TokenInvalidated` for
    /// `invalid_grant`, `InvalidSecret` for rejected client credentials, Graph rows, or the
    /// expiry fallback).
    Refused(TokenVerdict),
    /// A transient or unclassified answer (§2.5): nothing changed, the refresh token was not
    /// used up.
    Interrupted(Interruption),
    /// The provider has no such call.
    NotSupported,
}

/// The outcome of a revoke call (§2.8).
#[derive(Clone, Debug, PartialEq)]
pub enum RevokeOutcome {
    /// 2xx, or a row marked "already invalid": `TokenRevoked`.
    Revoked {
        /// The provider said the token was already invalid.
        already_invalid: bool,
    },
    /// Another answer: `RevokeFailed`, no retry.
    Failed {
        /// What a person should know (no secrets).
        message: String,
    },
    /// A transient answer: retried for at most 10 minutes.
    Interrupted(Interruption),
    /// No revoke API: `RevokeNotSupported`.
    NotSupported,
    /// The revoke call needs credentials that are missing: `RevokeSkipped`.
    Skipped {
        /// What is missing.
        why: String,
    },
}

/// The authorization code of the connect flow (§2.14), for [`super::Provider::exchange_code`].
#[derive(Clone, Debug)]
pub struct CodeExchange<'a> {
    /// The authorization code.
    pub code: &'a SecretString,
    /// The redirect URI the consent request used.
    pub redirect_uri: &'a str,
    /// The PKCE verifier (X), when the flow used one.
    pub code_verifier: Option<&'a SecretString>,
    /// The app's client credentials.
    pub app: &'a super::AppCredentials,
    /// The clock of the exchange.
    pub now: Timestamp,
}

/// A number of seconds sent as a JSON number or string, clamped to ten years.
pub fn seconds_at(body: &Value, pointer: &str) -> Option<Duration> {
    let v = body.pointer(pointer)?;
    let secs = match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f.min(u64::MAX as f64) as u64)),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }?;
    Some(Duration::from_secs(secs).min(MAX_LIFETIME))
}

/// `t + d`, saturating.
fn add(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d).ok().and_then(|d| t.checked_add(d).ok()).unwrap_or(Timestamp::MAX)
}

/// Reads a token answer (providers.md §2.6): `access_token` (required, non-empty, without
/// whitespace), `expires_in`, a non-empty `refresh_token`, `scope`, and the refresh token's
/// expiry from `refresh_token_expires_at` (unix s), `refresh_token_expires_in` or
/// `refresh_expires_in`. `None` when the body has no usable access token.
pub fn read_credential(body: &Value, now: Timestamp) -> Option<NewCredential> {
    let access = str_at(body, "/access_token").map(str::trim).filter(|t| !t.is_empty() && !t.chars().any(char::is_whitespace))?;
    let refresh = str_at(body, "/refresh_token")
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.chars().any(char::is_whitespace))
        .map(SecretString::new);
    let refresh_at = oauth_errors::unix_seconds_at(body, "/refresh_token_expires_at")
        .or_else(|| seconds_at(body, "/refresh_token_expires_in").or_else(|| seconds_at(body, "/refresh_expires_in")).map(|d| add(now, d)));
    Some(NewCredential {
        access_token: SecretString::new(access),
        refresh_token: refresh,
        expires_in: seconds_at(body, "/expires_in"),
        refresh_token_expires_at: refresh_at,
        scope: str_at(body, "/scope").map(str::to_string),
        account_id: None,
    })
}

/// The answer of a successful token call: the credential, or the transient "a 2xx body that is
/// not the expected JSON" answer (§2.5).
pub fn credential_or_transient(answer: &Answer, now: Timestamp, provider: &str) -> RefreshOutcome {
    match answer.json().as_ref().and_then(|b| read_credential(b, now)) {
        Some(c) => RefreshOutcome::Refreshed(c),
        None => RefreshOutcome::Interrupted(Interruption::unavailable(format!(
            "{provider} answered the refresh with HTTP {} but without a usable access_token",
            answer.status
        ))),
    }
}

/// `invalid_grant` and its equivalents: the refresh token is dead (§2.6).
pub fn invalidated(input: &CheckInput<'_>, provider: &str, detail: Option<&str>) -> RefreshOutcome {
    let message = oauth_errors::with_provider_message(input, &format!("{provider} refused the refresh token"), detail);
    RefreshOutcome::Refused(TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, message })
}

/// Client authentication failed on a refresh (§2.6, §2.2): `InvalidSecret`.
pub fn client_rejected(input: &CheckInput<'_>, provider: &str, detail: Option<&str>) -> RefreshOutcome {
    let message = oauth_errors::with_provider_message(input, &format!("client credentials rejected: {provider} refused the app"), detail);
    RefreshOutcome::Refused(TokenVerdict::InvalidSecret { message })
}

/// The OAuth `error` and `error_description` of a token-endpoint answer.
pub fn oauth_error(body: Option<&Value>) -> (Option<&str>, Option<&str>) {
    (body.and_then(|b| str_at(b, "/error")), body.and_then(|b| str_at(b, "/error_description")))
}

/// A revoke answer no row matched: transient for 3xx/429/5xx, else `RevokeFailed` naming the
/// HTTP status and the provider's error code only.
pub fn revoke_other(answer: &Answer, code: Option<&str>, provider: &str) -> RevokeOutcome {
    if let Some(i) = answer.generic_transient() {
        return RevokeOutcome::Interrupted(i);
    }
    let code = code.filter(|c| c.len() <= 64 && c.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.')));
    let message = match code {
        Some(c) => format!("{provider} refused the revoke call (HTTP {}, code {c})", answer.status),
        None => format!("{provider} refused the revoke call (HTTP {})", answer.status),
    };
    RevokeOutcome::Failed { message }
}

/// A refresh answer no row matched: transient for 3xx/429/5xx, else unclassified (§2.5).
pub fn refresh_other(answer: &Answer, code: Option<&str>) -> RefreshOutcome {
    RefreshOutcome::Interrupted(oauth_errors::transient_or_unclassified(answer, code))
}

/// The secrets of a code exchange, for scrubbing provider messages.
pub fn exchange_secrets<'a>(x: &CodeExchange<'a>) -> Vec<&'a SecretString> {
    let mut v = vec![x.code];
    v.extend(x.code_verifier);
    v.extend(x.app.client_secret.as_ref());
    v
}

/// Scrubs a provider message of the exchange's secrets.
pub fn scrub_exchange(x: &CodeExchange<'_>, message: &str) -> String {
    redact::scrub(message, &exchange_secrets(x))
}

/// The exchange's secrets in the shape of a [`CheckInput`] (the code as the token, the PKCE
/// verifier as the refresh token), so that the shared refusal helpers scrub them.
pub fn exchange_input<'a>(x: &CodeExchange<'a>) -> CheckInput<'a> {
    CheckInput {
        account_id: "",
        token: x.code,
        refresh_token: x.code_verifier,
        app: Some(x.app),
        required_role: None,
        known_expires_at: None,
        token_issued_at: None,
        now: x.now,
    }
}

/// The code was refused (`invalid_grant` or equivalent): already used, expired, or issued for
/// another redirect (§2.14: the "start again" page).
pub fn code_refused(x: &CodeExchange<'_>, provider: &str, detail: Option<&str>) -> RefreshOutcome {
    let message = oauth_errors::with_provider_message(&exchange_input(x), &format!("{provider} refused the authorization code"), detail);
    RefreshOutcome::Refused(TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, message })
}

/// Classifies an OAuth token-endpoint answer to a code exchange (§2.14): a 2xx without `error`
/// carries the credential; `invalid_grant` refuses the code; `invalid_client`,
/// `unauthorized_client` or a 401 reject the app; anything else is transient or unclassified.
pub fn oauth_exchange_answer(answer: &Answer, x: &CodeExchange<'_>, provider: &str) -> RefreshOutcome {
    let body = answer.json();
    let (error, description) = oauth_error(body.as_ref());
    match (answer.status, error) {
        (_, Some("invalid_grant")) if answer.status < 500 => code_refused(x, provider, description),
        (_, Some("invalid_client" | "unauthorized_client")) | (401, _) => client_rejected(&exchange_input(x), provider, description),
        (200..=299, None) => credential_or_transient(answer, x.now, provider),
        _ => refresh_other(answer, error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn token_answers_are_read_with_every_optional_field() {
        let body: Value = serde_json::from_str(
            r#"{"access_token":"pina_new","expires_in":2592000,"refresh_token":"pinr_new","refresh_token_expires_in":5184000,"refresh_token_expires_at":1898640000,"scope":"user_accounts:read"}"#,
        )
        .unwrap();
        let c = read_credential(&body, now()).unwrap();
        assert_eq!(c.access_token.expose(), "pina_new");
        assert_eq!(c.refresh_token.as_ref().map(SecretString::expose), Some("pinr_new"));
        assert_eq!(c.expires_in, Some(Duration::from_secs(2_592_000)));
        // The absolute expiry wins over the relative one.
        assert_eq!(c.refresh_token_expires_at, Some(Timestamp::from_second(1_898_640_000).unwrap()));
        assert_eq!(c.scope.as_deref(), Some("user_accounts:read"));
    }

    #[test]
    fn relative_refresh_expiries_and_string_lifetimes_are_understood() {
        let body: Value = serde_json::from_str(r#"{"access_token":"act","expires_in":"7200","refresh_expires_in":15552000}"#).unwrap();
        let c = read_credential(&body, now()).unwrap();
        assert_eq!(c.expires_in, Some(Duration::from_secs(7200)));
        assert_eq!(c.refresh_token_expires_at, Some("2026-08-28T12:00:00Z".parse().unwrap()));
        assert_eq!(c.refresh_token, None);
    }

    #[test]
    fn unusable_token_answers_are_refused_and_huge_lifetimes_clamped() {
        for body in [r#"{}"#, r#"{"access_token":""}"#, r#"{"access_token":"a b"}"#, r#"{"access_token":7}"#] {
            assert!(read_credential(&serde_json::from_str(body).unwrap(), now()).is_none(), "{body}");
        }
        let body: Value = serde_json::from_str(r#"{"access_token":"a","expires_in":1e300,"refresh_token":""}"#).unwrap();
        let c = read_credential(&body, now()).unwrap();
        assert_eq!(c.expires_in, Some(MAX_LIFETIME));
        assert_eq!(c.refresh_token, None, "an empty refresh token is not one");
        let body: Value = serde_json::from_str(r#"{"access_token":"a","expires_in":-5}"#).unwrap();
        assert_eq!(read_credential(&body, now()).unwrap().expires_in, None);
    }
}
