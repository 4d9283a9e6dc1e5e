//! The fault suite (issue 7): hostile provider answers, the API server going away while checks
//! are due, and the operator killed in a busy moment.
//!
//! Each test runs an operator process of its own (watching one namespace) on a control plane
//! that the harness's shared operator does not watch, so that its memory, its provider calls
//! and its Events are its alone: hostile answers and SIGKILL share one private control plane,
//! the API server stop gets one more (it stops that API server). The fake providers are the
//! suite's shared ones; hostile scenarios are chosen by token value (tests/fake-providers).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use jiff::Timestamp;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use social_connection_operator::api::{CHECK_REQUESTED_ANNOTATION, SocialConnection, SocialConnectionStatus};

use crate::support::*;

/// The resident-memory bound of the issue.
const RSS_LIMIT_KIB: u64 = 128 * 1024;

/// The private control plane shared by the hostile-answer and SIGKILL tests (started once; the
/// watchdog of `control-plane.sh` stops it when the test binary exits).
fn faults_control_plane() -> &'static ControlPlane {
    static CP: OnceLock<ControlPlane> = OnceLock::new();
    CP.get_or_init(|| ControlPlane::start("faults"))
}

/// The fault suite's private control plane (also the leader-election test's: the harness's
/// operator does not run there).
pub async fn shared_control_plane() -> &'static ControlPlane {
    tokio::task::spawn_blocking(faults_control_plane).await.expect("join")
}

/// Whether the request carried exactly `token` (nonces of other tokens may share a prefix).
fn carries(r: &fakes::RecordedRequest, token: &str) -> bool {
    r.query_params.iter().chain(&r.form).any(|(_, v)| v == token)
        || r.headers.iter().any(|(_, v)| v.strip_prefix("Bearer ") == Some(token))
        || r.path.split('/').any(|seg| seg.strip_prefix("bot") == Some(token))
}

/// Requests `provider`'s fake received with `token`, oldest first.
fn requests_with(provider: &str, token: &str) -> Vec<fakes::RecordedRequest> {
    world().fakes().requests(provider).into_iter().filter(|r| carries(r, token)).collect()
}

fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).expect("timestamp")
}

async fn request_check(client: &Client, ns: &str, name: &str, value: &str) {
    let patch = json!({"metadata": {"annotations": {CHECK_REQUESTED_ANNOTATION: value}}});
    Api::<SocialConnection>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate SocialConnection");
}

/// Samples the operator's VmRSS every 100 ms until dropped; the highest value seen.
struct RssSampler {
    peak_kib: std::sync::Arc<AtomicU64>,
    stop: std::sync::Arc<AtomicBool>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let peak_kib = std::sync::Arc::new(AtomicU64::new(0));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (p, s) = (peak_kib.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { return };
                let rss = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|r| r.split_whitespace().next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
                p.fetch_max(rss, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        RssSampler { peak_kib, stop }
    }

    fn peak_kib(&self) -> u64 {
        self.peak_kib.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs `fut`, failing at once (with the operator's log) if the operator dies meanwhile.
async fn while_alive<T>(op: &mut OperatorProcess, fut: impl std::future::Future<Output = T>) -> T {
    tokio::pin!(fut);
    loop {
        tokio::select! {
            out = &mut fut => return out,
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                if !op.alive() {
                    let out = op.output();
                    let tail: Vec<&str> = out.lines().rev().take(40).collect();
                    panic!("the operator died: {:?}\n{}", op.child.try_wait(), tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
                }
            }
        }
    }
}

/// A hostile connection of the hostile-answer test.
struct Hostile {
    name: String,
    provider: &'static str,
    token: String,
    /// The scenario answers the first check (false: `valid-then-…`, Ready first).
    first: bool,
    /// The answer carries an out-of-range retry delay, which must be clamped to 24 h.
    huge_delay: bool,
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_provider_answers_neither_crash_nor_bloat_the_operator_and_never_revoke_a_connection() {
    let cp = shared_control_plane().await;
    let client = cp.client().await;
    let ns = namespace(&client, "faults-hostile").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut op = OperatorProcess::spawn(&cp.kubeconfig, &[&ns], &dir.path().join("operator.log"));
    let sampler = RssSampler::start(op.pid());

    let mut cases = Vec::new();
    for scenario in fakes::HOSTILE_SCENARIOS {
        let huge_delay = scenario == "retry-after-max";
        for first in [true, false] {
            let token = if first { fakes::token(scenario) } else { fakes::token(&format!("valid-then-{scenario}")) };
            let name = format!("{}-{scenario}", if first { "first" } else { "then" });
            cases.push(Hostile { name, provider: "facebook", token, first, huge_delay });
        }
    }
    for (provider, scenario, token) in [
        ("facebook", "buc-1e300", fakes::token("buc-1e300")),
        ("x", "x-reset-max", fakes::token("x-reset-max")),
        ("telegram", "tg-retry-max", fakes::telegram_token("tg-retry-max")),
    ] {
        cases.push(Hostile { name: format!("first-{scenario}"), provider, token, first: true, huge_delay: true });
    }
    for c in &cases {
        let account = match c.provider {
            "facebook" => fakes::FACEBOOK_PAGE_ID,
            "x" => fakes::X_USER_ID,
            _ => fakes::TELEGRAM_CHAT_ID,
        };
        secret(&client, &ns, &c.name, &[("access_token", &c.token)]).await;
        connection(&client, &ns, &c.name, json!({"provider": c.provider, "account": {"id": account}, "secretRef": {"name": c.name}})).await;
    }

    // `valid-then-…`: Ready on the first cycle, then a check on request meets the hostile answer.
    for c in cases.iter().filter(|c| !c.first) {
        while_alive(&mut op, wait_condition(&client, &ns, &c.name, "Ready", "True", "AllChecksPassed")).await;
        request_check(&client, &ns, &c.name, "2026-12-02T00:00:00Z").await;
    }

    // Every connection's first transient answer, caught as it is written (polled together, so
    // that later retries do not hide it).
    let started = Instant::now();
    let firsts = futures::future::join_all(cases.iter().map(|c| {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            wait_for(&client, &ns, &c.name, "the hostile answer to be recorded as transient", |s| s.consecutive_failures.unwrap_or(0) >= 1)
                .await
        }
    }));
    let firsts = while_alive(&mut op, firsts).await;
    let mut outcomes = Vec::new();
    for (c, st) in cases.iter().zip(firsts) {
        let (valid, valid_reason, valid_message) = condition(&st, "Valid").expect("Valid");
        let revoked = condition(&st, "Revoked").expect("Revoked");
        let failures = st.consecutive_failures.unwrap_or(0);
        assert_ne!(revoked.0, "True", "{}: a hostile answer revoked the connection: {st:#?}", c.name);
        assert!(!["Expired", "Revoked"].contains(&valid_reason.as_str()), "{}: Valid {valid} {valid_reason}", c.name);
        if c.first || failures >= 3 {
            // Valid was Pending (or three transient answers came in a row): Unknown with the
            // transient reason (§2.5).
            assert_eq!(valid, "Unknown", "{}: {st:#?}", c.name);
            assert!(["ProviderUnavailable", "RateLimited"].contains(&valid_reason.as_str()), "{}: {valid_reason}", c.name);
        } else {
            assert_eq!((valid.as_str(), valid_reason.as_str()), ("True", "TokenValid"), "{}: one transient answer keeps Valid", c.name);
            assert_eq!(condition(&st, "Ready").expect("Ready").0, "True", "{}", c.name);
        }
        let (last, next) = (st.last_check_time.as_ref().expect("lastCheckTime").0, st.next_check_time.as_ref().expect("nextCheckTime").0);
        let delay = next.duration_since(last).as_secs();
        if c.huge_delay {
            // Clamped to 24 h (with the 0–10 % jitter clamped too), never an error.
            assert!((86_400 - 120..=86_400 + 120).contains(&delay), "{}: the out-of-range delay became {delay} s, not 24 h", c.name);
        } else {
            assert!((1..=3_600).contains(&delay), "{}: a transient body fault retries with backoff, not after {delay} s", c.name);
        }
        assert!(!requests_with(c.provider, &c.token).is_empty(), "{}: the fake never answered", c.name);
        outcomes.push(format!("{:<22} Valid={valid} {valid_reason}: {valid_message:?}; next check in {delay} s", c.name));
    }
    let waited = started.elapsed();

    assert!(op.alive(), "the operator died on a hostile answer:\n{}", op.output());
    let (rss, hwm) = op.memory_kib();
    let peak = sampler.peak_kib().max(rss);
    eprintln!(
        "faults: hostile answers handled in {waited:?}; operator VmRSS {rss} KiB, VmHWM {hwm} KiB, sampled peak {peak} KiB\n  {}",
        outcomes.join("\n  ")
    );
    assert!(hwm < RSS_LIMIT_KIB, "the operator's resident memory peaked at {hwm} KiB (limit {RSS_LIMIT_KIB} KiB)");
    let huge = requests_with("facebook", &cases.iter().find(|c| c.name == "first-huge-body").expect("case").token);
    eprintln!("faults: the 2 GiB body was requested {} time(s)", huge.len());
    let out = op.output();
    assert!(!out.contains("panicked"), "the operator panicked:\n{out}");
    let tokens: Vec<&str> = cases.iter().map(|c| c.token.as_str()).collect();
    assert!(tokens.iter().all(|t| !out.contains(t)), "a token leaked into the operator's log");
}

/// The statuses of every connection in `ns`, by name.
async fn statuses(client: &Client, ns: &str) -> BTreeMap<String, SocialConnectionStatus> {
    Api::<SocialConnection>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .expect("list SocialConnections")
        .items
        .into_iter()
        .map(|c| (c.name_any(), c.status.unwrap_or_default()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_server_stopped_for_30_s_while_checks_are_due_costs_no_extra_provider_call_and_status_converges() {
    let cp = std::sync::Arc::new(tokio::task::spawn_blocking(|| ControlPlane::start("faults-apiserver")).await.expect("join"));
    let client = cp.client().await;
    let ns = namespace(&client, "faults-apiserver").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut op = OperatorProcess::spawn(&cp.kubeconfig, &[&ns], &dir.path().join("operator.log"));

    // X answers in 17 s (`delay-17s`), one call per check: the API server is stopped 1 s after
    // the checks started (a graceful stop takes at most 10 s), so the answers arrive while it is
    // down and their status writes fail.
    const N: usize = 6;
    const ANSWER: Duration = Duration::from_secs(17);
    let tokens: Vec<String> = (0..N).map(|_| fakes::token("delay-17s")).collect();
    for (i, token) in tokens.iter().enumerate() {
        let name = format!("x-{i}");
        secret(&client, &ns, &name, &[("access_token", token)]).await;
        connection(
            &client,
            &ns,
            &name,
            json!({"provider": "x", "account": {"id": fakes::X_USER_ID}, "secretRef": {"name": name}, "checkInterval": "90s"}),
        )
        .await;
    }
    for i in 0..N {
        wait_condition(&client, &ns, &format!("x-{i}"), "Ready", "True", "AllChecksPassed").await;
    }
    let before = statuses(&client, &ns).await;
    let due = before.values().map(|s| s.next_check_time.as_ref().expect("nextCheckTime").0).min().expect("connections");
    // Each connection's due check, and the next one 90 s later: calls are counted in between.

    // Stop the API server 1 s into the due checks, for 30 s.
    let wait = Duration::try_from(due.duration_since(Timestamp::now())).unwrap_or_default() + Duration::from_secs(1);
    tokio::time::sleep(wait).await;
    let stopped_at = Instant::now();
    let blocking = cp.clone();
    let health_port = op.health_port;
    let (stopping, down_from, down_until, ready_while_down) = tokio::task::spawn_blocking(move || {
        let cp = blocking;
        let stopping = Instant::now();
        cp.stop_apiserver();
        let stopping = stopping.elapsed();
        let down_from = SystemTime::now();
        // The watches have failed by now: readiness must say so.
        std::thread::sleep(Duration::from_secs(20));
        let ready_while_down = http_status(health_port, "/readyz");
        std::thread::sleep(Duration::from_secs(10));
        let down_until = SystemTime::now();
        cp.start_apiserver();
        (stopping, down_from, down_until, ready_while_down)
    })
    .await
    .expect("join");
    assert_eq!(ready_while_down, Some(503), "/readyz while the API server was down");
    let outage = stopped_at.elapsed();
    assert!(op.alive(), "the operator exited while the API server was away:\n{}", op.output());

    // Converges: every connection has a newer check recorded and is Ready. The first status
    // that shows a check newer than the one before the outage is the due check's outcome: its
    // nextCheckTime ends the window in which a second call would be a repeat. (Read later, a
    // status may already show the check after that one: with slot-aligned checks the next one
    // can come half an interval after the last.)
    let client = cp.client().await;
    let mut first_after: BTreeMap<String, SocialConnectionStatus> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    while first_after.len() < before.len() {
        assert!(op.alive(), "the operator exited while converging:\n{}", op.output());
        assert!(
            Instant::now() < deadline,
            "no newer check for {:?} within 240 s:\n{}",
            before.keys().filter(|n| !first_after.contains_key(*n)).collect::<Vec<_>>(),
            op.output()
        );
        if let Ok(list) = Api::<SocialConnection>::namespaced(client.clone(), &ns).list(&ListParams::default()).await {
            for c in list.items {
                let (name, st) = (c.name_any(), c.status.unwrap_or_default());
                let old_check = before.get(&name).and_then(|s| s.last_check_time.as_ref()).map(|t| t.0);
                if !first_after.contains_key(&name) && st.last_check_time.as_ref().map(|t| t.0) > old_check {
                    first_after.insert(name, st);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for name in before.keys() {
        let converged = wait_for(&client, &ns, name, "Ready again", |s| {
            condition(s, "Ready").is_some_and(|(st, r, _)| st == "True" && r == "AllChecksPassed")
        });
        while_alive(&mut op, converged).await;
    }
    let converged = stopped_at.elapsed();
    // One provider call per due check: from each connection's due check up to the next check
    // that the outcome of that check scheduled.
    let windows: Vec<(Timestamp, Timestamp)> = (0..N)
        .map(|i| {
            let name = format!("x-{i}");
            let due = before[&name].next_check_time.as_ref().expect("nextCheckTime").0;
            let next = first_after[&name].next_check_time.as_ref().expect("nextCheckTime").0;
            (due - jiff::SignedDuration::from_secs(2), next - jiff::SignedDuration::from_secs(1))
        })
        .collect();
    let latest_window = windows.iter().map(|w| w.1).max().expect("windows");
    if let Ok(rest) = Duration::try_from(latest_window.duration_since(Timestamp::now())) {
        tokio::time::sleep(rest).await;
    }
    let calls: Vec<usize> = tokens
        .iter()
        .zip(&windows)
        .map(|(t, (from, to))| requests_with("x", t).iter().filter(|r| (*from..*to).contains(&timestamp(r.received_at))).count())
        .collect();
    // The scenario really happened: some checks got their answer (8 s after the call) while the
    // API server was down, so their status write failed.
    let answered_while_down = tokens
        .iter()
        .filter(|t| {
            requests_with("x", t).iter().any(|r| {
                let answered = r.received_at + ANSWER;
                answered > down_from && answered < down_until
            })
        })
        .count();
    let log = op.output();
    let failed_writes = log.lines().filter(|l| l.contains("\"level\":\"WARN\"") || l.contains("\"level\":\"ERROR\"")).count();
    eprintln!(
        "faults: API server away for {outage:?} (stop took {stopping:?}, 30 s, start); converged {converged:?} after the stop; provider calls per connection in the window: {calls:?}; {answered_while_down} checks answered while it was down; {failed_writes} warning/error lines"
    );
    assert!(answered_while_down > 0, "no check was answered while the API server was down: the scenario did not happen");
    assert!(calls.iter().all(|&c| c == 1), "each due check must call X exactly once, got {calls:?}:\n{log}");
    assert!(op.alive(), "the operator exited:\n{log}");
    // Ready again once the watches are back (at the latest when their last error is a minute old).
    let deadline = Instant::now() + Duration::from_secs(90);
    while http_status(op.health_port, "/readyz") != Some(200) {
        assert!(Instant::now() < deadline, "/readyz did not recover after the API server came back:\n{}", op.output());
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Events in `ns` as (regarding name, reason) → (how many Event objects, highest series count).
async fn event_counts(client: &Client, ns: &str) -> BTreeMap<(String, String), (usize, i32)> {
    let mut out: BTreeMap<(String, String), (usize, i32)> = BTreeMap::new();
    for e in Api::<Event>::namespaced(client.clone(), ns).list(&ListParams::default()).await.expect("list events").items {
        let name = e.regarding.as_ref().and_then(|r| r.name.clone()).unwrap_or_default();
        let entry = out.entry((name, e.reason.unwrap_or_default())).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(e.series.map_or(1, |s| s.count));
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_killed_mid_burst_sends_no_event_twice_and_resumes_checks_at_their_recorded_times() {
    let cp = shared_control_plane().await;
    let client = cp.client().await;
    let ns = namespace(&client, "faults-sigkill").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("operator.log");

    // 16 connections waiting for an operator: half revoked (ReauthorizationRequired), half
    // expiring in 2 days (TokenExpiringSoon); answers take 2 s, so the start is a burst of checks
    // (8 at a time); check intervals differ, so the next checks are spread.
    let (_, expires) = crate::providers::rfc3339_in(jiff::SignedDuration::from_hours(48));
    let mut expected = BTreeMap::new();
    for i in 0..16 {
        let name = format!("c-{i:02}");
        let (token, reason) = if i % 2 == 0 { ("x-c", "ReauthorizationRequired") } else { ("delay-2s", "TokenExpiringSoon") };
        let token = fakes::token(token);
        secret(&client, &ns, &name, &[("access_token", &token), ("expires_at", &expires)]).await;
        let interval = format!("{}s", 30 + 5 * (i / 2));
        connection(
            &client,
            &ns,
            &name,
            json!({"provider": "x", "account": {"id": fakes::X_USER_ID}, "secretRef": {"name": name}, "checkInterval": interval}),
        )
        .await;
        expected.insert(name, (token, reason));
    }

    let mut op = OperatorProcess::spawn(&cp.kubeconfig, &[&ns], &log);
    // Busy: some connections checked and written, others in flight or waiting.
    let deadline = Instant::now() + Duration::from_secs(60);
    let checked_at_kill = loop {
        let checked = statuses(&client, &ns).await.values().filter(|s| s.last_check_time.is_some()).count();
        if (3..16).contains(&checked) {
            break checked;
        }
        assert!(checked < 16, "the burst ended before the operator could be killed in it");
        assert!(Instant::now() < deadline, "no check was recorded within 60 s:\n{}", op.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    op.kill();
    let mut op = OperatorProcess::spawn(&cp.kubeconfig, &[&ns], &log);

    for (name, (_, reason)) in &expected {
        let ty = if *reason == "TokenExpiringSoon" { "ExpiringSoon" } else { "Revoked" };
        while_alive(&mut op, wait_for(&client, &ns, name, &format!("{ty}=True"), |s| condition(s, ty).is_some_and(|c| c.0 == "True")))
            .await;
    }
    // Let the last Events of the second burst arrive.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let counts = event_counts(&client, &ns).await;
    let twice: Vec<String> = counts
        .iter()
        .filter(|(_, (n, series))| *n > 1 || *series > 1)
        .map(|((o, r), (n, s))| format!("{o} {r}: {n} Events, series {s}"))
        .collect();
    let missing: Vec<&String> =
        expected.iter().filter(|(n, (_, r))| !counts.contains_key(&((*n).clone(), r.to_string()))).map(|(n, _)| n).collect();
    eprintln!(
        "faults: killed with {checked_at_kill}/16 checks written; Events: {counts:?}; lost (killed between status and Event): {missing:?}"
    );
    assert!(twice.is_empty(), "an Event was sent twice for one transition: {twice:#?}");

    // Killed again while idle and restarted at once: no check before its recorded time.
    let recorded = statuses(&client, &ns).await;
    op.kill();
    let restarted = Timestamp::now();
    let mut op = OperatorProcess::spawn(&cp.kubeconfig, &[&ns], &log);
    let latest = recorded.values().filter_map(|s| s.next_check_time.as_ref()).map(|t| t.0).max().expect("a recorded nextCheckTime");
    let wait = Duration::try_from(latest.duration_since(Timestamp::now())).unwrap_or_default() + Duration::from_secs(8);
    tokio::time::sleep(wait).await;
    assert!(op.alive(), "the restarted operator exited:\n{}", op.output());
    let mut not_due_at_restart = 0;
    let mut lines = Vec::new();
    for (name, st) in &recorded {
        let Some(next) = st.next_check_time.as_ref().map(|t| t.0) else { continue };
        let token = &expected[name].0;
        let after: Vec<Timestamp> =
            requests_with("x", token).iter().map(|r| timestamp(r.received_at)).filter(|t| *t >= restarted).collect();
        let first = *after.first().unwrap_or_else(|| panic!("{name}: not checked again by {latest} (next check {next})"));
        lines.push(format!("{name}: next {next}, first call after restart {first}"));
        if next > restarted + jiff::SignedDuration::from_secs(2) {
            not_due_at_restart += 1;
            // nextCheckTime is written in whole seconds: allow the truncated fraction.
            assert!(first + jiff::SignedDuration::from_secs(1) >= next, "{name}: checked at {first}, before its recorded time {next}");
            assert!(first <= next + jiff::SignedDuration::from_secs(6), "{name}: checked at {first}, long after its recorded time {next}");
        }
    }
    eprintln!("faults: restart at {restarted}:\n  {}", lines.join("\n  "));
    assert!(not_due_at_restart >= 8, "too few connections were not due at the restart ({not_due_at_restart}) to prove anything");
}
