//! The operator's behaviour around checks: checks on request, token changes in the Secret,
//! suspension, and a quiet status once a connection has settled.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use social_connection_operator::api::{CHECK_REQUESTED_ANNOTATION, SocialConnection};

use crate::providers::{events_of, fingerprint, poll_status, rfc3339_in, status_of};
use crate::support::*;

/// Sets the check-requested annotation to `value`.
async fn request_check(client: &Client, ns: &str, name: &str, value: &str) {
    let patch = json!({"metadata": {"annotations": {CHECK_REQUESTED_ANNOTATION: value}}});
    Api::<SocialConnection>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate SocialConnection");
}

/// Merge-patches the connection's spec.
async fn patch_spec(client: &Client, ns: &str, name: &str, spec: serde_json::Value) {
    Api::<SocialConnection>::namespaced(client.clone(), ns)
        .patch(name, &PatchParams::default(), &Patch::Merge(&json!({"spec": spec})))
        .await
        .expect("patch SocialConnection spec");
}

/// Whether the request carried exactly `token` (nonces of other tokens may share a prefix).
fn carries(r: &fakes::RecordedRequest, token: &str) -> bool {
    r.query_params.iter().chain(&r.form).any(|(_, v)| v == token)
        || r.headers.iter().any(|(_, v)| v.strip_prefix("Bearer ") == Some(token))
        || r.path.split('/').any(|seg| seg.strip_prefix("bot") == Some(token))
}

/// Requests the facebook fake received with `token`.
fn facebook_requests_with(token: &str) -> usize {
    world().fakes().requests("facebook").iter().filter(|r| carries(r, token)).count()
}

/// Waits until the connection has handled the check request `value`.
async fn wait_handled(client: &Client, ns: &str, name: &str, value: &str) -> social_connection_operator::api::SocialConnectionStatus {
    poll_status(client, ns, name, 30, |s| s.last_handled_check_request.as_deref() == Some(value))
        .await
        .unwrap_or_else(|last| panic!("check request {value:?} was not handled within 30 s; last status: {last:#?}"))
}

fn no_violations_for(tokens: &[&str]) {
    let v: Vec<String> = world()
        .fakes()
        .contract_violations()
        .into_iter()
        .filter(|(_, r)| tokens.iter().any(|t| r.mentions(t)))
        .map(|(p, r)| format!("{p}: {} {} -> {} {:?}", r.method, r.path, r.status, r.fake_error))
        .collect();
    assert!(v.is_empty(), "contract violations: {v:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_check_request_annotation_checks_at_once_and_the_third_failure_in_a_row_makes_the_provider_unavailable() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "check-now").await;
    let token = fakes::token("valid-then-503");
    secret(&client, &ns, "tok", &[("access_token", &token)]).await;
    connection(
        &client,
        &ns,
        "conn",
        json!({
            "provider": "facebook",
            "account": {"id": fakes::FACEBOOK_PAGE_ID},
            "secretRef": {"name": "tok"},
        }),
    )
    .await;
    let first = wait_condition(&client, &ns, "conn", "Ready", "True", "AllChecksPassed").await;
    assert_eq!(first.consecutive_failures.unwrap_or(0), 0);
    assert_eq!(first.last_handled_check_request, None);
    let calls_after_first = facebook_requests_with(&token);
    assert!(calls_after_first >= 1);

    // Second check, on request: 503. One transient answer keeps Valid True.
    request_check(&client, &ns, "conn", "2026-01-01T00:00:01Z").await;
    let st = wait_handled(&client, &ns, "conn", "2026-01-01T00:00:01Z").await;
    assert!(facebook_requests_with(&token) > calls_after_first, "the check request made no provider call");
    assert_eq!(st.consecutive_failures, Some(1), "{st:#?}");
    assert_eq!(condition(&st, "Valid").map(|c| (c.0, c.1)), Some(("True".into(), "TokenValid".into())));
    assert_eq!(condition(&st, "Ready").map(|c| (c.0, c.1)), Some(("True".into(), "AllChecksPassed".into())));
    assert!(st.last_check_time >= first.last_check_time, "lastCheckTime went back");
    assert!(
        events_of(&client, &ns, "conn").await.iter().all(|e| e.reason != "ProviderUnavailable"),
        "ProviderUnavailable after one transient answer"
    );

    // Two more requests: the third transient answer in a row (backoff retries may add more).
    request_check(&client, &ns, "conn", "2026-01-01T00:00:02Z").await;
    let st = wait_handled(&client, &ns, "conn", "2026-01-01T00:00:02Z").await;
    let failures = st.consecutive_failures.unwrap_or(0);
    assert!(failures >= 2, "{st:#?}");
    if failures < 3 {
        assert_eq!(condition(&st, "Valid").map(|c| c.0), Some("True".into()), "two transient answers keep Valid True");
    }
    request_check(&client, &ns, "conn", "2026-01-01T00:00:03Z").await;
    let st = wait_handled(&client, &ns, "conn", "2026-01-01T00:00:03Z").await;
    assert!(st.consecutive_failures.unwrap_or(0) >= 3, "{st:#?}");
    assert_eq!(condition(&st, "Valid").map(|c| (c.0, c.1)), Some(("Unknown".into(), "ProviderUnavailable".into())));
    assert_eq!(
        condition(&st, "Revoked").map(|c| (c.0, c.1)),
        Some(("False".into(), "NotRevoked".into())),
        "transient answers never touch Revoked"
    );
    assert_eq!(condition(&st, "Ready").map(|c| (c.0, c.1)), Some(("Unknown".into(), "ProviderUnavailable".into())));
    let (ty, _, note) = wait_event(&client, &ns, "ProviderUnavailable").await;
    assert_eq!(ty, "Warning");
    assert!(note.contains("503"), "the event names the failure: {note}");
    // Exactly one, even as later retries keep failing.
    tokio::time::sleep(Duration::from_secs(12)).await;
    let pu: Vec<_> = events_of(&client, &ns, "conn").await.into_iter().filter(|e| e.reason == "ProviderUnavailable").collect();
    assert!(pu.len() == 1 && pu[0].count == 1, "expected exactly one ProviderUnavailable Event: {pu:#?}");
    assert!(events_of(&client, &ns, "conn").await.iter().all(|e| e.reason != "ReauthorizationRequired"));
    let st = status_of(&client, &ns, "conn").await;
    assert_ne!(condition(&st, "Valid").map(|c| c.0), Some("False".into()));
    no_violations_for(&[&token]);
    assert_no_leaks(&client, &ns, &[&token]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_token_in_the_secret_restores_a_revoked_connection() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "new-token").await;
    let revoked = fakes::token("g5");
    secret(&client, &ns, "tok", &[("access_token", &revoked)]).await;
    connection(
        &client,
        &ns,
        "conn",
        json!({
            "provider": "facebook",
            "account": {"id": fakes::FACEBOOK_PAGE_ID},
            "secretRef": {"name": "tok"},
        }),
    )
    .await;
    let st = wait_condition(&client, &ns, "conn", "Revoked", "True", "TokenInvalidated").await;
    assert_eq!(condition(&st, "Ready").map(|c| (c.0, c.1)), Some(("False".into(), "TokenInvalidated".into())));
    assert_eq!(st.token_fingerprint.as_deref(), Some(fingerprint(&revoked).as_str()));
    wait_event(&client, &ns, "ReauthorizationRequired").await;

    let fresh = fakes::token("page");
    let patch = json!({"stringData": {"access_token": fresh}});
    Api::<Secret>::namespaced(client.clone(), &ns)
        .patch("tok", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch Secret");
    let st = wait_condition(&client, &ns, "conn", "Ready", "True", "AllChecksPassed").await;
    assert_eq!(st.token_fingerprint.as_deref(), Some(fingerprint(&fresh).as_str()));
    assert_eq!(condition(&st, "Revoked").map(|c| (c.0, c.1)), Some(("False".into(), "NotRevoked".into())));
    assert_eq!(condition(&st, "Valid").map(|c| (c.0, c.1)), Some(("True".into(), "TokenValid".into())));
    assert_eq!(st.not_ready_reason, None);
    assert_eq!(st.reauthorization_url, None);
    let (ty, _, _) = wait_event(&client, &ns, "ConnectionRestored").await;
    assert_eq!(ty, "Normal");
    let restored = events_of(&client, &ns, "conn").await.into_iter().filter(|e| e.reason == "ConnectionRestored").count();
    assert_eq!(restored, 1);
    assert!(facebook_requests_with(&fresh) > 0, "the new token was checked");
    no_violations_for(&[&revoked, &fresh]);
    assert_no_leaks(&client, &ns, &[&revoked, &fresh]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suspended_connection_makes_no_provider_calls() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "suspend").await;
    let token = fakes::token("page");
    secret(&client, &ns, "tok", &[("access_token", &token)]).await;
    connection(
        &client,
        &ns,
        "conn",
        json!({
            "provider": "facebook",
            "account": {"id": fakes::FACEBOOK_PAGE_ID},
            "secretRef": {"name": "tok"},
            "suspend": true,
        }),
    )
    .await;
    // The operator acknowledges the spec without checking.
    let st = poll_status(&client, &ns, "conn", 60, |s| s.observed_generation == Some(1))
        .await
        .unwrap_or_else(|last| panic!("suspended connection never observed: {last:#?}"));
    assert_eq!(st.next_check_time, None, "a suspended connection has no next check");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(facebook_requests_with(&token), 0, "a suspended connection called the provider");
    let st = status_of(&client, &ns, "conn").await;
    assert!(st.conditions.is_empty() && st.last_check_time.is_none(), "{st:#?}");

    // Resumed: checked at once.
    patch_spec(&client, &ns, "conn", json!({"suspend": false})).await;
    let st = wait_condition(&client, &ns, "conn", "Ready", "True", "AllChecksPassed").await;
    assert_eq!(st.observed_generation, Some(2));
    let calls = facebook_requests_with(&token);
    assert!(calls > 0);

    // Suspended again: neither a check request nor a token change makes a call, and the
    // status keeps its last values.
    patch_spec(&client, &ns, "conn", json!({"suspend": true})).await;
    poll_status(&client, &ns, "conn", 30, |s| s.observed_generation == Some(3)).await.expect("suspension observed");
    let calls = facebook_requests_with(&token).max(calls);
    request_check(&client, &ns, "conn", "now-please").await;
    let other = fakes::token("page");
    let patch = json!({"stringData": {"access_token": other}});
    Api::<Secret>::namespaced(client.clone(), &ns)
        .patch("tok", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch Secret");
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(facebook_requests_with(&token), calls, "a suspended connection called the provider");
    assert_eq!(facebook_requests_with(&other), 0, "a suspended connection checked the new token");
    let st = status_of(&client, &ns, "conn").await;
    assert_eq!(
        condition(&st, "Ready").map(|c| (c.0, c.1)),
        Some(("True".into(), "AllChecksPassed".into())),
        "status keeps its last values"
    );
    assert_eq!(st.token_fingerprint.as_deref(), Some(fingerprint(&token).as_str()));
    no_violations_for(&[&token, &other]);
    assert_no_leaks(&client, &ns, &[&token, &other]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_settled_connection_status_is_not_rewritten() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "quiet").await;
    let ready = fakes::token("page");
    let revoked = fakes::token("g5");
    let expiring = fakes::token("page");
    let (_, soon) = rfc3339_in(k8s_openapi::jiff::SignedDuration::from_hours(72));
    secret(&client, &ns, "ready", &[("access_token", &ready)]).await;
    secret(&client, &ns, "revoked", &[("access_token", &revoked)]).await;
    secret(&client, &ns, "expiring", &[("access_token", &expiring), ("expires_at", &soon)]).await;
    for name in ["ready", "revoked", "expiring"] {
        connection(
            &client,
            &ns,
            name,
            json!({
                "provider": "facebook",
                "account": {"id": fakes::FACEBOOK_PAGE_ID},
                "secretRef": {"name": name},
            }),
        )
        .await;
    }
    wait_condition(&client, &ns, "ready", "Ready", "True", "AllChecksPassed").await;
    wait_condition(&client, &ns, "revoked", "Ready", "False", "TokenInvalidated").await;
    wait_condition(&client, &ns, "expiring", "ExpiringSoon", "True", "AccessTokenExpiring").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let api = Api::<SocialConnection>::namespaced(client.clone(), &ns);
    let mut before = vec![];
    for name in ["ready", "revoked", "expiring"] {
        before.push(api.get(name).await.expect("get").metadata.resource_version);
    }
    let calls_before: Vec<usize> = [&ready, &revoked, &expiring].iter().map(|t| facebook_requests_with(t)).collect();
    tokio::time::sleep(Duration::from_secs(10)).await;
    for (i, name) in ["ready", "revoked", "expiring"].into_iter().enumerate() {
        let obj = api.get(name).await.expect("get");
        assert_eq!(obj.metadata.resource_version, before[i], "{name}: the status was rewritten: {:#?}", obj.status);
    }
    let calls_after: Vec<usize> = [&ready, &revoked, &expiring].iter().map(|t| facebook_requests_with(t)).collect();
    assert_eq!(calls_before, calls_after, "settled connections kept calling the provider");
    no_violations_for(&[&ready, &revoked, &expiring]);
    assert_no_leaks(&client, &ns, &[&ready, &revoked, &expiring]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_wide_graph_limit_holds_every_connection_of_the_same_app() {
    let client = world().client().await;
    let ns = namespace(&client, "app-limit").await;
    // A client id of this test's own, so that the throttle touches no other test's connections.
    let client_id = format!("cid-{ns}");
    secret(&client, &ns, "meta-app", &[("client_id", &client_id), ("client_secret", "app-limit-secret")]).await;
    let limited = fakes::token("app-limit");
    let fine = fakes::token("page");
    secret(&client, &ns, "limited-token", &[("access_token", &limited)]).await;
    secret(&client, &ns, "fine-token", &[("access_token", &fine)]).await;
    let spec = |secret: &str| {
        json!({
            "provider": "facebook",
            "account": {"id": fakes::FACEBOOK_PAGE_ID},
            "secretRef": {"name": secret},
            "appSecretRef": {"name": "meta-app"},
        })
    };
    connection(&client, &ns, "limited", spec("limited-token")).await;
    let st = wait_condition(&client, &ns, "limited", "Valid", "Unknown", "RateLimited").await;
    assert_eq!(condition(&st, "Revoked").map(|c| c.0), Some("Unknown".to_string()), "a rate limit never revokes");
    let throttle_end = st.next_check_time.clone().expect("nextCheckTime").0;

    // Graph code 4 limits the whole app: the second connection of the same app waits.
    connection(&client, &ns, "fine", spec("fine-token")).await;
    let wait = Duration::try_from(throttle_end.duration_since(jiff::Timestamp::now())).unwrap_or_default();
    tokio::time::sleep(wait.saturating_sub(Duration::from_millis(1500))).await;
    assert_eq!(facebook_requests_with(&fine), 0, "a connection of a throttled app called Graph during the throttle");

    // Stop the limited connection so it cannot renew the throttle; the other goes through.
    patch_spec(&client, &ns, "limited", json!({"suspend": true})).await;
    let st = wait_condition(&client, &ns, "fine", "Ready", "True", "AllChecksPassed").await;
    assert!(facebook_requests_with(&fine) > 0);
    let first_check = st.last_check_time.expect("lastCheckTime").0;
    assert!(first_check >= throttle_end, "the first check ({first_check}) came before the throttle ended ({throttle_end})");
    no_violations_for(&[&limited, &fine]);
    assert_no_leaks(&client, &ns, &[&limited, &fine, "app-limit-secret"]).await;
}
