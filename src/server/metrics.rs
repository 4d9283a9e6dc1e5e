//! `/metrics`: the operator's Prometheus metrics in the OpenMetrics text format.
//!
//! Counters and histograms are incremented where the event happens (provider HTTP, refresh
//! runs, revokes on delete, status writes, notice deliveries, reconciles); per-connection series come from
//! [`super::collector`] at scrape time. Every label is a fixed vocabulary or a namespace/name.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use kube::runtime::reflector::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::collector::{ConnectionCollector, StoreSlot};
use crate::api::ProviderKind;
use crate::controller::packed::PackedConnection;
use crate::notify::{DeliveryObserver, ReceiverKind};
use crate::providers::http::{ProviderCall, RequestObserver, RequestResult};

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a provider request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    provider: &'static str,
    call: &'static str,
    result: &'static str,
}

/// Labels of a provider request's duration.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    provider: &'static str,
    call: &'static str,
}

/// Labels of a refresh run or a revoke attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefreshLabels {
    provider: &'static str,
    result: &'static str,
}

/// A result label alone.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// A provider label alone.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: &'static str,
}

/// Labels of a notice delivery.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NoticeLabels {
    receiver: &'static str,
    stage: &'static str,
    result: &'static str,
}

/// How a refresh run ended (the `result` label of `socialconnection_refreshes_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshResult {
    /// The new token is stored in the Secret.
    Stored,
    /// The provider refused the refresh.
    Refused,
    /// A transient provider answer; nothing changed.
    Transient,
    /// The new token could not be stored yet; it is kept in memory and retried.
    WritePending,
    /// Someone else wrote the Secret meanwhile; the result was dropped.
    Superseded,
}

impl RefreshResult {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            RefreshResult::Stored => "stored",
            RefreshResult::Refused => "refused",
            RefreshResult::Transient => "transient",
            RefreshResult::WritePending => "write_pending",
            RefreshResult::Superseded => "superseded",
        }
    }
}

/// How a revoke attempt on delete ended (the `result` label of `socialconnection_revokes_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeResult {
    /// 2xx or "already invalid": `TokenRevoked`.
    Revoked,
    /// Refused, or transient until the bound: `RevokeFailed`.
    Failed,
    /// A transient answer; retried.
    Transient,
    /// No revoke call: `RevokeNotSupported`.
    NotSupported,
    /// Missing credentials or token Secret: `RevokeSkipped`.
    Skipped,
}

impl RevokeResult {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            RevokeResult::Revoked => "revoked",
            RevokeResult::Failed => "failed",
            RevokeResult::Transient => "transient",
            RevokeResult::NotSupported => "not_supported",
            RevokeResult::Skipped => "skipped",
        }
    }
}

/// The operator's metrics registry and the counters the rest of the code increments.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    provider_requests: Family<RequestLabels, Counter>,
    provider_request_duration: Family<CallLabels, Histogram>,
    refreshes: Family<RefreshLabels, Counter>,
    revokes: Family<RefreshLabels, Counter>,
    reconcile_duration: Family<ResultLabels, Histogram>,
    status_writes: Family<ResultLabels, Counter>,
    notices: Family<NoticeLabels, Counter>,
    provider_pauses: Family<ProviderLabels, Counter>,
}

/// Buckets from 5 ms to about 20 s: provider calls time out at 20 s, reconciles include them.
fn duration_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

impl Metrics {
    /// The registry with every family, and the per-connection collector over `store` when
    /// given (the controller's store; tests of other parts pass `None`).
    pub fn new(store: Option<Store<PackedConnection>>) -> Self {
        Self::build(store.map(StoreSlot::from))
    }

    /// The registry with the per-connection collector over whatever store `slot` holds: the
    /// current leadership term's, none while standing by.
    pub fn for_terms(slot: StoreSlot) -> Self {
        Self::build(Some(slot))
    }

    fn build(store: Option<StoreSlot>) -> Self {
        let mut registry = Registry::default();
        let provider_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "socialconnection_provider_requests",
            "Requests sent to providers, by provider, call (check, refresh, revoke, exchange_code) and HTTP result.",
            provider_requests.clone(),
        );
        let provider_request_duration = Family::<CallLabels, Histogram>::new_with_constructor(duration_buckets as fn() -> Histogram);
        registry.register_with_unit(
            "socialconnection_provider_request_duration",
            "How long provider requests took, from sending to the whole answer (request budget waits excluded).",
            Unit::Seconds,
            provider_request_duration.clone(),
        );
        let refreshes = Family::<RefreshLabels, Counter>::default();
        registry.register(
            "socialconnection_refreshes",
            "Token refresh runs, by provider and result (stored, refused, transient, write_pending, superseded).",
            refreshes.clone(),
        );
        let revokes = Family::<RefreshLabels, Counter>::default();
        registry.register(
            "socialconnection_revokes",
            "Revoke attempts of deleted connections (spec.revokeOnDelete), by provider and result (revoked, failed, transient, not_supported, skipped).",
            revokes.clone(),
        );
        let reconcile_duration = Family::<ResultLabels, Histogram>::new_with_constructor(duration_buckets as fn() -> Histogram);
        registry.register_with_unit(
            "socialconnection_reconcile_duration",
            "How long reconciles of SocialConnections took, by result (success, error).",
            Unit::Seconds,
            reconcile_duration.clone(),
        );
        let status_writes = Family::<ResultLabels, Counter>::default();
        registry.register(
            "socialconnection_status_writes",
            "Status writes of the controller to SocialConnections, by result (success, error).",
            status_writes.clone(),
        );
        let notices = Family::<NoticeLabels, Counter>::default();
        registry.register(
            "socialconnection_notices",
            "Notices to people, by receiver kind, stage and result (sent, failed after every retry).",
            notices.clone(),
        );
        let provider_pauses = Family::<ProviderLabels, Counter>::default();
        registry.register(
            "socialconnection_provider_pauses",
            "Outages detected per provider: most of its connections failed transiently at once, so every check of it paused (one ProviderPaused Event each).",
            provider_pauses.clone(),
        );
        registry.register(
            "socialconnection_build",
            "The operator's build: its version.",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        if let Some(store) = store {
            registry.register_collector(Box::new(ConnectionCollector::over(store)));
        }
        Metrics {
            registry,
            provider_requests,
            provider_request_duration,
            refreshes,
            revokes,
            reconcile_duration,
            status_writes,
            notices,
            provider_pauses,
        }
    }

    /// The whole registry in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Records a refresh run's result.
    pub fn refreshed(&self, provider: ProviderKind, result: RefreshResult) {
        self.refreshes.get_or_create(&RefreshLabels { provider: provider.as_str(), result: result.as_str() }).inc();
    }

    /// Records a revoke attempt's result.
    pub fn revoked(&self, provider: ProviderKind, result: RevokeResult) {
        self.revokes.get_or_create(&RefreshLabels { provider: provider.as_str(), result: result.as_str() }).inc();
    }

    /// Records one reconcile.
    pub fn reconciled(&self, ok: bool, elapsed: Duration) {
        self.reconcile_duration.get_or_create(&ResultLabels { result: success(ok) }).observe(elapsed.as_secs_f64());
    }

    /// Records an outage of `provider` that paused its checks (once per outage).
    pub fn provider_paused(&self, provider: ProviderKind) {
        self.provider_pauses.get_or_create(&ProviderLabels { provider: provider.as_str() }).inc();
    }

    /// Records one status write.
    pub fn status_written(&self, ok: bool) {
        self.status_writes.get_or_create(&ResultLabels { result: success(ok) }).inc();
    }
}

const fn success(ok: bool) -> &'static str {
    if ok { "success" } else { "error" }
}

impl RequestObserver for Metrics {
    fn observe(&self, provider: ProviderKind, call: ProviderCall, result: RequestResult, elapsed: Duration) {
        let (provider, call) = (provider.as_str(), call.as_str());
        self.provider_requests.get_or_create(&RequestLabels { provider, call, result: result.as_str() }).inc();
        self.provider_request_duration.get_or_create(&CallLabels { provider, call }).observe(elapsed.as_secs_f64());
    }
}

impl DeliveryObserver for Metrics {
    fn sent(&self, receiver: ReceiverKind, stage: &'static str) {
        crate::notify::LogObserver.sent(receiver, stage);
        self.notices.get_or_create(&NoticeLabels { receiver: receiver.as_str(), stage, result: "sent" }).inc();
    }
    fn failed(&self, receiver: ReceiverKind, stage: &'static str) {
        crate::notify::LogObserver.failed(receiver, stage);
        self.notices.get_or_create(&NoticeLabels { receiver: receiver.as_str(), stage, result: "failed" }).inc();
    }
}

/// The `/metrics` route.
pub fn routes(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                match metrics.encode() {
                    Ok(body) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], body),
                    Err(e) => {
                        tracing::error!(error = %e, "encoding the metrics failed");
                        (StatusCode::INTERNAL_SERVER_ERROR, [(header::CONTENT_TYPE, "text/plain")], String::new())
                    }
                }
            }
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(text: &str, line: &str) -> bool {
        text.lines().any(|l| l == line)
    }

    #[test]
    fn counters_follow_prometheus_naming_and_carry_only_fixed_labels() {
        let m = Metrics::new(None);
        m.observe(ProviderKind::Facebook, ProviderCall::Refresh, RequestResult::RateLimited, Duration::from_millis(30));
        m.refreshed(ProviderKind::Tiktok, RefreshResult::Stored);
        m.revoked(ProviderKind::X, RevokeResult::NotSupported);
        m.status_written(true);
        m.status_written(false);
        m.reconciled(true, Duration::from_millis(2));
        m.sent(ReceiverKind::Slack, "expiring");
        m.failed(ReceiverKind::Email, "broken");
        m.provider_paused(ProviderKind::Youtube);
        let text = m.encode().unwrap();
        for line in [
            r#"socialconnection_provider_requests_total{provider="facebook",call="refresh",result="rate_limited"} 1"#,
            r#"socialconnection_provider_request_duration_seconds_count{provider="facebook",call="refresh"} 1"#,
            r#"socialconnection_provider_request_duration_seconds_bucket{le="0.04",provider="facebook",call="refresh"} 1"#,
            r#"socialconnection_refreshes_total{provider="tiktok",result="stored"} 1"#,
            r#"socialconnection_revokes_total{provider="x",result="not_supported"} 1"#,
            r#"socialconnection_status_writes_total{result="success"} 1"#,
            r#"socialconnection_status_writes_total{result="error"} 1"#,
            r#"socialconnection_reconcile_duration_seconds_count{result="success"} 1"#,
            r#"socialconnection_notices_total{receiver="slack",stage="expiring",result="sent"} 1"#,
            r#"socialconnection_notices_total{receiver="email",stage="broken",result="failed"} 1"#,
            r#"socialconnection_provider_pauses_total{provider="youtube"} 1"#,
            concat!(r#"socialconnection_build_info{version=""#, env!("CARGO_PKG_VERSION"), r#""} 1"#),
        ] {
            assert!(has(&text, line), "missing {line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
