//! `SocialNotificationPolicy`: who hears about which SocialConnections, and through which
//! receivers (a signed webhook, a Slack-compatible incoming webhook, email over SMTP).

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::duration::{DURATION_PATTERN, GoDuration};

/// Annotation on a SocialConnection naming the person who connected it (one or more email
/// addresses, comma-separated). They receive its notices in addition to a policy's recipients.
pub const OWNER_ANNOTATION: &str = "social.connections.dev/owner";
/// Default of `spec.expiryWarningDays`.
pub const DEFAULT_EXPIRY_WARNING_DAYS: [u32; 4] = [14, 7, 3, 1];
/// Default of `spec.repeatEvery`: one day.
pub const DEFAULT_REPEAT_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Smallest accepted `spec.repeatEvery`.
pub const MIN_REPEAT_EVERY: Duration = Duration::from_secs(3600);

/// A SocialNotificationPolicy tells people when the SocialConnections it selects need them:
/// warnings before a token expires that no automatic refresh will renew, a notice when a person
/// must reconnect (with the reconnect link and the cause in plain words), a reminder while it
/// stays broken, and a notice when it works again. Each notice is sent once per stage.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "social.connections.dev",
    version = "v1alpha1",
    kind = "SocialNotificationPolicy",
    plural = "socialnotificationpolicies",
    shortname = "socialnotify",
    category = "social",
    doc = "A SocialNotificationPolicy sends notices about the SocialConnections of its namespace that its selector matches (expiry warnings, reauthorization required, reminders while broken, recovery) to webhooks, Slack-compatible incoming webhooks and email. Receiver URLs and credentials are read from Secrets.",
    namespaced,
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct SocialNotificationPolicySpec {
    /// Which SocialConnections of this namespace the policy covers, by label. Unset or empty
    /// ({}) covers every SocialConnection of the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,

    /// Email addresses that receive every notice of the selected connections, in addition to
    /// the addresses in each connection's social.connections.dev/owner annotation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub recipients: Vec<String>,

    /// Where notices go. Each receiver names exactly one of webhook, slack or email.
    #[schemars(length(min = 1, max = 16))]
    pub receivers: Vec<Receiver>,

    /// How many days before an expiry that no automatic refresh will prevent a warning is
    /// sent; one warning per threshold. Default [14, 7, 3, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 10), inner(range(min = 1, max = 365)))]
    pub expiry_warning_days: Option<Vec<u32>>,

    /// How often a reminder is sent while a connection stays broken, as a Go duration (for
    /// example 24h). Default 24h; minimum 1h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "duration(self) >= duration('1h')", "message": "repeatEvery must be at least 1h"}]))]
    pub repeat_every: Option<String>,
}

/// One destination of notices.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{"rule": "(has(self.webhook) ? 1 : 0) + (has(self.slack) ? 1 : 0) + (has(self.email) ? 1 : 0) == 1", "message": "a receiver names exactly one of webhook, slack or email"}]))]
pub struct Receiver {
    /// A name for the receiver, unique in the policy, used in logs and Events.
    #[schemars(length(min = 1, max = 63))]
    pub name: String,

    /// A generic webhook: the notice is POSTed as JSON, signed with HMAC-SHA256 in the
    /// X-Social-Signature-256 header (sha256=<hex>).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookReceiver>,

    /// A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): the notice is POSTed
    /// as {"text": ...}.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<SlackReceiver>,

    /// Email over SMTP with STARTTLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailReceiver>,
}

/// A generic webhook receiver.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookReceiver {
    /// Secret in this namespace with the keys url (http or https) and signingKey (the HMAC key
    /// the receiver uses to verify X-Social-Signature-256).
    pub secret_ref: LocalSecretRef,
}

/// A Slack-compatible incoming webhook receiver.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlackReceiver {
    /// Secret in this namespace with the key url, the incoming webhook URL.
    pub secret_ref: LocalSecretRef,
}

/// An SMTP receiver.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailReceiver {
    /// Secret in this namespace with the keys host, port (default 587), from (the sender
    /// address), and optionally username and password (SMTP authentication) and ca.crt (PEM
    /// certificates to trust for the server's STARTTLS certificate, for private mail relays).
    pub secret_ref: LocalSecretRef,
}

/// A reference to a Secret in the policy's own namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalSecretRef {
    /// Name of the Secret in the same namespace as this policy.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

impl SocialNotificationPolicySpec {
    /// The expiry warning thresholds in days, largest first, without duplicates or zeros.
    pub fn expiry_warning_days(&self) -> Vec<u32> {
        let mut days: Vec<u32> = self.expiry_warning_days.clone().unwrap_or_else(|| DEFAULT_EXPIRY_WARNING_DAYS.to_vec());
        days.retain(|d| *d > 0);
        days.sort_unstable_by(|a, b| b.cmp(a));
        days.dedup();
        days
    }

    /// The reminder interval while broken (default when unset or unparsable), never below
    /// the minimum.
    pub fn repeat_every(&self) -> Duration {
        self.repeat_every.as_deref().and_then(|s| GoDuration::parse(s).ok()).map_or(DEFAULT_REPEAT_EVERY, |d| d.0).max(MIN_REPEAT_EVERY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(days: Option<Vec<u32>>, repeat: Option<&str>) -> SocialNotificationPolicySpec {
        SocialNotificationPolicySpec {
            selector: None,
            recipients: vec![],
            receivers: vec![],
            expiry_warning_days: days,
            repeat_every: repeat.map(str::to_string),
        }
    }

    #[test]
    fn warning_days_default_to_two_weeks_one_week_three_days_and_one_day() {
        assert_eq!(spec(None, None).expiry_warning_days(), vec![14, 7, 3, 1]);
    }

    #[test]
    fn warning_days_are_sorted_largest_first_without_duplicates_or_zero() {
        assert_eq!(spec(Some(vec![2, 30, 0, 2, 5]), None).expiry_warning_days(), vec![30, 5, 2]);
    }

    #[test]
    fn repeat_interval_defaults_to_a_day_and_is_never_below_an_hour() {
        assert_eq!(spec(None, None).repeat_every(), DEFAULT_REPEAT_EVERY);
        assert_eq!(spec(None, Some("12h")).repeat_every(), Duration::from_secs(12 * 3600));
        assert_eq!(spec(None, Some("5m")).repeat_every(), MIN_REPEAT_EVERY);
    }
}
