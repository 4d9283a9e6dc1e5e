//! `SocialConnection.status`: what the operator learned at its last checks.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Most scopes kept in `grantedScopes` / `missingScopes` (the schema's maxItems).
pub const MAX_STATUS_SCOPES: usize = 128;
/// Longest scope kept in status (the schema's maxLength).
pub const MAX_STATUS_SCOPE_LEN: usize = 256;
/// Longest account name kept in status (the schema's maxLength).
pub const MAX_STATUS_NAME_LEN: usize = 256;

/// Scopes fit for status: a hostile provider may send thousands, or huge ones, and the status
/// write must not fail because of them. Over-long scopes are dropped (they cannot match a
/// required scope, which the spec bounds to the same length), the rest cut to the maximum count.
pub fn bounded_scopes(scopes: Vec<String>) -> Vec<String> {
    scopes.into_iter().filter(|s| s.len() <= MAX_STATUS_SCOPE_LEN).take(MAX_STATUS_SCOPES).collect()
}

/// The observed state of a SocialConnection, written only by the operator.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SocialConnectionStatus {
    /// The metadata.generation of the spec that the current status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Current state, as Kubernetes conditions of types Valid, Revoked, RoleLost,
    /// ScopesMissing, ExpiringSoon and the summary Ready. Ready is True only when Valid is True
    /// and Revoked, RoleLost and ScopesMissing are False. Stalled (True while a person must act,
    /// with the blocker's reason) and Reconciling (True while the first check or a retry after a
    /// transient answer is pending) follow kstatus, so GitOps tools such as Flux fail a wait on a
    /// broken connection at once instead of timing out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The reason of the condition that keeps the connection from being Ready (empty when
    /// Ready). Shown in the Reason column of kubectl get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_ready_reason: Option<String>,

    /// Best known expiry of the current access token; absent when it never expires or is
    /// unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,

    /// When the provider stops returning the user's data unless the user logs in again (Meta
    /// data_access_expires_at).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_access_expires_at: Option<Time>,

    /// When the operator last asked the provider about the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_time: Option<Time>,

    /// When the operator will next ask the provider (also the end of a retry delay after a
    /// provider failure or rate limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check_time: Option<Time>,

    /// When a check last got a definite answer from the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_successful_check_time: Option<Time>,

    /// Scopes the provider (or, failing that, the Secret) says were granted (at most 128, each
    /// at most 256 characters; longer ones are left out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128), inner(length(max = 256)))]
    pub granted_scopes: Vec<String>,

    /// Required scopes that were not granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 128), inner(length(max = 256)))]
    pub missing_scopes: Vec<String>,

    /// The account or identity name the provider reported, for people reading the status (cut
    /// to 256 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub account_name: Option<String>,

    /// The first 16 hex digits of the SHA-256 of the current access token, so that a token
    /// change can be recognised without storing the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_fingerprint: Option<String>,

    /// When the operator first saw the token with the current fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_first_seen_time: Option<Time>,

    /// Provider answers in a row that were transient (timeouts, 5xx, 429, throttling). Reset by
    /// the next definite answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<i32>,

    /// The link a person opens to reconnect the account, set while a person must act and the
    /// operator knows the app's client id and redirect URL.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "reauthorizationURL")]
    pub reauthorization_url: Option<String>,

    /// The last value of the social.connections.dev/check-requested-at annotation that was
    /// handled, so each value triggers exactly one check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_check_request: Option<String>,

    /// When the answer of the last successful refresh arrived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh_time: Option<Time>,

    /// How many refreshes succeeded and were stored in the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_count: Option<i64>,

    /// When the refresh token expires, when a refresh answer said so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token_expires_at: Option<Time>,

    /// When the operator will refresh the access token (its refresh window opens), while an
    /// automatic refresh will renew it before it expires, as cert-manager's renewalTime. Absent
    /// when no refresh will: then a person must reconnect before expiresAt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_time: Option<Time>,

    /// The last value of the social.connections.dev/refresh-requested-at annotation that was
    /// handled, so each value triggers exactly one refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_refresh_request: Option<String>,

    /// What each SocialNotificationPolicy has already sent about this connection, so that every
    /// notice goes out once per stage, also across operator restarts. Written only by the
    /// notifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["policy"]))]
    #[schemars(length(max = 32))]
    pub notifications: Vec<NotificationRecord>,
}

/// The notices one SocialNotificationPolicy has sent about a connection.
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRecord {
    /// Name of the SocialNotificationPolicy (same namespace).
    pub policy: String,

    /// The token expiry the expiry warnings were about; a new token starts the warnings over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warned_expiry: Option<Time>,

    /// The smallest warning threshold (days before the expiry) already announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warned_days: Option<u32>,

    /// When the current break was first announced (reauthorization required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_since: Option<Time>,

    /// The reason of the break that was announced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_reason: Option<String>,

    /// When the last notice about the current break (first notice or reminder) was sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_broken_notice: Option<Time>,

    /// How many reminders were sent about the current break.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminders: Option<u32>,
}
