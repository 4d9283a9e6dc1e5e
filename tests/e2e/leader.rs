//! Leader election end to end (issue 8, "One leader"): two operator processes with
//! `--leader-election` on one namespace of a control plane where no other operator runs (the
//! fault suite's private one). Only the leader calls providers; SIGKILL of the leader hands over
//! to the other within the lease time (the figure is printed); a leader cut off from the API
//! server stops before the other replica starts; and across the SIGKILL handover no
//! refresh token of a rotating provider (x, pinterest, tiktok, whose fakes kill a used refresh
//! token and reject it when used again) is used twice, which the fakes' request logs show.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use social_connection_operator::api::{REFRESH_REQUESTED_ANNOTATION, SocialConnection};

use crate::providers::in_minutes;
use crate::refresh::{app_secret, secret_value, token_secret};
use crate::support::*;

/// The binary's default lease timings, which the test uses.
const LEASE_DURATION: Duration = Duration::from_secs(15);
const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// A rotating provider's connection: (provider, account id, refresh call path).
const ROTATING: [(&str, &str, &str); 3] = [
    ("x", fakes::X_USER_ID, "/2/oauth2/token"),
    ("pinterest", fakes::PINTEREST_ACCOUNT_ID, "/v5/oauth/token"),
    ("tiktok", fakes::TIKTOK_OPEN_ID, "/v2/oauth/token/"),
];

/// Lines of a JSON log whose message is exactly `message`.
fn count_messages(log: &str, message: &str) -> usize {
    let needle = format!("\"message\":\"{message}\"");
    log.lines().filter(|l| l.contains(&needle)).count()
}

/// Waits until `op`'s log has a line with `message` (failing if it dies); the time it took.
async fn wait_for_message(op: &mut OperatorProcess, message: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if count_messages(&op.output(), message) > 0 {
            return started.elapsed();
        }
        assert!(op.alive(), "the operator died waiting for {message:?}:\n{}", op.output());
        assert!(started.elapsed() < within, "no {message:?} within {within:?}:\n{}", op.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asks every connection for a refresh (a new annotation value) and waits until each handled
/// it and stored the new token.
async fn refresh_round(client: &Client, ns: &str, round: u32) {
    let value = format!("2026-12-07T00:00:{round:02}Z");
    let api = Api::<SocialConnection>::namespaced(client.clone(), ns);
    for (provider, _, _) in ROTATING {
        let patch = json!({"metadata": {"annotations": {REFRESH_REQUESTED_ANNOTATION: value}}});
        api.patch(provider, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("annotate");
    }
    for (provider, _, _) in ROTATING {
        let want = i64::from(round);
        let st = wait_for(client, ns, provider, &format!("refresh round {round} handled"), |s| {
            s.last_handled_refresh_request.as_deref() == Some(value.as_str()) && s.refresh_count.unwrap_or(0) >= want
        })
        .await;
        assert_eq!(st.refresh_count, Some(want), "{provider}: one refresh per requested value");
    }
}

/// The refresh tokens of one Secret's chain, oldest first, from the fake's request log: the
/// first request used `first`; each answer names the next refresh token. Fails if any refresh
/// token of the chain was sent twice.
fn refresh_chain(provider: &str, path: &str, first: &str) -> Vec<fakes::RecordedRequest> {
    let requests: Vec<fakes::RecordedRequest> = world().fakes().requests(provider).into_iter().filter(|r| r.path == path).collect();
    let mut chain = Vec::new();
    let mut token = first.to_string();
    loop {
        let using: Vec<&fakes::RecordedRequest> =
            requests.iter().filter(|r| r.form.iter().any(|(k, v)| k == "refresh_token" && *v == token)).collect();
        assert!(using.len() <= 1, "{provider}: a refresh token was used {} times: {:#?}", using.len(), using);
        let Some(r) = using.first() else { return chain };
        assert_eq!(r.status, 200, "{provider}: a refresh was refused: {}", r.response_body);
        let answer: serde_json::Value = serde_json::from_str(&r.response_body).expect("a JSON answer");
        let next = find_string(&answer, "refresh_token").expect("the answer names the new refresh token");
        chain.push((*r).clone());
        token = next;
    }
}

/// Whether the request carried exactly `token` (minted tokens of other tests may extend it:
/// `…-1` and `…-12`).
fn carries(r: &fakes::RecordedRequest, token: &str) -> bool {
    r.query_params.iter().chain(&r.form).any(|(_, v)| v == token)
        || r.headers.iter().any(|(_, v)| v == token || v.strip_prefix("Bearer ") == Some(token))
}

/// The first string value under `key` anywhere in `v`.
fn find_string(v: &serde_json::Value, key: &str) -> Option<String> {
    match v {
        serde_json::Value::Object(m) => {
            m.get(key).and_then(|x| x.as_str()).map(String::from).or_else(|| m.values().find_map(|x| find_string(x, key)))
        }
        serde_json::Value::Array(a) => a.iter().find_map(|x| find_string(x, key)),
        _ => None,
    }
}

fn leader_args(ns: &str, lease: &str) -> Vec<String> {
    vec!["--leader-election".to_string(), format!("--leader-election-namespace={ns}"), format!("--leader-election-lease-name={lease}")]
}

fn spawn(kubeconfig: &Path, ns: &str, log: &Path) -> OperatorProcess {
    OperatorProcess::spawn_with(kubeconfig, &[ns], log, &leader_args(ns, "sco-e2e-leader"))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_of_two_operators_leads_alone_and_a_killed_leader_is_replaced_within_the_lease_time_without_reusing_a_refresh_token() {
    let cp = crate::faults::shared_control_plane().await;
    let client = cp.client().await;
    let ns = namespace(&client, "leader").await;
    let dir = tempfile::tempdir().expect("temp dir");

    // Rotating providers, labelled Secrets, tokens far from expiry: refreshes come only when
    // the test asks for them.
    app_secret(&client, &ns).await;
    let mut first_refresh = BTreeMap::new();
    for (provider, account, _) in ROTATING {
        let access = fakes::token("valid");
        let refresh = fakes::token("valid");
        let expires = in_minutes(if provider == "pinterest" { 20 * 24 * 60 } else { 100 });
        token_secret(&client, &ns, provider, &[("access_token", &access), ("refresh_token", &refresh), ("expires_at", &expires)], true)
            .await;
        connection(
            &client,
            &ns,
            provider,
            json!({"provider": provider, "account": {"id": account}, "secretRef": {"name": provider}, "appSecretRef": {"name": "app"}}),
        )
        .await;
        first_refresh.insert(provider, (access, refresh));
    }

    // A starts first and leads; B stands by, Ready.
    let mut a = spawn(&cp.kubeconfig, &ns, &dir.path().join("a.log"));
    wait_for_message(&mut a, "became the leader", Duration::from_secs(60)).await;
    let mut b = spawn(&cp.kubeconfig, &ns, &dir.path().join("b.log"));
    wait_for_message(&mut b, "standing by: another replica holds the leader Lease", Duration::from_secs(60)).await;
    let port = b.health_port;
    let ready = tokio::task::spawn_blocking(move || http_status(port, "/readyz")).await.expect("join");
    assert_eq!(ready, Some(200), "a replica standing by is ready");
    for (provider, _, _) in ROTATING {
        wait_condition(&client, &ns, provider, "Ready", "True", "AllChecksPassed").await;
    }

    // Three refreshes of every connection while both run.
    for round in 1..=3 {
        refresh_round(&client, &ns, round).await;
    }
    let b_log = b.output();
    assert_eq!(count_messages(&b_log, "provider request"), 0, "the standby called a provider:\n{b_log}");
    assert_eq!(count_messages(&b_log, "became the leader"), 0, "two leaders at once:\n{b_log}");
    assert_eq!(count_messages(&b_log, "status updated"), 0, "the standby wrote status:\n{b_log}");

    // SIGKILL the leader (nothing is in flight: every requested refresh is stored); B takes over
    // once A's Lease expires, at most the lease duration after A's last renewal.
    let killed_at = SystemTime::now();
    a.kill();
    let a_calls = count_messages(&a.output(), "provider request");
    let takeover = wait_for_message(&mut b, "became the leader", Duration::from_secs(60)).await;
    println!(
        "leader election: takeover {:.1} s after SIGKILL of the leader (lease duration {} s, retry period {} s)",
        takeover.as_secs_f64(),
        LEASE_DURATION.as_secs(),
        RETRY_PERIOD.as_secs()
    );
    // The Lease was renewed at most a retry period before the kill, and B notices its expiry
    // within about a second (kube-lease-manager waits 0.1 to 1 s after breaking an expired lock).
    assert!(takeover <= LEASE_DURATION + RETRY_PERIOD + Duration::from_secs(3), "takeover took {takeover:?}");

    // Two more refreshes under the new leader.
    for round in 4..=5 {
        refresh_round(&client, &ns, round).await;
    }

    // The fakes' logs: each Secret's refresh tokens form one chain, each used exactly once and
    // accepted, five refreshes long; A made the first three and B the last two.
    let b_log = b.output();
    let mut fake_calls_before_kill = 0;
    for (provider, _, path) in ROTATING {
        let (_, first) = &first_refresh[provider];
        let chain = refresh_chain(provider, path, first);
        assert_eq!(chain.len(), 5, "{provider}: five refreshes, each with the refresh token stored by the one before");
        let before: Vec<bool> = chain.iter().map(|r| r.received_at < killed_at).collect();
        assert_eq!(before, [true, true, true, false, false], "{provider}: A refreshed three times, B twice");
        let stored = secret_value(&client, &ns, provider, "refresh_token").await.expect("refresh_token");
        let last: serde_json::Value = serde_json::from_str(&chain[4].response_body).expect("JSON");
        assert_eq!(find_string(&last, "refresh_token").as_deref(), Some(stored.as_str()), "{provider}: the last rotated token is stored");
        wait_condition(&client, &ns, provider, "Ready", "True", "AllChecksPassed").await;
        // Every request of this connection (checks and refreshes) carried one of its tokens.
        let (access, _) = &first_refresh[provider];
        let mut tokens: Vec<String> = vec![access.clone(), first.clone()];
        for r in &chain {
            let answer: serde_json::Value = serde_json::from_str(&r.response_body).expect("JSON");
            tokens.extend(find_string(&answer, "access_token"));
            tokens.extend(find_string(&answer, "refresh_token"));
        }
        fake_calls_before_kill +=
            world().fakes().requests(provider).iter().filter(|r| r.received_at < killed_at && tokens.iter().any(|t| carries(r, t))).count();
    }
    let (b_before, b_after) = b_log.split_once("became the leader").expect("B leads");
    assert_eq!(count_messages(b_before, "provider request"), 0, "B called a provider before it led");
    println!(
        "leader election: provider requests while both ran: {fake_calls_before_kill} at the fakes, {a_calls} logged by the leader, 0 by the standby; after the takeover B logged {}",
        count_messages(b_after, "provider request")
    );
    assert_eq!(a_calls, fake_calls_before_kill, "every provider request before the kill came from the leader");
    let events = events(&client, &ns).await;
    assert!(!events.iter().any(|e| e.1 == "RefreshFailed"), "no refresh failed: {events:?}");
}

/// The warning of a process that stopped leading.
const LOST: &str = "lost the leader Lease: stopped reconciling, calling providers and sending notices; standing by";

/// A TCP proxy to the API server that can be cut: while blocked it accepts connections and
/// holds every byte (requests hang, as behind a network partition), so the process behind it
/// can neither renew its Lease nor learn that it failed.
struct Partition {
    addr: std::net::SocketAddr,
    blocked: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Partition {
    async fn start(target: String) -> Partition {
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let blocked = std::sync::Arc::new(AtomicBool::new(false));
        let b = blocked.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (b, target) = (b.clone(), target.clone());
                tokio::spawn(async move {
                    while b.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else { return };
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    tokio::join!(pump(ri, wo, b.clone()), pump(ro, wi, b));
                });
            }
        });
        Partition { addr, blocked }
    }

    fn cut(&self) {
        self.blocked.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    blocked: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while blocked.load(std::sync::atomic::Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The time of the first line of a JSON log with `message`.
fn logged_at(log: &str, message: &str) -> Option<jiff::Timestamp> {
    let needle = format!("\"message\":\"{message}");
    let line = log.lines().find(|l| l.contains(&needle))?;
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v["timestamp"].as_str()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_cut_off_from_the_api_server_stops_before_the_other_replica_takes_over() {
    let cp = crate::faults::shared_control_plane().await;
    let client = cp.client().await;
    let ns = namespace(&client, "leader-cut").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let token = fakes::token("valid");
    secret(&client, &ns, "x", &[("access_token", &token)]).await;
    connection(&client, &ns, "x", json!({"provider": "x", "account": {"id": fakes::X_USER_ID}, "secretRef": {"name": "x"}})).await;

    // A reaches the API server through a proxy the test can cut; B directly.
    let kubeconfig = std::fs::read_to_string(&cp.kubeconfig).expect("kubeconfig");
    let server = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .map(|s| s.trim().trim_matches('"').to_string())
        .expect("a server in the kubeconfig");
    let target = server.strip_prefix("https://").expect("https server").to_string();
    let partition = Partition::start(target).await;
    let a_kubeconfig = dir.path().join("a-kubeconfig");
    std::fs::write(&a_kubeconfig, kubeconfig.replace(&server, &format!("https://{}", partition.addr))).expect("write kubeconfig");
    let lease = "sco-e2e-cut";
    let mut a = OperatorProcess::spawn_with(&a_kubeconfig, &[&ns], &dir.path().join("a.log"), &leader_args(&ns, lease));
    wait_for_message(&mut a, "became the leader", Duration::from_secs(60)).await;
    wait_condition(&client, &ns, "x", "Ready", "True", "AllChecksPassed").await;
    let mut b = OperatorProcess::spawn_with(&cp.kubeconfig, &[&ns], &dir.path().join("b.log"), &leader_args(&ns, lease));
    wait_for_message(&mut b, "standing by: another replica holds the leader Lease", Duration::from_secs(60)).await;

    // Cut A off. It must stop within the renew deadline of its last renewal; B may take over
    // only once the Lease expired, the lease duration after that renewal.
    let cut_at = jiff::Timestamp::now();
    partition.cut();
    wait_for_message(&mut a, LOST, Duration::from_secs(30)).await;
    wait_for_message(&mut b, "became the leader", Duration::from_secs(60)).await;
    let (a_log, b_log) = (a.output(), b.output());
    let stopped = logged_at(&a_log, "lost the leader Lease").expect("A's loss line");
    let took_over = logged_at(&b_log, "became the leader").expect("B's takeover line");
    let margin = took_over.duration_since(stopped);
    println!(
        "leader election: A cut off at {cut_at}; A stopped {:.1} s later, B took over {:.1} s after the cut: {:.1} s after A stopped",
        stopped.duration_since(cut_at).as_secs_f64(),
        took_over.duration_since(cut_at).as_secs_f64(),
        margin.as_secs_f64()
    );
    assert!(a_log.contains("not renewed within the renew deadline"), "A stopped for the deadline:\n{a_log}");
    assert!(margin.as_secs_f64() > 2.0, "A must stop well before B starts (lease duration 15 s - renew deadline 10 s): {margin:?}");
    let after_loss = a_log.split_once("lost the leader Lease").map(|(_, rest)| rest).unwrap_or_default();
    assert_eq!(count_messages(after_loss, "provider request"), 0, "A called a provider after it stopped leading");
    assert_eq!(count_messages(after_loss, "became the leader"), 0, "A led again while cut off");
    // B works: a check on request reaches the provider.
    let patch = json!({"metadata": {"annotations": {social_connection_operator::api::CHECK_REQUESTED_ANNOTATION: "2026-12-07T01:00:00Z"}}});
    Api::<SocialConnection>::namespaced(client.clone(), &ns)
        .patch("x", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate");
    wait_for(&client, &ns, "x", "B's check", |s| s.last_handled_check_request.as_deref() == Some("2026-12-07T01:00:00Z")).await;
    assert!(count_messages(&b.output(), "provider request") >= 1, "B checks the connection");
}
