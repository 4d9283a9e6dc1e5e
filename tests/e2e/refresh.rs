//! Refresh and write-back end to end (providers.md §2.3 steps 2, 4, 5; §2.6): the operator
//! refreshes on the window, on "→ refresh" rows and on the refresh-requested-at annotation,
//! stores the new token in the labelled Secret only, and never leaks a minted token.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::json;
use social_connection_operator::api::{MANAGED_LABEL, REFRESH_REQUESTED_ANNOTATION, SocialConnection};

use crate::providers::in_minutes;
use crate::support::*;

/// One provider's refresh case.
struct Case {
    provider: &'static str,
    account: &'static str,
    /// Access token scenario.
    access: &'static str,
    /// Extra Secret keys (expiry, scope).
    extra: Vec<(&'static str, String)>,
    /// The path of the refresh call on the provider's fake.
    refresh_path: &'static str,
    /// Whether a refresh token is stored.
    refresh_token: bool,
}

/// Creates the token Secret, labelled (or not) `social.connections.dev/managed: "true"`.
pub async fn token_secret(client: &Client, ns: &str, name: &str, data: &[(&str, &str)], managed: bool) {
    let labels = managed.then(|| BTreeMap::from([(MANAGED_LABEL.to_string(), "true".to_string())]));
    let s = Secret {
        metadata: ObjectMeta { name: Some(name.into()), labels, ..Default::default() },
        string_data: Some(data.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns).create(&PostParams::default(), &s).await.expect("create secret");
}

/// A Secret key as text.
pub async fn secret_value(client: &Client, ns: &str, name: &str, key: &str) -> Option<String> {
    let s = Api::<Secret>::namespaced(client.clone(), ns).get(name).await.expect("get secret");
    s.data.and_then(|d| d.get(key).map(|b| String::from_utf8_lossy(&b.0).into_owned()))
}

/// The app Secret with fake-accepted credentials.
pub async fn app_secret(client: &Client, ns: &str) {
    secret(client, ns, "app", &[("client_id", "cid-app"), ("client_secret", "app-secret-value")]).await;
}

/// Requests to `provider` that carried exactly `token` in a form, query or Bearer header.
pub fn requests_with(provider: &str, path: &str, token: &str) -> usize {
    world()
        .fakes()
        .requests(provider)
        .iter()
        .filter(|r| r.path == path)
        .filter(|r| {
            r.query_params.iter().chain(&r.form).any(|(_, v)| v == token)
                || r.headers.iter().any(|(_, v)| v.strip_prefix("Bearer ") == Some(token))
        })
        .count()
}

fn window_cases() -> Vec<Case> {
    let soon = |m| vec![("expires_at", in_minutes(m))];
    vec![
        Case {
            provider: "linkedin",
            account: fakes::LINKEDIN_ORGANIZATION_URN,
            access: "expiring",
            extra: vec![],
            refresh_path: "/oauth/v2/accessToken",
            refresh_token: true,
        },
        Case {
            provider: "x",
            account: fakes::X_USER_ID,
            access: "valid",
            extra: soon(5),
            refresh_path: "/2/oauth2/token",
            refresh_token: true,
        },
        Case {
            provider: "pinterest",
            account: fakes::PINTEREST_ACCOUNT_ID,
            access: "valid",
            extra: soon(24 * 60),
            refresh_path: "/v5/oauth/token",
            refresh_token: true,
        },
        Case {
            provider: "youtube",
            account: fakes::YOUTUBE_CHANNEL_ID,
            access: "valid",
            extra: soon(5),
            refresh_path: "/token",
            refresh_token: true,
        },
        Case {
            provider: "google-business-profile",
            account: fakes::GBP_ACCOUNT,
            access: "valid",
            extra: soon(5),
            refresh_path: "/token",
            refresh_token: true,
        },
        Case {
            provider: "tiktok",
            account: fakes::TIKTOK_OPEN_ID,
            access: "valid",
            extra: soon(10),
            refresh_path: "/v2/oauth/token/",
            refresh_token: true,
        },
        Case {
            provider: "facebook",
            account: fakes::FACEBOOK_PAGE_ID,
            access: "expiring",
            extra: vec![],
            refresh_path: "/v24.0/oauth/access_token",
            refresh_token: false,
        },
        Case {
            provider: "instagram",
            account: fakes::INSTAGRAM_ACCOUNT_ID,
            access: "expiring",
            extra: vec![],
            refresh_path: "/v24.0/oauth/access_token",
            refresh_token: false,
        },
        Case {
            provider: "instagram-login",
            account: fakes::INSTAGRAM_LOGIN_ACCOUNT_ID,
            access: "valid",
            extra: vec![("expires_at", in_minutes(5 * 24 * 60)), ("scope", "instagram_business_basic".into())],
            refresh_path: "/refresh_access_token",
            refresh_token: false,
        },
        Case {
            provider: "threads",
            account: fakes::THREADS_USER_ID,
            access: "valid",
            extra: vec![("expires_at", in_minutes(5 * 24 * 60)), ("scope", "threads_basic".into())],
            refresh_path: "/refresh_access_token",
            refresh_token: false,
        },
    ]
}

/// Runs `case` with a labelled Secret; returns (namespace, old access token, refresh token).
async fn start(client: &Client, case: &Case, prefix: &str) -> (String, String, String) {
    let ns = namespace(client, &format!("{prefix}-{}", case.provider)).await;
    app_secret(client, &ns).await;
    let access = fakes::token(case.access);
    let refresh = fakes::token("valid");
    let mut data: Vec<(&str, &str)> = vec![("access_token", access.as_str())];
    if case.refresh_token {
        data.push(("refresh_token", refresh.as_str()));
    }
    for (k, v) in &case.extra {
        data.push((k, v.as_str()));
    }
    token_secret(client, &ns, "tok", &data, true).await;
    connection(
        client,
        &ns,
        "conn",
        json!({"provider": case.provider, "account": {"id": case.account}, "secretRef": {"name": "tok"}, "appSecretRef": {"name": "app"}}),
    )
    .await;
    (ns, access, refresh)
}

/// Waits for a stored refresh and checks the Secret, status, Events and leaks.
async fn assert_refreshed(client: &Client, ns: &str, case: &Case, old: &str, refresh: &str) -> String {
    let st = wait_for(client, ns, "conn", "a stored refresh", |s| s.refresh_count.unwrap_or(0) >= 1).await;
    assert!(st.last_refresh_time.is_some(), "{}: lastRefreshTime", case.provider);
    let new = secret_value(client, ns, "tok", "access_token").await.expect("access_token");
    assert_ne!(new, old, "{}: the Secret holds the new token", case.provider);
    assert!(new.starts_with("valid__"), "{}: a token minted by the fake: {new}", case.provider);
    let event = wait_event(client, ns, "TokenRefreshed").await;
    assert_eq!(event.0, "Normal");
    let st = wait_condition(client, ns, "conn", "Ready", "True", "AllChecksPassed").await;
    assert_eq!(st.refresh_count, Some(1), "{}: one refresh", case.provider);
    let stored_refresh = secret_value(client, ns, "tok", "refresh_token").await;
    let mut secrets = vec![old, refresh, new.as_str()];
    if let Some(r) = stored_refresh.as_deref() {
        secrets.push(r);
    }
    assert_no_leaks(client, ns, &secrets).await;
    new
}

#[tokio::test(flavor = "multi_thread")]
async fn every_provider_with_a_refresh_call_refreshes_in_its_window_and_stores_the_new_token() {
    let w = world();
    let client = w.client().await;
    let mut running = Vec::new();
    for case in window_cases() {
        let started = start(&client, &case, "window").await;
        running.push((case, started));
    }
    for (case, (ns, old, refresh)) in &running {
        assert_refreshed(&client, ns, case, old, refresh).await;
        let calls = if case.refresh_token {
            requests_with(case.provider, case.refresh_path, refresh)
        } else {
            requests_with(case.provider, case.refresh_path, old)
        };
        assert_eq!(calls, 1, "{}: exactly one refresh call with the stored credential", case.provider);
        if matches!(case.provider, "x" | "pinterest" | "tiktok") {
            let stored = secret_value(&client, ns, "tok", "refresh_token").await.expect("refresh_token");
            assert_ne!(&stored, refresh, "{}: the rotated refresh token is stored", case.provider);
        }
        if case.provider == "linkedin" {
            assert_eq!(secret_value(&client, ns, "tok", "refresh_token").await.as_deref(), Some(refresh.as_str()), "linkedin keeps it");
        }
        let other = secret_value(&client, ns, "tok", "expires_at").await;
        assert!(other.is_some(), "{}: expires_at written", case.provider);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_rows_of_every_refresh_token_provider_refresh_and_probe_again() {
    let w = world();
    let client = w.client().await;
    let far = || vec![("expires_at", in_minutes(50))];
    let cases = vec![
        Case {
            provider: "x",
            account: fakes::X_USER_ID,
            access: "x-c",
            extra: far(),
            refresh_path: "/2/oauth2/token",
            refresh_token: true,
        },
        Case {
            provider: "pinterest",
            account: fakes::PINTEREST_ACCOUNT_ID,
            access: "pi-c",
            extra: vec![("expires_at", in_minutes(20 * 24 * 60))],
            refresh_path: "/v5/oauth/token",
            refresh_token: true,
        },
        Case {
            provider: "tiktok",
            account: fakes::TIKTOK_OPEN_ID,
            access: "tt-c",
            extra: far(),
            refresh_path: "/v2/oauth/token/",
            refresh_token: true,
        },
        Case {
            provider: "youtube",
            account: fakes::YOUTUBE_CHANNEL_ID,
            access: "go-b",
            extra: far(),
            refresh_path: "/token",
            refresh_token: true,
        },
        Case {
            provider: "google-business-profile",
            account: fakes::GBP_ACCOUNT,
            access: "go-b",
            extra: far(),
            refresh_path: "/token",
            refresh_token: true,
        },
        Case {
            provider: "linkedin",
            account: fakes::LINKEDIN_ORGANIZATION_URN,
            access: "li-b",
            extra: vec![],
            refresh_path: "/oauth/v2/accessToken",
            refresh_token: true,
        },
    ];
    let mut running = Vec::new();
    for case in cases {
        let started = start(&client, &case, "row").await;
        running.push((case, started));
    }
    for (case, (ns, old, refresh)) in &running {
        let new = assert_refreshed(&client, ns, case, old, refresh).await;
        assert!(requests_with(case.provider, case.refresh_path, refresh) == 1, "{}: one refresh", case.provider);
        // The probe ran twice: with the rejected token, then with the new one.
        let probes_new = world().fakes().requests(case.provider).iter().filter(|r| r.mentions(&new)).count();
        assert!(probes_new >= 1, "{}: the new token was probed", case.provider);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_refresh_request_annotation_refreshes_once_per_value_and_says_why_when_it_cannot() {
    let w = world();
    let client = w.client().await;
    let case = Case {
        provider: "youtube",
        account: fakes::YOUTUBE_CHANNEL_ID,
        access: "valid",
        extra: vec![("expires_at", in_minutes(55))],
        refresh_path: "/token",
        refresh_token: true,
    };
    let (ns, old, refresh) = start(&client, &case, "manual").await;
    let st = wait_condition(&client, &ns, "conn", "Ready", "True", "AllChecksPassed").await;
    assert_eq!(st.refresh_count, None, "not due yet: no refresh");
    let annotate = |value: &'static str, ns: String, name: &'static str| {
        let client = client.clone();
        async move {
            let patch = json!({"metadata": {"annotations": {REFRESH_REQUESTED_ANNOTATION: value}}});
            Api::<SocialConnection>::namespaced(client, &ns)
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .expect("annotate");
        }
    };
    annotate("2026-01-01T00:00:00Z", ns.clone(), "conn").await;
    let st = wait_for(&client, &ns, "conn", "the handled request", |s| {
        s.last_handled_refresh_request.as_deref() == Some("2026-01-01T00:00:00Z")
    })
    .await;
    assert_eq!(st.refresh_count, Some(1));
    assert_refreshed(&client, &ns, &case, &old, &refresh).await;
    // The same value again does nothing; spec.refresh.policy Never does not stop a request.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(requests_with("youtube", "/token", &refresh), 1);

    // A provider without a refresh call: one RefreshFailed Event naming why.
    let tg_ns = namespace(&client, "manual-telegram").await;
    token_secret(&client, &tg_ns, "tok", &[("access_token", &fakes::telegram_token("valid"))], true).await;
    connection(
        &client,
        &tg_ns,
        "conn",
        json!({"provider": "telegram", "account": {"id": fakes::TELEGRAM_CHAT_ID}, "secretRef": {"name": "tok"}}),
    )
    .await;
    wait_condition(&client, &tg_ns, "conn", "Ready", "True", "AllChecksPassed").await;
    annotate("now", tg_ns.clone(), "conn").await;
    let (kind, _, note) = wait_event(&client, &tg_ns, "RefreshFailed").await;
    assert_eq!(kind, "Warning");
    assert!(note.contains("no refresh call"), "{note}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unlabelled_secret_is_never_written_and_never_refreshed() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "unlabelled").await;
    app_secret(&client, &ns).await;
    let access = fakes::token("x-c");
    let refresh = fakes::token("valid");
    let exp = in_minutes(5);
    token_secret(&client, &ns, "tok", &[("access_token", &access), ("refresh_token", &refresh), ("expires_at", &exp)], false).await;
    connection(
        &client,
        &ns,
        "conn",
        json!({"provider": "x", "account": {"id": fakes::X_USER_ID}, "secretRef": {"name": "tok"}, "appSecretRef": {"name": "app"}}),
    )
    .await;
    // X1 answers 401 (a "→ refresh" row) and the window is open, yet no refresh is made.
    let st = wait_for(&client, &ns, "conn", "a verdict", |s| condition(s, "Valid").is_some_and(|c| c.0 == "False")).await;
    assert_eq!(st.refresh_count, None);
    // A manual request names the label.
    let patch = json!({"metadata": {"annotations": {REFRESH_REQUESTED_ANNOTATION: "1"}}});
    Api::<SocialConnection>::namespaced(client.clone(), &ns)
        .patch("conn", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("annotate");
    let (_, _, note) = wait_event(&client, &ns, "RefreshFailed").await;
    assert!(note.contains(MANAGED_LABEL), "{note}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(requests_with("x", "/2/oauth2/token", &refresh), 0, "no refresh call for an unlabelled Secret");
    assert_eq!(secret_value(&client, &ns, "tok", "access_token").await.as_deref(), Some(access.as_str()), "never written");

    // A valid token inside the window: ExpiringSoon names the label.
    let ns2 = namespace(&client, "unlabelled-exp").await;
    app_secret(&client, &ns2).await;
    let access2 = fakes::token("valid");
    token_secret(
        &client,
        &ns2,
        "tok",
        &[("access_token", &access2), ("refresh_token", &fakes::token("valid")), ("expires_at", &exp)],
        false,
    )
    .await;
    connection(
        &client,
        &ns2,
        "conn",
        json!({"provider": "x", "account": {"id": fakes::X_USER_ID}, "secretRef": {"name": "tok"}, "appSecretRef": {"name": "app"}}),
    )
    .await;
    let st = wait_condition(&client, &ns2, "conn", "ExpiringSoon", "True", "AccessTokenExpiring").await;
    let msg = condition(&st, "ExpiringSoon").expect("ExpiringSoon").2;
    assert!(msg.contains(MANAGED_LABEL), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_token_survives_another_writer_bumping_the_secret_during_the_refresh() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "conflict").await;
    app_secret(&client, &ns).await;
    let access = fakes::token("valid");
    // The refresh answer takes 4 s: the other writer changes the Secret meanwhile.
    let refresh = fakes::token("delay-4s");
    token_secret(&client, &ns, "tok", &[("access_token", &access), ("refresh_token", &refresh), ("expires_at", &in_minutes(5))], true)
        .await;
    connection(
        &client,
        &ns,
        "conn",
        json!({"provider": "x", "account": {"id": fakes::X_USER_ID}, "secretRef": {"name": "tok"}, "appSecretRef": {"name": "app"}}),
    )
    .await;
    let api = Api::<Secret>::namespaced(client.clone(), &ns);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while requests_with("x", "/2/oauth2/token", &refresh) == 0 {
        assert!(std::time::Instant::now() < deadline, "no refresh started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = api.get("tok").await.expect("get").metadata.resource_version;
    api.patch("tok", &PatchParams::default(), &Patch::Merge(&json!({"stringData": {"note": "bumped by someone else"}})))
        .await
        .expect("bump");
    let st = wait_for(&client, &ns, "conn", "a stored refresh", |s| s.refresh_count.unwrap_or(0) >= 1).await;
    assert!(st.last_refresh_time.is_some());
    let s = api.get("tok").await.expect("get");
    assert_ne!(s.metadata.resource_version, before);
    let data = s.data.expect("data");
    let text = |k: &str| data.get(k).map(|b| String::from_utf8_lossy(&b.0).into_owned());
    let new = text("access_token").expect("access_token");
    assert_ne!(new, access, "the rotated token was stored");
    assert_eq!(text("note").as_deref(), Some("bumped by someone else"), "the other writer's key is kept");
    let new_refresh = text("refresh_token").expect("refresh_token");
    assert_ne!(new_refresh, refresh);
    assert_eq!(requests_with("x", "/2/oauth2/token", &refresh), 1, "the old refresh token was used once");
    wait_condition(&client, &ns, "conn", "Ready", "True", "AllChecksPassed").await;
    assert_no_leaks(&client, &ns, &[&access, &refresh, &new, &new_refresh]).await;
}
