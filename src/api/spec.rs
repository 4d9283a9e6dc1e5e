//! `SocialConnection.spec`: what a person declares about one connection.

// kube-derive's repeated `printcolumn(...)` entries look like duplicated attributes to clippy.
#![allow(clippy::duplicated_attributes)]

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::duration::{DURATION_PATTERN, GoDuration};
use super::status::SocialConnectionStatus;

/// Annotation whose changed value asks the operator to check the connection now.
pub const CHECK_REQUESTED_ANNOTATION: &str = "social.connections.dev/check-requested-at";
/// Annotation whose changed value asks the operator to refresh the token now, once per value.
pub const REFRESH_REQUESTED_ANNOTATION: &str = "social.connections.dev/refresh-requested-at";
/// Label a token Secret must carry (value `"true"`) before the operator writes to it.
pub const MANAGED_LABEL: &str = "social.connections.dev/managed";
/// Finalizer added while `spec.revokeOnDelete` is true.
pub const REVOKE_FINALIZER: &str = "social.connections.dev/revoke";
/// Default of `spec.expiryWarning`: seven days.
pub const DEFAULT_EXPIRY_WARNING: Duration = Duration::from_secs(7 * 24 * 3600);
/// Default of `spec.checkInterval`: one hour.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(3600);
/// Smallest accepted `spec.checkInterval`.
pub const MIN_CHECK_INTERVAL: Duration = Duration::from_secs(30);

/// A SocialConnection declares one OAuth connection between the organisation and an account on a
/// social network, and the Secret that holds its token. The operator checks the token with the
/// provider on a schedule and reports what it finds in status conditions and Events.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "social.connections.dev",
    version = "v1alpha1",
    kind = "SocialConnection",
    plural = "socialconnections",
    shortname = "socialconn",
    category = "social",
    doc = "A SocialConnection is one OAuth connection between the organisation and an account on a social network (Facebook, Instagram, Threads, LinkedIn, X, Pinterest, YouTube, Google Business Profile, Telegram, TikTok). The operator checks its token with the provider and reports in status.conditions whether it works (Ready) and why not (Valid, Revoked, RoleLost, ScopesMissing, ExpiringSoon).",
    namespaced,
    status = "SocialConnectionStatus",
    printcolumn(name = "Provider", type_ = "string", json_path = ".spec.provider", description = "The social network"),
    printcolumn(name = "Account", type_ = "string", json_path = ".spec.account.id", description = "The account this connection manages"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status",
        description = "Whether the connection works"
    ),
    printcolumn(name = "Reason", type_ = "string", json_path = ".status.notReadyReason", description = "Why the connection is not ready"),
    printcolumn(name = "Expires", type_ = "string", json_path = ".status.expiresAt", description = "When the access token expires"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    printcolumn(
        name = "Last Check",
        type_ = "date",
        json_path = ".status.lastCheckTime",
        priority = 1,
        description = "When the provider was last asked"
    ),
    printcolumn(
        name = "Next Check",
        type_ = "string",
        json_path = ".status.nextCheckTime",
        priority = 1,
        description = "When the provider will be asked next"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SocialConnectionSpec {
    /// The social network that issued the token. One of facebook, instagram (Instagram API with
    /// Facebook Login), instagram-login (Instagram API with Instagram Login), threads, linkedin,
    /// x, pinterest, youtube, google-business-profile, telegram, tiktok.
    pub provider: ProviderKind,

    /// The account on the social network that this connection manages (a Facebook Page, an
    /// Instagram professional account, a LinkedIn organization, a YouTube channel, ...).
    pub account: AccountRef,

    /// The Secret, in the same namespace, that holds the token.
    pub secret_ref: SecretRef,

    /// An optional Secret, in the same namespace, with the app's OAuth client credentials
    /// (keys client_id and client_secret; for TikTok the client key goes in client_id). Some
    /// providers need them to inspect or refresh a token, and the client id fills the
    /// reauthorization URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret_ref: Option<AppSecretRef>,

    /// Permissions the token must have been granted, written as the provider names them
    /// (for example pages_manage_posts, or full URLs for Google). Matching is exact and
    /// case-sensitive. Leave empty to skip the scope check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 256)))]
    pub required_scopes: Vec<String>,

    /// The least role the connecting identity must hold on the account: admin, editor,
    /// moderator or analyst. Unset means the role is not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_role: Option<RequiredRole>,

    /// How long before the access token expires the ExpiringSoon condition turns True and a
    /// TokenExpiringSoon event is recorded, as a Go duration (for example 168h). Default 168h
    /// (7 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub expiry_warning: Option<String>,

    /// How often the token is checked with the provider, as a Go duration (for example 1h or
    /// 30m). Default 1h; minimum 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "duration(self) >= duration('30s')", "message": "checkInterval must be at least 30s"}]))]
    pub check_interval: Option<String>,

    /// Stops all checks while true; status keeps its last values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    /// The OAuth redirect URL registered for the app. With the client id from appSecretRef it
    /// lets the operator publish status.reauthorizationURL, the link a person opens to
    /// reconnect.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "redirectURL")]
    #[schemars(regex(pattern = r"^https?://"))]
    pub redirect_url: Option<String>,

    /// Automatic refresh of the access token. The operator refreshes only tokens whose Secret
    /// carries the label social.connections.dev/managed: "true", and writes the new token back
    /// into that Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<RefreshSpec>,

    /// When true, deleting this SocialConnection first revokes the token at the provider (where
    /// the provider has a revoke call), through the finalizer social.connections.dev/revoke.
    /// Deletion never waits more than about ten minutes for the provider. The Secret is never
    /// touched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_on_delete: Option<bool>,
}

/// How the operator keeps the access token fresh.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshSpec {
    /// Auto (default) refreshes the token before it expires; Never disables those scheduled
    /// refreshes (a provider answer that says the token needs a refresh, and the
    /// social.connections.dev/refresh-requested-at annotation, still refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<RefreshPolicy>,

    /// How long before the access token expires it is refreshed, as a Go duration (for example
    /// 72h). Default: one third of the token's lifetime when the operator knows when it was
    /// issued, else the provider's default lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub renew_before: Option<String>,
}

/// Whether scheduled refreshes run.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum RefreshPolicy {
    /// Refresh before the token expires.
    #[default]
    Auto,
    /// No scheduled refreshes.
    Never,
}

/// The social network (provider) that issued a token.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// Facebook Pages through the Graph API.
    Facebook,
    /// Instagram professional accounts through Facebook Login (Graph API).
    Instagram,
    /// Instagram professional accounts through Instagram Login (graph.instagram.com).
    InstagramLogin,
    /// Threads profiles.
    Threads,
    /// LinkedIn organizations or members.
    Linkedin,
    /// X (Twitter) OAuth 2.0 user tokens.
    X,
    /// Pinterest API v5.
    Pinterest,
    /// YouTube channels through Google OAuth.
    Youtube,
    /// Google Business Profile accounts through Google OAuth.
    GoogleBusinessProfile,
    /// Telegram bots.
    Telegram,
    /// TikTok accounts.
    Tiktok,
}

impl ProviderKind {
    /// Every provider, in documentation order.
    pub const ALL: [ProviderKind; 11] = [
        ProviderKind::Facebook,
        ProviderKind::Instagram,
        ProviderKind::InstagramLogin,
        ProviderKind::Threads,
        ProviderKind::Linkedin,
        ProviderKind::X,
        ProviderKind::Pinterest,
        ProviderKind::Youtube,
        ProviderKind::GoogleBusinessProfile,
        ProviderKind::Telegram,
        ProviderKind::Tiktok,
    ];

    /// The name used in `spec.provider`, flags and metrics labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Facebook => "facebook",
            ProviderKind::Instagram => "instagram",
            ProviderKind::InstagramLogin => "instagram-login",
            ProviderKind::Threads => "threads",
            ProviderKind::Linkedin => "linkedin",
            ProviderKind::X => "x",
            ProviderKind::Pinterest => "pinterest",
            ProviderKind::Youtube => "youtube",
            ProviderKind::GoogleBusinessProfile => "google-business-profile",
            ProviderKind::Telegram => "telegram",
            ProviderKind::Tiktok => "tiktok",
        }
    }

    /// Parses a provider name as written in `spec.provider`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The account on the social network that the connection manages.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountRef {
    /// The provider's id of the account: Facebook Page id, Instagram professional account id,
    /// Threads user id, LinkedIn organization id or URN (urn:li:organization:N, or
    /// urn:li:person:ID for a member), X user id, Pinterest id or username, YouTube channel id,
    /// Google Business Profile account (accounts/N or N), Telegram chat id or @channel, TikTok
    /// open_id.
    #[schemars(length(min = 1, max = 256))]
    pub id: String,

    /// A human-friendly name for the account, shown in messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// A reference to the Secret, in the connection's own namespace, that holds the token.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret in the same namespace as this SocialConnection. Secrets in other
    /// namespaces cannot be referenced, by design.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,

    /// Renames the keys read from the Secret when they differ from the defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<SecretKeys>,
}

/// Key names inside the token Secret.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeys {
    /// Key of the access token (Telegram: the bot token). Default access_token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Key of the refresh token. Default refresh_token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Key of the access token's expiry, RFC 3339 or unix seconds. Default expires_at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Key of the granted scopes, separated by spaces or commas. Default scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A reference to the Secret, in the connection's own namespace, with the app's OAuth client
/// credentials.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppSecretRef {
    /// Name of the Secret in the same namespace, with keys client_id and client_secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The least role the connecting identity must hold.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequiredRole {
    /// Full control of the account.
    Admin,
    /// Can publish content.
    Editor,
    /// Can moderate comments and messages.
    Moderator,
    /// Can read insights.
    Analyst,
}

impl RequiredRole {
    /// The lower-case name used in the spec.
    pub const fn as_str(self) -> &'static str {
        match self {
            RequiredRole::Admin => "admin",
            RequiredRole::Editor => "editor",
            RequiredRole::Moderator => "moderator",
            RequiredRole::Analyst => "analyst",
        }
    }
}

impl SocialConnectionSpec {
    /// A spec with only the required fields set: provider, account id and token Secret name.
    pub fn new(provider: ProviderKind, account_id: impl Into<String>, secret_name: impl Into<String>) -> Self {
        SocialConnectionSpec {
            provider,
            account: AccountRef { id: account_id.into(), display_name: None },
            secret_ref: SecretRef { name: secret_name.into(), keys: None },
            app_secret_ref: None,
            required_scopes: vec![],
            required_role: None,
            expiry_warning: None,
            check_interval: None,
            suspend: None,
            redirect_url: None,
            refresh: None,
            revoke_on_delete: None,
        }
    }

    /// The effective refresh policy (Auto when unset).
    pub fn refresh_policy(&self) -> RefreshPolicy {
        self.refresh.as_ref().and_then(|r| r.policy).unwrap_or_default()
    }

    /// `spec.refresh.renewBefore`, when set and parsable.
    pub fn renew_before(&self) -> Option<Duration> {
        self.refresh.as_ref().and_then(|r| r.renew_before.as_deref()).and_then(|s| GoDuration::parse(s).ok()).map(|d| d.0)
    }

    /// Whether the token is revoked when the connection is deleted.
    pub fn revokes_on_delete(&self) -> bool {
        self.revoke_on_delete.unwrap_or(false)
    }

    /// The effective expiry warning window (the default when unset or unparsable; the CRD
    /// schema refuses unparsable values, so that only happens with schema validation off).
    pub fn expiry_warning(&self) -> Duration {
        self.expiry_warning.as_deref().and_then(|s| GoDuration::parse(s).ok()).map_or(DEFAULT_EXPIRY_WARNING, |d| d.0)
    }

    /// The effective check interval, never below the minimum.
    pub fn check_interval(&self) -> Duration {
        self.check_interval
            .as_deref()
            .and_then(|s| GoDuration::parse(s).ok())
            .map_or(DEFAULT_CHECK_INTERVAL, |d| d.0)
            .max(MIN_CHECK_INTERVAL)
    }

    /// Whether checks are suspended.
    pub fn is_suspended(&self) -> bool {
        self.suspend.unwrap_or(false)
    }

    /// Key names of the token Secret, with defaults filled in.
    pub fn token_keys(&self) -> ResolvedKeys<'_> {
        let k = self.secret_ref.keys.as_ref();
        ResolvedKeys {
            access_token: k.and_then(|k| k.access_token.as_deref()).unwrap_or("access_token"),
            refresh_token: k.and_then(|k| k.refresh_token.as_deref()).unwrap_or("refresh_token"),
            expires_at: k.and_then(|k| k.expires_at.as_deref()).unwrap_or("expires_at"),
            scope: k.and_then(|k| k.scope.as_deref()).unwrap_or("scope"),
        }
    }
}

/// Token Secret key names after defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResolvedKeys<'a> {
    /// Key of the access token.
    pub access_token: &'a str,
    /// Key of the refresh token.
    pub refresh_token: &'a str,
    /// Key of the expiry.
    pub expires_at: &'a str,
    /// Key of the scopes.
    pub scope: &'a str,
}
