//! The end-to-end harness: one real control plane (etcd + kube-apiserver started by
//! `scripts/control-plane.sh`), one set of fake providers and one operator process per test
//! binary, shared by every test; each test works in a namespace of its own.
//!
//! `SCO_TEST_KUBECONFIG` points the suite at an already running control plane (the README's
//! test command starts one); otherwise the harness starts one itself and a watchdog stops it
//! when this process exits. If it cannot start, every test fails with the reason.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;
use social_connection_operator::api::{SocialConnection, SocialConnectionStatus};

pub use fake_providers as fakes;

/// Repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shared world of this test binary.
pub struct World {
    /// Admin kubeconfig of the control plane.
    pub kubeconfig: PathBuf,
    /// Directory with kubectl and helm.
    pub bin_dir: PathBuf,
    /// Where the operator's stdout and stderr go.
    pub operator_log: PathBuf,
    /// The fake providers' endpoints (`SOCIAL_PROVIDER_ENDPOINTS` form).
    pub endpoints: String,
    /// The port of the shared operator's HTTP server (`/healthz`, `/readyz`, `/metrics`).
    pub health_port: u16,
    _operator: Mutex<Child>,
    fakes: &'static fakes::FakeProviders,
}

/// `--revoke-timeout` of the shared operator.
pub const REVOKE_TIMEOUT_ENV: &str = "20s";

/// The label of SocialConnections that only a test's own operator may handle: the suite's shared
/// operator runs with `--watch-label-selector !<this>`.
pub const OWN_OPERATOR_LABEL: &str = "e2e.social.connections.dev/own-operator";
/// The same, as a duration.
pub const REVOKE_TIMEOUT: Duration = Duration::from_secs(20);

static WORLD: OnceLock<Result<World, String>> = OnceLock::new();
static FAKES: OnceLock<fakes::FakeProviders> = OnceLock::new();

/// Kills child processes when this test process dies (the kernel sends SIGKILL).
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of ours.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

fn start_fakes() -> &'static fakes::FakeProviders {
    FAKES.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        // The fakes live on a runtime of their own, so they outlive every test's runtime.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            rt.block_on(async move {
                let f = fakes::start_all().await.expect("start fake providers");
                tx.send(f).expect("send fakes");
                std::future::pending::<()>().await;
            });
        });
        rx.recv().expect("fake providers started")
    })
}

fn start_control_plane() -> Result<(PathBuf, PathBuf), String> {
    let script = repo().join("scripts/control-plane.sh");
    let build = Command::new("bash")
        .arg(&script)
        .args(["build", "--print-bin-dir"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !build.status.success() {
        return Err(format!("building the control plane failed ({})", build.status));
    }
    let bin_dir = PathBuf::from(String::from_utf8_lossy(&build.stdout).trim().lines().last().unwrap_or("").to_string());
    if let Ok(kc) = std::env::var("SCO_TEST_KUBECONFIG") {
        return Ok((PathBuf::from(kc), bin_dir));
    }
    let dir = std::env::temp_dir().join(format!("sco-e2e-{}", std::process::id()));
    let out = Command::new("bash")
        .arg(&script)
        .args(["start", "--dir"])
        .arg(&dir)
        .args(["--watch-pid", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!("the control plane did not start: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok((dir.join("kubeconfig"), bin_dir))
}

fn operator_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_social-connection-operator"))
}

fn init_world() -> Result<World, String> {
    let (kubeconfig, bin_dir) = start_control_plane()?;
    let fakes = start_fakes();
    // Install the CRDs from crds/ (the API server rejects a non-structural schema).
    let crd = repo().join("crds");
    let out = Command::new(bin_dir.join("kubectl"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["apply", "--server-side", "-f"])
        .arg(&crd)
        .output()
        .map_err(|e| format!("kubectl: {e}"))?;
    if !out.status.success() {
        return Err(format!("installing the CRD failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let out = Command::new(bin_dir.join("kubectl"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/socialconnections.social.connections.dev",
            "crd/socialnotificationpolicies.social.connections.dev",
        ])
        .output()
        .map_err(|e| format!("kubectl: {e}"))?;
    if !out.status.success() {
        return Err(format!("the CRD was not established: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let operator_log = std::env::temp_dir().join(format!("sco-e2e-operator-{}.log", std::process::id()));
    let log = std::fs::File::create(&operator_log).map_err(|e| e.to_string())?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(operator_binary());
    let health_port = free_port();
    cmd.arg("run")
        .args(["--health-addr", &format!("127.0.0.1:{health_port}"), "--log-format", "json"])
        .env("KUBECONFIG", &kubeconfig)
        .env("SOCIAL_PROVIDER_ENDPOINTS", fakes.endpoints_env())
        .env("RUST_LOG", "info,social_connection_operator=debug")
        .env("SOCIAL_DEFAULT_REDIRECT_URL", "https://app.example.com/oauth/callback")
        // The fakes have no rate limits, and the suite checks retry delays to the second: lift
        // the request budgets (youtube's default is one request per 4.3 s after a burst of 100).
        .env("SOCIAL_PROVIDER_RATES", fakes::PROVIDERS.map(|p| format!("{p}=1000/1s")).join(","))
        // The notification tests run an operator of their own for their namespace (they restart
        // it); this one, which watches every namespace, must not send their notices too.
        .env("SOCIAL_DISABLE_NOTIFICATIONS", "true")
        // Connections a test gives to an operator of its own (the chart's) carry OWN_OPERATOR_LABEL:
        // this one leaves them alone (two operators refreshing one rotating token would kill it).
        .env("SOCIAL_WATCH_LABEL_SELECTOR", format!("!{OWN_OPERATOR_LABEL}"))
        // Transient revoke answers are retried this long (default 10 min), so that the revoke
        // tests see the bound end a deletion (tests/e2e/revoke.rs).
        .env("SOCIAL_REVOKE_TIMEOUT", REVOKE_TIMEOUT_ENV)
        .stdout(log)
        .stderr(log2);
    die_with_parent(&mut cmd);
    // PR_SET_PDEATHSIG fires when the spawning *thread* ends, and test threads end with their
    // test: spawn from a thread that lives as long as this process.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(cmd.spawn());
        loop {
            std::thread::park();
        }
    });
    let child = rx.recv().map_err(|e| e.to_string())?.map_err(|e| format!("starting the operator failed: {e}"))?;
    Ok(World { kubeconfig, bin_dir, operator_log, endpoints: fakes.endpoints_env(), health_port, _operator: Mutex::new(child), fakes })
}

/// The shared world; panics with the reason when it could not be set up.
pub fn world() -> &'static World {
    match WORLD.get_or_init(init_world) {
        Ok(w) => w,
        Err(e) => panic!("end-to-end environment unavailable: {e}"),
    }
}

impl World {
    /// A kube client with admin rights.
    pub async fn client(&self) -> Client {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("kubeconfig");
        Client::try_from(cfg).expect("client")
    }

    /// Runs kubectl with the admin kubeconfig; returns (success, stdout, stderr).
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut cmd = Command::new(self.bin_dir.join("kubectl"));
        cmd.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl");
        if let Some(input) = stdin {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("kubectl output");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// The fake providers.
    pub fn fakes(&self) -> &'static fakes::FakeProviders {
        self.fakes
    }

    /// Everything the operator printed so far.
    pub fn operator_output(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.operator_log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

/// A fresh namespace for one test.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let name = format!("{prefix}-{:08x}", rand::random::<u32>());
    let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' }).collect();
    let ns = Namespace { metadata: ObjectMeta { name: Some(name.clone()), ..Default::default() }, ..Default::default() };
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.expect("create namespace");
    name
}

/// Creates a Secret with string data.
pub async fn secret(client: &Client, ns: &str, name: &str, data: &[(&str, &str)]) {
    let s = Secret {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        string_data: Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns).create(&PostParams::default(), &s).await.expect("create secret");
}

/// Creates a SocialConnection from a JSON spec.
pub async fn connection(client: &Client, ns: &str, name: &str, spec: serde_json::Value) {
    let obj: SocialConnection = serde_json::from_value(json!({
        "apiVersion": "social.connections.dev/v1alpha1",
        "kind": "SocialConnection",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("valid SocialConnection");
    Api::<SocialConnection>::namespaced(client.clone(), ns).create(&PostParams::default(), &obj).await.expect("create SocialConnection");
}

/// A condition as (status, reason, message).
pub fn condition(status: &SocialConnectionStatus, ty: &str) -> Option<(String, String, String)> {
    status.conditions.iter().find(|c| c.type_ == ty).map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Waits until `pred` holds for the connection's status (90 s at most), returning it.
pub async fn wait_for(
    client: &Client,
    ns: &str,
    name: &str,
    what: &str,
    pred: impl Fn(&SocialConnectionStatus) -> bool,
) -> SocialConnectionStatus {
    let api = Api::<SocialConnection>::namespaced(client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(obj) = api.get_opt(name).await.expect("get SocialConnection") {
            if let Some(st) = &obj.status
                && pred(st)
            {
                return st.clone();
            }
            last = obj.status;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{ns}/{name}: timed out waiting for {what}; last status: {last:#?}");
}

/// Waits until the connection's condition `ty` has `status` and `reason`.
pub async fn wait_condition(client: &Client, ns: &str, name: &str, ty: &str, status: &str, reason: &str) -> SocialConnectionStatus {
    wait_for(client, ns, name, &format!("{ty}={status} {reason}"), |s| {
        condition(s, ty).is_some_and(|(st, r, _)| st == status && r == reason)
    })
    .await
}

/// Events recorded for objects in `ns`, as (type, reason, note).
pub async fn events(client: &Client, ns: &str) -> Vec<(String, String, String)> {
    let list = Api::<Event>::namespaced(client.clone(), ns).list(&ListParams::default()).await.expect("list events");
    list.items.into_iter().map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default(), e.note.unwrap_or_default())).collect()
}

/// Waits until an event with `reason` exists in `ns`.
pub async fn wait_event(client: &Client, ns: &str, reason: &str) -> (String, String, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(e) = events(client, ns).await.into_iter().find(|e| e.1 == reason) {
            return e;
        }
        if Instant::now() > deadline {
            panic!("no {reason} event in {ns}; events: {:#?}", events(client, ns).await);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until the connection carries `finalizer` in `metadata.finalizers` (60 s at most).
pub async fn wait_finalizer(client: &Client, ns: &str, name: &str, finalizer: &str) {
    let api = Api::<SocialConnection>::namespaced(client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let obj = api.get(name).await.expect("get SocialConnection");
        if obj.metadata.finalizers.as_ref().is_some_and(|f| f.iter().any(|x| x == finalizer)) {
            return;
        }
        assert!(Instant::now() < deadline, "{ns}/{name}: no finalizer {finalizer:?}; metadata: {:#?}", obj.metadata);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Deletes the connection and waits until the API server no longer has it; returns how long that
/// took. Panics after `bound`.
pub async fn delete_and_wait_gone(client: &Client, ns: &str, name: &str, bound: Duration) -> Duration {
    let api = Api::<SocialConnection>::namespaced(client.clone(), ns);
    let start = Instant::now();
    api.delete(name, &Default::default()).await.expect("delete SocialConnection");
    loop {
        match api.get_opt(name).await.expect("get SocialConnection") {
            None => return start.elapsed(),
            Some(obj) => assert!(
                start.elapsed() < bound,
                "{ns}/{name} still exists {bound:?} after its deletion; metadata: {:#?}\nevents: {:#?}",
                obj.metadata,
                events(client, ns).await
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Events recorded about the object `name` in `ns`, as (type, reason, note).
pub async fn events_for(client: &Client, ns: &str, name: &str) -> Vec<(String, String, String)> {
    let list = Api::<Event>::namespaced(client.clone(), ns).list(&ListParams::default()).await.expect("list events");
    list.items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

/// Waits until an Event with `reason` about `name` exists in `ns` (60 s at most).
pub async fn wait_event_for(client: &Client, ns: &str, name: &str, reason: &str) -> (String, String, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(e) = events_for(client, ns, name).await.into_iter().find(|e| e.1 == reason) {
            return e;
        }
        assert!(Instant::now() < deadline, "no {reason} event about {ns}/{name}; events: {:#?}", events(client, ns).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Asserts that none of `tokens` appears in the operator's output, the namespace's Events or
/// the connections' status and conditions (providers.md §2.10).
pub async fn assert_no_leaks(client: &Client, ns: &str, tokens: &[&str]) {
    let w = world();
    let output = w.operator_output();
    let events = format!("{:?}", events(client, ns).await);
    let conns = Api::<SocialConnection>::namespaced(client.clone(), ns).list(&ListParams::default()).await.expect("list");
    let status = serde_json::to_string(&conns.items.iter().map(|c| &c.status).collect::<Vec<_>>()).expect("json");
    for t in tokens {
        // The scenario prefix is not secret; the whole value (with its nonce) is.
        assert!(!output.contains(t), "token leaked into operator output");
        assert!(!events.contains(t), "token leaked into an Event");
        assert!(!status.contains(t), "token leaked into status");
        let nonce = t.rsplit("__").next().unwrap_or(t);
        assert!(!output.contains(nonce) && !events.contains(nonce) && !status.contains(nonce), "token nonce leaked");
    }
}

/// Path of a file under the repository.
pub fn path(rel: &str) -> PathBuf {
    repo().join(rel)
}

/// Whether `p` exists.
pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// The API server's audit log of the shared control plane (`scripts/control-plane.sh` writes it
/// next to the kubeconfig).
pub fn audit_log() -> PathBuf {
    world().kubeconfig.parent().map(|d| d.join("audit.log")).expect("the kubeconfig has a directory")
}

/// Runs kubectl with `kubeconfig`; returns (success, stdout, stderr).
pub fn kubectl_at(kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut cmd = Command::new(world().bin_dir.join("kubectl"));
    cmd.arg("--kubeconfig").arg(kubeconfig).args(args);
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubectl");
    if let Some(input) = stdin {
        use std::io::Write;
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("kubectl output");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A control plane of one test's own (etcd + kube-apiserver from `scripts/control-plane.sh`),
/// for scenarios that must not share the API server (stopping it, running an operator on every
/// namespace) with the rest of the suite. It has the CRDs of crds/ installed; dropping it stops it.
pub struct ControlPlane {
    /// The state directory (`DIR` of `control-plane.sh start --dir DIR`).
    pub dir: PathBuf,
    /// Its admin kubeconfig.
    pub kubeconfig: PathBuf,
}

impl ControlPlane {
    /// Starts one (blocking: call it from `spawn_blocking` or accept the wait) and installs the
    /// CRD; panics with the script's output when it cannot.
    pub fn start(tag: &str) -> ControlPlane {
        let dir = std::env::temp_dir().join(format!("sco-e2e-{tag}-{}-{:08x}", std::process::id(), rand::random::<u32>()));
        let out = Command::new("bash")
            .arg(repo().join("scripts/control-plane.sh"))
            .args(["start", "--dir"])
            .arg(&dir)
            .args(["--watch-pid", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("run control-plane.sh");
        assert!(out.status.success(), "a private control plane did not start: {}", String::from_utf8_lossy(&out.stderr));
        let cp = ControlPlane { kubeconfig: dir.join("kubeconfig"), dir };
        // Every CRD of crds/ (the operator also watches SocialNotificationPolicies).
        let crds = repo().join("crds");
        let (ok, _, err) = cp.kubectl(&["apply", "--server-side", "-f", crds.to_str().expect("utf-8 path")], None);
        assert!(ok, "installing the CRDs failed: {err}");
        let (ok, _, err) = cp.kubectl(&["wait", "--for=condition=Established", "--timeout=60s", "crd", "--all"], None);
        assert!(ok, "the CRDs were not established: {err}");
        cp
    }

    /// kubectl with this control plane's admin kubeconfig.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        kubectl_at(&self.kubeconfig, args, stdin)
    }

    /// An admin client.
    pub async fn client(&self) -> Client {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.expect("kubeconfig");
        Client::try_from(cfg).expect("client")
    }

    /// Its audit log.
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    fn script(&self, cmd: &str) {
        let out = Command::new("bash")
            .arg(repo().join("scripts/control-plane.sh"))
            .args([cmd, "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .output()
            .expect("run control-plane.sh");
        assert!(out.status.success(), "control-plane.sh {cmd} failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stops only kube-apiserver (etcd keeps the data).
    pub fn stop_apiserver(&self) {
        self.script("stop-apiserver");
    }

    /// Starts kube-apiserver again on the same port; returns once /readyz is ok.
    pub fn start_apiserver(&self) {
        self.script("start-apiserver");
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo().join("scripts/control-plane.sh"))
            .args(["stop", "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// An operator process of one test's own, on `kubeconfig`, watching `namespaces` (all when
/// empty), talking to the shared fake providers; its output goes to a file. Spawned from the
/// calling thread with PR_SET_PDEATHSIG, so it never outlives the test; dropping it kills it.
pub struct OperatorProcess {
    /// The process.
    pub child: Child,
    /// Where stdout and stderr go.
    pub log: PathBuf,
    /// The port of its health endpoints (`/healthz`, `/readyz`) on 127.0.0.1.
    pub health_port: u16,
}

/// A free port on 127.0.0.1 (for an operator's health endpoints, so a test can ask them).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The HTTP status of GET http://127.0.0.1:port/path, if anything answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_whitespace().nth(1)?.parse().ok()
}

/// The body of GET http://127.0.0.1:port/path when it answers 200.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    (head.split_whitespace().nth(1)? == "200").then(|| body.to_string())
}

impl OperatorProcess {
    /// Starts the operator binary.
    pub fn spawn(kubeconfig: &Path, namespaces: &[&str], log: &Path) -> OperatorProcess {
        Self::spawn_with(kubeconfig, namespaces, log, &[])
    }

    /// Starts the operator binary with extra arguments of `run`.
    pub fn spawn_with(kubeconfig: &Path, namespaces: &[&str], log: &Path, extra: &[String]) -> OperatorProcess {
        let w = world();
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("operator log");
        let mut cmd = Command::new(operator_binary());
        let health_port = free_port();
        cmd.arg("run").args(["--health-addr", &format!("127.0.0.1:{health_port}"), "--log-format", "json"]);
        for ns in namespaces {
            cmd.args(["--namespace", ns]);
        }
        cmd.args(extra);
        cmd.env("KUBECONFIG", kubeconfig)
            .env("SOCIAL_PROVIDER_ENDPOINTS", &w.endpoints)
            .env("RUST_LOG", "info,social_connection_operator=debug")
            .env_remove("SOCIAL_WATCH_NAMESPACES")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().expect("start the operator");
        OperatorProcess { child, log: log.to_path_buf(), health_port }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything it printed.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// (VmRSS, VmHWM) in KiB from `/proc/<pid>/status`: resident memory now and at its peak.
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read /proc/<pid>/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no {name} in /proc/<pid>/status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// SIGKILL, and wait for it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
