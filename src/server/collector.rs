//! Per-connection series, computed at scrape time from the controller's store (as
//! cert-manager's certificate collector does): a deleted connection leaves no stale series,
//! because nothing is kept between scrapes.
//!
//! Labels are `namespace`, `name` and `provider`, plus fixed vocabularies (condition types,
//! statuses and reasons of [`crate::conditions`]); never account ids, tokens or messages.

use std::sync::{Arc, RwLock};

use kube::ResourceExt;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder};
use prometheus_client::metrics::MetricType;

use crate::api::SocialConnection;
use crate::conditions::{CondStatus, ConditionType, Reason};
use crate::controller::packed::PackedConnection;

/// Expiry of the current access token.
pub const TOKEN_EXPIRATION: &str = "socialconnection_token_expiration_timestamp_seconds";
/// Expiry of the refresh token, when a refresh answer gave one.
pub const REFRESH_TOKEN_EXPIRATION: &str = "socialconnection_refresh_token_expiration_timestamp_seconds";
/// When the provider stops returning the user's data (Meta `data_access_expires_at`).
pub const DATA_ACCESS_EXPIRATION: &str = "socialconnection_data_access_expiration_timestamp_seconds";
/// The Ready condition, one series per status value.
pub const READY_STATUS: &str = "socialconnection_ready_status";
/// Every condition with its status and reason.
pub const CONDITION: &str = "socialconnection_condition";
/// When a check last got a definite answer.
pub const LAST_SUCCESSFUL_CHECK: &str = "socialconnection_last_successful_check_timestamp_seconds";
/// When the refresh window opens, while an automatic refresh will renew the token.
pub const RENEWAL: &str = "socialconnection_renewal_timestamp_seconds";
/// When the next check is scheduled.
pub const NEXT_CHECK: &str = "socialconnection_next_check_timestamp_seconds";
/// The effective check interval of connections whose checks are not suspended.
pub const CHECK_INTERVAL: &str = "socialconnection_check_interval_seconds";

/// The reason label of a reason that is not one of the condition's own (a hand-edited status).
const OTHER_REASON: &str = "Other";

/// What the scrape shows of one connection: a pure view of its spec and status.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectionSeries {
    /// Namespace of the connection.
    pub namespace: String,
    /// Name of the connection.
    pub name: String,
    /// `spec.provider`.
    pub provider: &'static str,
    /// Status of the Ready condition (Unknown while there is none).
    pub ready: CondStatus,
    /// Every condition: type, status and reason (bounded by the closed vocabularies).
    pub conditions: Vec<(ConditionType, CondStatus, &'static str)>,
    /// `status.expiresAt`, in seconds since the epoch.
    pub token_expiration: Option<i64>,
    /// `status.refreshTokenExpiresAt`.
    pub refresh_token_expiration: Option<i64>,
    /// `status.dataAccessExpiresAt`.
    pub data_access_expiration: Option<i64>,
    /// `status.lastSuccessfulCheckTime`.
    pub last_successful_check: Option<i64>,
    /// `status.nextCheckTime`.
    pub next_check: Option<i64>,
    /// `status.renewalTime`.
    pub renewal: Option<i64>,
    /// The effective check interval in seconds; `None` while checks are suspended.
    pub check_interval: Option<u64>,
}

fn parse_status(s: &str) -> Option<CondStatus> {
    [CondStatus::True, CondStatus::False, CondStatus::Unknown].into_iter().find(|c| c.as_str() == s)
}

fn parse_type(s: &str) -> Option<ConditionType> {
    ConditionType::ALL.into_iter().find(|t| t.as_str() == s)
}

impl ConnectionSeries {
    /// The series of a cached connection; `None` for an object without a namespace.
    pub fn of(obj: &SocialConnection) -> Option<ConnectionSeries> {
        let namespace = obj.namespace()?;
        let status = obj.status.clone().unwrap_or_default();
        let conditions: Vec<(ConditionType, CondStatus, &'static str)> = status
            .conditions
            .iter()
            .filter_map(|c| {
                let t = parse_type(&c.type_)?;
                let s = parse_status(&c.status)?;
                let reason = Reason::parse(t, &c.reason).map_or(OTHER_REASON, Reason::as_str);
                Some((t, s, reason))
            })
            .collect();
        let ready = conditions.iter().find(|(t, _, _)| *t == ConditionType::Ready).map_or(CondStatus::Unknown, |c| c.1);
        let secs = |t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| t.as_ref().map(|t| t.0.as_second());
        Some(ConnectionSeries {
            namespace,
            name: obj.name_any(),
            provider: obj.spec.provider.as_str(),
            ready,
            conditions,
            token_expiration: secs(&status.expires_at),
            refresh_token_expiration: secs(&status.refresh_token_expires_at),
            data_access_expiration: secs(&status.data_access_expires_at),
            last_successful_check: secs(&status.last_successful_check_time),
            next_check: secs(&status.next_check_time),
            renewal: secs(&status.renewal_time),
            check_interval: (!obj.spec.is_suspended()).then(|| obj.spec.check_interval().as_secs()),
        })
    }

    fn labels(&self) -> [(&'static str, &str); 3] {
        [("namespace", &self.namespace), ("name", &self.name), ("provider", self.provider)]
    }
}

/// Encodes one gauge sample with the connection's labels plus `extra`.
fn sample(family: &mut MetricEncoder<'_>, c: &ConnectionSeries, extra: &[(&'static str, &str)], value: i64) -> Result<(), std::fmt::Error> {
    let mut labels: Vec<(&'static str, &str)> = c.labels().to_vec();
    labels.extend_from_slice(extra);
    family.encode_family(&labels)?.encode_gauge(&value)
}

/// Encodes the per-connection families of `connections` (sorted for a stable output).
pub fn encode_series(connections: &[ConnectionSeries], mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    type Get = fn(&ConnectionSeries) -> Option<i64>;
    let timestamps: [(&str, &str, Get); 6] = [
        (TOKEN_EXPIRATION, "When the connection's access token expires (status.expiresAt), in seconds since the epoch.", |c| {
            c.token_expiration
        }),
        (REFRESH_TOKEN_EXPIRATION, "When the connection's refresh token expires, as the last refresh answer said.", |c| {
            c.refresh_token_expiration
        }),
        (DATA_ACCESS_EXPIRATION, "When the provider stops returning the user's data unless the user logs in again.", |c| {
            c.data_access_expiration
        }),
        (LAST_SUCCESSFUL_CHECK, "When a check of the connection last got a definite answer from the provider.", |c| {
            c.last_successful_check
        }),
        (NEXT_CHECK, "When the operator will next check the connection.", |c| c.next_check),
        (RENEWAL, "When the operator will refresh the token (status.renewalTime; only while an automatic refresh will renew it).", |c| {
            c.renewal
        }),
    ];
    for (name, help, get) in timestamps {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for c in connections {
            if let Some(v) = get(c) {
                sample(&mut family, c, &[], v)?;
            }
        }
    }
    {
        let mut family = encoder.encode_descriptor(
            CHECK_INTERVAL,
            "The connection's effective check interval (absent while checks are suspended).",
            None,
            MetricType::Gauge,
        )?;
        for c in connections {
            if let Some(v) = c.check_interval {
                sample(&mut family, c, &[], i64::try_from(v).unwrap_or(i64::MAX))?;
            }
        }
    }
    {
        let mut family = encoder.encode_descriptor(
            READY_STATUS,
            "The Ready condition of the connection: one series per status value, 1 for the current one.",
            None,
            MetricType::Gauge,
        )?;
        for c in connections {
            for s in [CondStatus::True, CondStatus::False, CondStatus::Unknown] {
                sample(&mut family, c, &[("condition", s.as_str())], i64::from(c.ready == s))?;
            }
        }
    }
    let mut family = encoder.encode_descriptor(
        CONDITION,
        "Each status condition of the connection with its status and reason (always 1).",
        None,
        MetricType::Gauge,
    )?;
    for c in connections {
        for (t, s, reason) in &c.conditions {
            sample(&mut family, c, &[("type", t.as_str()), ("status", s.as_str()), ("reason", reason)], 1)?;
        }
    }
    Ok(())
}

/// Where the collector finds the controller's store: the current leadership term's, or none
/// while this replica stands by (only the leader exports per-connection series, so that two
/// replicas never report the same connection).
#[derive(Clone, Default)]
pub struct StoreSlot(Arc<RwLock<Option<Store<PackedConnection>>>>);

impl From<Store<PackedConnection>> for StoreSlot {
    fn from(store: Store<PackedConnection>) -> Self {
        StoreSlot(Arc::new(RwLock::new(Some(store))))
    }
}

/// Empties its [`StoreSlot`] when dropped (the term ended).
pub struct HeldStore(StoreSlot);

impl Drop for HeldStore {
    fn drop(&mut self) {
        *self.0.0.write().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl StoreSlot {
    /// Puts a term's store in the slot until the returned guard is dropped.
    pub fn hold(&self, store: Store<PackedConnection>) -> HeldStore {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(store);
        HeldStore(self.clone())
    }

    fn current(&self) -> Option<Store<PackedConnection>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The scrape-time collector over the controller's store of connections.
pub struct ConnectionCollector {
    store: StoreSlot,
}

impl ConnectionCollector {
    /// A collector reading `store` (a reader clone of the controller's store).
    pub fn new(store: Store<PackedConnection>) -> Self {
        ConnectionCollector { store: store.into() }
    }

    /// A collector reading whatever store `slot` holds at scrape time.
    pub fn over(slot: StoreSlot) -> Self {
        ConnectionCollector { store: slot }
    }
}

impl std::fmt::Debug for ConnectionCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionCollector").finish_non_exhaustive()
    }
}

impl Collector for ConnectionCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(store) = self.store.current() else { return encode_series(&[], encoder) };
        let mut connections: Vec<ConnectionSeries> =
            store.state().iter().filter_map(|o| o.unpack().ok()).filter_map(|o| ConnectionSeries::of(&o)).collect();
        connections.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        encode_series(&connections, encoder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;
    use prometheus_client::registry::Registry;
    use serde_json::json;

    fn conn(ns: &str, name: &str, provider: &str, status: serde_json::Value, extra_spec: serde_json::Value) -> SocialConnection {
        let mut spec = json!({"provider": provider, "account": {"id": "1"}, "secretRef": {"name": "tok"}});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
            s.extend(e.clone());
        }
        serde_json::from_value(json!({
            "apiVersion": "social.connections.dev/v1alpha1",
            "kind": "SocialConnection",
            "metadata": {"name": name, "namespace": ns, "resourceVersion": "1", "uid": format!("uid-{name}")},
            "spec": spec,
            "status": status,
        }))
        .unwrap()
    }

    fn cond(t: &str, s: &str, r: &str) -> serde_json::Value {
        json!({"type": t, "status": s, "reason": r, "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z"})
    }

    fn scrape(store: Store<PackedConnection>) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(ConnectionCollector::new(store)));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        out
    }

    fn ready_one() -> SocialConnection {
        conn(
            "a",
            "page",
            "facebook",
            json!({
                "conditions": [cond("Ready", "True", "AllChecksPassed"), cond("Valid", "True", "TokenValid"),
                               cond("ExpiringSoon", "True", "AccessTokenExpiring")],
                "expiresAt": "2026-02-01T00:00:00Z",
                "lastSuccessfulCheckTime": "2026-01-01T00:00:00Z",
                "nextCheckTime": "2026-01-01T06:00:00Z",
                "renewalTime": "2026-01-20T00:00:00Z",
                "accountName": "Secret Page Name",
                "tokenFingerprint": "0123456789abcdef",
            }),
            json!({"checkInterval": "6h"}),
        )
    }

    #[test]
    fn a_ready_connection_shows_its_times_ready_status_and_conditions() {
        let (reader, mut writer) = kube::runtime::reflector::store();
        writer.apply_watcher_event(&Event::Apply(PackedConnection::pack(ready_one()).unwrap()));
        let text = scrape(reader);
        let l = r#"namespace="a",name="page",provider="facebook""#;
        for line in [
            format!("{TOKEN_EXPIRATION}{{{l}}} 1769904000"),
            format!("{LAST_SUCCESSFUL_CHECK}{{{l}}} 1767225600"),
            format!("{NEXT_CHECK}{{{l}}} 1767247200"),
            format!("{RENEWAL}{{{l}}} 1768867200"),
            format!("{CHECK_INTERVAL}{{{l}}} 21600"),
            format!("{READY_STATUS}{{{l},condition=\"True\"}} 1"),
            format!("{READY_STATUS}{{{l},condition=\"False\"}} 0"),
            format!("{READY_STATUS}{{{l},condition=\"Unknown\"}} 0"),
            format!("{CONDITION}{{{l},type=\"Ready\",status=\"True\",reason=\"AllChecksPassed\"}} 1"),
            format!("{CONDITION}{{{l},type=\"ExpiringSoon\",status=\"True\",reason=\"AccessTokenExpiring\"}} 1"),
        ] {
            assert!(text.lines().any(|x| x == line), "missing {line} in\n{text}");
        }
        // Absent facts make no series; names, fingerprints and account ids never appear.
        assert!(!text.contains(&format!("{REFRESH_TOKEN_EXPIRATION}{{")), "{text}");
        assert!(!text.contains("Secret Page Name") && !text.contains("0123456789abcdef") && !text.contains("account"), "{text}");
    }

    #[test]
    fn a_deleted_connection_leaves_no_series() {
        let (reader, mut writer) = kube::runtime::reflector::store();
        let obj = ready_one();
        let obj = PackedConnection::pack(obj).unwrap();
        writer.apply_watcher_event(&Event::Apply(obj.clone()));
        assert!(scrape(reader.clone()).contains(r#"name="page""#));
        writer.apply_watcher_event(&Event::Delete(obj));
        let text = scrape(reader);
        assert!(!text.contains(r#"name="page""#), "{text}");
        // The families are still described, so dashboards see the metric with no samples.
        assert!(text.contains(&format!("# TYPE {READY_STATUS} gauge")), "{text}");
    }

    #[test]
    fn a_connection_without_status_is_unknown_and_a_suspended_one_has_no_interval() {
        let fresh = ConnectionSeries::of(&conn("a", "new", "x", json!(null), json!({}))).unwrap();
        assert_eq!(fresh.ready, CondStatus::Unknown);
        assert!(fresh.conditions.is_empty() && fresh.token_expiration.is_none());
        assert_eq!(fresh.check_interval, Some(crate::api::DEFAULT_CHECK_INTERVAL.as_secs()));
        let suspended = ConnectionSeries::of(&conn("a", "s", "x", json!(null), json!({"suspend": true}))).unwrap();
        assert_eq!(suspended.check_interval, None);
    }

    #[test]
    fn foreign_reasons_statuses_and_types_stay_inside_the_vocabulary() {
        let c = conn(
            "a",
            "edited",
            "tiktok",
            json!({"conditions": [
                cond("Ready", "False", "TokenInvalidated"),
                cond("Valid", "False", "some free text a person typed"),
                cond("Valid2", "True", "TokenValid"),
                cond("Revoked", "Maybe", "TokenInvalidated"),
            ]}),
            json!({}),
        );
        let s = ConnectionSeries::of(&c).unwrap();
        assert_eq!(s.ready, CondStatus::False);
        assert_eq!(
            s.conditions,
            vec![(ConditionType::Ready, CondStatus::False, "TokenInvalidated"), (ConditionType::Valid, CondStatus::False, "Other"),]
        );
    }
}
