//! Leader election end to end (issue 8, "One leader"): two operator processes with
//! `--leader-election` on one namespace of a control plane where no other operator runs (the
//! fault suite's private one). Only the leader calls providers; SIGKILL of the leader hands over
//! to the other within the lease time (the figure is printed); and across the handover no
//! refresh token of a rotating provider (x, pinterest, tiktok, whose fakes kill a used refresh
//! token and reject it when used again) is used twice, which the fakes' request logs show.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use social_connection_operator::api::{REFRESH_REQUESTED_ANNOTATION, SocialConnection};

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

fn in_minutes(m: i64) -> String {
    let t = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_mins(m)).expect("time");
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

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
