//! `sco-bench`: how the operator's cost grows with the number of connections, measured on the
//! local control plane (real etcd + kube-apiserver) with the fake providers answering, side by
//! side with a baseline client that only server-side-applies one status per object.
//!
//! Run it through `scripts/bench.sh` (README, BENCHMARKS.md). It prints figures and never
//! judges timings; `--quick` (N = 200) also fails on wrong *behaviour* (a connection without
//! status, a connection checked twice at start, an update that never shows), so that the
//! harness cannot rot inside `scripts/test.sh`.

mod cluster;
mod observe;
mod operator;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use social_connection_operator::api::SocialConnection;
use social_connection_operator::redact::SecretString;
use social_connection_operator::secrets::fingerprint;

use cluster::ControlPlane;
use observe::{ProviderTape, StatusBoard};
use operator::{Operator, OperatorSpec};

/// Why the benchmark could not run (or, with `--quick`, found wrong behaviour).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Setting up the control plane, the fakes or the operator failed.
    #[error("setup: {0}")]
    Setup(String),
    /// A Kubernetes API call failed.
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    /// A file or process operation failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// `--quick`: the operator did not behave (never about speed).
    #[error("wrong behaviour: {0}")]
    Behaviour(String),
}

/// Command line.
#[derive(Parser, Debug)]
#[command(name = "sco-bench", about = "Scale benchmark of social-connection-operator on the local control plane")]
struct Args {
    /// Number of connections (each with its token Secret).
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// N = 200, short windows, 200 unrelated Secrets, and correctness checks (never timings).
    #[arg(long)]
    quick: bool,
    /// Namespaces the connections are spread over (all watched with --namespace).
    #[arg(long, default_value_t = 4)]
    namespaces: usize,
    /// The operator's --concurrency, and the baseline's number of workers.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// checkInterval of every connection, in seconds (default: 30 with --quick, else
    /// max(60, N × 30 ms) so that the first statuses fit well inside half an interval).
    #[arg(long)]
    interval: Option<u64>,
    /// Unrelated Secrets added to the watched namespaces for the memory figure (default 10000,
    /// 200 with --quick).
    #[arg(long)]
    unrelated: Option<usize>,
    /// Size of each unrelated Secret in KiB.
    #[arg(long, default_value_t = 100)]
    unrelated_kib: usize,
    /// Token updates timed for the Secret-update-to-status latency (default 200, 50 with
    /// --quick).
    #[arg(long)]
    latency_samples: Option<usize>,
    /// The operator binary (scripts/bench.sh passes the release build).
    #[arg(long)]
    operator: PathBuf,
    /// The operator's facebook request budget (`--provider-rate facebook=…`). The fakes have no
    /// limit; the default budget (50/s) would make the first statuses of N connections take at
    /// least N/50 s by design, so the benchmark lifts it to measure the operator and the API
    /// server. Pass `facebook=50/1s` to see the default.
    #[arg(long, default_value = "facebook=2000/1s")]
    provider_rate: String,
    /// Extra operator arguments (repeatable), e.g. --operator-arg=--concurrency=16.
    #[arg(long = "operator-arg", allow_hyphen_values = true)]
    operator_args: Vec<String>,
    /// Keep the control plane's and the operator's logs (their directory is printed).
    #[arg(long)]
    keep_logs: bool,
    /// Probe: the baseline, then the operator's first statuses against it, then its resident
    /// memory every 5 s for this many seconds, and stop (for comparing builds and settings
    /// quickly; the full run is what BENCHMARKS.md reports).
    #[arg(long, value_name = "SECONDS")]
    memory_probe: Option<u64>,
    /// Environment for the operator (repeatable), e.g. --operator-env MALLOC_ARENA_MAX=2.
    #[arg(long = "operator-env", value_name = "KEY=VALUE")]
    operator_env: Vec<String>,
}

/// The settings of one run, after defaults.
struct Plan {
    n: usize,
    namespaces: Vec<String>,
    concurrency: usize,
    interval: Duration,
    unrelated: usize,
    unrelated_kib: usize,
    latency_samples: usize,
    quick: bool,
}

impl Plan {
    fn from(args: &Args) -> Plan {
        let n = if args.quick { 200 } else { args.n.max(1) };
        let interval = args.interval.unwrap_or(if args.quick { 30 } else { ((n as u64).saturating_mul(30) / 1000).max(60) });
        Plan {
            n,
            namespaces: (0..args.namespaces.max(1)).map(|i| format!("bench-{i}")).collect(),
            concurrency: args.concurrency.max(1),
            interval: Duration::from_secs(interval.max(30)),
            unrelated: args.unrelated.unwrap_or(if args.quick { 200 } else { 10_000 }),
            unrelated_kib: args.unrelated_kib,
            latency_samples: args.latency_samples.unwrap_or(if args.quick { 50 } else { 200 }).min(n),
            quick: args.quick,
        }
    }

    /// Namespace and name of connection `i`.
    fn key(&self, i: usize) -> (String, String) {
        (self.namespaces[i % self.namespaces.len()].clone(), format!("c-{i:05}"))
    }
}

fn progress(msg: impl AsRef<str>) {
    eprintln!("sco-bench: {}", msg.as_ref());
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

async fn create_namespace(client: &Client, name: &str) -> Result<(), BenchError> {
    let ns = Namespace { metadata: ObjectMeta { name: Some(name.into()), ..Default::default() }, ..Default::default() };
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await?;
    Ok(())
}

fn connection(name: &str, label: &str, interval: Duration) -> Result<SocialConnection, BenchError> {
    serde_json::from_value(json!({
        "apiVersion": "social.connections.dev/v1alpha1",
        "kind": "SocialConnection",
        "metadata": {"name": name, "labels": {"sco-bench": label}},
        "spec": {
            "provider": "facebook",
            "account": {"id": fake_providers::FACEBOOK_PAGE_ID},
            "secretRef": {"name": format!("{name}-token")},
            "checkInterval": format!("{}s", interval.as_secs()),
        },
    }))
    .map_err(|e| BenchError::Setup(e.to_string()))
}

fn token_secret(name: &str, token: &str) -> Secret {
    Secret {
        metadata: ObjectMeta { name: Some(format!("{name}-token")), ..Default::default() },
        string_data: Some(BTreeMap::from([("access_token".to_string(), token.to_string())])),
        ..Default::default()
    }
}

/// Runs `f` over `items` with `width` in flight.
async fn fan_out<T, F, Fut>(items: Vec<T>, width: usize, f: F) -> Result<(), BenchError>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<(), BenchError>>,
{
    futures::stream::iter(items.into_iter().map(f)).buffer_unordered(width.max(1)).try_collect::<Vec<()>>().await?;
    Ok(())
}

/// A status like the one the operator writes for a valid facebook connection (the same eight
/// conditions with the operator's wording, the same fields), for the baseline.
fn baseline_status(now: &str) -> serde_json::Value {
    let cond = |ty: &str, status: &str, reason: &str, msg: &str| json!({"type": ty, "status": status, "reason": reason, "message": msg, "lastTransitionTime": now, "observedGeneration": 1});
    json!({
        "apiVersion": "social.connections.dev/v1alpha1",
        "kind": "SocialConnection",
        "status": {
            "observedGeneration": 1,
            "conditions": [
                cond("Ready", "True", "AllChecksPassed", "the connection works"),
                cond("Valid", "True", "TokenValid", "the provider accepted the token"),
                cond("Revoked", "False", "NotRevoked", "the token is not revoked"),
                cond("RoleLost", "False", "NoRoleRequired", "spec.requiredRole is not set"),
                cond("ScopesMissing", "False", "NoScopesRequired", "spec.requiredScopes is empty"),
                cond("ExpiringSoon", "False", "ExpiryUnknown", "the provider and the Secret do not say when the token expires"),
                cond("Stalled", "False", "NoActionNeeded", "no person needs to act"),
                cond("Reconciling", "False", "CheckCompleted", "the last check passed"),
            ],
            "lastCheckTime": now,
            "nextCheckTime": now,
            "lastSuccessfulCheckTime": now,
            "accountName": "Example Page",
            "tokenFingerprint": "0123456789abcdef",
            "tokenFirstSeenTime": now,
            "consecutiveFailures": 0,
        }
    })
}

/// Resident memory sampled every second while `fut` runs and `settle` after it, as (max,
/// last) KiB.
async fn sample_memory<F: std::future::Future<Output = Result<(), BenchError>>>(
    op: &Operator,
    settle: Duration,
    fut: F,
) -> Result<(u64, u64), BenchError> {
    let mut max = 0u64;
    let mut last = 0u64;
    let mut fut = std::pin::pin!(fut);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            r = &mut fut => { r?; break; }
            _ = tick.tick() => if let Some((rss, _)) = op.memory_kib() { max = max.max(rss); last = rss; },
        }
    }
    let end = Instant::now() + settle;
    while Instant::now() < end {
        tick.tick().await;
        if let Some((rss, _)) = op.memory_kib() {
            max = max.max(rss);
            last = rss;
        }
    }
    Ok((max, last))
}

/// Calls per connection: how many connections got 0, 1, 2, … calls.
fn per_connection(calls: &[observe::Call], owners: &HashMap<String, String>, n: usize) -> BTreeMap<usize, usize> {
    let mut per: HashMap<&str, usize> = HashMap::new();
    for c in calls {
        if let Some(owner) = c.token.as_ref().and_then(|t| owners.get(t)) {
            *per.entry(owner.as_str()).or_default() += 1;
        }
    }
    let mut dist = BTreeMap::new();
    for count in per.values() {
        *dist.entry(*count).or_default() += 1;
    }
    let zero = n.saturating_sub(per.len());
    if zero > 0 {
        dist.insert(0, zero);
    }
    dist
}

fn dist_text(d: &BTreeMap<usize, usize>) -> String {
    d.iter().map(|(calls, conns)| format!("{conns} × {calls}")).collect::<Vec<_>>().join(", ")
}

fn per_n(x: u64, n: usize) -> String {
    format!("{x} ({:.3} per connection)", x as f64 / n as f64)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    social_connection_operator::providers::http::install_crypto_provider();
    let args = Args::parse();
    match run(&args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sco-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<(), BenchError> {
    let plan = Plan::from(args);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("sco-bench-{}", std::process::id()));
    progress(format!("starting the control plane in {}", dir.display()));
    let cp = ControlPlane::start(&repo, dir.join("cp")).await?;
    let result = measure(&plan, args, &cp, &dir).await;
    cp.stop(args.keep_logs).await;
    if args.keep_logs {
        progress(format!("logs kept in {} and {}", dir.display(), cp.dir.display()));
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn operator_spec(plan: &Plan, args: &Args, cp: &ControlPlane, fakes: &fake_providers::FakeProviders) -> OperatorSpec {
    OperatorSpec {
        binary: args.operator.clone(),
        kubeconfig: cp.kubeconfig.clone(),
        endpoints: fakes.endpoints_env(),
        namespaces: plan.namespaces.clone(),
        concurrency: plan.concurrency,
        extra_args: ["--provider-rate".to_string(), args.provider_rate.clone()]
            .into_iter()
            .chain(args.operator_args.iter().cloned())
            .collect(),
        env: args.operator_env.iter().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect(),
    }
}

/// Waits (up to an hour) until the board has seen a first status for `n` connections; fails at
/// once if the operator exits meanwhile (a bad --operator-arg, say).
async fn first_statuses(board: &StatusBoard, op: &mut Operator, n: usize) -> Result<bool, BenchError> {
    let deadline = Instant::now() + Duration::from_secs(3600);
    while Instant::now() < deadline {
        if board.wait(Duration::from_secs(1), |s| s.values().filter(|v| v.first_status.is_some()).count() >= n).await {
            return Ok(true);
        }
        if !op.running() {
            return Err(BenchError::Behaviour("the operator exited before every connection had a status (see its log)".into()));
        }
    }
    Ok(false)
}

/// `--memory-probe`: first statuses (against the baseline), then resident memory every 5 s
/// for `span`.
#[allow(clippy::too_many_arguments)]
async fn memory_probe(
    plan: &Plan,
    args: &Args,
    cp: &ControlPlane,
    dir: &std::path::Path,
    client: &Client,
    fakes: &Arc<fake_providers::FakeProviders>,
    baseline: Duration,
    span: Duration,
) -> Result<(), BenchError> {
    let board = StatusBoard::watch(client.clone());
    let spec = operator_spec(plan, args, cp, fakes);
    std::fs::create_dir_all(dir)?;
    let log = dir.join("operator.log");
    let t0 = Instant::now();
    let mut op = Operator::spawn(&spec, &log)?;
    let n = plan.n;
    let all = first_statuses(&board, &mut op, n).await?;
    let last_first = board.snapshot().values().filter_map(|s| s.first_status).max().unwrap_or_else(Instant::now);
    let conv = last_first.saturating_duration_since(t0);
    let (rss, hwm) = op.memory_kib().unwrap_or_default();
    println!(
        "probe: first statuses {} after {} ({:.2} × baseline; operator CPU {:.1} s); RSS {} (peak {})",
        if all { "all" } else { "NOT all" },
        secs(conv),
        conv.as_secs_f64() / baseline.as_secs_f64(),
        op.cpu_seconds().unwrap_or(0.0),
        mib(rss),
        mib(hwm)
    );
    let end = Instant::now() + span;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (rss, hwm) = op.memory_kib().unwrap_or_default();
        println!("probe: t+{} RSS {} (peak {})", secs(t0.elapsed()), mib(rss), mib(hwm));
    }
    if !op.running() {
        return Err(BenchError::Behaviour("the operator exited".into()));
    }
    // A restart lists every connection with its status at once.
    op.stop().await;
    let t1 = Instant::now();
    let mut op = Operator::spawn(&spec, &log)?;
    while t1.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (rss, hwm) = op.memory_kib().unwrap_or_default();
        println!("probe: restarted t+{} RSS {} (peak {})", secs(t1.elapsed()), mib(rss), mib(hwm));
    }
    if !op.running() {
        return Err(BenchError::Behaviour("the operator exited after its restart".into()));
    }
    op.stop().await;
    Ok(())
}

async fn measure(plan: &Plan, args: &Args, cp: &ControlPlane, dir: &std::path::Path) -> Result<(), BenchError> {
    let client = cp.client().await?;
    let fakes = Arc::new(fake_providers::start_all().await?);
    let n = plan.n;
    let c = plan.concurrency;
    let mut report: Vec<(String, String)> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    let line = |report: &mut Vec<(String, String)>, k: &str, v: String| {
        println!("{k}: {v}");
        report.push((k.to_string(), v));
    };
    println!(
        "# sco-bench: N = {n}, {} namespaces, concurrency {c}, checkInterval {}s, {} unrelated Secrets of {} KiB, budget {}, {} cores",
        plan.namespaces.len(),
        plan.interval.as_secs(),
        plan.unrelated,
        plan.unrelated_kib,
        args.provider_rate,
        std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1)
    );

    // --- Objects -----------------------------------------------------------------------------
    for ns in plan.namespaces.iter().chain([&"bench-baseline".to_string()]) {
        create_namespace(&client, ns).await?;
    }
    progress(format!("creating {n} token Secrets and {n} SocialConnections"));
    let t = Instant::now();
    let mut owners: HashMap<String, String> = HashMap::new();
    let mut work = Vec::new();
    for i in 0..n {
        let (ns, name) = plan.key(i);
        let token = fake_providers::token("valid");
        owners.insert(token.clone(), format!("{ns}/{name}"));
        work.push((ns, name, token));
    }
    let interval = plan.interval;
    fan_out(work, 32, |(ns, name, token)| {
        let client = client.clone();
        async move {
            Api::<Secret>::namespaced(client.clone(), &ns).create(&PostParams::default(), &token_secret(&name, &token)).await?;
            let obj = connection(&name, "connection", interval)?;
            Api::<SocialConnection>::namespaced(client, &ns).create(&PostParams::default(), &obj).await?;
            Ok(())
        }
    })
    .await?;
    progress(format!("created in {}", secs(t.elapsed())));

    // --- Baseline ----------------------------------------------------------------------------
    progress(format!("baseline: {n} connections in bench-baseline, one status apply each, {c} workers"));
    fan_out((0..n).collect(), 32, |i| {
        let client = client.clone();
        async move {
            let obj = connection(&format!("c-{i:05}"), "baseline", interval)?;
            Api::<SocialConnection>::namespaced(client, "bench-baseline").create(&PostParams::default(), &obj).await?;
            Ok(())
        }
    })
    .await?;
    // Timed like the operator below: until a watch of the objects has seen every status (the
    // same observer, the same cost to the API server).
    let baseline_board = StatusBoard::watch_labelled(client.clone(), observe::BASELINE_LABEL);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let status = baseline_status(&now);
    let t = Instant::now();
    fan_out((0..n).collect(), c, |i| {
        let client = client.clone();
        let status = status.clone();
        async move {
            Api::<SocialConnection>::namespaced(client, "bench-baseline")
                .patch_status(&format!("c-{i:05}"), &PatchParams::apply("sco-bench-baseline").force(), &Patch::Apply(&status))
                .await?;
            Ok(())
        }
    })
    .await?;
    let applied = t.elapsed();
    if !baseline_board.wait(Duration::from_secs(600), |s| s.values().filter(|v| v.first_status.is_some()).count() >= n).await {
        return Err(BenchError::Behaviour("the baseline's watch did not see every status".into()));
    }
    let baseline = baseline_board.last_first_status().map_or(applied, |l| l.saturating_duration_since(t));
    baseline_board.stop();
    Api::<SocialConnection>::namespaced(client.clone(), "bench-baseline")
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await?;
    line(
        &mut report,
        "baseline: every status applied",
        format!("{} ({:.0} objects/s; the last apply answered after {})", secs(baseline), n as f64 / baseline.as_secs_f64(), secs(applied)),
    );
    if let Some(probe) = args.memory_probe {
        return memory_probe(plan, args, cp, dir, &client, &fakes, baseline, Duration::from_secs(probe)).await;
    }

    // --- Operator: first statuses ------------------------------------------------------------
    let board = StatusBoard::watch(client.clone());
    let tape = ProviderTape::record(fakes.clone());
    let spec = operator_spec(plan, args, cp, &fakes);
    std::fs::create_dir_all(dir)?;
    let log = dir.join("operator.log");
    progress(format!("starting the operator ({}), log {}", args.operator.display(), log.display()));
    let c_start = cluster::counters(&client).await?;
    let t0 = Instant::now();
    let mut op = Operator::spawn(&spec, &log)?;
    let all_done = first_statuses(&board, &mut op, n).await?;
    let t_settled = Instant::now();
    let seen = board.snapshot();
    let firsts: Vec<Instant> = seen.values().filter_map(|s| s.first_status).collect();
    let last_first = firsts.iter().max().copied().unwrap_or(t_settled);
    let conv = last_first.saturating_duration_since(t0);
    if !all_done {
        problems.push(format!("only {} of {n} connections got a status", firsts.len()));
    }
    let not_ready = seen.values().filter(|s| s.ready.as_deref() != Some("True")).count();
    if not_ready > 0 {
        problems.push(format!("{not_ready} connections are not Ready"));
    }
    line(
        &mut report,
        "operator: every connection has its first status",
        format!(
            "{} after start ({:.2} × baseline; first one after {}); operator CPU {:.1} s",
            secs(conv),
            conv.as_secs_f64() / baseline.as_secs_f64(),
            secs(firsts.iter().min().map(|f| f.saturating_duration_since(t0)).unwrap_or_default()),
            op.cpu_seconds().unwrap_or(0.0)
        ),
    );
    let c_first = cluster::counters(&client).await?.since(&c_start);
    tokio::time::sleep(observe::POLL * 3).await;
    let first_calls = tape.between(t0, Instant::now());
    let first_dist = per_connection(&first_calls, &owners, n);
    line(
        &mut report,
        "first checks: provider calls per connection",
        format!("{} (calls × connections: {})", per_n(first_calls.len() as u64, n), dist_text(&first_dist)),
    );
    line(
        &mut report,
        "first checks: API requests",
        format!(
            "status writes {}, Secret GETs {}, Secret LISTs {}, Events {}",
            per_n(c_first.status_writes, n),
            per_n(c_first.secret_gets, n),
            c_first.secret_lists,
            c_first.event_writes
        ),
    );
    if first_dist.keys().any(|k| *k != 1) {
        problems.push(format!("first checks were not exactly one provider call per connection: {}", dist_text(&first_dist)));
    }
    if conv > interval / 2 {
        progress(format!(
            "warning: the first statuses took {} of a {}s interval: the interval window below overlaps them",
            secs(conv),
            interval.as_secs()
        ));
    }

    // --- One further interval with nothing changed -------------------------------------------
    let ts = Instant::now();
    let c0 = cluster::counters(&client).await?;
    // Nothing is due before half an interval after the first check (a check is never followed
    // by the next one sooner).
    let quiet_end = t0 + interval / 2;
    if quiet_end > ts + Duration::from_secs(5) {
        progress(format!("quiet window: {} with nothing due", secs(quiet_end - ts)));
        tokio::time::sleep_until(quiet_end.into()).await;
        let cq = cluster::counters(&client).await?.since(&c0);
        let calls = tape.between(ts, quiet_end);
        line(
            &mut report,
            &format!("nothing due ({}): per connection", secs(quiet_end - ts)),
            format!(
                "status writes {}, Secret GETs {}, provider calls {}",
                per_n(cq.status_writes, n),
                per_n(cq.secret_gets, n),
                per_n(calls.len() as u64, n)
            ),
        );
        if plan.quick && (cq.status_writes > 0 || !calls.is_empty()) {
            problems.push(format!("{} status writes and {} provider calls while nothing was due", cq.status_writes, calls.len()));
        }
    }
    progress(format!("one check interval ({}s) with nothing changed", interval.as_secs()));
    let ti = ts + interval;
    tokio::time::sleep_until(ti.into()).await;
    let ci = cluster::counters(&client).await?.since(&c0);
    let calls = tape.between(ts, ti);
    line(
        &mut report,
        &format!("one interval ({}s), nothing changed", interval.as_secs()),
        format!(
            "provider calls {} [{}]; status writes {}; Secret GETs {}; Secret LISTs {}; Events {}",
            per_n(calls.len() as u64, n),
            dist_text(&per_connection(&calls, &owners, n)),
            per_n(ci.status_writes, n),
            per_n(ci.secret_gets, n),
            ci.secret_lists,
            ci.event_writes
        ),
    );

    // --- Memory ------------------------------------------------------------------------------
    let (rss_n, hwm_n) = op.memory_kib().unwrap_or_default();
    line(&mut report, "operator memory at N", format!("RSS {} (peak so far {})", mib(rss_n), mib(hwm_n)));
    progress(format!("adding {} unrelated Secrets of {} KiB", plan.unrelated, plan.unrelated_kib));
    let blob: Vec<u8> = (0..plan.unrelated_kib.saturating_mul(1024)).map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
    let blob = k8s_openapi::ByteString(blob);
    let namespaces = plan.namespaces.clone();
    let t = Instant::now();
    let (rss_max, rss_after) = sample_memory(
        &op,
        Duration::from_secs(15),
        fan_out((0..plan.unrelated).collect(), 16, |j| {
            let client = client.clone();
            let blob = blob.clone();
            let ns = namespaces[j % namespaces.len()].clone();
            async move {
                let s = Secret {
                    metadata: ObjectMeta { name: Some(format!("unrelated-{j:05}")), ..Default::default() },
                    data: Some(BTreeMap::from([("blob".to_string(), blob)])),
                    ..Default::default()
                };
                Api::<Secret>::namespaced(client, &ns).create(&PostParams::default(), &s).await?;
                Ok(())
            }
        }),
    )
    .await?;
    line(
        &mut report,
        &format!("operator memory after {} unrelated Secrets", plan.unrelated),
        format!(
            "RSS {} ({:+.1} %; max while adding {}); added in {}",
            mib(rss_after),
            (rss_after as f64 / rss_n.max(1) as f64 - 1.0) * 100.0,
            mib(rss_max),
            secs(t.elapsed())
        ),
    );

    // --- Secret update to status -------------------------------------------------------------
    progress(format!("timing {} token updates", plan.latency_samples));
    let step = (n / plan.latency_samples.max(1)).max(1);
    let mut lat = Vec::new();
    let mut missed = 0usize;
    for i in (0..n).step_by(step).take(plan.latency_samples) {
        let (ns, name) = plan.key(i);
        let key = format!("{ns}/{name}");
        let token = fake_providers::token("valid");
        owners.insert(token.clone(), key.clone());
        let fp = fingerprint(&SecretString::new(token.clone()));
        Api::<Secret>::namespaced(client.clone(), &ns)
            .patch(&format!("{name}-token"), &PatchParams::default(), &Patch::Merge(json!({"stringData": {"access_token": token}})))
            .await?;
        let acked = Instant::now();
        let ok =
            board.wait(Duration::from_secs(30), |s| s.get(&key).and_then(|v| v.fingerprint.as_ref()).is_some_and(|(f, _)| *f == fp)).await;
        match board.snapshot().get(&key).and_then(|v| v.fingerprint.clone()) {
            Some((f, at)) if ok && f == fp => lat.push(at.saturating_duration_since(acked)),
            _ => missed += 1,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lat.sort();
    line(
        &mut report,
        "Secret update → new status",
        format!(
            "p50 {} ms, p99 {} ms, max {} ms over {} updates{}",
            percentile(&lat, 0.5).as_millis(),
            percentile(&lat, 0.99).as_millis(),
            lat.last().copied().unwrap_or_default().as_millis(),
            lat.len(),
            if missed > 0 { format!(" ({missed} not seen within 30 s)") } else { String::new() }
        ),
    );
    if missed > 0 {
        problems.push(format!("{missed} token updates never reached status"));
    }

    // --- Restart -----------------------------------------------------------------------------
    progress(format!("restarting the operator; watching one interval ({}s)", interval.as_secs()));
    op.stop().await;
    let cr0 = cluster::counters(&client).await?;
    let tr = Instant::now();
    let mut op = Operator::spawn(&spec, &log)?;
    let tr_end = tr + interval;
    tokio::time::sleep_until(tr_end.into()).await;
    let cr = cluster::counters(&client).await?.since(&cr0);
    let calls = tape.between(tr, tr_end);
    let buckets = 10u32;
    let width = interval / buckets;
    let mut hist = vec![0usize; buckets as usize];
    let mut per_sec: HashMap<u64, usize> = HashMap::new();
    for call in &calls {
        let off = call.at.saturating_duration_since(tr);
        let b = (off.as_nanos() / width.as_nanos().max(1)).min(u128::from(buckets - 1)) as usize;
        hist[b] += 1;
        *per_sec.entry(off.as_secs()).or_default() += 1;
    }
    let first10: usize = calls.iter().filter(|c| c.at.saturating_duration_since(tr) < Duration::from_secs(10)).count();
    line(
        &mut report,
        &format!("after restart, one interval ({}s): provider calls", interval.as_secs()),
        format!(
            "{} [{}]; per tenth of the interval: {:?}; busiest second {}; first 10 s {}",
            per_n(calls.len() as u64, n),
            dist_text(&per_connection(&calls, &owners, n)),
            hist,
            per_sec.values().max().copied().unwrap_or(0),
            first10
        ),
    );
    line(
        &mut report,
        "after restart, one interval: API requests",
        format!(
            "status writes {}, Secret GETs {}, Secret LISTs {}, Events {}",
            per_n(cr.status_writes, n),
            per_n(cr.secret_gets, n),
            cr.secret_lists,
            cr.event_writes
        ),
    );
    let (rss_r, hwm_r) = op.memory_kib().unwrap_or_default();
    line(&mut report, "operator memory after restart", format!("RSS {} (peak {})", mib(rss_r), mib(hwm_r)));
    let violations = tape.all().iter().filter(|c| c.violation).count();
    if violations > 0 {
        problems.push(format!("{violations} provider calls broke the contract"));
    }
    if !op.running() {
        problems.push("the operator exited".into());
    }
    op.stop().await;

    // Sanity: the namespaces held what we think.
    let listed = Api::<SocialConnection>::all(client.clone()).list(&ListParams::default().labels(observe::CONNECTION_LABEL)).await?;
    let named: std::collections::HashSet<String> =
        listed.items.iter().map(|o| format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any())).collect();
    if named.len() != n {
        problems.push(format!("{} benchmark connections exist, expected {n}", named.len()));
    }

    println!("\n| figure | value |\n|---|---|");
    for (k, v) in &report {
        println!("| {k} | {v} |");
    }
    if problems.is_empty() {
        Ok(())
    } else if plan.quick {
        Err(BenchError::Behaviour(problems.join("; ")))
    } else {
        for p in &problems {
            progress(format!("note: {p}"));
        }
        Ok(())
    }
}
