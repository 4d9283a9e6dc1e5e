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
        ["ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Deployment", "ServiceAccount"].map(String::from).into(),
        "objects of the default install"
    );
    let deploy = one(&docs, "Deployment");
    assert_eq!(get(deploy, &["spec", "replicas"]).as_i64(), Some(1));
    assert_eq!(str_at(deploy, &["spec", "strategy", "type"]), "Recreate");
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
    assert!(of_kind(&docs, "Role").is_empty() && of_kind(&docs, "RoleBinding").is_empty());
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
    let roles = of_kind(&docs, "Role");
    let bindings = of_kind(&docs, "RoleBinding");
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
    assert_eq!(get(deploy, &["spec", "replicas"]).as_i64(), Some(1), "no value changes the replica count");
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(str_at(sa, &["metadata", "name"]), "sco-operator");
    assert_eq!(str_at(sa, &["metadata", "annotations", "example.com/owner"]), "platform");
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
    let cases: [(&[&str], &str); 10] = [
        (&["--set", "bogus=1"], "bogus"),
        (&["--set", "logging.format=xml"], "format"),
        (&["--set", "providerEndpoints.facebok=https://x"], "facebok"),
        (&["--set", "providerEndpoints.facebook=https://x/v1/path"], "providerEndpoints"),
        (&["--set", "graphApiVersion=24"], "graphApiVersion"),
        (&["--set", "watchNamespaces={Team_A}"], "watchNamespaces"),
        (&["--set", "image.digest=latest"], "digest"),
        (&["--set", "metrics.enabled=true"], "metrics"),
        (&["--set", "replicaCount=2"], "replicaCount"),
        (&["--set", "crds.enabled=yes"], "crds"),
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

/// Runs docs/argocd-health-check.lua as Argo CD does (global `obj`, a returned table with
/// `status` and `message`), with only the base, table, string and math libraries.
fn argo_health(obj: &serde_json::Value) -> (String, String) {
    use mlua::{LuaOptions, LuaSerdeExt, StdLib, Table};
    let script = std::fs::read_to_string(repo().join("docs/argocd-health-check.lua")).unwrap();
    let lua = mlua::Lua::new_with(StdLib::TABLE | StdLib::STRING | StdLib::MATH, LuaOptions::default()).unwrap();
    lua.globals().set("obj", lua.to_value(obj).unwrap()).unwrap();
    let hs: Table = lua.load(&script).set_name("argocd-health-check.lua").eval().unwrap_or_else(|e| panic!("the health check failed: {e}"));
    (hs.get::<String>("status").unwrap(), hs.get::<String>("message").unwrap())
}

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
