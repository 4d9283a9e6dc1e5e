//! `/metrics` of the shared operator, scraped like Prometheus would: per-connection series for
//! connections in known states (one Ready with a known expiry, one revoked, one suspended),
//! counters of the work done for them, and no series left once a connection is deleted.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::SignedDuration;
use kube::api::{Api, DeleteParams};
use serde_json::json;
use social_connection_operator::api::SocialConnection;

use crate::providers::rfc3339_in;
use crate::support::*;

/// The samples of one scrape: `name{labels}` → value, for the series of namespace `ns` (and
/// every series without a namespace label).
fn scrape(port: u16, ns: &str) -> BTreeMap<String, f64> {
    let text = http_get(port, "/metrics").expect("/metrics answers 200");
    assert!(text.trim_end().ends_with("# EOF"), "an OpenMetrics exposition ends with # EOF:\n{text}");
    let ns_label = format!("namespace=\"{ns}\"");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter(|l| !l.contains("namespace=\"") || l.contains(&ns_label))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> Option<f64> {
    samples.get(series).copied()
}

/// Scrapes until `ok` holds (the cache follows the API server a moment later).
async fn scrape_until(port: u16, ns: &str, what: &str, ok: impl Fn(&BTreeMap<String, f64>) -> bool) -> BTreeMap<String, f64> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let samples = scrape(port, ns);
        if ok(&samples) {
            return samples;
        }
        assert!(std::time::Instant::now() < deadline, "{what} never showed in /metrics; last scrape:\n{samples:#?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_show_connections_in_known_states_and_forget_deleted_ones() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "metrics").await;
    let (expires, expires_s) = rfc3339_in(SignedDuration::from_hours(24 * 3));
    let good = fakes::token("page");
    secret(&client, &ns, "good", &[("access_token", &good), ("expires_at", &expires_s)]).await;
    let revoked = fakes::token("g5");
    secret(&client, &ns, "revoked", &[("access_token", &revoked)]).await;
    let spec = |secret: &str| json!({"provider": "facebook", "account": {"id": fakes::FACEBOOK_PAGE_ID}, "secretRef": {"name": secret}, "checkInterval": "2h"});
    connection(&client, &ns, "page", spec("good")).await;
    connection(&client, &ns, "gone", spec("revoked")).await;
    let mut paused = spec("good");
    paused["suspend"] = json!(true);
    connection(&client, &ns, "paused", paused).await;
    let page = wait_condition(&client, &ns, "page", "Ready", "True", "AllChecksPassed").await;
    wait_condition(&client, &ns, "page", "ExpiringSoon", "True", "AccessTokenExpiring").await;
    let gone = wait_condition(&client, &ns, "gone", "Revoked", "True", "TokenInvalidated").await;

    let l = |name: &str| format!(r#"namespace="{ns}",name="{name}",provider="facebook""#);
    let (p, g, s) = (l("page"), l("gone"), l("paused"));
    let samples = scrape_until(w.health_port, &ns, "the revoked connection's Ready=False", |m| {
        value(m, &format!("socialconnection_ready_status{{{g},condition=\"False\"}}")) == Some(1.0)
            && value(m, &format!("socialconnection_ready_status{{{p},condition=\"True\"}}")) == Some(1.0)
    })
    .await;
    let expect = |series: String, want: f64| {
        assert_eq!(value(&samples, &series), Some(want), "{series} in\n{samples:#?}");
    };
    // The Ready one: its expiry, check times and interval, one ready_status series per value.
    expect(format!("socialconnection_token_expiration_timestamp_seconds{{{p}}}"), expires.as_second() as f64);
    let t = |x: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>| x.as_ref().expect("time in status").0.as_second() as f64;
    expect(format!("socialconnection_last_successful_check_timestamp_seconds{{{p}}}"), t(&page.last_successful_check_time));
    expect(format!("socialconnection_check_interval_seconds{{{p}}}"), 7200.0);
    expect(format!("socialconnection_ready_status{{{p},condition=\"True\"}}"), 1.0);
    expect(format!("socialconnection_ready_status{{{p},condition=\"False\"}}"), 0.0);
    expect(format!("socialconnection_ready_status{{{p},condition=\"Unknown\"}}"), 0.0);
    expect(format!("socialconnection_condition{{{p},type=\"Valid\",status=\"True\",reason=\"TokenValid\"}}"), 1.0);
    expect(format!("socialconnection_condition{{{p},type=\"ExpiringSoon\",status=\"True\",reason=\"AccessTokenExpiring\"}}"), 1.0);
    // The revoked one.
    expect(format!("socialconnection_ready_status{{{g},condition=\"False\"}}"), 1.0);
    expect(format!("socialconnection_ready_status{{{g},condition=\"True\"}}"), 0.0);
    expect(format!("socialconnection_condition{{{g},type=\"Revoked\",status=\"True\",reason=\"TokenInvalidated\"}}"), 1.0);
    expect(format!("socialconnection_condition{{{g},type=\"Ready\",status=\"False\",reason=\"TokenInvalidated\"}}"), 1.0);
    expect(format!("socialconnection_next_check_timestamp_seconds{{{g}}}"), t(&gone.next_check_time));
    assert!(
        !samples.contains_key(&format!("socialconnection_token_expiration_timestamp_seconds{{{g}}}")),
        "no expiry known for the revoked one"
    );
    // The suspended one was never checked: Unknown, and no interval (so no overdue alert).
    expect(format!("socialconnection_ready_status{{{s},condition=\"Unknown\"}}"), 1.0);
    assert!(!samples.contains_key(&format!("socialconnection_check_interval_seconds{{{s}}}")));
    // Work counted where it happened (the operator is shared, so only lower bounds).
    let at_least = |series: &str, min: f64| {
        let v = value(&samples, series).unwrap_or(0.0);
        assert!(v >= min, "{series} = {v}, expected at least {min}");
    };
    at_least(r#"socialconnection_provider_requests_total{provider="facebook",call="check",result="success"}"#, 1.0);
    at_least(r#"socialconnection_provider_request_duration_seconds_count{provider="facebook",call="check"}"#, 1.0);
    at_least(r#"socialconnection_status_writes_total{result="success"}"#, 3.0);
    at_least(r#"socialconnection_reconcile_duration_seconds_count{result="success"}"#, 3.0);
    at_least(&format!(r#"socialconnection_build_info{{version="{}"}}"#, env!("CARGO_PKG_VERSION")), 1.0);
    // No token, account id or account name anywhere in the exposition.
    let text = http_get(w.health_port, "/metrics").expect("/metrics");
    for secret in [good.as_str(), revoked.as_str()] {
        assert!(!text.contains(secret), "/metrics shows {secret}");
    }
    // The account id is a short number that may well occur inside a sample value (a timestamp, a
    // duration sum), so it is looked for where it could leak: in the labels.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let labels = line.split_once('{').and_then(|(_, rest)| rest.rsplit_once('}')).map_or("", |(labels, _)| labels);
        assert!(!labels.contains(fakes::FACEBOOK_PAGE_ID), "/metrics labels show the account id: {line}");
    }
    if let Some(name) = &page.account_name {
        assert!(!text.contains(name.as_str()), "/metrics shows the account name");
    }

    // Deleted: its series go with it; the others stay.
    Api::<SocialConnection>::namespaced(client.clone(), &ns).delete("gone", &DeleteParams::default()).await.expect("delete");
    let samples =
        scrape_until(w.health_port, &ns, "the deleted connection's series disappearing", |m| !m.keys().any(|k| k.contains(&g))).await;
    assert_eq!(value(&samples, &format!("socialconnection_ready_status{{{p},condition=\"True\"}}")), Some(1.0));
    assert_eq!(http_status(w.health_port, "/readyz"), Some(200));
    assert_eq!(http_status(w.health_port, "/healthz"), Some(200));
}

/// The chart's metrics Service and dashboard ConfigMap are objects the real API server accepts
/// (server-side dry run; the ServiceMonitor and PrometheusRule need prometheus-operator's CRDs,
/// which this control plane does not have: tests/chart.rs checks their shape and promtool their
/// rules).
#[tokio::test(flavor = "multi_thread")]
async fn the_charts_metrics_service_and_dashboard_are_accepted_by_the_api_server() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "metrics-chart").await;
    let home = std::env::temp_dir().join(format!("sco-e2e-helm-metrics-{}", std::process::id()));
    let chart = repo().join("charts/social-connection-operator");
    let out = std::process::Command::new(w.bin_dir.join("helm"))
        .args(["template", "rel"])
        .arg(&chart)
        .args(["--namespace", &ns, "--set", "metrics.enabled=true", "--set", "metrics.dashboard.enabled=true"])
        .args(["--show-only", "templates/metrics-service.yaml", "--show-only", "templates/dashboard.yaml"])
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .expect("run helm");
    assert!(out.status.success(), "helm template: {}", String::from_utf8_lossy(&out.stderr));
    let rendered = String::from_utf8_lossy(&out.stdout).into_owned();
    let (ok, stdout, stderr) = w.kubectl(&["apply", "--dry-run=server", "-n", &ns, "-f", "-"], Some(&rendered));
    assert!(ok, "the API server refused the chart's metrics objects: {stderr}");
    assert!(stdout.contains("service/rel-social-connection-operator-metrics created (server dry run)"), "{stdout}");
    assert!(stdout.contains("configmap/rel-social-connection-operator-dashboard created (server dry run)"), "{stdout}");
}
