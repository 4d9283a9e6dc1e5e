//! One module per social network, behind the [`Provider`] trait.
//!
//! A provider makes the calls providers.md prescribes and maps every answer to *facts*
//! ([`CheckReport`]): a token verdict, role findings, scopes, expiry. It never touches
//! Kubernetes types; the controller turns facts into conditions. Refresh, revoke and the code
//! exchange (providers.md §2.6, §2.8, §2.14) are further trait methods with default
//! "not supported" bodies ([`lifecycle`]); they return typed credentials, never write them.

pub mod endpoints;
pub mod http;
pub mod numbers;

pub mod facebook;
pub mod google;
pub mod google_business_profile;
pub mod graph;
pub mod instagram;
pub mod instagram_login;
pub mod lifecycle;
pub mod linkedin;
pub mod meta_tokens;
pub mod oauth_errors;
pub mod pinterest;
pub mod telegram;
pub mod threads;
pub mod tiktok;
pub mod x;
pub mod youtube;

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;

use crate::api::{ProviderKind, RequiredRole};
use crate::conditions::{RevokedReason, RoleReason};
use crate::redact::SecretString;
pub use graph::TokenType;
pub use http::ProviderHttp;
pub use lifecycle::{CodeExchange, Lifecycle, NewCredential, RefreshOutcome, Renewal, RevokeOutcome};

/// The app's OAuth client credentials, from `spec.appSecretRef`.
#[derive(Clone, Debug)]
pub struct AppCredentials {
    /// The client id (TikTok: client key). Public: it appears in consent URLs.
    pub client_id: String,
    /// The client secret, when the Secret has one.
    pub client_secret: Option<SecretString>,
}

/// Everything a provider needs for one check.
#[derive(Clone, Debug)]
pub struct CheckInput<'a> {
    /// `spec.account.id` as written by the user (providers normalise it themselves).
    pub account_id: &'a str,
    /// The access token (Telegram: the bot token).
    pub token: &'a SecretString,
    /// The refresh token, when the Secret has one.
    pub refresh_token: Option<&'a SecretString>,
    /// App credentials, when `spec.appSecretRef` is set and readable.
    pub app: Option<&'a AppCredentials>,
    /// `spec.requiredRole`.
    pub required_role: Option<RequiredRole>,
    /// Best known expiry of the access token (status, else the Secret).
    pub known_expires_at: Option<Timestamp>,
    /// When the token was issued or first seen (providers.md §2.7), for age rules.
    pub token_issued_at: Option<Timestamp>,
    /// The clock of this cycle.
    pub now: Timestamp,
}

impl<'a> CheckInput<'a> {
    /// Secret values to scrub from any provider message passed on to people.
    pub fn secrets(&self) -> Vec<&'a SecretString> {
        let mut v = vec![self.token];
        if let Some(r) = self.refresh_token {
            v.push(r);
        }
        if let Some(s) = self.app.and_then(|a| a.client_secret.as_ref()) {
            v.push(s);
        }
        v
    }
}

/// What the provider said about the token itself.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenVerdict {
    /// The provider accepted the token: Valid=True, Revoked=False.
    Valid,
    /// Valid=False `Expired`, Revoked=False.
    Expired {
        /// What a person should know (no secrets).
        message: String,
    },
    /// Revoked=True with this reason, Valid=False `Revoked`.
    Revoked {
        /// The Revoked reason.
        reason: RevokedReason,
        /// What a person should know (no secrets).
        message: String,
    },
    /// Valid=False `InvalidSecret` (malformed token, client credentials rejected, wrong token
    /// type). Never sets Revoked.
    InvalidSecret {
        /// What a person should know (no secrets).
        message: String,
    },
    /// providers.md "expiry fallback" (§1): decided by the controller from the known expiry
    /// and whether the provider's tokens are short-lived.
    ExpiryFallback {
        /// What a person should know (no secrets).
        message: String,
    },
    /// A "→ refresh" row: a refresh may save the token; without one the inner verdict applies.
    RefreshThen(Box<TokenVerdict>),
}

/// One finding about the connecting identity's role or account.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleFinding {
    /// The RoleLost reason (True reasons make RoleLost True).
    pub reason: RoleReason,
    /// What a person should know (no secrets).
    pub message: String,
}

/// A "lacks permission" answer: the call needs a scope the token was not granted.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeDenial {
    /// The scope (or scopes, as providers.md names them) the call needs.
    pub scope: String,
    /// The provider's message, scrubbed.
    pub message: String,
}

/// What the provider said about the access token's expiry in this cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExpiryFact {
    /// The provider did not report an expiry: keep the best known one.
    #[default]
    NotReported,
    /// The provider says the token never expires (Graph `expires_at: 0`).
    Never,
    /// The provider reported this expiry.
    At(Timestamp),
}

/// Whether a transient answer was a rate limit or an outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransientKind {
    /// Connection errors, timeouts, 5xx, unexpected bodies.
    Unavailable,
    /// 429 and the providers' throttling codes.
    RateLimited,
}

/// A transient answer that ended the cycle (providers.md §2.5).
#[derive(Clone, Debug, PartialEq)]
pub struct Interruption {
    /// Outage or rate limit.
    pub kind: TransientKind,
    /// The delay the provider asked for (rules 1–6 of §2.5, before jitter); `None` means the
    /// controller's exponential backoff decides.
    pub retry_after: Option<Duration>,
    /// False for waits that must not count as failures (LinkedIn's young-token rule).
    pub counts_as_failure: bool,
    /// Set for an answer missing from the provider's table: HTTP status and provider error
    /// code only, for the `UnexpectedProviderResponse` event.
    pub unexpected: Option<String>,
    /// A short description for logs and condition messages (no secrets).
    pub detail: String,
    /// The limit applies to the whole app (Graph codes 4 and 341): every connection of the
    /// provider with the same client id waits (§2.5).
    pub app_wide: bool,
}

impl Interruption {
    /// An outage-type interruption with no provider-given delay.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Interruption {
            kind: TransientKind::Unavailable,
            retry_after: None,
            counts_as_failure: true,
            unexpected: None,
            detail: detail.into(),
            app_wide: false,
        }
    }

    /// A rate-limit interruption with an optional provider-given delay.
    pub fn rate_limited(detail: impl Into<String>, retry_after: Option<Duration>) -> Self {
        Interruption {
            kind: TransientKind::RateLimited,
            retry_after,
            counts_as_failure: true,
            unexpected: None,
            detail: detail.into(),
            app_wide: false,
        }
    }

    /// An answer missing from the provider's table (§2.5 "unclassified"): transient plus a
    /// Warning event naming `what` (HTTP status and provider error code only).
    pub fn unclassified(what: impl Into<String>) -> Self {
        let what = what.into();
        Interruption {
            kind: TransientKind::Unavailable,
            retry_after: None,
            counts_as_failure: true,
            unexpected: Some(what.clone()),
            detail: format!("unexpected provider response: {what}"),
            app_wide: false,
        }
    }
}

/// The facts one check established. Fields left at their defaults were not learned in this
/// cycle and keep their previous values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckReport {
    /// The token verdict; `None` when a transient answer ended the cycle before it.
    pub token: Option<TokenVerdict>,
    /// Role and identity findings of this cycle (several may apply; precedence of §2.4 picks).
    /// Empty: not decided this cycle.
    pub role: Vec<RoleFinding>,
    /// Scopes the provider returned this cycle (`None`: it returned none; the Secret's apply).
    pub granted_scopes: Option<Vec<String>>,
    /// "Lacks permission" answers of this cycle.
    pub scope_denials: Vec<ScopeDenial>,
    /// The access token's expiry as the provider reported it this cycle.
    pub expiry: ExpiryFact,
    /// Graph `data_access_expires_at` (non-zero only).
    pub data_access_expires_at: Option<Timestamp>,
    /// Provider-reported issue time of the token (LinkedIn `created_at`, Graph `issued_at`).
    pub issued_at: Option<Timestamp>,
    /// The account or identity name the provider reported.
    pub account_name: Option<String>,
    /// The transient answer that ended the cycle, if any.
    pub interruption: Option<Interruption>,
    /// The Meta token type `debug_token` (or FB2) reported this cycle; only USER tokens are
    /// exchanged (§3.1 Refresh).
    pub token_type: Option<TokenType>,
}

impl CheckReport {
    /// A report whose only content is a transient answer before any verdict.
    pub fn interrupted(i: Interruption) -> Self {
        CheckReport { interruption: Some(i), ..Default::default() }
    }

    /// A report with only a token verdict.
    pub fn verdict(v: TokenVerdict) -> Self {
        CheckReport { token: Some(v), ..Default::default() }
    }
}

/// Which app credentials a provider uses when `spec.appSecretRef` is set. A referenced app
/// Secret lacking a needed key gives Valid=False `SecretKeyMissing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppKeys {
    /// None are used for checks (consent URL only, or no app at all).
    None,
    /// `client_id` only (X public clients).
    ClientId,
    /// `client_id` and `client_secret`.
    ClientIdAndSecret,
}

/// Static facts about a provider.
#[derive(Clone, Copy, Debug)]
pub struct ProviderProfile {
    /// Access tokens live a day or less: an unknown expiry counts as passed in the expiry
    /// fallback (x, youtube, google-business-profile, tiktok).
    pub short_lived: bool,
    /// Keys the provider needs from a referenced app Secret.
    pub app_keys: AppKeys,
    /// Consent URL template with `{client_id}`, `{redirect_uri}`, `{state}`, `{scopes}` (and
    /// X's `{code_challenge}`) placeholders; `None` when reauthorization has a fixed link.
    pub consent_url: &'static str,
    /// Separator between scopes in the consent URL.
    pub scope_separator: &'static str,
    /// Scopes asked for when neither required nor granted scopes are known.
    pub default_scopes: &'static [&'static str],
    /// Whether the provider reports scopes itself (else the Secret's `scope` key is used).
    pub reports_scopes: bool,
    /// Whether tokens of this provider ever expire (Telegram bot tokens do not).
    pub tokens_expire: bool,
}

/// A social network's token checks.
#[async_trait]
pub trait Provider: Send + Sync {
    /// Which `spec.provider` value this implements.
    fn kind(&self) -> ProviderKind;

    /// Static facts about the provider.
    fn profile(&self) -> &'static ProviderProfile;

    /// Runs the Check, Classification, Role/identity and Scopes sections of providers.md for
    /// this provider and reports the facts. Never fails: transport problems and unexpected
    /// answers become [`CheckReport::interruption`].
    async fn check(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> CheckReport;

    /// Default scopes for the consent URL when the account kind matters (LinkedIn member vs
    /// organization); the profile's list otherwise.
    fn default_scopes(&self, _account_id: &str) -> &'static [&'static str] {
        self.profile().default_scopes
    }

    /// How the provider refreshes and revokes tokens (providers.md §4). Default: neither.
    fn lifecycle(&self) -> &'static Lifecycle {
        &lifecycle::NO_LIFECYCLE
    }

    /// Runs the provider's Refresh call (providers.md §2.6 and the provider's **Refresh**
    /// paragraph) with the token, refresh token and app credentials of `input`. Whether the
    /// refresh is due is the controller's decision; the provider only calls and classifies.
    async fn refresh(&self, _http: &ProviderHttp, _input: &CheckInput<'_>) -> RefreshOutcome {
        RefreshOutcome::NotSupported
    }

    /// Runs the provider's Revoke call(s) (providers.md §2.8 and the provider's **Revoke**
    /// paragraph).
    async fn revoke(&self, _http: &ProviderHttp, _input: &CheckInput<'_>) -> RevokeOutcome {
        RevokeOutcome::NotSupported
    }

    /// Exchanges an authorization code of the connect flow (§2.14) for a credential. The
    /// shape the connect flow builds on; providers implement it with that flow.
    async fn exchange_code(&self, _http: &ProviderHttp, _input: &CodeExchange<'_>) -> RefreshOutcome {
        RefreshOutcome::NotSupported
    }
}

/// The provider implementation for a `spec.provider` value.
pub fn for_kind(kind: ProviderKind) -> &'static dyn Provider {
    match kind {
        ProviderKind::Facebook => &facebook::Facebook,
        ProviderKind::Instagram => &instagram::Instagram,
        ProviderKind::InstagramLogin => &instagram_login::InstagramLogin,
        ProviderKind::Threads => &threads::Threads,
        ProviderKind::Linkedin => &linkedin::Linkedin,
        ProviderKind::X => &x::X,
        ProviderKind::Pinterest => &pinterest::Pinterest,
        ProviderKind::Youtube => &youtube::Youtube,
        ProviderKind::GoogleBusinessProfile => &google_business_profile::GoogleBusinessProfile,
        ProviderKind::Telegram => &telegram::Telegram,
        ProviderKind::Tiktok => &tiktok::Tiktok,
    }
}

/// Splits a scope list on spaces and commas (providers.md §2.4).
pub fn split_scopes(s: &str) -> Vec<String> {
    s.split([' ', ',']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}
