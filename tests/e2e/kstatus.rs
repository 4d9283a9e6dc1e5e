//! GitOps status as Flux reads it (issue 11): the statuses the operator writes, for a connection
//! in each state it produces, go through kstatus's own `status.Compute` (sigs.k8s.io/cli-utils,
//! built from the Go module proxy by scripts/kstatus.sh) and through the Argo CD health check,
//! and each comes out as a person would expect: a working connection is Current, one a person
//! must fix is Failed (a Flux wait fails at once, with the reason), one waiting for a provider's
//! answer is InProgress.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::{Api, ListParams};
use serde_json::json;
use social_connection_operator::api::SocialConnection;

use crate::providers::in_minutes;
use crate::support::*;

#[path = "../common/argo.rs"]
mod argo;

/// The kstatus-check binary (built once, cached).
fn kstatus_check() -> std::path::PathBuf {
    let out = Command::new("bash")
        .arg(repo().join("scripts/kstatus.sh"))
        .args(["build", "--print-bin"])
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/kstatus.sh");
    assert!(out.status.success(), "building kstatus-check failed: {}", String::from_utf8_lossy(&out.stderr));
    std::path::PathBuf::from(String::from_utf8(out.stdout).expect("utf-8").trim())
}

/// kstatus's (status, message) of every object of a `kubectl get -o json` List, by name.
fn kstatus_of(list_json: &str) -> BTreeMap<String, (String, String)> {
    use std::io::Write;
    let mut child = Command::new(kstatus_check())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kstatus-check");
    child.stdin.take().expect("stdin").write_all(list_json.as_bytes()).expect("write objects");
    let out = child.wait_with_output().expect("kstatus-check");
    assert!(out.status.success(), "kstatus-check failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let name = parts.next().unwrap_or_default().rsplit('/').next().unwrap_or_default().to_string();
            (name, (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string()))
        })
        .collect()
}

/// (name, token scenario (none: no Secret), extra Secret keys, spec additions, the Ready reason
/// of that state, the kstatus status, the Argo CD health).
type Case<'a> = (&'a str, Option<&'a str>, Vec<(&'a str, &'a str)>, serde_json::Value, &'a str, &'a str, &'a str);

#[tokio::test(flavor = "multi_thread")]
async fn flux_and_argo_read_every_state_the_operator_writes_as_a_person_would() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "kstatus").await;
    // (name, token scenario, extra Secret keys, spec changes, Ready reason, kstatus, Argo CD)
    let past = in_minutes(-60);
    let soon = in_minutes(48 * 60);
    let cases: Vec<Case> = vec![
        ("ready", Some("valid"), vec![], json!({}), "AllChecksPassed", "Current", "Healthy"),
        ("expiring-soon", Some("valid"), vec![("expires_at", &soon)], json!({}), "AllChecksPassed", "Current", "Healthy"),
        ("suspended", Some("x-e"), vec![], json!({}), "AccountSuspended", "Failed", "Degraded"),
        ("app-only-token", Some("x-d"), vec![], json!({}), "InvalidSecret", "Failed", "Degraded"),
        ("expired", Some("valid"), vec![("expires_at", &past)], json!({}), "Expired", "Failed", "Degraded"),
        ("other-account", Some("x-b"), vec![], json!({}), "AccountMismatch", "Failed", "Degraded"),
        (
            "scopes-missing",
            Some("valid"),
            vec![("scope", "users.read tweet.read")],
            json!({"requiredScopes": ["tweet.write"]}),
            "ScopesNotGranted",
            "Failed",
            "Degraded",
        ),
        ("no-secret", None, vec![], json!({}), "SecretNotFound", "Failed", "Degraded"),
        ("provider-down", Some("http-503"), vec![], json!({}), "ProviderUnavailable", "InProgress", "Progressing"),
        ("rate-limited", Some("x-g"), vec![], json!({}), "RateLimited", "InProgress", "Progressing"),
    ];
    let mut tokens = Vec::new();
    for (name, token, extra, spec, ..) in &cases {
        if let Some(scenario) = token {
            let t = fakes::token(scenario);
            let mut data = vec![("access_token", t.as_str())];
            data.extend(extra.iter().copied());
            secret(&client, &ns, name, &data).await;
            tokens.push(t);
        }
        let mut s = json!({"provider": "x", "account": {"id": fakes::X_USER_ID}, "secretRef": {"name": name}});
        if let (Some(base), Some(more)) = (s.as_object_mut(), spec.as_object()) {
            base.extend(more.clone());
        }
        connection(&client, &ns, name, s).await;
    }
    // Each reaches the Ready reason of its state.
    let api = Api::<SocialConnection>::namespaced(client.clone(), &ns);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list = api.list(&ListParams::default()).await.expect("list");
        let reached: BTreeMap<String, String> =
            list.items.iter().filter_map(|c| Some((c.name_any(), condition(c.status.as_ref()?, "Ready")?.1))).collect();
        let missing: Vec<String> = cases
            .iter()
            .filter(|c| reached.get(c.0).map(String::as_str) != Some(c.4))
            .map(|c| format!("{} (now {:?})", c.0, reached.get(c.0)))
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "connections did not reach their state within 120 s: {missing:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let (ok, list_json, err) = w.kubectl(&["get", "socialconnections", "-n", &ns, "-o", "json"], None);
    assert!(ok, "kubectl get failed: {err}");
    let computed = kstatus_of(&list_json);
    let objects: serde_json::Value = serde_json::from_str(&list_json).expect("JSON list");
    let mut lines = Vec::new();
    for (name, _, _, _, reason, want_kstatus, want_argo) in &cases {
        let (got, message) = computed.get(*name).unwrap_or_else(|| panic!("kstatus said nothing about {name}"));
        let obj = objects["items"].as_array().expect("items").iter().find(|o| o["metadata"]["name"] == *name).expect("object");
        let (argo, argo_message) = argo::argo_health(obj);
        lines.push(format!("{name:<15} Ready reason {reason:<20} kstatus {got:<10} Argo CD {argo}"));
        assert_eq!(got, want_kstatus, "{name}: kstatus {got} ({message})");
        assert_eq!(&argo, want_argo, "{name}: Argo CD {argo} ({argo_message})");
        if *want_kstatus == "Failed" {
            // The Failed message is the blocker's, so a Flux wait says why at once.
            let stalled =
                obj["status"]["conditions"].as_array().expect("conditions").iter().find(|c| c["type"] == "Stalled").expect("Stalled");
            assert_eq!(stalled["reason"], *reason, "{name}: Stalled carries the blocker's reason");
            assert_eq!(message, stalled["message"].as_str().expect("message"), "{name}: kstatus shows the Stalled message");
        }
    }
    eprintln!("kstatus: {}", lines.join("\n  "));

    // The operator's JSON log: every line of a reconcile carries its span with the connection
    // and, once known, the outcome.
    let log = w.operator_output();
    let spans: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("span").cloned())
        .filter(|s| s["name"] == "reconcile" && s["namespace"] == ns.as_str())
        .collect();
    for (name, ..) in &cases {
        let outcomes: Vec<&str> = spans.iter().filter(|s| s["connection"] == *name).filter_map(|s| s["outcome"].as_str()).collect();
        assert!(spans.iter().filter(|s| s["connection"] == *name).all(|s| s["provider"] == "x"), "{name}: provider in the span");
        assert!(outcomes.contains(&"status written"), "{name}: no log line of a reconcile that wrote its status: {outcomes:?}");
    }
    for t in &tokens {
        assert!(!list_json.contains(t.as_str()), "a token reached the status");
    }
}
