//! The Helm chart on the real control plane, and the operator running with nothing but the
//! chart's RBAC.
//!
//! How "nothing but the chart's RBAC" is proven while the harness's own operator (admin
//! credentials, every namespace) runs too: each chart test installs a release watching one
//! fresh namespace and guards that namespace with a ValidatingAdmissionPolicy under which the
//! API server refuses every status write of a SocialConnection, every change of its finalizers
//! and every Event, except from the chart's ServiceAccount. A second operator process then runs with a token of that
//! ServiceAccount (TokenRequest API) and a kubeconfig holding only that token. Whatever status
//! and Events appear in the namespace can only have been written by that process, so a Ready
//! condition there proves the chart's Role is enough to watch connections and Secrets, read the
//! Secrets, write status and record Events; the harness's operator only collects refusals
//! (and retries them quietly once the status exists). Refusals of the chart's operator itself
//! would show in its log, which the tests read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;
use social_connection_operator::api::{REVOKE_FINALIZER, SocialConnection};

use crate::rbac_audit::{PROBE_USER_AGENT, Permission, Usage, assert_least_privilege, granted_by, usage_of};
use crate::support::*;

const CHART: &str = "charts/social-connection-operator";

/// The name of every object of a release whose name does not contain the chart's.
fn fullname(release: &str) -> String {
    format!("{release}-social-connection-operator")
}

/// Runs helm with the admin kubeconfig and a private helm home; (success, stdout, stderr).
fn helm(args: &[&str]) -> (bool, String, String) {
    helm_at(&world().kubeconfig, args)
}

/// Runs helm with `kubeconfig` and a private helm home; (success, stdout, stderr).
fn helm_at(kubeconfig: &Path, args: &[&str]) -> (bool, String, String) {
    let w = world();
    let home = std::env::temp_dir().join(format!("sco-e2e-helm-{}", std::process::id()));
    let out = Command::new(w.bin_dir.join("helm"))
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("run helm");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `kubectl auth can-i VERB RESOURCE ... --as=<ServiceAccount>`: whether it is allowed.
fn can_i(sa: &str, args: &[&str]) -> bool {
    let mut all = vec!["auth", "can-i"];
    all.extend_from_slice(args);
    let as_flag = format!("--as={sa}");
    all.push(&as_flag);
    let (ok, out, err) = world().kubectl(&all, None);
    match out.trim() {
        "yes" => true,
        "no" => false,
        other => panic!("kubectl auth can-i {args:?}: unexpected answer {other:?} ({ok}): {err}"),
    }
}

/// Kills child processes when the thread that started them ends (the kernel sends SIGKILL),
/// as support.rs does for the harness's operator: the chart's operator never outlives its test.
fn die_with_test_thread(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// A kubeconfig that authenticates with `token` only (server and CA from the admin's
/// kubeconfig `admin`).
fn token_kubeconfig(admin: &Path, dir: &Path, token: &str, namespace: &str) -> PathBuf {
    let admin = Kubeconfig::read_from(admin).expect("read admin kubeconfig");
    let cluster = admin.clusters.first().and_then(|c| c.cluster.clone()).expect("a cluster in the admin kubeconfig");
    let mut c = json!({"server": cluster.server.expect("server")});
    if let Some(ca) = cluster.certificate_authority_data {
        c["certificate-authority-data"] = json!(ca);
    } else if let Some(ca) = cluster.certificate_authority {
        c["certificate-authority"] = json!(ca);
    }
    let kc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": c}],
        "users": [{"name": "chart-sa", "user": {"token": token}}],
        "contexts": [{"name": "chart-sa", "context": {"cluster": "e2e", "user": "chart-sa", "namespace": namespace}}],
        "current-context": "chart-sa",
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kc).expect("yaml")).expect("write kubeconfig");
    path
}

/// The chart installed for one watched namespace, with the operator running on its
/// ServiceAccount's token. Dropping it stops the operator and removes the release and the
/// admission policy.
struct ChartOperator {
    release: String,
    system_ns: String,
    watched: String,
    /// `system:serviceaccount:<ns>:<name>`.
    sa_user: String,
    sa_kubeconfig: PathBuf,
    pod_name: String,
    health_port: u16,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl ChartOperator {
    /// Installs a release watching a fresh namespace (named after `tag`), locks the namespace's
    /// status and Event writes to the chart's ServiceAccount, and starts the operator with that
    /// ServiceAccount's token; returns once its health server answers.
    async fn start(client: &Client, tag: &str) -> ChartOperator {
        let w = world();
        // Distinct prefixes: namespace() keeps only 8 characters of its nonce.
        let system_ns = namespace(client, &format!("{tag}-sys")).await;
        let watched = namespace(client, &format!("{tag}-watched")).await;
        let release = system_ns.clone();
        let sa = fullname(&release);
        let sa_user = format!("system:serviceaccount:{system_ns}:{sa}");

        let chart = path(CHART);
        let watch = format!("watchNamespaces={{{watched}}}");
        let (ok, out, err) = helm(&[
            "install",
            &release,
            chart.to_str().unwrap(),
            "--namespace",
            &system_ns,
            "--set",
            "crds.enabled=false",
            "--set",
            &watch,
        ]);
        assert!(ok, "helm install failed: {out}\n{err}");
        assert!(out.contains(&format!("It watches SocialConnections in: {watched}")), "NOTES should name the watched namespace:\n{out}");
        assert!(out.contains("crds.enabled=false"), "NOTES should say the CRD is not installed:\n{out}");

        // Only the chart's ServiceAccount may write SocialConnection status and Events here.
        let policy = format!("sco-chart-only-{watched}");
        let manifest = json!({
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingAdmissionPolicy",
                    "metadata": {"name": policy},
                    "spec": {
                        "failurePolicy": "Fail",
                        "matchConstraints": {"resourceRules": [
                            {"apiGroups": ["social.connections.dev"], "apiVersions": ["*"], "operations": ["UPDATE"], "resources": ["socialconnections/status"]},
                            {"apiGroups": ["", "events.k8s.io"], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"], "resources": ["events"]},
                            // The revoke finalizer (metadata.finalizers), so that only this
                            // operator adds and releases it here.
                            {"apiGroups": ["social.connections.dev"], "apiVersions": ["*"], "operations": ["UPDATE"], "resources": ["socialconnections"]},
                            // Refresh write-back: the harness's operator may refresh too (the
                            // scenario's provider keeps its refresh token), but only the
                            // chart's operator may store the result.
                            {"apiGroups": [""], "apiVersions": ["*"], "operations": ["UPDATE"], "resources": ["secrets"]},
                        ]},
                        "validations": [{
                            "expression": format!("request.userInfo.username == '{sa_user}'"),
                            "message": "only the chart's ServiceAccount writes status, finalizers, Events and Secrets in this namespace",
                        }],
                    },
                },
                {
                    "apiVersion": "admissionregistration.k8s.io/v1",
                    "kind": "ValidatingAdmissionPolicyBinding",
                    "metadata": {"name": policy},
                    "spec": {
                        "policyName": policy,
                        "validationActions": ["Deny"],
                        "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": watched}}},
                    },
                },
            ],
        });
        let (ok, _, err) = w.kubectl(&["apply", "-f", "-"], Some(&manifest.to_string()));
        assert!(ok, "creating the admission policy failed: {err}");
        wait_until_policy_denies(&watched).await;

        let (ok, token, err) = w.kubectl(&["create", "token", &sa, "-n", &system_ns, "--duration=2h"], None);
        assert!(ok, "TokenRequest for {sa} failed: {err}");
        let dir = tempfile::tempdir().expect("temp dir");
        let sa_kubeconfig = token_kubeconfig(&w.kubeconfig, dir.path(), token.trim(), &watched);

        let health_port = free_port();
        let pod_name = format!("{release}-e2e");
        let log = dir.path().join("operator.log");
        let out = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_social-connection-operator"));
        cmd.arg("run")
            .args(["--namespace", &watched])
            // Leader election exactly as the chart's Deployment passes it (the Lease in the
            // release namespace, with the chart's Role there).
            .args(chart_leader_args(&release, &system_ns, &["--set", "crds.enabled=false", "--set", &watch]))
            .args(["--health-addr", &format!("127.0.0.1:{health_port}")])
            .args(["--log-format", "json"])
            .env("KUBECONFIG", &sa_kubeconfig)
            .env("SOCIAL_PROVIDER_ENDPOINTS", &w.endpoints)
            .env("RUST_LOG", "info")
            .env("POD_NAME", &pod_name)
            .env_remove("SOCIAL_WATCH_NAMESPACES")
            .env_remove("SOCIAL_DEFAULT_REDIRECT_URL")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out);
        die_with_test_thread(&mut cmd);
        let child = cmd.spawn().expect("start the chart's operator");
        let mut op = ChartOperator { release, system_ns, watched, sa_user, sa_kubeconfig, pod_name, health_port, log, child, _dir: dir };
        op.wait_ready().await;
        op
    }

    /// Waits until the health server answers /readyz with 200: every watch has listed once,
    /// which is what the chart's readiness probe asks.
    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = self.health_port;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("the chart's operator exited ({status}):\n{}", self.output());
            }
            let code = tokio::task::spawn_blocking(move || http_status(port, "/readyz")).await.expect("join");
            if code == Some(200) {
                return;
            }
            assert!(Instant::now() < deadline, "the chart's operator never became ready on /readyz (last: {code:?}):\n{}", self.output());
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A client that authenticates as the chart's ServiceAccount, for probes the API server must
    /// refuse: its user agent keeps them out of the operator's audited usage.
    async fn sa_client(&self) -> Client {
        let kc = Kubeconfig::read_from(&self.sa_kubeconfig).expect("read kubeconfig");
        let mut cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("kubeconfig");
        cfg.headers.push((http::header::USER_AGENT, http::HeaderValue::from_static(PROBE_USER_AGENT)));
        Client::try_from(cfg).expect("client")
    }

    /// What the operator did with the chart's ServiceAccount, from the audit log.
    fn usage(&self) -> Usage {
        usage_of(&audit_log(), &self.sa_user)
    }

    /// The permissions the chart grants in this release's mode (a Role in the watched
    /// namespace), rendered by `helm template` with the values the release was installed with.
    fn granted(&self) -> BTreeSet<Permission> {
        let watch = format!("watchNamespaces={{{}}}", self.watched);
        let docs = rendered_rbac(&self.release, &self.system_ns, &["--set", "crds.enabled=false", "--set", &watch]);
        let roles: Vec<&serde_json::Value> = docs.iter().filter(|d| d["kind"] == "Role").collect();
        assert_eq!(roles.len(), 2, "one Role for one watched namespace and leader election's: {docs:#?}");
        assert!(docs.iter().all(|d| d["kind"] != "ClusterRole"), "no ClusterRole with watchNamespaces");
        let namespaces: BTreeSet<&str> = roles.iter().filter_map(|r| r["metadata"]["namespace"].as_str()).collect();
        assert_eq!(namespaces, [self.watched.as_str(), self.system_ns.as_str()].into());
        // A permission granted in the wrong namespace would be refused (403), which
        // assert_least_privilege also fails on.
        roles.into_iter().flat_map(granted_by).collect()
    }

    /// The operator's log must show no refused request: its RBAC was enough for everything.
    fn assert_never_refused(&self) {
        let out = self.output();
        for word in ["forbidden", "Forbidden", "reconcile failed", "recording an event failed"] {
            assert!(!out.contains(word), "the chart's operator logged {word:?}:\n{out}");
        }
        assert!(!mentions_status_403(&out), "the chart's operator logged a 403:\n{out}");
    }
}

/// Whether `log` holds a 403 as a number of its own: not inside a longer number or the
/// fraction of a timestamp (`12:00:35.403947Z`).
fn mentions_status_403(log: &str) -> bool {
    let b = log.as_bytes();
    log.match_indices("403").any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| b[j]);
        let after = b.get(i + 3).copied();
        !before.is_some_and(|c| c.is_ascii_digit() || c == b'.') && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn a_403_is_found_as_a_status_but_not_inside_a_timestamp() {
    assert!(mentions_status_403("answered 403 Forbidden"));
    assert!(mentions_status_403("code=403"));
    assert!(!mentions_status_403("2026-12-02T20:00:35.403947Z INFO started"));
    assert!(!mentions_status_403("resourceVersion 14031"));
}

impl Drop for ChartOperator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let w = world();
        let policy = format!("sco-chart-only-{}", self.watched);
        let _ = w.kubectl(&["delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", &policy, "--ignore-not-found"], None);
        let _ = helm(&["uninstall", &self.release, "--namespace", &self.system_ns]);
    }
}

/// Waits until the API server enforces the namespace's admission policy (policies are loaded
/// asynchronously): an admin's Event must be refused.
async fn wait_until_policy_denies(ns: &str) {
    let w = world();
    let probe = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": "policy-probe-"},
        "involvedObject": {"kind": "ConfigMap", "name": "probe", "namespace": ns},
        "reason": "Probe",
        "message": "is the admission policy enforced yet?",
        "type": "Normal",
    })
    .to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, _, err) = w.kubectl(&["create", "-n", ns, "-f", "-"], Some(&probe));
        if !ok && err.contains("only the chart's ServiceAccount") {
            return;
        }
        assert!(ok || err.contains("ValidatingAdmissionPolicy"), "probe failed unexpectedly: {err}");
        assert!(Instant::now() < deadline, "the admission policy for {ns} was never enforced");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Events of `ns` as (reason, reportingController, reportingInstance).
async fn event_sources(client: &Client, ns: &str) -> Vec<(String, String, String)> {
    let list = Api::<Event>::namespaced(client.clone(), ns).list(&ListParams::default()).await.expect("list events");
    list.items
        .into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.reporting_controller.unwrap_or_default(), e.reporting_instance.unwrap_or_default()))
        .collect()
}

/// The RBAC objects (ClusterRole, Role) of the chart rendered by `helm template` for `release` in
/// `namespace` with `values` (helm arguments).
fn rendered_rbac(release: &str, namespace: &str, values: &[&str]) -> Vec<serde_json::Value> {
    let chart = path(CHART);
    let mut args = vec!["template", release, chart.to_str().unwrap(), "--namespace", namespace];
    args.extend_from_slice(values);
    let (ok, out, err) = helm(&args);
    assert!(ok, "helm template failed: {err}");
    serde_yaml::Deserializer::from_str(&out)
        .filter_map(|d| <Option<serde_json::Value> as serde::Deserialize>::deserialize(d).expect("rendered YAML"))
        .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
        .collect()
}

/// The leader election arguments the chart's Deployment passes, rendered by `helm template`.
fn chart_leader_args(release: &str, namespace: &str, values: &[&str]) -> Vec<String> {
    let chart = path(CHART);
    let mut args = vec!["template", release, chart.to_str().unwrap(), "--namespace", namespace];
    args.extend_from_slice(values);
    let (ok, out, err) = helm(&args);
    assert!(ok, "helm template failed: {err}");
    let deploy = serde_yaml::Deserializer::from_str(&out)
        .filter_map(|d| <Option<serde_json::Value> as serde::Deserialize>::deserialize(d).expect("rendered YAML"))
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let leader: Vec<String> = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(|a| a.as_str())
        .filter(|a| a.starts_with("--leader-election"))
        .map(String::from)
        .collect();
    assert!(leader.iter().any(|a| a == "--leader-election"), "leader election is on by default: {leader:?}");
    leader
}

/// What every chart scenario makes the operator do, so the audit log shows each permission:
/// a connection becomes Ready (list/watch connections and Secret metadata, get the Secret, apply
/// status), a connection whose Secret is missing gets a SecretNotFound Event (events.k8s.io
/// create) and recovers once the Secret exists (the metadata watch maps it), a connection
/// with revokeOnDelete gets the revoke finalizer and, deleted, releases it after revoking
/// (socialconnections patch), and a labelled Secret whose token is about to expire is refreshed
/// and written back (Secret update). Leader election (the operator runs with the chart's flags)
/// gets, creates and patches the Lease. Returns the tokens.
async fn exercise_the_operator(client: &Client, ns: &str) -> Vec<String> {
    let revoked = fakes::token("valid");
    secret(client, ns, "yt-token", &[("access_token", &revoked)]).await;
    let spec = json!({
        "provider": "youtube",
        "account": {"id": fakes::YOUTUBE_CHANNEL_ID},
        "secretRef": {"name": "yt-token"},
        "revokeOnDelete": true,
    });
    connection(client, ns, "revoked", spec).await;
    wait_finalizer(client, ns, "revoked", REVOKE_FINALIZER).await;
    delete_and_wait_gone(client, ns, "revoked", Duration::from_secs(60)).await;
    let (kind, _, note) = wait_event_for(client, ns, "revoked", "TokenRevoked").await;
    assert_eq!(kind, "Normal", "{note}");

    let token = fakes::token("page");
    secret(client, ns, "fb-token", &[("access_token", &token)]).await;
    let spec = |secret: &str| {
        json!({
            "provider": "facebook",
            "account": {"id": fakes::FACEBOOK_PAGE_ID},
            "secretRef": {"name": secret},
        })
    };
    connection(client, ns, "page", spec("fb-token")).await;
    let st = wait_condition(client, ns, "page", "Ready", "True", "AllChecksPassed").await;
    assert_eq!(st.observed_generation, Some(1));
    connection(client, ns, "later", spec("later-token")).await;
    wait_condition(client, ns, "later", "Valid", "False", "SecretNotFound").await;
    wait_event(client, ns, "SecretNotFound").await;
    let later = fakes::token("page");
    secret(client, ns, "later-token", &[("access_token", &later)]).await;
    wait_condition(client, ns, "later", "Ready", "True", "AllChecksPassed").await;

    // Refresh write-back into a labelled Secret: a YouTube token expiring in 5 minutes (inside
    // the refresh window) with a refresh token Google keeps (so that the harness's operator,
    // which may refresh it too, cannot spend it; the admission policy lets only the chart's
    // operator store the result).
    secret(client, ns, "google-app", &[("client_id", "cid-app"), ("client_secret", "app-secret-value")]).await;
    let access = fakes::token("valid");
    let refresh = fakes::token("valid");
    let soon = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_mins(5)).expect("time");
    let soon = soon.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    crate::refresh::token_secret(
        client,
        ns,
        "yt-refresh",
        &[("access_token", &access), ("refresh_token", &refresh), ("expires_at", &soon)],
        true,
    )
    .await;
    connection(
        client,
        ns,
        "channel",
        json!({"provider": "youtube", "account": {"id": fakes::YOUTUBE_CHANNEL_ID}, "secretRef": {"name": "yt-refresh"}, "appSecretRef": {"name": "google-app"}}),
    )
    .await;
    let st = wait_for(client, ns, "channel", "a stored refresh", |s| s.refresh_count.unwrap_or(0) >= 1).await;
    assert!(st.last_refresh_time.is_some());
    let stored = crate::refresh::secret_value(client, ns, "yt-refresh", "access_token").await.expect("access_token");
    assert_ne!(stored, access, "the refreshed token is stored in the labelled Secret");
    wait_condition(client, ns, "channel", "Ready", "True", "AllChecksPassed").await;
    vec![token, later, revoked, access, refresh, stored]
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn the_chart_installs_with_default_values_upgrades_and_keeps_its_crd_on_uninstall() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "chart-default").await;
    let release = ns.clone();
    let name = fullname(&release);
    let chart = path(CHART);
    // The harness applied the CRD already; a fresh cluster would not need --take-ownership.
    let (ok, out, err) = helm(&["install", &release, chart.to_str().unwrap(), "--namespace", &ns, "--take-ownership"]);
    assert!(ok, "helm install with default values failed: {out}\n{err}");
    assert!(out.contains("STATUS: deployed"), "{out}");
    assert!(
        out.contains(&format!("kubectl -n {ns} rollout status deployment/{name}")),
        "NOTES should say how to check the operator:\n{out}"
    );
    assert!(out.contains("It watches SocialConnections in every namespace"), "{out}");

    // What the API server stored.
    let (ok, deploy, err) = w.kubectl(&["get", "deployment", &name, "-n", &ns, "-o", "json"], None);
    assert!(ok, "{err}");
    let deploy: serde_json::Value = serde_json::from_str(&deploy).unwrap();
    assert_eq!(deploy["spec"]["replicas"], 1);
    assert_eq!(deploy["spec"]["strategy"]["type"], "RollingUpdate", "safe with leader election, on by default");
    assert_eq!(deploy["spec"]["template"]["spec"]["serviceAccountName"], name.as_str());
    assert_eq!(deploy["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"], true);
    let (ok, crd, err) = w.kubectl(&["get", "crd", "socialconnections.social.connections.dev", "-o", "json"], None);
    assert!(ok, "{err}");
    let crd: serde_json::Value = serde_json::from_str(&crd).unwrap();
    assert_eq!(crd["metadata"]["annotations"]["helm.sh/resource-policy"], "keep");
    assert_eq!(crd["metadata"]["annotations"]["meta.helm.sh/release-name"], release.as_str());

    // The binding works cluster-wide (what exactly is granted is proven from the audit log by
    // the_cluster_wide_chart_grants_exactly_what_its_operator_used_on_a_cluster_of_its_own), and
    // the API server refuses what the operator must never do.
    let sa = format!("system:serviceaccount:{ns}:{name}");
    let lease = format!("leases.coordination.k8s.io/{name}");
    for (allowed, args) in [
        (true, &["list", "secrets", "--all-namespaces"][..]),
        (true, &["watch", "socialconnections.social.connections.dev", "--all-namespaces"]),
        (true, &["patch", "socialconnections.social.connections.dev", "--subresource=status", "-n", "default"]),
        (true, &["create", "events.events.k8s.io", "-n", "default"]),
        (true, &["patch", "socialconnections.social.connections.dev", "-n", "default"]),
        // Refresh write-back (the operator itself writes only labelled Secrets).
        (true, &["update", "secrets", "-n", "default"]),
        // Leader election: the Lease in the release namespace, nowhere else.
        (true, &["create", "leases.coordination.k8s.io", "-n", &ns]),
        (true, &["patch", &lease, "-n", &ns]),
        (true, &["get", &lease, "-n", &ns]),
        (false, &["patch", "leases.coordination.k8s.io/other-lease", "-n", &ns]),
        (false, &["update", &lease, "-n", &ns]),
        (false, &["create", "leases.coordination.k8s.io", "-n", "default"]),
        (false, &["patch", "secrets", "-n", "default"]),
        (false, &["update", "socialconnections.social.connections.dev", "-n", "default"]),
        (false, &["create", "secrets", "-n", "default"]),
        (false, &["delete", "secrets", "-n", "default"]),
        (false, &["create", "socialconnections.social.connections.dev", "-n", "default"]),
        (false, &["delete", "socialconnections.social.connections.dev", "-n", "default"]),
        (false, &["get", "configmaps", "-n", "default"]),
        (false, &["create", "pods", "-n", "default"]),
        (false, &["list", "namespaces"]),
        (false, &["list", "events.events.k8s.io", "-n", "default"]),
        (false, &["get", "customresourcedefinitions.apiextensions.k8s.io"]),
    ] {
        assert_eq!(can_i(&sa, args), allowed, "can-i {args:?} should be {allowed}");
    }

    // An upgrade re-renders everything, the CRD template included.
    let (ok, out, err) =
        helm(&["upgrade", &release, chart.to_str().unwrap(), "--namespace", &ns, "--reuse-values", "--set", "logging.format=text"]);
    assert!(ok, "helm upgrade failed: {out}\n{err}");
    let (_, args, _) = w.kubectl(&["get", "deployment", &name, "-n", &ns, "-o", "jsonpath={.spec.template.spec.containers[0].args}"], None);
    assert!(args.contains("--log-format=text"), "{args}");

    // Uninstall removes the operator's objects but keeps the CRD, and so every connection.
    let (ok, out, err) = helm(&["uninstall", &release, "--namespace", &ns]);
    assert!(ok, "helm uninstall failed: {out}\n{err}");
    let (kept, _, _) = w.kubectl(&["get", "crd", "socialconnections.social.connections.dev"], None);
    assert!(kept, "the CRD must survive helm uninstall (helm.sh/resource-policy: keep)");
    let (role_left, _, _) = w.kubectl(&["get", "clusterrole", &name], None);
    assert!(!role_left, "the ClusterRole should be gone after uninstall");
    let (deploy_left, _, _) = w.kubectl(&["get", "deployment", &name, "-n", &ns], None);
    assert!(!deploy_left, "the Deployment should be gone after uninstall");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_reconciles_and_records_events_with_only_the_charts_namespaced_rbac() {
    let w = world();
    let client = w.client().await;
    let op = ChartOperator::start(&client, "chart-rbac").await;
    let ns = op.watched.clone();

    let tokens = exercise_the_operator(&client, &ns).await;
    let (token, later) = (&tokens[0], &tokens[1]);
    // The SecretNotFound Event was recorded (events.k8s.io) by this instance.
    let sources = event_sources(&client, &ns).await;
    assert!(
        sources.iter().any(|(reason, controller, instance)| reason == "SecretNotFound"
            && controller == "social-connection-operator"
            && instance == &op.pod_name),
        "the SecretNotFound Event should come from the chart's operator ({}): {sources:?}",
        op.pod_name
    );

    let out = op.output();
    assert!(
        out.lines().any(|l| l.contains("status updated") && l.contains("\"name\":\"page\"") && l.contains(&ns)),
        "the chart's operator should log its status write for {ns}/page:\n{out}"
    );
    op.assert_never_refused();
    assert_no_leaks(&client, &ns, &[token, later]).await;
    assert!(!out.contains(token.as_str()) && !out.contains(later.as_str()), "a token leaked into the chart's operator log");

    // Least privilege, from the audit log: the Role grants exactly what the operator used here.
    assert_least_privilege("watchNamespaces Role", &op.granted(), &op.usage());

    // What it must not do: read Secrets outside the watched namespace, even its own
    // namespace's, or change Secrets it only reads.
    let other = namespace(&client, "chart-rbac-other").await;
    secret(&client, &other, "not-yours", &[("access_token", "valid__not-yours")]).await;
    assert!(!can_i(&op.sa_user, &["get", "secrets", "-n", &other]));
    assert!(!can_i(&op.sa_user, &["list", "secrets", "--all-namespaces"]));
    assert!(!can_i(&op.sa_user, &["get", "secrets", "-n", &op.system_ns]));
    assert!(!can_i(&op.sa_user, &["list", "socialconnections.social.connections.dev", "-n", &other]));
    assert!(!can_i(&op.sa_user, &["delete", "secrets", "-n", &ns]));
    assert!(!can_i(&op.sa_user, &["create", "secrets", "-n", &ns]));
    assert!(can_i(&op.sa_user, &["get", "secrets", "-n", &ns]));
    assert!(can_i(&op.sa_user, &["patch", "socialconnections.social.connections.dev", "--subresource=status", "-n", &ns]));
    // And with the token itself: the API server answers 403.
    let sa = op.sa_client().await;
    match Api::<Secret>::namespaced(sa.clone(), &other).get("not-yours").await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        res => panic!("reading a Secret in {other} with the chart's token should be refused, got {res:?}"),
    }
    match Api::<Secret>::all(sa.clone()).list(&ListParams::default()).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        Ok(_) => panic!("listing Secrets cluster-wide with the chart's token should be refused"),
        Err(e) => panic!("unexpected error: {e}"),
    }
    assert!(Api::<Secret>::namespaced(sa, &ns).get("fb-token").await.is_ok(), "the same token reads Secrets in the watched namespace");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_example_reaches_the_state_its_comment_promises() {
    let w = world();
    let client = w.client().await;
    // The examples run under the chart's operator as well (see the module docs), so the outcome
    // is the work of one operator with the chart's RBAC.
    let op = ChartOperator::start(&client, "examples").await;
    let ns = op.watched.clone();
    // Applied as kustomize renders them, each labelled for the chart's operator alone (the
    // suite's shared operator skips such connections: two operators refreshing one rotating
    // token would kill it).
    let (ok, rendered, err) = w.kubectl(&["kustomize", path("examples").to_str().unwrap()], None);
    assert!(ok, "kubectl kustomize examples/ failed: {err}");
    let labelled: Vec<String> = serde_yaml::Deserializer::from_str(&rendered)
        .map(|d| {
            let mut v = <serde_json::Value as serde::Deserialize>::deserialize(d).unwrap();
            v["metadata"]["labels"][OWN_OPERATOR_LABEL] = json!("chart");
            serde_json::to_string(&v).unwrap()
        })
        .collect();
    let (ok, out, err) = w.kubectl(&["apply", "-n", &ns, "-f", "-"], Some(&labelled.join("\n---\n")));
    assert!(ok, "kubectl apply of examples/ failed: {out}\n{err}");

    let files: Vec<String> = {
        let k: serde_json::Value = serde_yaml::from_str(&std::fs::read_to_string(path("examples/kustomization.yaml")).unwrap()).unwrap();
        k["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
    };
    assert_eq!(files.len(), 11, "one example per provider");
    let mut waits = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(path("examples").join(file)).unwrap();
        let promise = demo_outcome(&text).unwrap_or_else(|| panic!("{file}: no `# Demo outcome:` line"));
        let name = serde_yaml::Deserializer::from_str(&text)
            .map(|d| <serde_json::Value as serde::Deserialize>::deserialize(d).unwrap())
            .find(|d| d["kind"] == "SocialConnection")
            .and_then(|d| d["metadata"]["name"].as_str().map(String::from))
            .unwrap_or_else(|| panic!("{file}: no SocialConnection"));
        let (client, ns, file) = (client.clone(), ns.clone(), file.clone());
        waits.push(async move {
            let what = promise.iter().map(|(t, (s, r))| format!("{t}={s} ({r})")).collect::<Vec<_>>().join(", ");
            let st = wait_for(&client, &ns, &name, &format!("{file}: {what}"), |st| {
                promise.iter().all(|(ty, (status, reason))| condition(st, ty).is_some_and(|(s, r, _)| &s == status && &r == reason))
            })
            .await;
            (file, name, st)
        });
    }
    let results = futures::future::join_all(waits).await;
    let ready = results.iter().filter(|(_, _, st)| condition(st, "Ready").is_some_and(|c| c.0 == "True")).count();
    assert_eq!(ready, 9, "nine examples are Ready and two show a problem");

    // What the comments promise beyond the conditions.
    let threads = results.iter().find(|(f, _, _)| f == "threads.yaml").unwrap();
    let url = threads.2.reauthorization_url.as_deref().unwrap_or_default();
    assert!(
        url.starts_with("https://threads.com/oauth/authorize?") && url.contains("client_id=cid-demo-threads"),
        "threads: reconnect link {url:?}"
    );
    let reasons: Vec<String> = event_sources(&client, &ns).await.into_iter().map(|(r, _, _)| r).collect();
    for reason in ["ReauthorizationRequired", "TokenExpiringSoon"] {
        assert!(reasons.iter().any(|r| r == reason), "no {reason} Event among {reasons:?}");
    }
    op.assert_never_refused();
    // The audit log agrees: nothing refused, nothing used beyond the Role.
    let usage = op.usage();
    assert!(usage.refused.is_empty(), "the API server refused the chart's operator: {:#?}", usage.refused);
    let granted = op.granted();
    let beyond: Vec<String> = usage.used.difference(&granted).map(|p| p.to_string()).collect();
    assert!(beyond.is_empty(), "the examples used what the Role does not grant: {beyond:?}");
    let violations: Vec<String> =
        w.fakes().contract_violations().iter().map(|(p, r)| format!("{p}: {r:?}")).filter(|r| r.contains("demo-")).collect();
    assert!(violations.is_empty(), "requests for the examples broke the providers' contract: {violations:#?}");
    // Every example connection's status is the operator's own word: nothing from the harness's
    // operator (refused by the admission policy) and all of this generation.
    let list = Api::<SocialConnection>::namespaced(client.clone(), &ns).list(&ListParams::default()).await.unwrap();
    assert!(list.items.iter().all(|c| c.status.as_ref().and_then(|s| s.observed_generation) == c.metadata.generation));
}

/// The `# Demo outcome:` promise of an example: condition type → (status, reason).
fn demo_outcome(text: &str) -> Option<Vec<(String, (String, String))>> {
    let line = text.lines().find_map(|l| l.strip_prefix("# Demo outcome:"))?;
    Some(
        line.split(", ")
            .map(|part| {
                let (ty, rest) = part.trim().split_once('=').expect("Type=Status (Reason)");
                let (st, reason) = rest.split_once(" (").expect("Type=Status (Reason)");
                (ty.to_string(), (st.to_string(), reason.trim_end_matches(')').to_string()))
            })
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cluster_wide_chart_grants_exactly_what_its_operator_used_on_a_cluster_of_its_own() {
    // Cluster-wide, the chart's operator would work on every test's namespace of the shared
    // control plane; it gets one of its own, where it is the only operator.
    let cp = tokio::task::spawn_blocking(|| ControlPlane::start("chart-cluster")).await.expect("join");
    let client = cp.client().await;
    let system_ns = namespace(&client, "chart-cluster-sys").await;
    let watched = namespace(&client, "chart-cluster-team").await;
    let release = system_ns.clone();
    let sa = fullname(&release);
    let sa_user = format!("system:serviceaccount:{system_ns}:{sa}");
    let chart = path(CHART);
    let (ok, out, err) =
        helm_at(&cp.kubeconfig, &["install", &release, chart.to_str().unwrap(), "--namespace", &system_ns, "--take-ownership"]);
    assert!(ok, "helm install with default values failed: {out}\n{err}");
    assert!(out.contains("It watches SocialConnections in every namespace"), "{out}");

    let (ok, token, err) = cp.kubectl(&["create", "token", &sa, "-n", &system_ns, "--duration=1h"], None);
    assert!(ok, "TokenRequest for {sa} failed: {err}");
    let dir = tempfile::tempdir().expect("temp dir");
    let sa_kubeconfig = token_kubeconfig(&cp.kubeconfig, dir.path(), token.trim(), &system_ns);
    let leader = chart_leader_args(&release, &system_ns, &[]);
    let mut op = OperatorProcess::spawn_with(&sa_kubeconfig, &[], &dir.path().join("operator.log"), &leader);

    exercise_the_operator(&client, &watched).await;
    assert!(op.alive(), "the chart's operator exited:\n{}", op.output());

    let docs = rendered_rbac(&release, &system_ns, &[]);
    assert_eq!(docs.len(), 2, "one ClusterRole and leader election's Role by default: {docs:#?}");
    let kinds: BTreeSet<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert_eq!(kinds, ["ClusterRole", "Role"].into());
    let usage = usage_of(&cp.audit_log(), &sa_user);
    // Cluster-wide means cluster-scoped list and watch (no namespace in the request).
    let text = std::fs::read_to_string(cp.audit_log()).expect("audit log");
    let cluster_scoped_watch = text.lines().filter(|l| l.contains(&sa_user)).any(|l| {
        let ev: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
        ev["verb"] == "watch" && ev["objectRef"]["resource"] == "socialconnections" && ev["objectRef"]["namespace"].is_null()
    });
    assert!(cluster_scoped_watch, "the cluster-wide operator should watch SocialConnections of every namespace");
    let granted: BTreeSet<Permission> = docs.iter().flat_map(granted_by).collect();
    assert_least_privilege("cluster-wide ClusterRole and leader election Role", &granted, &usage);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_connect_flow_on_the_chart_grants_exactly_what_the_callback_used_too() {
    // A control plane of its own: the chart's operator is the only one there.
    let cp = tokio::task::spawn_blocking(|| ControlPlane::start("chart-connect")).await.expect("join");
    let client = cp.client().await;
    let system_ns = namespace(&client, "chart-connect-sys").await;
    let watched = namespace(&client, "chart-connect-team").await;
    let release = system_ns.clone();
    let sa = fullname(&release);
    let sa_user = format!("system:serviceaccount:{system_ns}:{sa}");
    let port = free_port();
    let public = format!("http://127.0.0.1:{port}");
    let values = [
        "--set".to_string(),
        "connect.enabled=true".to_string(),
        "--set".to_string(),
        format!("connect.publicURL={public}"),
        "--set".to_string(),
        format!("watchNamespaces={{{watched}}}"),
    ];
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let chart = path(CHART);
    let mut install = vec!["install", &release, chart.to_str().unwrap(), "--namespace", &system_ns, "--take-ownership"];
    install.extend_from_slice(&values);
    let (ok, out, err) = helm_at(&cp.kubeconfig, &install);
    assert!(ok, "helm install with the connect flow failed: {out}\n{err}");

    // The operator reads the key the chart generated, as the Deployment mounts it.
    let key_secret = Api::<Secret>::namespaced(client.clone(), &system_ns)
        .get(&format!("{sa}-connect-state-key"))
        .await
        .expect("the chart creates the signing key Secret");
    let key = key_secret.data.and_then(|d| d.get("key").cloned()).expect("key");
    assert!(key.0.len() >= 32, "at least 32 bytes");
    let dir = tempfile::tempdir().expect("temp dir");
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, &key.0).expect("write key");
    // An upgrade keeps the key (links already sent keep working).
    let mut upgrade = vec!["upgrade", &release, chart.to_str().unwrap(), "--namespace", &system_ns];
    upgrade.extend_from_slice(&values);
    let (ok, out, err) = helm_at(&cp.kubeconfig, &upgrade);
    assert!(ok, "helm upgrade failed: {out}\n{err}");
    let after = Api::<Secret>::namespaced(client.clone(), &system_ns).get(&format!("{sa}-connect-state-key")).await.expect("key");
    assert_eq!(after.data.and_then(|d| d.get("key").cloned()), Some(key), "the key survives an upgrade");

    let (ok, token, err) = cp.kubectl(&["create", "token", &sa, "-n", &system_ns, "--duration=1h"], None);
    assert!(ok, "TokenRequest for {sa} failed: {err}");
    let sa_kubeconfig = token_kubeconfig(&cp.kubeconfig, dir.path(), token.trim(), &watched);
    let log = dir.path().join("operator.log");
    let out = std::fs::File::create(&log).expect("log");
    let w = world();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_social-connection-operator"));
    cmd.arg("run")
        .args(["--namespace", &watched, "--health-addr", &format!("127.0.0.1:{}", free_port()), "--log-format", "json"])
        .args(["--connect-public-url", &public, "--connect-addr", &format!("127.0.0.1:{port}")])
        .args(chart_leader_args(&release, &system_ns, &values))
        .arg("--connect-state-key-file")
        .arg(&key_file)
        .env("KUBECONFIG", &sa_kubeconfig)
        .env("SOCIAL_PROVIDER_ENDPOINTS", &w.endpoints)
        .env("SOCIAL_CONSENT_ENDPOINTS", &w.endpoints)
        .env("RUST_LOG", "info")
        .env_remove("SOCIAL_WATCH_NAMESPACES")
        .env_remove("SOCIAL_DEFAULT_REDIRECT_URL")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out);
    die_with_test_thread(&mut cmd);
    let mut child = cmd.spawn().expect("start the chart's operator");

    exercise_the_operator(&client, &watched).await;
    // The connect flow: a first connection (the callback creates the Secret) and a broken one
    // whose labelled Secret it updates; both annotate the connection.
    secret(&client, &watched, "app", &[("client_id", "cid-connect"), ("client_secret", "connect-app-secret")]).await;
    let spec = |secret: &str| json!({"provider": "linkedin", "account": {"id": fakes::LINKEDIN_ORGANIZATION_URN}, "secretRef": {"name": secret}, "appSecretRef": {"name": "app"}});
    connection(&client, &watched, "first", spec("first-token")).await;
    let broken = fakes::token("li-c");
    let labelled = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("broken-token".into()),
            labels: Some([(social_connection_operator::api::MANAGED_LABEL.to_string(), "true".to_string())].into()),
            ..Default::default()
        },
        string_data: Some([("access_token".to_string(), broken.clone())].into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), &watched).create(&Default::default(), &labelled).await.expect("create Secret");
    connection(&client, &watched, "broken", spec("broken-token")).await;
    for name in ["first", "broken"] {
        let link = format!("{public}/connect/{watched}/{name}");
        wait_for(&client, &watched, name, "the connect link", |s| s.reauthorization_url.as_deref() == Some(link.as_str())).await;
        let (status, location, page) = crate::connect::get(&link).await;
        assert_eq!(status, 302, "{page}");
        let callback = crate::connect::consent_link(&location.expect("Location"), "allow").await;
        let (status, _, page) = crate::connect::get(&callback).await;
        assert_eq!(status, 200, "{name}: {page}");
        wait_condition(&client, &watched, name, "Ready", "True", "AllChecksPassed").await;
    }
    assert!(matches!(child.try_wait(), Ok(None)), "the chart's operator exited:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    let _ = child.kill();

    let docs = rendered_rbac(&release, &system_ns, &values);
    let roles: Vec<&serde_json::Value> = docs.iter().filter(|d| d["kind"] == "Role").collect();
    assert_eq!(roles.len(), 2, "one Role for one watched namespace and leader election's: {docs:#?}");
    let usage = usage_of(&cp.audit_log(), &sa_user);
    let granted: BTreeSet<Permission> = roles.into_iter().flat_map(granted_by).collect();
    assert_least_privilege("namespaced Role with the connect flow, and leader election's", &granted, &usage);
}
