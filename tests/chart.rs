//! The Helm chart, the examples, the Argo CD health check and the Dockerfile, checked without a
//! cluster: `helm lint --strict` and `helm template` with default and non-default values, the
//! values schema, the chart's CRD against the generated one, the Lua health check against
//! sample statuses (in Lua 5.1, Argo CD's dialect), and the examples against the API types and
//! the fake providers' scenarios. The end-to-end half (helm install into a real API server, the
//! operator running on the chart's ServiceAccount) is `tests/e2e/chart.rs`.
//!
//! helm and kubectl come from `scripts/control-plane.sh build --print-bin-dir` (built once and
//! cached; the first run of the suite builds them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::json;
use serde_yaml::Value;
use social_connection_operator::api::{ProviderKind, SocialConnection, SocialConnectionStatus};
use social_connection_operator::config::CrdName;
use social_connection_operator::providers::{self, AppKeys};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn chart() -> PathBuf {
    repo().join("charts/social-connection-operator")
}

/// The directory holding helm and kubectl.
fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("scripts/control-plane.sh"))
            .args(["build", "--print-bin-dir"])
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/control-plane.sh");
        assert!(out.status.success(), "building helm and kubectl failed ({})", out.status);
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().lines().last().expect("a bin dir").to_string())
    })
}

/// Runs helm with a private config/cache directory; returns (success, stdout, stderr).
fn helm(args: &[&str]) -> (bool, String, String) {
    let home = std::env::temp_dir().join(format!("sco-chart-tests-helm-{}", std::process::id()));
    let out = Command::new(bin_dir().join("helm"))
        .args(args)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        // helm template must never need a cluster.
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .expect("run helm");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `helm template` of the chart as release `rel` in namespace `sys` with extra arguments; the
/// rendered documents.
fn render(args: &[&str]) -> Vec<Value> {
    let chart = chart();
    let mut all = vec!["template", "rel", chart.to_str().unwrap(), "--namespace", "sys"];
    all.extend_from_slice(args);
    let (ok, out, err) = helm(&all);
    assert!(ok, "helm template {args:?} failed: {err}");
    documents(&out)
}

/// Every non-empty YAML document of a stream.
fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| serde::Deserialize::deserialize(d).expect("valid YAML"))
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// `helm template` that is expected to fail; its error output.
fn render_error(args: &[&str]) -> String {
    let chart = chart();
    let mut all = vec!["template", "rel", chart.to_str().unwrap(), "--namespace", "sys"];
    all.extend_from_slice(args);
    let (ok, _, err) = helm(&all);
    assert!(!ok, "helm template {args:?} should have been refused");
    err
}

/// The value at `path` (map keys, or indices for sequences); Null when absent.
fn get<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    static NULL: Value = Value::Null;
    let mut cur = v;
    for key in path {
        cur = match cur {
            Value::Mapping(m) => m.get(*key).unwrap_or(&NULL),
            Value::Sequence(s) => key.parse::<usize>().ok().and_then(|i| s.get(i)).unwrap_or(&NULL),
            _ => &NULL,
        };
    }
    cur
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    get(v, path).as_str().unwrap_or_else(|| panic!("no string at {path:?} in {v:?}"))
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| get(d, &["kind"]).as_str() == Some(kind)).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = of_kind(docs, kind);
    assert_eq!(found.len(), 1, "expected exactly one {kind}, found {}", found.len());
    found[0]
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter().map(|d| str_at(d, &["kind"]).to_string()).collect()
}

fn container(docs: &[Value]) -> &Value {
    get(one(docs, "Deployment"), &["spec", "template", "spec", "containers", "0"])
}

fn args(docs: &[Value]) -> Vec<String> {
    get(container(docs), &["args"]).as_sequence().expect("args").iter().map(|a| a.as_str().expect("string arg").to_string()).collect()
}

/// RBAC rules flattened to (apiGroup, resource, verb).
fn grants(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in get(role, &["rules"]).as_sequence().expect("rules") {
        let list = |k: &str| -> Vec<String> {
            get(rule, &[k]).as_sequence().map(|s| s.iter().map(|x| x.as_str().unwrap().to_string()).collect()).unwrap_or_default()
        };
        for g in list("apiGroups") {
            for r in list("resources") {
                for v in list("verbs") {
                    out.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    out
}

// Which permissions the rules hold is proven from the API server's audit log by the
// end-to-end chart tests (tests/e2e/rbac_audit.rs): the chart must grant exactly what the
// operator used there. These tests check the RBAC objects' shape: which kind in which mode,
// bound to the chart's ServiceAccount, the same rules in both modes.

/// A values file in a fresh temporary directory.
fn values_file(yaml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("values.yaml");
    std::fs::write(&path, yaml).expect("write values");
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

/// Non-default values touching every section of the chart.
const CUSTOM_VALUES: &str = r#"
image:
  repository: registry.example.com/sco
  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  pullPolicy: Always
imagePullSecrets: [{name: regcred}]
fullnameOverride: sco
crds: {enabled: false}
watchNamespaces: [team-a, team-b]
providerEndpoints:
  facebook: https://graph-proxy.internal
  telegram: http://telegram-proxy.internal:8081
graphApiVersion: v23.0
linkedinVersion: "202601"
defaultRedirectURL: https://connect.example.com/oauth/callback
concurrency: 4
replicas: 2
leaderElection: {leaseName: sco-leader, leaseDuration: 30s, renewDeadline: 20s, retryPeriod: 3s}
logging: {format: text, level: "info,social_connection_operator=debug"}
extraEnv: [{name: HTTPS_PROXY, value: "http://proxy:3128"}]
extraArgs: ["--provider-endpoint=x=https://x-proxy.internal"]
health: {port: 9440}
resources:
  requests: {cpu: 50m, memory: 96Mi}
  limits: {cpu: "1", memory: 512Mi}
serviceAccount: {name: sco-operator, annotations: {example.com/owner: platform}}
networkPolicy:
  enabled: true
  apiServer: {ports: [6443], cidrs: [10.0.0.1/32]}
  dns:
    to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}]
  https: {cidrs: [0.0.0.0/0]}
  extraEgress: [{ports: [{protocol: TCP, port: 8081}]}]
podAnnotations: {example.com/scrape: "false"}
podLabels: {team: platform}
commonLabels: {cost-center: "42"}
priorityClassName: system-cluster-critical
tolerations: [{key: dedicated, operator: Exists}]
metrics:
  serviceMonitor: {enabled: true, labels: {release: kube-prometheus-stack}, interval: 30s, scrapeTimeout: 5s}
  prometheusRule: {enabled: true, labels: {release: kube-prometheus-stack}, notReadyFor: 30m, expiringWithinDays: 14,
                   providerFailingRatio: 0.75, runbookBaseURL: "https://docs.example.com/sco"}
  dashboard: {enabled: true, namespace: monitoring, annotations: {grafana_folder: Tokens}}
"#;

const STANDARD_LABELS: [&str; 6] = [
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
];

// ---------------------------------------------------------------------------------------------
// Lint and render
// ---------------------------------------------------------------------------------------------

#[test]
fn helm_lint_strict_accepts_the_default_values() {
    let (ok, out, err) = helm(&["lint", "--strict", chart().to_str().unwrap()]);
    assert!(ok, "helm lint --strict failed:\n{out}\n{err}");
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[test]
fn helm_lint_strict_accepts_non_default_values() {
    let (_dir, values) = values_file(CUSTOM_VALUES);
    let (ok, out, err) = helm(&["lint", "--strict", chart().to_str().unwrap(), "-f", &values]);
    assert!(ok, "helm lint --strict with custom values failed:\n{out}\n{err}");
}

#[test]
fn default_values_render_a_hardened_single_replica_deployment() {
    let docs = render(&[]);
    assert_eq!(
        kinds(&docs),
        ["ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Deployment", "Role", "RoleBinding", "ServiceAccount"]
            .map(String::from)
            .into(),
        "objects of the default install (the Role is leader election's)"
    );
    let deploy = one(&docs, "Deployment");
    assert_eq!(get(deploy, &["spec", "replicas"]).as_i64(), Some(1));
    // Leader election is on, so a rolling update is safe: the new pod stands by.
    assert_eq!(str_at(deploy, &["spec", "strategy", "type"]), "RollingUpdate");
    assert_eq!(get(deploy, &["spec", "strategy", "rollingUpdate", "maxUnavailable"]).as_i64(), Some(0));
    let pod = get(deploy, &["spec", "template", "spec"]);
    assert_eq!(get(pod, &["securityContext", "runAsNonRoot"]).as_bool(), Some(true));
    assert_eq!(get(pod, &["securityContext", "runAsUser"]).as_i64(), Some(65532));
    assert_eq!(str_at(pod, &["securityContext", "seccompProfile", "type"]), "RuntimeDefault");
    assert_eq!(str_at(pod, &["serviceAccountName"]), "rel-social-connection-operator");
    let c = container(&docs);
    assert_eq!(str_at(c, &["image"]), format!("ghcr.io/social-connections/social-connection-operator:{}", env!("CARGO_PKG_VERSION")));
    assert_eq!(get(c, &["securityContext", "readOnlyRootFilesystem"]).as_bool(), Some(true));
    assert_eq!(get(c, &["securityContext", "allowPrivilegeEscalation"]).as_bool(), Some(false));
    assert_eq!(get(c, &["securityContext", "capabilities", "drop"]), &serde_yaml::from_str::<Value>("[ALL]").unwrap());
    for (kind, key) in [("requests", "cpu"), ("requests", "memory"), ("limits", "cpu"), ("limits", "memory")] {
        assert!(get(c, &["resources", kind, key]).as_str().is_some(), "resources.{kind}.{key} missing");
    }
    assert_eq!(str_at(c, &["livenessProbe", "httpGet", "path"]), "/healthz");
    assert_eq!(str_at(c, &["readinessProbe", "httpGet", "path"]), "/readyz");
    assert_eq!(str_at(c, &["livenessProbe", "httpGet", "port"]), "health");
    assert_eq!(get(c, &["ports", "0", "containerPort"]).as_i64(), Some(8080));
    let a = args(&docs);
    assert_eq!(a[0], "run");
    assert!(a.contains(&"--health-addr=0.0.0.0:8080".to_string()), "{a:?}");
    assert!(a.contains(&"--log-format=json".to_string()), "{a:?}");
    assert!(!a.iter().any(|x| x.starts_with("--namespace")), "default install watches every namespace: {a:?}");
    for want in [
        "--leader-election",
        "--leader-election-namespace=sys",
        "--leader-election-lease-name=rel-social-connection-operator",
        "--leader-election-lease-duration=15s",
        "--leader-election-renew-deadline=10s",
        "--leader-election-retry-period=2s",
    ] {
        assert!(a.contains(&want.to_string()), "missing {want} in {a:?}");
    }
    let env = get(c, &["env"]);
    assert_eq!(str_at(env, &["0", "name"]), "POD_NAME");
    assert_eq!(str_at(env, &["0", "valueFrom", "fieldRef", "fieldPath"]), "metadata.name");
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(str_at(sa, &["metadata", "name"]), "rel-social-connection-operator");
    assert_eq!(str_at(sa, &["metadata", "namespace"]), "sys");
}

#[test]
fn default_values_grant_exactly_the_operators_permissions_cluster_wide() {
    let docs = render(&[]);
    assert_eq!(of_kind(&docs, "Role").len(), 1, "only leader election's Role");
    assert_eq!(str_at(one(&docs, "Role"), &["metadata", "name"]), "rel-social-connection-operator-leader-election");
    let role = one(&docs, "ClusterRole");
    assert!(!grants(role).is_empty());
    let binding = one(&docs, "ClusterRoleBinding");
    assert_eq!(str_at(binding, &["roleRef", "kind"]), "ClusterRole");
    assert_eq!(str_at(binding, &["roleRef", "name"]), str_at(role, &["metadata", "name"]));
    assert_eq!(str_at(binding, &["subjects", "0", "kind"]), "ServiceAccount");
    assert_eq!(str_at(binding, &["subjects", "0", "name"]), "rel-social-connection-operator");
    assert_eq!(str_at(binding, &["subjects", "0", "namespace"]), "sys");
}

#[test]
fn watch_namespaces_grant_only_namespaced_roles_in_those_namespaces() {
    let docs = render(&["--set", "watchNamespaces={team-a,team-b}"]);
    assert!(of_kind(&docs, "ClusterRole").is_empty(), "no cluster-wide role with watchNamespaces");
    assert!(of_kind(&docs, "ClusterRoleBinding").is_empty());
    let watching = |v: &Value| !str_at(v, &["metadata", "name"]).ends_with("-leader-election");
    let roles: Vec<&Value> = of_kind(&docs, "Role").into_iter().filter(|r| watching(r)).collect();
    let bindings: Vec<&Value> = of_kind(&docs, "RoleBinding").into_iter().filter(|r| watching(r)).collect();
    let ns = |v: &[&Value]| v.iter().map(|r| str_at(r, &["metadata", "namespace"]).to_string()).collect::<BTreeSet<_>>();
    let want: BTreeSet<String> = ["team-a".to_string(), "team-b".to_string()].into();
    assert_eq!(ns(&roles), want);
    assert_eq!(ns(&bindings), want);
    let cluster_wide = render(&[]);
    for role in roles {
        assert_eq!(grants(role), grants(one(&cluster_wide, "ClusterRole")), "the same rules as the cluster-wide mode");
    }
    for b in bindings {
        assert_eq!(str_at(b, &["roleRef", "kind"]), "Role");
        assert_eq!(str_at(b, &["subjects", "0", "name"]), "rel-social-connection-operator");
        assert_eq!(str_at(b, &["subjects", "0", "namespace"]), "sys", "the ServiceAccount lives in the release namespace");
    }
    let a = args(&docs);
    assert!(a.contains(&"--namespace=team-a".to_string()) && a.contains(&"--namespace=team-b".to_string()), "{a:?}");
}

#[test]
fn rbac_create_false_renders_no_rbac_objects() {
    let docs = render(&["--set", "rbac.create=false"]);
    for kind in ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"] {
        assert!(of_kind(&docs, kind).is_empty(), "{kind} rendered with rbac.create=false");
    }
}

#[test]
fn without_leader_election_one_replica_is_replaced_with_recreate_and_more_are_refused() {
    let docs = render(&["--set", "leaderElection.enabled=false"]);
    let deploy = one(&docs, "Deployment");
    assert_eq!(str_at(deploy, &["spec", "strategy", "type"]), "Recreate");
    assert!(get(deploy, &["spec", "strategy", "rollingUpdate"]).is_null());
    assert!(of_kind(&docs, "Role").is_empty() && of_kind(&docs, "RoleBinding").is_empty(), "no Lease permissions");
    assert!(!args(&docs).iter().any(|a| a.starts_with("--leader-election")), "{:?}", args(&docs));
    let err = render_error(&["--set", "leaderElection.enabled=false", "--set", "replicas=2"]);
    assert!(err.contains("leaderElection.enabled=true"), "{err}");
    // With leader election, more replicas are fine.
    let docs = render(&["--set", "replicas=3"]);
    assert_eq!(get(one(&docs, "Deployment"), &["spec", "replicas"]).as_i64(), Some(3));
}

#[test]
fn the_lease_rules_name_the_lease_for_get_and_patch() {
    let docs = render(&[]);
    let role = one(&docs, "Role");
    assert_eq!(str_at(role, &["metadata", "namespace"]), "sys");
    let rules = get(role, &["rules"]).as_sequence().expect("rules");
    let named = rules.iter().find(|r| !get(r, &["resourceNames"]).is_null()).expect("a rule with resourceNames");
    assert_eq!(get(named, &["resourceNames"]), &serde_yaml::from_str::<Value>("[rel-social-connection-operator]").unwrap());
    assert_eq!(
        grants(role),
        [("coordination.k8s.io", "leases", "create"), ("coordination.k8s.io", "leases", "get"), ("coordination.k8s.io", "leases", "patch")]
            .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string()))
            .into()
    );
    let binding = one(&docs, "RoleBinding");
    assert_eq!(str_at(binding, &["roleRef", "name"]), str_at(role, &["metadata", "name"]));
    assert_eq!(str_at(binding, &["subjects", "0", "name"]), "rel-social-connection-operator");
}

#[test]
fn every_object_carries_the_standard_labels() {
    let (_dir, values) = values_file(CUSTOM_VALUES);
    for docs in [render(&[]), render(&["-f", &values]), render(&["--set", "networkPolicy.enabled=true"])] {
        for d in &docs {
            let kind = str_at(d, &["kind"]);
            for label in STANDARD_LABELS {
                assert!(get(d, &["metadata", "labels", label]).as_str().is_some_and(|v| !v.is_empty()), "{kind} lacks label {label}");
            }
            assert_eq!(str_at(d, &["metadata", "labels", "app.kubernetes.io/instance"]), "rel");
            assert_eq!(str_at(d, &["metadata", "labels", "app.kubernetes.io/version"]), env!("CARGO_PKG_VERSION"));
        }
        let pod_labels = get(one(&docs, "Deployment"), &["spec", "template", "metadata", "labels"]);
        for label in STANDARD_LABELS {
            assert!(get(pod_labels, &[label]).as_str().is_some(), "pod template lacks label {label}");
        }
    }
}

#[test]
fn non_default_values_reach_the_deployment() {
    let (_dir, values) = values_file(CUSTOM_VALUES);
    let docs = render(&["-f", &values]);
    assert!(of_kind(&docs, "CustomResourceDefinition").is_empty(), "crds.enabled=false");
    let c = container(&docs);
    assert_eq!(
        str_at(c, &["image"]),
        "registry.example.com/sco@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "a digest wins over the tag"
    );
    assert_eq!(str_at(c, &["imagePullPolicy"]), "Always");
    let a = args(&docs);
    for want in [
        "--health-addr=0.0.0.0:9440",
        "--log-format=text",
        "--graph-api-version=v23.0",
        "--linkedin-version=202601",
        "--concurrency=4",
        "--default-redirect-url=https://connect.example.com/oauth/callback",
        "--namespace=team-a",
        "--namespace=team-b",
        "--provider-endpoint=facebook=https://graph-proxy.internal",
        "--provider-endpoint=telegram=http://telegram-proxy.internal:8081",
        "--provider-endpoint=x=https://x-proxy.internal",
    ] {
        assert!(a.contains(&want.to_string()), "missing {want} in {a:?}");
    }
    assert_eq!(str_at(c, &["env", "1", "name"]), "RUST_LOG");
    assert_eq!(str_at(c, &["env", "1", "value"]), "info,social_connection_operator=debug");
    assert_eq!(str_at(c, &["env", "2", "name"]), "HTTPS_PROXY");
    assert_eq!(get(c, &["ports", "0", "containerPort"]).as_i64(), Some(9440));
    assert_eq!(str_at(c, &["resources", "limits", "memory"]), "512Mi");
    let deploy = one(&docs, "Deployment");
    assert_eq!(str_at(deploy, &["metadata", "name"]), "sco");
    assert_eq!(str_at(deploy, &["metadata", "labels", "cost-center"]), "42");
    let pod = get(deploy, &["spec", "template"]);
    assert_eq!(str_at(pod, &["metadata", "labels", "team"]), "platform");
    assert_eq!(str_at(pod, &["metadata", "annotations", "example.com/scrape"]), "false");
    assert_eq!(str_at(pod, &["spec", "serviceAccountName"]), "sco-operator");
    assert_eq!(str_at(pod, &["spec", "imagePullSecrets", "0", "name"]), "regcred");
    assert_eq!(str_at(pod, &["spec", "priorityClassName"]), "system-cluster-critical");
    assert_eq!(str_at(pod, &["spec", "tolerations", "0", "key"]), "dedicated");
    assert_eq!(get(deploy, &["spec", "replicas"]).as_i64(), Some(2));
    assert_eq!(str_at(deploy, &["spec", "strategy", "type"]), "RollingUpdate");
    for want in ["--leader-election-lease-name=sco-leader", "--leader-election-lease-duration=30s", "--leader-election-renew-deadline=20s"]
    {
        assert!(a.contains(&want.to_string()), "missing {want} in {a:?}");
    }
    let lease_role =
        of_kind(&docs, "Role").into_iter().find(|r| str_at(r, &["metadata", "name"]) == "sco-leader-election").expect("lease Role");
    assert_eq!(str_at(lease_role, &["metadata", "namespace"]), "sys", "the Lease lives in the release namespace");
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(str_at(sa, &["metadata", "name"]), "sco-operator");
    assert_eq!(str_at(sa, &["metadata", "annotations", "example.com/owner"]), "platform");
}

#[test]
fn the_connect_flow_is_off_by_default_and_when_on_brings_its_key_service_ingress_and_grants() {
    let off = render(&[]);
    assert!(args(&off).iter().all(|a| !a.starts_with("--connect")));
    assert!(of_kind(&off, "Service").is_empty() && of_kind(&off, "Ingress").is_empty() && of_kind(&off, "Secret").is_empty());
    let plain = grants(one(&off, "ClusterRole"));

    let on = render(&[
        "--set",
        "connect.enabled=true",
        "--set",
        "connect.publicURL=https://connect.example.com",
        "--set",
        "connect.ingress.enabled=true",
        "--set",
        "networkPolicy.enabled=true",
    ]);
    let a = args(&on);
    for want in [
        "--connect-public-url=https://connect.example.com",
        "--connect-addr=0.0.0.0:8090",
        "--connect-state-key-file=/etc/social-connection-operator/connect/key",
    ] {
        assert!(a.iter().any(|x| x == want), "{want} missing from {a:?}");
    }
    let key = one(&on, "Secret");
    assert_eq!(str_at(key, &["metadata", "name"]), "rel-social-connection-operator-connect-state-key");
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.decode(str_at(key, &["data", "key"])).expect("base64");
    assert!(raw.len() >= 32, "the signing key has at least 32 bytes");
    let again = render(&["--set", "connect.enabled=true", "--set", "connect.publicURL=https://connect.example.com"]);
    assert_ne!(str_at(one(&again, "Secret"), &["data", "key"]), str_at(key, &["data", "key"]), "random per fresh install");
    let volumes = get(one(&on, "Deployment"), &["spec", "template", "spec", "volumes", "0", "secret", "secretName"]);
    assert_eq!(volumes.as_str(), Some("rel-social-connection-operator-connect-state-key"));
    let svc = one(&on, "Service");
    assert_eq!(str_at(svc, &["spec", "ports", "0", "targetPort"]), "connect");
    let ing = one(&on, "Ingress");
    assert_eq!(str_at(ing, &["spec", "rules", "0", "host"]), "connect.example.com");
    let paths: Vec<&str> = get(ing, &["spec", "rules", "0", "http", "paths"])
        .as_sequence()
        .expect("paths")
        .iter()
        .map(|p| p["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, ["/connect/", "/callback"], "only the link and the callback are published");
    // Exactly the callback's writes are added.
    let added: BTreeSet<_> = grants(one(&on, "ClusterRole")).difference(&plain).cloned().collect();
    let want: BTreeSet<(String, String, String)> = [
        ("", "secrets", "create"),
        ("", "secrets", "update"),
        ("social.connections.dev", "socialconnections", "get"),
        ("social.connections.dev", "socialconnections", "patch"),
    ]
    .iter()
    .map(|(g, r, v)| (g.to_string(), r.to_string(), v.to_string()))
    .collect();
    let added_new: BTreeSet<_> = added.into_iter().collect();
    assert!(added_new.is_subset(&want), "unexpected grants: {added_new:?}");
    assert!(want.iter().all(|w| grants(one(&on, "ClusterRole")).contains(w)), "the callback's writes are granted");
    let np = one(&on, "NetworkPolicy");
    let ports = format!("{:?}", get(np, &["spec", "ingress"]));
    assert!(ports.contains("8090"), "the connect port is let in: {ports}");
    // On without a public URL, or with http to a non-loopback host: refused.
    assert!(render_error(&["--set", "connect.enabled=true"]).contains("publicURL"));
    assert!(
        render_error(&["--set", "connect.enabled=true", "--set", "connect.publicURL=http://connect.example.com"]).contains("publicURL")
    );
}

#[test]
fn the_network_policy_is_off_by_default_and_allows_only_the_api_server_dns_and_https() {
    assert!(of_kind(&render(&[]), "NetworkPolicy").is_empty());
    let docs = render(&["--set", "networkPolicy.enabled=true"]);
    let np = one(&docs, "NetworkPolicy");
    assert_eq!(get(np, &["spec", "podSelector", "matchLabels"]), get(one(&docs, "Deployment"), &["spec", "selector", "matchLabels"]));
    assert_eq!(get(np, &["spec", "policyTypes"]), &serde_yaml::from_str::<Value>("[Ingress, Egress]").unwrap());
    // Ingress: the health port only.
    let ingress = get(np, &["spec", "ingress"]).as_sequence().unwrap();
    assert_eq!(ingress.len(), 1);
    assert_eq!(get(&ingress[0], &["ports"]), &serde_yaml::from_str::<Value>("[{protocol: TCP, port: 8080}]").unwrap());
    // Egress: exactly three rules, by port.
    let egress = get(np, &["spec", "egress"]).as_sequence().unwrap();
    let ports = |rule: &Value| -> BTreeSet<(String, i64)> {
        get(rule, &["ports"])
            .as_sequence()
            .unwrap()
            .iter()
            .map(|p| (str_at(p, &["protocol"]).to_string(), get(p, &["port"]).as_i64().unwrap()))
            .collect()
    };
    let rules: Vec<BTreeSet<(String, i64)>> = egress.iter().map(ports).collect();
    assert_eq!(
        rules,
        vec![
            [("TCP".to_string(), 443), ("TCP".to_string(), 6443)].into(),
            [("UDP".to_string(), 53), ("TCP".to_string(), 53)].into(),
            [("TCP".to_string(), 443)].into(),
        ]
    );
    let https_to: Vec<&str> = get(&egress[2], &["to"]).as_sequence().unwrap().iter().map(|t| str_at(t, &["ipBlock", "cidr"])).collect();
    assert_eq!(https_to, ["0.0.0.0/0", "::/0"]);

    let (_dir, values) = values_file(CUSTOM_VALUES);
    let docs = render(&["-f", &values]);
    let egress = get(one(&docs, "NetworkPolicy"), &["spec", "egress"]).as_sequence().unwrap().clone();
    assert_eq!(egress.len(), 4, "the extra egress rule is appended");
    assert_eq!(str_at(&egress[0], &["to", "0", "ipBlock", "cidr"]), "10.0.0.1/32");
    assert_eq!(str_at(&egress[1], &["to", "0", "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name"]), "kube-system");
    assert_eq!(get(&egress[3], &["ports", "0", "port"]).as_i64(), Some(8081));
}

#[test]
fn the_values_schema_refuses_mistakes() {
    let cases: [(&[&str], &str); 13] = [
        (&["--set", "bogus=1"], "bogus"),
        (&["--set", "logging.format=xml"], "format"),
        (&["--set", "providerEndpoints.facebok=https://x"], "facebok"),
        (&["--set", "providerEndpoints.facebook=https://x/v1/path"], "providerEndpoints"),
        (&["--set", "graphApiVersion=24"], "graphApiVersion"),
        (&["--set", "watchNamespaces={Team_A}"], "watchNamespaces"),
        (&["--set", "image.digest=latest"], "digest"),
        (&["--set", "metrics.prometheusRule.providerFailingRatio=2"], "providerFailingRatio"),
        (&["--set", "replicaCount=2"], "replicaCount"),
        (&["--set", "crds.enabled=yes"], "crds"),
        (&["--set", "leaderElection.leaseDuration=15"], "leaseDuration"),
        (&["--set", "leaderElection.renewDeadline=1500ms"], "renewDeadline"),
        (&["--set", "leaderElection.bogus=1"], "bogus"),
    ];
    for (args, mentions) in cases {
        let err = render_error(args);
        assert!(err.contains("schema") || err.contains("values don't meet"), "{args:?}: not a schema error: {err}");
        assert!(err.contains(mentions), "{args:?}: the error should name {mentions:?}: {err}");
    }
}

#[test]
fn the_chart_defaults_match_the_binary() {
    let values: Value = serde_yaml::from_str(&std::fs::read_to_string(chart().join("values.yaml")).unwrap()).unwrap();
    assert_eq!(str_at(&values, &["graphApiVersion"]), providers::http::DEFAULT_GRAPH_VERSION);
    assert_eq!(str_at(&values, &["linkedinVersion"]), providers::http::DEFAULT_LINKEDIN_VERSION);
    let chart_yaml: Value = serde_yaml::from_str(&std::fs::read_to_string(chart().join("Chart.yaml")).unwrap()).unwrap();
    assert_eq!(str_at(&chart_yaml, &["appVersion"]), env!("CARGO_PKG_VERSION"));
    assert_eq!(str_at(&chart_yaml, &["version"]), env!("CARGO_PKG_VERSION"));
    // Leader election timings: the chart's defaults are the binary's.
    let cli = <social_connection_operator::config::Cli as clap::Parser>::try_parse_from(["sco"]).expect("defaults parse");
    for (key, d) in [
        ("leaseDuration", cli.run.leader_election_lease_duration),
        ("renewDeadline", cli.run.leader_election_renew_deadline),
        ("retryPeriod", cli.run.leader_election_retry_period),
    ] {
        assert_eq!(str_at(&values, &["leaderElection", key]), format!("{}s", d.as_secs()), "leaderElection.{key}");
    }
    // The binary's --help must know every flag the chart passes.
    let help = Command::new(env!("CARGO_BIN_EXE_social-connection-operator")).args(["run", "--help"]).output().expect("run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    let (_dir, values) = values_file(CUSTOM_VALUES);
    for a in args(&render(&["-f", &values])).iter().skip(1) {
        let flag = a.split('=').next().unwrap();
        assert!(help.contains(flag), "the chart passes {flag}, which `run --help` does not list");
    }
}

/// Dotted paths of the leaves of a values tree (empty maps and lists are leaves).
fn leaves(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Mapping(m) if !m.is_empty() => {
            for (k, child) in m {
                let key = k.as_str().expect("string keys");
                let path = if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") };
                leaves(child, &path, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

#[test]
fn the_chart_readme_documents_every_value() {
    let values: Value = serde_yaml::from_str(&std::fs::read_to_string(chart().join("values.yaml")).unwrap()).unwrap();
    let readme = std::fs::read_to_string(chart().join("README.md")).unwrap();
    let mut paths = Vec::new();
    leaves(&values, "", &mut paths);
    for path in paths {
        // Documented as itself, or through an ancestor (`resources`, `livenessProbe.*`, ...).
        let parts: Vec<&str> = path.split('.').collect();
        let documented = (1..=parts.len()).any(|n| {
            let p = parts[..n].join(".");
            readme.contains(&format!("`{p}`")) || readme.contains(&format!("`{p}.*`"))
        });
        assert!(documented, "values.yaml's {path} is not in the chart README's table");
    }
}

// ---------------------------------------------------------------------------------------------
// The CRD
// ---------------------------------------------------------------------------------------------

/// The operator's CRDs: (plural, generator name).
const CRDS: [(&str, CrdName); 2] =
    [("socialconnections", CrdName::Socialconnections), ("socialnotificationpolicies", CrdName::Socialnotificationpolicies)];

fn committed_crd_of(plural: &str) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(repo().join(format!("crds/{plural}.social.connections.dev.yaml"))).unwrap()).unwrap()
}

/// The rendered CRD named `<plural>.social.connections.dev`.
fn rendered_crd<'a>(docs: &'a [Value], plural: &str) -> &'a Value {
    let name = format!("{plural}.social.connections.dev");
    let found: Vec<&Value> =
        of_kind(docs, "CustomResourceDefinition").into_iter().filter(|d| str_at(d, &["metadata", "name"]) == name).collect();
    assert_eq!(found.len(), 1, "expected exactly one CRD {name}, found {}", found.len());
    found[0]
}

#[test]
fn the_charts_crds_equal_the_generated_crds() {
    let docs = render(&[]);
    assert_eq!(of_kind(&docs, "CustomResourceDefinition").len(), CRDS.len());
    for (plural, name) in CRDS {
        let rendered = rendered_crd(&docs, plural);
        let committed = committed_crd_of(plural);
        let generated: Value = serde_yaml::from_str(&social_connection_operator::crd::crd_yaml_of(name).unwrap()).unwrap();
        assert_eq!(
            committed, generated,
            "crds/{plural}... is stale: run `cargo run -q -- crd {plural} > crds/{plural}.social.connections.dev.yaml`"
        );
        assert_eq!(get(rendered, &["apiVersion"]), get(&committed, &["apiVersion"]));
        assert!(
            get(rendered, &["spec"]) == get(&committed, &["spec"]),
            "the chart's {plural} CRD spec differs from crds/: run charts/social-connection-operator/hack/sync-crd.sh"
        );
        assert_eq!(str_at(rendered, &["metadata", "annotations", "helm.sh/resource-policy"]), "keep");
        assert_eq!(str_at(rendered, &["metadata", "labels", "app.kubernetes.io/component"]), "crd");
        // Only labels and the annotation are added to the generated metadata.
        let meta_keys: BTreeSet<&str> = get(rendered, &["metadata"]).as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
        assert_eq!(meta_keys, ["annotations", "labels", "name"].into());
    }
}

#[test]
fn the_crd_templates_are_what_sync_crd_writes_from_the_generator() {
    for (plural, name) in CRDS {
        let dir = tempfile::tempdir().unwrap();
        let generated = dir.path().join("crd.yaml");
        std::fs::write(&generated, social_connection_operator::crd::crd_yaml_of(name).unwrap()).unwrap();
        let out = Command::new("bash")
            .arg(chart().join("hack/sync-crd.sh"))
            .args(["--check", "--crd", plural, "--from"])
            .arg(&generated)
            .output()
            .expect("run sync-crd.sh");
        assert!(
            out.status.success(),
            "templates/crd-{plural}.yaml is stale; run charts/social-connection-operator/hack/sync-crd.sh\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn crds_enabled_false_renders_no_crd_and_keep_false_drops_the_keep_annotation() {
    assert!(of_kind(&render(&["--set", "crds.enabled=false"]), "CustomResourceDefinition").is_empty());
    let docs = render(&["--set", "crds.keep=false"]);
    for (plural, _) in CRDS {
        let crd = rendered_crd(&docs, plural);
        assert!(get(crd, &["metadata", "annotations", "helm.sh/resource-policy"]).is_null());
        assert!(get(crd, &["spec"]) == get(&committed_crd_of(plural), &["spec"]));
    }
}

// ---------------------------------------------------------------------------------------------
// NOTES.txt
// ---------------------------------------------------------------------------------------------

/// Renders NOTES.txt (which `helm template` skips) through `tpl` in a copy of the chart.
fn notes(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("chart");
    let status = Command::new("cp").arg("-r").arg(chart()).arg(&copy).status().unwrap();
    assert!(status.success());
    std::fs::copy(copy.join("templates/NOTES.txt"), copy.join("notes.txt")).unwrap();
    std::fs::write(copy.join("templates/zz-notes.yaml"), "notes: {{ tpl (.Files.Get \"notes.txt\") . | toJson }}\n").unwrap();
    let mut all = vec!["template", "rel", copy.to_str().unwrap(), "--namespace", "sys", "--show-only", "templates/zz-notes.yaml"];
    all.extend_from_slice(args);
    let (ok, out, err) = helm(&all);
    assert!(ok, "rendering NOTES.txt failed: {err}");
    str_at(&documents(&out)[0], &["notes"]).to_string()
}

#[test]
fn notes_tell_a_person_what_to_do_next() {
    let n = notes(&[]);
    assert!(n.contains("kubectl -n sys rollout status deployment/rel-social-connection-operator"), "{n}");
    assert!(n.contains("every namespace"), "{n}");
    assert!(n.contains("create secret generic"), "{n}");
    assert!(n.contains("kind: SocialConnection"), "{n}");
    assert!(n.contains("examples/"), "{n}");
    assert!(n.contains("kubectl get socialconnections -A"), "{n}");
    assert!(n.contains("argocd-health-check.lua"), "{n}");
    assert!(!n.contains("crds.enabled=false"), "{n}");

    let n = notes(&[
        "--set",
        "watchNamespaces={team-a,team-b}",
        "--set",
        "crds.enabled=false",
        "--set",
        "networkPolicy.enabled=true",
        "--set",
        "providerEndpoints.telegram=http://tg.internal:8081",
        "--set",
        "providerEndpoints.facebook=https://graph.internal",
    ]);
    assert!(n.contains("team-a, team-b"), "{n}");
    assert!(n.contains("crds.enabled=false"), "the person must hear that the CRD is theirs to install: {n}");
    assert!(n.contains("providerEndpoints.telegram"), "an endpoint the NetworkPolicy blocks must be named: {n}");
    assert!(!n.contains("providerEndpoints.facebook"), "an HTTPS endpoint on 443 is allowed: {n}");
}

// ---------------------------------------------------------------------------------------------
// Argo CD health check
// ---------------------------------------------------------------------------------------------

#[path = "common/argo.rs"]
mod argo;
use argo::argo_health;

fn cond(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.into(),
        status: status.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: Some(1),
        last_transition_time: Time("2026-11-01T00:00:00Z".parse().unwrap()),
    }
}

/// A SocialConnection at `generation`, serialized exactly as the API types write it.
fn connection(generation: i64, suspend: bool, status: Option<SocialConnectionStatus>) -> serde_json::Value {
    let mut obj: SocialConnection = serde_json::from_value(json!({
        "apiVersion": "social.connections.dev/v1alpha1",
        "kind": "SocialConnection",
        "metadata": {"name": "page", "namespace": "team-a", "generation": generation},
        "spec": {"provider": "facebook", "account": {"id": "2002"}, "secretRef": {"name": "t"}, "suspend": suspend},
    }))
    .unwrap();
    obj.status = status;
    serde_json::to_value(&obj).unwrap()
}

fn status(observed: i64, conditions: Vec<Condition>) -> SocialConnectionStatus {
    SocialConnectionStatus { observed_generation: Some(observed), conditions, ..Default::default() }
}

fn passing() -> Vec<Condition> {
    vec![
        cond("Ready", "True", "AllChecksPassed", "the connection works"),
        cond("Valid", "True", "TokenValid", ""),
        cond("Revoked", "False", "NotRevoked", ""),
        cond("RoleLost", "False", "NoRoleRequired", ""),
        cond("ScopesMissing", "False", "NoScopesRequired", ""),
        cond("ExpiringSoon", "False", "NotExpiring", ""),
    ]
}

fn with(mut conditions: Vec<Condition>, replace: Vec<Condition>) -> Vec<Condition> {
    for r in replace {
        let slot = conditions.iter_mut().find(|c| c.type_ == r.type_).unwrap();
        *slot = r;
    }
    conditions
}

#[test]
fn argo_health_is_progressing_before_the_first_check() {
    let (s, m) = argo_health(&connection(1, false, None));
    assert_eq!(s, "Progressing");
    assert!(m.contains("first check"), "{m}");
    let pending = ["Ready", "Valid", "Revoked", "RoleLost", "ScopesMissing", "ExpiringSoon"]
        .map(|t| cond(t, "Unknown", "Pending", "not checked yet"))
        .to_vec();
    let (s, _) = argo_health(&connection(1, false, Some(status(1, pending))));
    assert_eq!(s, "Progressing");
}

#[test]
fn argo_health_is_healthy_when_ready() {
    let (s, m) = argo_health(&connection(3, false, Some(status(3, passing()))));
    assert_eq!((s.as_str(), m.as_str()), ("Healthy", "Ready"));
}

#[test]
fn argo_health_stays_healthy_when_only_expiring_soon() {
    let conditions = with(passing(), vec![cond("ExpiringSoon", "True", "AccessTokenExpiring", "the access token expires in 3 days")]);
    let (s, m) = argo_health(&connection(1, false, Some(status(1, conditions))));
    assert_eq!(s, "Healthy");
    assert!(m.contains("expiring soon") && m.contains("AccessTokenExpiring"), "{m}");
}

#[test]
fn argo_health_is_degraded_when_revoked_and_links_the_reconnect_page() {
    let conditions = with(
        passing(),
        vec![
            cond("Ready", "False", "PasswordChanged", "the token was revoked"),
            cond("Valid", "False", "Revoked", ""),
            cond("Revoked", "True", "PasswordChanged", "the user changed their password"),
        ],
    );
    let mut st = status(1, conditions);
    st.reauthorization_url = Some("https://www.facebook.com/v24.0/dialog/oauth?client_id=cid".into());
    let (s, m) = argo_health(&connection(1, false, Some(st)));
    assert_eq!(s, "Degraded");
    assert!(m.starts_with("Revoked (PasswordChanged: the user changed their password)"), "{m}");
    assert!(m.ends_with("reconnect at https://www.facebook.com/v24.0/dialog/oauth?client_id=cid"), "{m}");
}

#[test]
fn argo_health_is_degraded_when_the_role_is_lost() {
    let conditions = with(
        passing(),
        vec![
            cond("Ready", "False", "RoleRemoved", "role removed"),
            cond("RoleLost", "True", "RoleRemoved", "the user no longer manages the Page"),
        ],
    );
    let (s, m) = argo_health(&connection(1, false, Some(status(1, conditions))));
    assert_eq!(s, "Degraded");
    assert!(m.starts_with("RoleLost (RoleRemoved"), "{m}");
}

#[test]
fn argo_health_is_degraded_for_every_other_reason_ready_is_false_or_unknown_after_checks() {
    for (ready, valid, scopes) in [
        (cond("Ready", "False", "SecretNotFound", "Secret \"t\" does not exist"), cond("Valid", "False", "SecretNotFound", ""), None),
        (cond("Ready", "False", "Expired", "the token expired"), cond("Valid", "False", "Expired", ""), None),
        (
            cond("Ready", "False", "ScopesNotGranted", "missing pages_manage_posts"),
            cond("Valid", "True", "TokenValid", ""),
            Some(cond("ScopesMissing", "True", "ScopesNotGranted", "missing pages_manage_posts")),
        ),
        (cond("Ready", "Unknown", "ProviderUnavailable", "3 checks failed"), cond("Valid", "Unknown", "ProviderUnavailable", ""), None),
    ] {
        let reason = ready.reason.clone();
        let mut replace = vec![ready, valid];
        replace.extend(scopes);
        let (s, m) = argo_health(&connection(1, false, Some(status(1, with(passing(), replace)))));
        assert_eq!(s, "Degraded", "{reason}: {m}");
        assert!(m.contains(&reason), "{reason}: {m}");
    }
}

#[test]
fn argo_health_is_progressing_while_the_operator_retries_after_transient_answers_and_degraded_when_stalled() {
    // As kstatus reads them: Reconciling=True is InProgress, Stalled=True is Failed.
    let retrying = with(
        passing(),
        vec![cond("Ready", "Unknown", "ProviderUnavailable", "3 checks failed"), cond("Valid", "Unknown", "ProviderUnavailable", "")],
    );
    let mut conditions = retrying.clone();
    conditions.push(cond("Stalled", "False", "NoActionNeeded", "no person needs to act"));
    conditions.push(cond("Reconciling", "True", "ProviderUnavailable", "3 checks failed"));
    let (s, m) = argo_health(&connection(1, false, Some(status(1, conditions))));
    assert_eq!(s, "Progressing", "{m}");
    assert!(m.contains("ProviderUnavailable"), "{m}");
    let mut conditions = with(passing(), vec![cond("Ready", "Unknown", "SecretAccessDenied", "grant get on secrets")]);
    conditions.push(cond("Stalled", "True", "SecretAccessDenied", "grant get on secrets"));
    conditions.push(cond("Reconciling", "False", "CheckCompleted", ""));
    let (s, m) = argo_health(&connection(1, false, Some(status(1, conditions))));
    assert_eq!(s, "Degraded", "{m}");
    assert!(m.contains("SecretAccessDenied"), "{m}");
}

#[test]
fn argo_health_is_progressing_while_the_latest_spec_is_unobserved() {
    let (s, m) = argo_health(&connection(2, false, Some(status(1, passing()))));
    assert_eq!(s, "Progressing");
    assert!(m.contains("generation 2"), "{m}");
}

#[test]
fn argo_health_is_suspended_when_checks_are_suspended() {
    let (s, _) = argo_health(&connection(1, true, Some(status(1, passing()))));
    assert_eq!(s, "Suspended");
}

// ---------------------------------------------------------------------------------------------
// Examples
// ---------------------------------------------------------------------------------------------

/// The `# Demo outcome:` promise of an example: condition type → (status, reason).
fn demo_outcome(text: &str) -> BTreeMap<String, (String, String)> {
    let line = text.lines().find_map(|l| l.strip_prefix("# Demo outcome:")).expect("a `# Demo outcome:` line");
    line.split(", ")
        .map(|part| {
            let (ty, rest) = part.trim().split_once('=').expect("Type=Status (Reason)");
            let (st, reason) = rest.split_once(" (").expect("Type=Status (Reason)");
            (ty.to_string(), (st.to_string(), reason.trim_end_matches(')').to_string()))
        })
        .collect()
}

fn example_files() -> Vec<String> {
    let k: Value = serde_yaml::from_str(&std::fs::read_to_string(repo().join("examples/kustomization.yaml")).unwrap()).unwrap();
    get(&k, &["resources"]).as_sequence().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
}

#[test]
fn the_kustomization_lists_every_example_and_nothing_else() {
    let listed: BTreeSet<String> = example_files().into_iter().collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    assert_eq!(listed, on_disk);
}

#[test]
fn every_provider_has_a_commented_example_the_fakes_can_answer() {
    let mut providers_seen = BTreeSet::new();
    for file in example_files() {
        let text = std::fs::read_to_string(repo().join("examples").join(&file)).unwrap();
        for words in ["Account id:", "Token:", "Secret keys:", "pp credentials", "# Demo outcome:"] {
            assert!(text.contains(words), "{file}: the comments should cover {words:?}");
        }
        let outcome = demo_outcome(&text);
        assert!(outcome.contains_key("Ready"), "{file}: the demo outcome must promise Ready");
        let docs = documents(&text);
        let conns: Vec<SocialConnection> = of_kind(&docs, "SocialConnection")
            .into_iter()
            .map(|d| serde_yaml::from_value((*d).clone()).unwrap_or_else(|e| panic!("{file}: not a valid SocialConnection: {e}")))
            .collect();
        assert_eq!(conns.len(), 1, "{file}: one SocialConnection per example");
        let conn = &conns[0];
        let provider = conn.spec.provider;
        assert_eq!(file, format!("{provider}.yaml"), "the file is named after its provider");
        providers_seen.insert(provider);
        let secrets: BTreeMap<&str, &Value> = of_kind(&docs, "Secret").into_iter().map(|s| (str_at(s, &["metadata", "name"]), s)).collect();
        for d in &docs {
            assert!(get(d, &["metadata", "namespace"]).is_null(), "{file}: examples take their namespace from kubectl -n");
        }
        // The token Secret: a demo token of a scenario the provider's fake knows.
        let token_secret = secrets.get(conn.spec.secret_ref.name.as_str()).unwrap_or_else(|| panic!("{file}: the token Secret is missing"));
        let token = str_at(token_secret, &["stringData", "access_token"]);
        let token = if provider == ProviderKind::Telegram {
            token
                .strip_prefix(&format!("{}:", fake_providers::TELEGRAM_BOT_ID))
                .unwrap_or_else(|| panic!("{file}: a Telegram token starts with the bot id"))
        } else {
            token
        };
        let (scenario, nonce) = token.split_once("__").unwrap_or_else(|| panic!("{file}: demo tokens are <scenario>__<nonce>"));
        assert!(nonce.starts_with("demo-"), "{file}: {nonce}");
        let known = fake_providers::scenarios(provider.as_str()).unwrap();
        assert!(
            known.contains(&scenario) || fake_providers::UNIVERSAL_SCENARIOS.contains(&scenario),
            "{file}: the fake {provider} does not know scenario {scenario:?}"
        );
        // The app Secret has the keys the provider needs.
        if let Some(app) = &conn.spec.app_secret_ref {
            let s = secrets.get(app.name.as_str()).unwrap_or_else(|| panic!("{file}: the app Secret is missing"));
            let id = get(s, &["stringData", "client_id"]).as_str().unwrap_or_default();
            assert!(id.starts_with("cid-"), "{file}: the fakes accept client ids cid-<anything>");
            if providers::for_kind(provider).profile().app_keys == AppKeys::ClientIdAndSecret {
                assert!(get(s, &["stringData", "client_secret"]).as_str().is_some(), "{file}: {provider} needs client_secret");
            }
        }
        assert_eq!(secrets.len() + 1, docs.len(), "{file}: only Secrets and the SocialConnection");
    }
    assert_eq!(providers_seen, ProviderKind::ALL.into_iter().collect(), "one example per provider");
}

#[test]
fn the_examples_build_with_kubectl_kustomize() {
    let out = Command::new(bin_dir().join("kubectl")).args(["kustomize"]).arg(repo().join("examples")).output().expect("kubectl kustomize");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let docs = documents(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(of_kind(&docs, "SocialConnection").len(), 11);
    assert!(of_kind(&docs, "Secret").len() >= 11);
}

// ---------------------------------------------------------------------------------------------
// Dockerfile
// ---------------------------------------------------------------------------------------------

#[test]
fn the_dockerfile_builds_in_stages_and_runs_as_non_root() {
    let text = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a run stage: {froms:?}");
    assert!(froms[0].ends_with(" AS build"), "{froms:?}");
    assert!(froms[1].contains("distroless") && froms[1].contains(":nonroot"), "{froms:?}");
    assert!(text.contains("cargo build --release --locked --bin social-connection-operator"));
    assert!(text.lines().any(|l| l == "USER 65532:65532"), "a numeric non-root user, as the chart's runAsUser");
    assert!(text.contains("ENTRYPOINT [\"/usr/local/bin/social-connection-operator\"]"));
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    for entry in ["target", ".git"] {
        assert!(ignore.lines().any(|l| l == entry), ".dockerignore should exclude {entry}");
    }
    let values: Value = serde_yaml::from_str(&std::fs::read_to_string(chart().join("values.yaml")).unwrap()).unwrap();
    assert_eq!(get(&values, &["podSecurityContext", "runAsUser"]).as_i64(), Some(65532));
}

// ---------------------------------------------------------------------------------------------
// Monitoring: metrics Service, ServiceMonitor, PrometheusRule (proved with promtool), dashboard
// ---------------------------------------------------------------------------------------------

#[test]
fn the_monitoring_objects_are_off_by_default_and_complete_when_on() {
    let docs = render(&[]);
    for kind in ["Service", "ServiceMonitor", "PrometheusRule", "ConfigMap"] {
        assert!(of_kind(&docs, kind).is_empty(), "{kind} rendered by default");
    }
    let (_dir, values) = values_file(CUSTOM_VALUES);
    let docs = render(&["-f", &values]);
    // The ServiceMonitor implies the Service, which targets the health port where /metrics is.
    let svc = one(&docs, "Service");
    assert_eq!(str_at(svc, &["metadata", "name"]), "sco-metrics");
    assert_eq!(get(svc, &["spec", "ports", "0", "port"]).as_i64(), Some(9440));
    assert_eq!(str_at(svc, &["spec", "ports", "0", "targetPort"]), "health");
    let selector = get(svc, &["spec", "selector"]);
    let pod_labels = get(one(&docs, "Deployment"), &["spec", "template", "metadata", "labels"]);
    for (k, v) in selector.as_mapping().expect("selector") {
        assert_eq!(get(pod_labels, &[k.as_str().unwrap()]), v, "the Service selects the operator's pod");
    }
    let sm = one(&docs, "ServiceMonitor");
    assert_eq!(str_at(sm, &["metadata", "labels", "release"]), "kube-prometheus-stack");
    assert_eq!(str_at(sm, &["spec", "endpoints", "0", "port"]), "metrics");
    assert_eq!(str_at(sm, &["spec", "endpoints", "0", "path"]), "/metrics");
    assert_eq!(str_at(sm, &["spec", "endpoints", "0", "interval"]), "30s");
    for (k, v) in get(sm, &["spec", "selector", "matchLabels"]).as_mapping().expect("matchLabels") {
        assert_eq!(get(svc, &["metadata", "labels", k.as_str().unwrap()]), v, "the ServiceMonitor selects the metrics Service");
    }
    let rule = one(&docs, "PrometheusRule");
    let text = serde_yaml::to_string(get(rule, &["spec"])).unwrap();
    assert!(text.contains("for: 30m") && text.contains("14 * 86400") && text.contains("> 0.75"), "{text}");
    assert!(text.contains(r#"up{job="sco-metrics"}"#), "the operator-down alert looks for the Service's job: {text}");
    for alert in rules_of(rule) {
        let url = str_at(&alert, &["annotations", "runbook_url"]);
        assert!(url.starts_with("https://docs.example.com/sco#"), "{url}");
    }
    let cm = one(&docs, "ConfigMap");
    assert_eq!(str_at(cm, &["metadata", "namespace"]), "monitoring");
    assert_eq!(str_at(cm, &["metadata", "labels", "grafana_dashboard"]), "1");
    assert_eq!(str_at(cm, &["metadata", "annotations", "grafana_folder"]), "Tokens");
}

/// The alerting rules of a rendered PrometheusRule.
fn rules_of(rule: &Value) -> Vec<Value> {
    let groups = get(rule, &["spec", "groups"]).as_sequence().expect("groups");
    groups.iter().flat_map(|g| get(g, &["rules"]).as_sequence().expect("rules").clone()).collect()
}

/// Every alert has a runbook section in the README (the heading's GitHub anchor is the alert's
/// name in lower case).
#[test]
fn every_alert_links_a_runbook_section_of_the_readme() {
    let docs = render(&["--set", "metrics.prometheusRule.enabled=true"]);
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let alerts = rules_of(one(&docs, "PrometheusRule"));
    assert_eq!(alerts.len(), 5, "not ready, token expiring, checks overdue, provider failing, operator down");
    for alert in alerts {
        let name = str_at(&alert, &["alert"]);
        let url = str_at(&alert, &["annotations", "runbook_url"]);
        assert!(
            url.ends_with(&format!("README.md#{}", name.to_lowercase())),
            "{name}: runbook_url {url} should point at the README section"
        );
        assert!(readme.lines().any(|l| l.trim() == format!("### {name}")), "README.md has no `### {name}` runbook section");
        assert!(get(&alert, &["labels", "severity"]).as_str().is_some(), "{name} has no severity");
    }
}

/// promtool, built from the Go module proxy (cached) by scripts/promtool.sh.
fn promtool() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("scripts/promtool.sh"))
            .args(["build", "--print-bin"])
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/promtool.sh");
        assert!(out.status.success(), "building promtool failed ({})", out.status);
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().lines().last().expect("a path").to_string())
    })
}

/// The rules that ship (the chart's PrometheusRule rendered by helm, release "rel") pass
/// `promtool check rules` and every `promtool test rules` case of tests/alerts/.
#[test]
fn the_shipped_alert_rules_pass_promtool() {
    let docs = render(&["--set", "metrics.prometheusRule.enabled=true"]);
    let spec = get(one(&docs, "PrometheusRule"), &["spec"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yaml"), serde_yaml::to_string(spec).unwrap()).unwrap();
    let mut tests = Vec::new();
    for entry in std::fs::read_dir(repo().join("tests/alerts")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".test.yaml") {
            std::fs::copy(&path, dir.path().join(&name)).unwrap();
            tests.push(name);
        }
    }
    assert!(!tests.is_empty(), "no tests/alerts/*.test.yaml");
    let run = |args: &[&str]| {
        let out = Command::new(promtool()).args(args).current_dir(dir.path()).output().expect("run promtool");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
        text
    };
    let checked = run(&["check", "rules", "rules.yaml"]);
    assert!(checked.contains("SUCCESS: 5 rules found"), "{checked}");
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    let tested = run(&args);
    assert!(tested.contains("SUCCESS") && !tested.contains("FAILED"), "{tested}");
}

/// The names of the samples the operator's registry exports: read from the `# TYPE` lines of
/// a real encoding (with a connection in the store, so the collector's families are there too),
/// with the suffixes each type's samples carry.
fn exported_metric_names() -> BTreeSet<String> {
    use kube::runtime::watcher::Event;
    use social_connection_operator::notify::{DeliveryObserver, ReceiverKind};
    use social_connection_operator::providers::http::{ProviderCall, RequestObserver, RequestResult};
    use social_connection_operator::server::metrics::{Metrics, RefreshResult};
    let (reader, mut writer) = kube::runtime::reflector::store();
    let conn: SocialConnection = serde_json::from_value(json!({
        "apiVersion": "social.connections.dev/v1alpha1", "kind": "SocialConnection",
        "metadata": {"name": "c", "namespace": "n", "resourceVersion": "1"},
        "spec": {"provider": "facebook", "account": {"id": "1"}, "secretRef": {"name": "t"}},
    }))
    .unwrap();
    writer.apply_watcher_event(&Event::Apply(social_connection_operator::controller::packed::PackedConnection::pack(conn).unwrap()));
    let metrics = Metrics::new(Some(reader));
    // A family shows in the exposition once it has a sample: record one event of each kind
    // through the hooks the operator calls.
    metrics.observe(ProviderKind::Facebook, ProviderCall::Check, RequestResult::Success, std::time::Duration::from_millis(5));
    metrics.refreshed(ProviderKind::Facebook, RefreshResult::Stored);
    metrics.reconciled(true, std::time::Duration::from_millis(5));
    metrics.status_written(true);
    metrics.sent(ReceiverKind::Email, "broken");
    let text = metrics.encode().unwrap();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else { continue };
        let mut parts = rest.split_whitespace();
        let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
        let suffixes: &[&str] = match kind {
            "counter" => &["_total"],
            "histogram" => &["_bucket", "_sum", "_count"],
            "info" => &["_info"],
            _ => &[""],
        };
        names.extend(suffixes.iter().map(|s| format!("{name}{s}")));
    }
    for family in ["socialconnection_ready_status", "socialconnection_provider_requests_total", "socialconnection_notices_total"] {
        assert!(names.contains(family), "{family} not in\n{text}");
    }
    names
}

/// The metric names a PromQL expression reads: identifiers outside label matchers, strings,
/// ranges and grouping clauses that are neither functions nor keywords.
fn promql_metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: [&str; 27] = [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
        // Aggregation operators, which may be followed by a grouping clause instead of `(`.
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
        "limitk",
        "limit_ratio",
    ];
    let mut cleaned = String::new();
    let (mut depth_brace, mut depth_bracket, mut in_string) = (0, 0, false);
    for ch in expr.chars() {
        match ch {
            '"' => in_string = !in_string,
            _ if in_string => {}
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => depth_bracket += 1,
            ']' => depth_bracket -= 1,
            _ if depth_brace > 0 || depth_bracket > 0 => {}
            c => cleaned.push(c),
        }
        if ch == '{' || ch == '[' || ch == '"' {
            cleaned.push(' ');
        }
    }
    // Grouping clauses: `by (a, b)`, `on (a)`, ... name labels, not metrics.
    let mut out = BTreeSet::new();
    let tokens: Vec<(String, char)> = {
        let mut v = Vec::new();
        let mut cur = String::new();
        let chars: Vec<char> = cleaned.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            if c.is_alphanumeric() || *c == '_' || *c == ':' {
                cur.push(*c);
            } else if !cur.is_empty() {
                let next = chars[i..].iter().find(|c| !c.is_whitespace()).copied().unwrap_or(' ');
                v.push((std::mem::take(&mut cur), next));
            }
        }
        if !cur.is_empty() {
            v.push((cur, ' '));
        }
        v
    };
    let mut skip_group = false;
    for (tok, next) in tokens {
        if skip_group {
            if next == ')' {
                skip_group = false;
            }
            continue;
        }
        let lower = tok.to_lowercase();
        if ["by", "without", "on", "ignoring", "group_left", "group_right"].contains(&lower.as_str()) && next == '(' {
            skip_group = true;
            continue;
        }
        if next == '(' || KEYWORDS.contains(&lower.as_str()) || tok.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            continue;
        }
        out.insert(tok);
    }
    out
}

#[test]
fn promql_metric_names_finds_metrics_and_skips_labels_functions_and_keywords() {
    let names = promql_metric_names(
        r#"histogram_quantile(0.95, sum by (provider, le) (rate(a_bucket{provider=~"x|y", le!="1"}[5m]))) / on (name) b and c offset 5m > 2 * 86400"#,
    );
    assert_eq!(names, ["a_bucket", "b", "c"].map(String::from).into());
}

/// Every `expr` and `query` string of a JSON value.
fn queries(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, child) in m {
                match (k.as_str(), child) {
                    ("expr" | "query" | "definition", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => queries(child, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|c| queries(c, out)),
        _ => {}
    }
}

#[test]
fn the_dashboard_is_valid_json_and_queries_only_metrics_the_operator_exports() {
    let docs = render(&["--set", "metrics.dashboard.enabled=true"]);
    let cm = one(&docs, "ConfigMap");
    assert_eq!(str_at(cm, &["metadata", "labels", "grafana_dashboard"]), "1");
    let data = get(cm, &["data"]).as_mapping().expect("data");
    assert_eq!(data.len(), 1, "one dashboard");
    let (_, json_text) = data.iter().next().unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(json_text.as_str().unwrap()).expect("the dashboard is valid JSON");
    assert_eq!(dashboard["uid"], "social-connection-operator");
    let mut all = Vec::new();
    queries(&dashboard, &mut all);
    let exprs: Vec<&String> = all.iter().filter(|q| !q.starts_with("label_values") && *q != "prometheus").collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    let exported = exported_metric_names();
    let mut used = BTreeSet::new();
    for q in &exprs {
        let names = promql_metric_names(q);
        assert!(!names.is_empty(), "no metric in {q}");
        for n in names {
            assert!(
                exported.contains(&n),
                "the dashboard queries {n}, which the operator does not export (query: {q}; exported: {exported:?})"
            );
            used.insert(n);
        }
    }
    // The panels the issue asks for: states per provider, the expiry timeline, provider errors
    // and latency, refreshes.
    for needed in [
        "socialconnection_ready_status",
        "socialconnection_token_expiration_timestamp_seconds",
        "socialconnection_provider_requests_total",
        "socialconnection_provider_request_duration_seconds_bucket",
        "socialconnection_refreshes_total",
    ] {
        assert!(used.contains(needed), "no panel uses {needed}");
    }
    for q in all.iter().filter(|q| q.starts_with("label_values(")) {
        let metric = q.trim_start_matches("label_values(").split(',').next().unwrap().trim();
        assert!(exported.contains(metric), "{q}");
    }
}

#[test]
fn the_alert_rules_read_only_metrics_the_operator_exports() {
    let docs = render(&["--set", "metrics.prometheusRule.enabled=true"]);
    let exported = exported_metric_names();
    for alert in rules_of(one(&docs, "PrometheusRule")) {
        let expr = str_at(&alert, &["expr"]);
        for n in promql_metric_names(expr) {
            // `up` is Prometheus' own series of each scrape.
            assert!(n == "up" || exported.contains(&n), "{} reads {n}, which the operator does not export", str_at(&alert, &["alert"]));
        }
    }
}
