//! What the plugin prints: serialisable views of a connection (for `-o json|yaml`) and their
//! text for people. Pure: built from objects already read, formatted against an injected clock.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;
use serde::Serialize;

use super::advice::{Assessment, Readiness, assess, relative, table};
use crate::api::{MANAGED_LABEL, SocialConnection, SocialConnectionSpec, SocialConnectionStatus};

/// What the plugin could learn about the token Secret: metadata and key names, never values.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretInfo {
    /// The Secret's name (spec.secretRef.name).
    pub name: String,
    /// `found`, `not found`, or `forbidden` (the caller may not read it).
    pub state: SecretState,
    /// The Secret's labels.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Whether it carries social.connections.dev/managed=true (the operator may write to it).
    pub managed: bool,
    /// Its resourceVersion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// The names of its keys (never their values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

/// Whether the token Secret could be read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretState {
    /// Read.
    #[default]
    Found,
    /// It does not exist.
    NotFound,
    /// The caller may not `get` it.
    Forbidden,
}

impl SecretInfo {
    /// Metadata and key names of a Secret that was read; its values are dropped here.
    pub fn from_secret(secret: &k8s_openapi::api::core::v1::Secret) -> SecretInfo {
        let labels = secret.metadata.labels.clone().unwrap_or_default();
        let mut keys: Vec<String> = secret.data.iter().flat_map(|d| d.keys().cloned()).collect();
        keys.extend(secret.string_data.iter().flat_map(|d| d.keys().cloned()));
        keys.sort();
        keys.dedup();
        SecretInfo {
            name: secret.name_any(),
            state: SecretState::Found,
            managed: labels.get(MANAGED_LABEL).is_some_and(|v| v == "true"),
            labels,
            resource_version: secret.metadata.resource_version.clone(),
            keys,
        }
    }
}

/// One recent Event about a connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventInfo {
    /// When it was last seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// Normal or Warning.
    #[serde(rename = "type")]
    pub type_: String,
    /// Its reason.
    pub reason: String,
    /// Its note.
    pub note: String,
    /// How many times it happened (1 without a series).
    pub count: i32,
}

impl EventInfo {
    /// Reads an events.k8s.io/v1 Event.
    pub fn from_event(e: &Event) -> EventInfo {
        let last_seen = e
            .series
            .as_ref()
            .map(|s| s.last_observed_time.0)
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or_else(|| e.deprecated_last_timestamp.as_ref().map(|t| t.0))
            .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0));
        EventInfo {
            last_seen,
            type_: e.type_.clone().unwrap_or_default(),
            reason: e.reason.clone().unwrap_or_default(),
            note: e.note.clone().unwrap_or_default(),
            count: e.series.as_ref().map(|s| s.count).or(e.deprecated_count).unwrap_or(1),
        }
    }
}

/// The most recent `n` events, newest first.
pub fn recent(mut events: Vec<EventInfo>, n: usize) -> Vec<EventInfo> {
    events.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then_with(|| a.reason.cmp(&b.reason)));
    events.truncate(n);
    events
}

fn ready_word(r: Readiness) -> &'static str {
    match r {
        Readiness::Ready => "True",
        Readiness::Broken => "False",
        Readiness::Unknown => "Unknown",
    }
}

/// Everything `status` shows about one connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Ready's status: True, False or Unknown.
    pub ready: &'static str,
    /// The reason that matters (Ready's, or ExpiringSoon's when only that is True).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What a person must do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what_to_do: Option<&'static str>,
    /// The link a person opens to reconnect.
    #[serde(rename = "reauthorizationURL", skip_serializing_if = "Option::is_none")]
    pub reauthorization_url: Option<String>,
    /// When the operator asks the provider next.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_check_time: Option<Time>,
    /// The token Secret's metadata.
    pub secret: SecretInfo,
    /// Recent Events, newest first.
    pub events: Vec<EventInfo>,
    /// The connection's spec.
    pub spec: SocialConnectionSpec,
    /// The connection's status (conditions included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<SocialConnectionStatus>,
}

impl StatusReport {
    /// Builds the report of a connection.
    pub fn new(conn: &SocialConnection, secret: SecretInfo, events: Vec<EventInfo>) -> StatusReport {
        let a = assess(conn.status.as_ref());
        let st = conn.status.as_ref();
        StatusReport {
            namespace: conn.namespace().unwrap_or_default(),
            name: conn.name_any(),
            ready: ready_word(a.readiness),
            reason: a.reason,
            what_to_do: a.what_to_do,
            reauthorization_url: st.and_then(|s| s.reauthorization_url.clone()),
            next_check_time: st.and_then(|s| s.next_check_time.clone()),
            secret,
            events,
            spec: conn.spec.clone(),
            status: conn.status.clone(),
        }
    }

    /// The report as text for people.
    pub fn render(&self, now: Timestamp) -> String {
        let when = |t: Option<&Time>| match t {
            Some(t) => format!("{} ({})", t.0.strftime("%Y-%m-%dT%H:%M:%SZ"), relative(t.0, now)),
            None => "-".into(),
        };
        let st = self.status.clone().unwrap_or_default();
        let mut out = String::new();
        let mut field = |k: &str, v: String| out.push_str(&format!("{:<14}{v}\n", format!("{k}:")));
        field("Name", format!("{}/{}", self.namespace, self.name));
        field("Provider", provider_name(&self.spec));
        let account = match &st.account_name {
            Some(n) => format!("{} ({n})", self.spec.account.id),
            None => self.spec.account.id.clone(),
        };
        field("Account", account);
        field(
            "Ready",
            match &self.reason {
                Some(r) => format!("{} ({r})", self.ready),
                None => self.ready.to_string(),
            },
        );
        field("What to do", self.what_to_do.unwrap_or("nothing").to_string());
        if let Some(url) = &self.reauthorization_url {
            field("Reauthorize", url.clone());
        }
        field("Expires", when(st.expires_at.as_ref()));
        if st.renewal_time.is_some() {
            field("Renewal", when(st.renewal_time.as_ref()));
        }
        field("Last check", when(st.last_check_time.as_ref()));
        field("Next check", when(self.next_check_time.as_ref()));
        let s = &self.secret;
        let secret = match s.state {
            SecretState::Found => format!("{} (resourceVersion {})", s.name, s.resource_version.as_deref().unwrap_or("-")),
            SecretState::NotFound => format!("{} (not found)", s.name),
            SecretState::Forbidden => format!("{} (you may not read it)", s.name),
        };
        field("Secret", secret);
        if s.state == SecretState::Found {
            let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            field("  Labels", if labels.is_empty() { "-".into() } else { labels.join(", ") });
            field("  Keys", if s.keys.is_empty() { "-".into() } else { s.keys.join(", ") });
        }
        out.push_str("Conditions:\n");
        out.push_str(&indent(&conditions_table(&st.conditions)));
        out.push_str("Events:\n");
        if self.events.is_empty() {
            out.push_str("  <none>\n");
        } else {
            let rows: Vec<Vec<String>> = self
                .events
                .iter()
                .map(|e| {
                    vec![
                        e.last_seen.map(|t| relative(t, now)).unwrap_or_else(|| "-".into()),
                        e.type_.clone(),
                        e.reason.clone(),
                        e.count.to_string(),
                        e.note.replace('\n', " "),
                    ]
                })
                .collect();
            out.push_str(&indent(&table(&["LAST SEEN", "TYPE", "REASON", "COUNT", "NOTE"], &rows)));
        }
        out
    }
}

fn provider_name(spec: &SocialConnectionSpec) -> String {
    serde_json::to_value(spec.provider).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}\n")).collect()
}

fn conditions_table(conditions: &[Condition]) -> String {
    if conditions.is_empty() {
        return "<none>\n".into();
    }
    let rows: Vec<Vec<String>> =
        conditions.iter().map(|c| vec![c.type_.clone(), c.status.clone(), c.reason.clone(), c.message.replace('\n', " ")]).collect();
    table(&["TYPE", "STATUS", "REASON", "MESSAGE"], &rows)
}

/// One line of `needs-attention`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AttentionRow {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Provider.
    pub provider: String,
    /// Ready's status.
    pub ready: &'static str,
    /// The reason that matters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether ExpiringSoon is True.
    pub expiring_soon: bool,
    /// The expiry that matters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// What a person must do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what_to_do: Option<&'static str>,
    /// The link a person opens to reconnect.
    #[serde(rename = "reauthorizationURL", skip_serializing_if = "Option::is_none")]
    pub reauthorization_url: Option<String>,
}

/// The connections that need a person, most urgent first.
pub fn needs_attention(conns: &[SocialConnection]) -> Vec<AttentionRow> {
    let mut picked: Vec<(Assessment, &SocialConnection, String, String)> = conns
        .iter()
        .map(|c| (assess(c.status.as_ref()), c, c.namespace().unwrap_or_default(), c.name_any()))
        .filter(|(a, ..)| a.needs_attention())
        .collect();
    picked.sort_by(|x, y| super::advice::urgency_key(&x.0, &x.2, &x.3).cmp(&super::advice::urgency_key(&y.0, &y.2, &y.3)));
    picked
        .into_iter()
        .map(|(a, c, namespace, name)| AttentionRow {
            namespace,
            name,
            provider: provider_name(&c.spec),
            ready: ready_word(a.readiness),
            reason: a.reason,
            expiring_soon: a.expiring,
            expires_at: a.expiry,
            what_to_do: a.what_to_do,
            reauthorization_url: c.status.as_ref().and_then(|s| s.reauthorization_url.clone()),
        })
        .collect()
}

/// The `needs-attention` table.
pub fn attention_table(rows: &[AttentionRow], now: Timestamp) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.namespace.clone(),
                r.name.clone(),
                r.provider.clone(),
                r.ready.to_string(),
                r.reason.clone().unwrap_or_else(|| "-".into()),
                r.expires_at.map(|t| relative(t, now)).unwrap_or_else(|| "-".into()),
                r.what_to_do.unwrap_or("-").to_string(),
            ]
        })
        .collect();
    table(&["NAMESPACE", "NAME", "PROVIDER", "READY", "REASON", "EXPIRES", "WHAT TO DO"], &cells)
}

/// The outcome of a `check` or `refresh` request on one connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestResult {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// The annotation value that was set.
    pub requested: String,
    /// Whether the operator has handled it (only known with --wait).
    pub handled: bool,
    /// Ready's status after the request.
    pub ready: &'static str,
    /// The reason that matters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What a person must do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what_to_do: Option<&'static str>,
    /// When the operator last checked the token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_check_time: Option<Time>,
    /// How many refreshes were stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_count: Option<i64>,
}

impl RequestResult {
    /// The result as read from the connection after the request.
    pub fn new(conn: &SocialConnection, requested: &str, handled: bool) -> RequestResult {
        let a = assess(conn.status.as_ref());
        let st = conn.status.as_ref();
        RequestResult {
            namespace: conn.namespace().unwrap_or_default(),
            name: conn.name_any(),
            requested: requested.to_string(),
            handled,
            ready: ready_word(a.readiness),
            reason: a.reason,
            what_to_do: a.what_to_do,
            last_check_time: st.and_then(|s| s.last_check_time.clone()),
            refresh_count: st.and_then(|s| s.refresh_count),
        }
    }

    /// One line for people; `what` is "check" or "refresh".
    pub fn render(&self, what: &str) -> String {
        if !self.handled {
            return format!("socialconnection {}/{}: {what} requested ({})\n", self.namespace, self.name, self.requested);
        }
        let reason = self.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default();
        let todo = self.what_to_do.map(|t| format!("; what to do: {t}")).unwrap_or_default();
        format!("socialconnection {}/{}: {what} done: Ready {}{reason}{todo}\n", self.namespace, self.name, self.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use serde_json::json;

    fn conn(ns: &str, name: &str, status: serde_json::Value) -> SocialConnection {
        serde_json::from_value(json!({
            "apiVersion": "social.connections.dev/v1alpha1", "kind": "SocialConnection",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"provider": "facebook", "account": {"id": "2002"}, "secretRef": {"name": "tok"}},
            "status": status,
        }))
        .unwrap()
    }

    fn c(t: &str, s: &str, r: &str) -> serde_json::Value {
        json!({"type": t, "status": s, "reason": r, "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"})
    }

    #[test]
    fn secret_info_keeps_key_names_and_metadata_and_never_values() {
        let s = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("tok".into()),
                resource_version: Some("42".into()),
                labels: Some([(MANAGED_LABEL.to_string(), "true".to_string())].into()),
                ..Default::default()
            },
            data: Some(
                [
                    ("access_token".to_string(), ByteString(b"valid__secret-nonce".to_vec())),
                    ("refresh_token".to_string(), ByteString(b"r__n2".to_vec())),
                ]
                .into(),
            ),
            ..Default::default()
        };
        let info = SecretInfo::from_secret(&s);
        assert_eq!(info.keys, ["access_token", "refresh_token"]);
        assert!(info.managed);
        assert_eq!(info.resource_version.as_deref(), Some("42"));
        let shown = format!("{} {info:?}", serde_json::to_string(&info).unwrap());
        assert!(!shown.contains("secret-nonce") && !shown.contains("r__n2"), "{shown}");
    }

    #[test]
    fn needs_attention_lists_broken_then_expiring_and_leaves_healthy_out() {
        let conns = [
            conn("b", "healthy", json!({"conditions": [c("Ready", "True", "AllChecksPassed"), c("ExpiringSoon", "False", "NotExpiring")]})),
            conn(
                "b",
                "expiring",
                json!({"conditions": [c("Ready", "True", "AllChecksPassed"), c("ExpiringSoon", "True", "AccessTokenExpiring")], "expiresAt": "2026-01-03T00:00:00Z"}),
            ),
            conn(
                "a",
                "expiring-sooner",
                json!({"conditions": [c("Ready", "True", "AllChecksPassed"), c("ExpiringSoon", "True", "AccessTokenExpiring")], "expiresAt": "2026-01-02T00:00:00Z"}),
            ),
            conn(
                "z",
                "revoked",
                json!({"conditions": [c("Ready", "False", "PasswordChanged")], "reauthorizationURL": "https://example.com/r"}),
            ),
            conn("a", "pending", json!({})),
        ];
        let rows = needs_attention(&conns);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["revoked", "pending", "expiring-sooner", "expiring"]);
        assert_eq!(rows[0].reauthorization_url.as_deref(), Some("https://example.com/r"));
        let out = attention_table(&rows, "2026-01-01T00:00:00Z".parse().unwrap());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5, "{out}");
        assert!(lines[0].starts_with("NAMESPACE   NAME"), "{out}");
        assert!(lines[1].contains("PasswordChanged") && lines[1].contains("the user reconnects"), "{out}");
        assert!(lines[3].contains("in 1d") && lines[3].contains("reconnect before it expires"), "{out}");
    }

    #[test]
    fn a_request_result_reads_as_one_line() {
        let cn = conn("ns", "shop", json!({"conditions": [c("Ready", "False", "TokenInvalidated")]}));
        assert_eq!(RequestResult::new(&cn, "v1", false).render("check"), "socialconnection ns/shop: check requested (v1)\n");
        assert_eq!(
            RequestResult::new(&cn, "v1", true).render("check"),
            "socialconnection ns/shop: check done: Ready False (TokenInvalidated); what to do: reconnect\n"
        );
    }
}
