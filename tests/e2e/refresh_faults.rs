//! A rotated token is never lost (issue 8, providers.md §2.6): not when the API server goes away
//! between the provider's refresh answer and the Secret write, and not when the operator is
//! killed right after the write. Each test runs an operator process of its own on a private
//! control plane (the first stops its API server); x rotates refresh tokens and its fake
//! rejects a used one, so a refresh repeated with the old refresh token would show.

use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;
use serde_json::json;
use social_connection_operator::api::{SocialConnection, SocialConnectionStatus};

use crate::providers::in_minutes;
use crate::refresh::{app_secret, token_secret};
use crate::support::*;

/// x's token endpoint on its fake.
const X_TOKEN_PATH: &str = "/2/oauth2/token";

/// x requests that carried exactly `token` (query, form or Bearer), oldest first.
fn x_requests_with(path: &str, token: &str) -> Vec<fakes::RecordedRequest> {
    world()
        .fakes()
        .requests("x")
        .into_iter()
        .filter(|r| r.path == path)
        .filter(|r| {
            r.query_params.iter().chain(&r.form).any(|(_, v)| v == token)
                || r.headers.iter().any(|(_, v)| v.strip_prefix("Bearer ") == Some(token))
        })
        .collect()
}

/// The connection's status, if the API server answers.
async fn status(client: &Client, ns: &str) -> Option<SocialConnectionStatus> {
    Api::<SocialConnection>::namespaced(client.clone(), ns).get("conn").await.ok().map(|c| c.status.unwrap_or_default())
}

/// The token Secret's keys as text.
async fn secret_text(client: &Client, ns: &str) -> std::collections::BTreeMap<String, String> {
    let s = Api::<Secret>::namespaced(client.clone(), ns).get("tok").await.expect("get the token Secret");
    s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned())).collect()
}

/// An x connection whose labelled token Secret expires in 5 minutes (inside the refresh
/// window) with `refresh` as its refresh token.
async fn x_connection_due_for_refresh(client: &Client, ns: &str, access: &str, refresh: &str) {
    app_secret(client, ns).await;
    token_secret(client, ns, "tok", &[("access_token", access), ("refresh_token", refresh), ("expires_at", &in_minutes(5))], true).await;
    connection(
        client,
        ns,
        "conn",
        json!({"provider": "x", "account": {"id": fakes::X_USER_ID}, "secretRef": {"name": "tok"}, "appSecretRef": {"name": "app"}}),
    )
    .await;
}

/// Waits until x's fake has received the refresh call with `refresh`; returns when it did.
async fn refresh_call_arrived(refresh: &str, op: &mut OperatorProcess) -> SystemTime {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(r) = x_requests_with(X_TOKEN_PATH, refresh).first() {
            return r.received_at;
        }
        assert!(op.alive(), "the operator exited:\n{}", op.output());
        assert!(Instant::now() < deadline, "no refresh call within 90 s:\n{}", op.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_token_answered_while_the_api_server_is_down_is_kept_and_stored_when_it_is_back() {
    let cp = std::sync::Arc::new(tokio::task::spawn_blocking(|| ControlPlane::start("refresh-apiserver")).await.expect("join"));
    let client = cp.client().await;
    let ns = namespace(&client, "refresh-apiserver").await;
    let dir = tempfile::tempdir().expect("temp dir");

    // The refresh answer takes 17 s (`delay-17s`): the API server is stopped as soon as the
    // call arrives (a graceful stop takes at most 10 s), so the rotated token comes back while
    // it is down and the write-back fails.
    const ANSWER: Duration = Duration::from_secs(17);
    let access = fakes::token("valid");
    let refresh = fakes::token("delay-17s");
    x_connection_due_for_refresh(&client, &ns, &access, &refresh).await;
    let mut op = OperatorProcess::spawn(&cp.kubeconfig, &[&ns], &dir.path().join("operator.log"));
    let called_at = refresh_call_arrived(&refresh, &mut op).await;

    let blocking = cp.clone();
    let (down_from, down_until) = tokio::task::spawn_blocking(move || {
        blocking.stop_apiserver();
        let down_from = SystemTime::now();
        std::thread::sleep(Duration::from_secs(30));
        let down_until = SystemTime::now();
        blocking.start_apiserver();
        (down_from, down_until)
    })
    .await
    .expect("join");
    let answered = called_at + ANSWER;
    assert!(
        answered > down_from && answered < down_until,
        "the refresh answer did not arrive while the API server was down: the scenario did not happen"
    );
    assert!(op.alive(), "the operator exited while the API server was away:\n{}", op.output());

    // Stored once the API server is back, and accounted for in status.
    let client = cp.client().await;
    let deadline = Instant::now() + Duration::from_secs(180);
    let st = loop {
        if let Some(st) = status(&client, &ns).await
            && st.refresh_count.unwrap_or(0) >= 1
            && condition(&st, "Ready").is_some_and(|(s, r, _)| s == "True" && r == "AllChecksPassed")
        {
            break st;
        }
        assert!(op.alive(), "the operator exited:\n{}", op.output());
        assert!(Instant::now() < deadline, "the refreshed token was not stored and checked within 180 s:\n{}", op.output());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(st.refresh_count, Some(1), "one refresh");
    let data = secret_text(&client, &ns).await;
    let (new, new_refresh) = (data["access_token"].clone(), data["refresh_token"].clone());
    assert_ne!(new, access, "the Secret holds the rotated access token");
    assert!(new.starts_with("valid__"), "a token minted by the fake");
    assert_ne!(new_refresh, refresh, "the Secret holds the rotated refresh token");
    assert_eq!(x_requests_with(X_TOKEN_PATH, &refresh).len(), 1, "the old refresh token was used exactly once");
    assert!(!x_requests_with("/2/users/me", &new).is_empty(), "the stored token was checked");
    let log = op.output();
    assert!(log.contains("storing the refreshed token failed; keeping it in memory and retrying"), "the write-back failed first:\n{log}");
    assert!(log.contains("refreshed token stored after retrying"), "the kept token was stored by a retry:\n{log}");
    eprintln!(
        "refresh-faults: refresh called, API server down {:?} after the call for 30 s; answer {:?} into the outage; stored and Ready",
        down_from.duration_since(called_at).unwrap_or_default(),
        answered.duration_since(down_from).unwrap_or_default()
    );
    for t in [&access, &refresh, &new, &new_refresh] {
        assert!(!log.contains(t.as_str()), "a token reached the operator's log");
    }
    assert_no_leaks(&client, &ns, &[&access, &refresh, &new, &new_refresh]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_killed_right_after_storing_a_rotated_token_goes_on_with_it_after_a_restart() {
    let cp = crate::faults::shared_control_plane().await;
    let client = cp.client().await;
    let ns = namespace(&client, "refresh-restart").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("operator.log");
    let access = fakes::token("valid");
    let refresh = fakes::token("valid");
    x_connection_due_for_refresh(&client, &ns, &access, &refresh).await;

    let mut op = OperatorProcess::spawn(&cp.kubeconfig, &[&ns], &log);
    // Killed the moment the Secret shows the rotated token: before or just after the status
    // write that accounts for it.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if secret_text(&client, &ns).await.get("access_token").is_some_and(|t| *t != access) {
            break;
        }
        assert!(op.alive(), "the operator exited:\n{}", op.output());
        assert!(Instant::now() < deadline, "no refreshed token was stored within 90 s:\n{}", op.output());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    op.kill();
    let counted_before_kill = status(&client, &ns).await.and_then(|s| s.refresh_count).unwrap_or(0);
    let data = secret_text(&client, &ns).await;
    let (new, new_refresh) = (data["access_token"].clone(), data["refresh_token"].clone());
    assert_ne!(new_refresh, refresh, "the rotated refresh token was stored with the access token");

    let mut op = OperatorProcess::spawn(&cp.kubeconfig, &[&ns], &log);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let st = status(&client, &ns).await;
        let checked_new = !x_requests_with("/2/users/me", &new).is_empty();
        if checked_new && st.as_ref().is_some_and(|s| condition(s, "Ready").is_some_and(|(s, r, _)| s == "True" && r == "AllChecksPassed"))
        {
            break;
        }
        assert!(op.alive(), "the restarted operator exited:\n{}", op.output());
        assert!(Instant::now() < deadline, "the restarted operator did not go on with the stored token within 90 s:\n{}", op.output());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Nothing refreshed again: the old refresh token was used once, the new one not at all
    // (the stored token is far from its window), and the Secret still holds what was stored.
    assert_eq!(x_requests_with(X_TOKEN_PATH, &refresh).len(), 1, "the old refresh token was used exactly once");
    assert!(x_requests_with(X_TOKEN_PATH, &new_refresh).is_empty(), "no second refresh after the restart");
    let after = secret_text(&client, &ns).await;
    assert_eq!(after["access_token"], new, "the stored token is kept");
    assert_eq!(after["refresh_token"], new_refresh, "the stored refresh token is kept");
    eprintln!(
        "refresh-faults: killed after the Secret write with refreshCount {counted_before_kill} recorded; the restarted operator checked the stored token and is Ready"
    );
    let out = op.output();
    for t in [&access, &refresh, &new, &new_refresh] {
        assert!(!out.contains(t.as_str()), "a token reached the operator's log");
    }
    assert_no_leaks(&client, &ns, &[&access, &refresh, &new, &new_refresh]).await;
}
