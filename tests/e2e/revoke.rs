//! Revoke on delete end to end (providers.md §2.8): with `spec.revokeOnDelete` the operator puts
//! the finalizer `social.connections.dev/revoke` on the connection; deleting it runs the
//! provider's revoke call (the fake then treats the token as dead), records one Event and
//! releases the finalizer within a bound, and the Secret is never touched. The shared operator
//! runs with `--revoke-timeout` [`REVOKE_TIMEOUT`] so that a provider that keeps answering 503
//! ends the deletion with `RevokeFailed` in seconds.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use social_connection_operator::api::{ProviderKind, REVOKE_FINALIZER, SocialConnection};
use social_connection_operator::providers::endpoints::Endpoints;
use social_connection_operator::providers::{self, AppCredentials, CheckInput, ProviderHttp, RevokeOutcome, TokenVerdict};
use social_connection_operator::redact::SecretString;

use crate::support::*;

/// How long a deletion may take when the provider answers at once.
const PROMPT: Duration = Duration::from_secs(45);

/// The Secret as stored: resourceVersion and data.
async fn snapshot(client: &Client, ns: &str, name: &str) -> (Option<String>, Option<BTreeMap<String, ByteString>>) {
    let s = Api::<Secret>::namespaced(client.clone(), ns).get(name).await.expect("the Secret still exists");
    (s.metadata.resource_version, s.data)
}

/// A provider client on the shared fakes, for follow-up calls made by the test itself.
fn provider_http() -> ProviderHttp {
    providers::http::install_crypto_provider();
    let sources: Vec<String> = world().endpoints.split(',').map(String::from).collect();
    ProviderHttp::with_endpoints(Endpoints::from_sources(&sources, None).expect("endpoints")).expect("client")
}

fn app() -> AppCredentials {
    AppCredentials { client_id: "cid-app".into(), client_secret: Some(SecretString::new("app-secret-value")) }
}

fn input<'a>(account: &'a str, token: &'a SecretString, refresh: Option<&'a SecretString>, app: &'a AppCredentials) -> CheckInput<'a> {
    CheckInput {
        account_id: account,
        token,
        refresh_token: refresh,
        app: Some(app),
        required_role: None,
        known_expires_at: None,
        token_issued_at: None,
        now: Timestamp::now(),
    }
}

/// One provider family's revoke case.
struct Case {
    provider: &'static str,
    kind: ProviderKind,
    account: &'static str,
    /// Whether the Secret holds a refresh token (X and Google revoke it).
    refresh_token: bool,
    /// The revoke call on the fake: (method, path suffix).
    call: (&'static str, &'static str),
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            provider: "facebook",
            kind: ProviderKind::Facebook,
            account: fakes::FACEBOOK_PAGE_ID,
            refresh_token: false,
            call: ("DELETE", "/permissions"),
        },
        Case {
            provider: "linkedin",
            kind: ProviderKind::Linkedin,
            account: fakes::LINKEDIN_ORGANIZATION_URN,
            refresh_token: false,
            call: ("POST", "/oauth/v2/revoke"),
        },
        Case { provider: "x", kind: ProviderKind::X, account: fakes::X_USER_ID, refresh_token: true, call: ("POST", "/2/oauth2/revoke") },
        Case {
            provider: "youtube",
            kind: ProviderKind::Youtube,
            account: fakes::YOUTUBE_CHANNEL_ID,
            refresh_token: true,
            call: ("POST", "/revoke"),
        },
        Case {
            provider: "google-business-profile",
            kind: ProviderKind::GoogleBusinessProfile,
            account: fakes::GBP_ACCOUNT,
            refresh_token: false,
            call: ("POST", "/revoke"),
        },
        Case {
            provider: "tiktok",
            kind: ProviderKind::Tiktok,
            account: fakes::TIKTOK_OPEN_ID,
            refresh_token: false,
            call: ("POST", "/v2/oauth/revoke/"),
        },
    ]
}

/// Requests to `provider` with `method` on a path ending in `suffix` that carried `token` (form,
/// query or Bearer), with the fake's status.
fn calls_with(provider: &str, method: &str, suffix: &str, token: &str) -> Vec<u16> {
    world()
        .fakes()
        .requests(provider)
        .iter()
        .filter(|r| r.method == method && r.path.ends_with(suffix))
        .filter(|r| {
            r.query_params.iter().chain(&r.form).any(|(_, v)| v == token)
                || r.headers.iter().any(|(_, v)| v.strip_prefix("Bearer ") == Some(token))
        })
        .map(|r| r.status)
        .collect()
}

async fn revoking_connection(client: &Client, ns: &str, name: &str, spec: serde_json::Value) {
    let mut spec = spec;
    spec["revokeOnDelete"] = json!(true);
    connection(client, ns, name, spec).await;
    wait_finalizer(client, ns, name, REVOKE_FINALIZER).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_connection_revokes_its_token_for_every_provider_family_and_leaves_the_secret_alone() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "revoke").await;
    secret(&client, &ns, "app", &[("client_id", "cid-app"), ("client_secret", "app-secret-value")]).await;
    let mut tokens = Vec::new();
    for case in cases() {
        let (access, refresh) = (fakes::token("valid"), fakes::token("valid"));
        let mut data = vec![("access_token", access.as_str())];
        if case.refresh_token {
            data.push(("refresh_token", refresh.as_str()));
        }
        let secret_name = format!("{}-token", case.provider);
        secret(&client, &ns, &secret_name, &data).await;
        let spec = json!({
            "provider": case.provider,
            "account": {"id": case.account},
            "secretRef": {"name": secret_name},
            "appSecretRef": {"name": "app"},
        });
        revoking_connection(&client, &ns, case.provider, spec).await;
        tokens.push((case, access, refresh));
    }
    let deletions = tokens.iter().map(|(case, _, _)| {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            let before = snapshot(&client, &ns, &format!("{}-token", case.provider)).await;
            let took = delete_and_wait_gone(&client, &ns, case.provider, PROMPT).await;
            (before, took)
        }
    });
    let results = futures::future::join_all(deletions).await;

    let http = provider_http();
    let app = app();
    for ((case, access, refresh), (before, took)) in tokens.iter().zip(results) {
        let p = case.provider;
        let (kind, _, note) = wait_event_for(&client, &ns, p, "TokenRevoked").await;
        assert_eq!(kind, "Normal", "{p}: {note}");
        let reasons: Vec<String> = events_for(&client, &ns, p).await.into_iter().map(|e| e.1).filter(|r| r.starts_with("Revoke")).collect();
        assert!(reasons.is_empty(), "{p}: no other revoke Event, got {reasons:?}");
        // The revoke call reached the provider with the Secret's token and was answered 2xx.
        let named = if p == "youtube" { refresh } else { access };
        let statuses = calls_with(p, case.call.0, case.call.1, named);
        assert!(statuses.iter().any(|s| (200..300).contains(s)), "{p}: no successful revoke call; statuses {statuses:?}");
        // The token is dead at the provider: a follow-up check rejects it (Google: the revoked
        // refresh token, and LinkedIn, whose revoke answers 2xx for any token, are checked by
        // asking the provider to revoke again or check again).
        let provider = providers::for_kind(case.kind);
        let secret_refresh = SecretString::new(refresh.clone());
        let token = SecretString::new(access.clone());
        let with_refresh = case.refresh_token.then_some(&secret_refresh);
        if matches!(case.kind, ProviderKind::Youtube) {
            let again = provider.revoke(&http, &input(case.account, &token, with_refresh, &app)).await;
            assert_eq!(again, RevokeOutcome::Revoked { already_invalid: true }, "{p}: the refresh token is already dead");
        } else {
            let report = provider.check(&http, &input(case.account, &token, None, &app)).await;
            assert_ne!(report.token, Some(TokenVerdict::Valid), "{p}: the revoked token still works: {report:?}");
        }
        // The Secret is untouched: same resourceVersion, same data.
        let after = snapshot(&client, &ns, &format!("{p}-token")).await;
        assert_eq!(after, before, "{p}: the Secret changed");
        eprintln!("revoke e2e: {p} deleted in {} ms", took.as_millis());
    }
    let all: Vec<&str> = tokens.iter().flat_map(|(_, a, r)| [a.as_str(), r.as_str()]).collect();
    assert_no_leaks(&client, &ns, &all).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoke_that_keeps_failing_transiently_is_retried_until_the_timeout_then_released_with_revoke_failed() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "revoke-503").await;
    secret(&client, &ns, "app", &[("client_id", "cid-app"), ("client_secret", "app-secret-value")]).await;
    let token = fakes::token("http-503");
    secret(&client, &ns, "tt-token", &[("access_token", &token)]).await;
    // Suspended: no checks, so the only calls with this token are revoke attempts.
    let spec = json!({
        "provider": "tiktok",
        "account": {"id": fakes::TIKTOK_OPEN_ID},
        "secretRef": {"name": "tt-token"},
        "appSecretRef": {"name": "app"},
        "suspend": true,
    });
    revoking_connection(&client, &ns, "conn", spec).await;
    let before = snapshot(&client, &ns, "tt-token").await;
    let took = delete_and_wait_gone(&client, &ns, "conn", REVOKE_TIMEOUT + PROMPT).await;

    let (kind, _, note) = wait_event_for(&client, &ns, "conn", "RevokeFailed").await;
    assert_eq!(kind, "Warning");
    assert!(note.contains("revoke timeout") && note.contains("finalizer was released"), "{note}");
    let attempts = calls_with("tiktok", "POST", "/v2/oauth/revoke/", &token);
    assert!(attempts.len() >= 2 && attempts.iter().all(|s| *s == 503), "retried with backoff: {attempts:?}");
    // Released at the bound, not before it and not long after (the deletion timestamp has whole
    // seconds, the last attempt may take a moment).
    assert!(took + Duration::from_secs(2) >= REVOKE_TIMEOUT, "released after {took:?}, before the {REVOKE_TIMEOUT:?} bound");
    assert!(took <= REVOKE_TIMEOUT + Duration::from_secs(15), "released only after {took:?}");
    assert!(events_for(&client, &ns, "conn").await.iter().all(|e| e.1 != "TokenRevoked"));
    assert_eq!(snapshot(&client, &ns, "tt-token").await, before, "the Secret changed");
    eprintln!("revoke e2e: transient revoke released after {} ms, {} attempts", took.as_millis(), attempts.len());
    assert_no_leaks(&client, &ns, &[&token]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_without_a_revoke_call_records_revoke_not_supported() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "revoke-none").await;
    let pin = fakes::token("valid");
    let bot = fakes::telegram_token("valid");
    secret(&client, &ns, "pin-token", &[("access_token", &pin)]).await;
    secret(&client, &ns, "bot-token", &[("access_token", &bot)]).await;
    let pinterest = json!({"provider": "pinterest", "account": {"id": fakes::PINTEREST_ACCOUNT_ID}, "secretRef": {"name": "pin-token"}});
    let telegram = json!({"provider": "telegram", "account": {"id": fakes::TELEGRAM_CHAT_ID}, "secretRef": {"name": "bot-token"}});
    revoking_connection(&client, &ns, "pinterest", pinterest).await;
    revoking_connection(&client, &ns, "telegram", telegram).await;
    for (name, secret_name) in [("pinterest", "pin-token"), ("telegram", "bot-token")] {
        let before = snapshot(&client, &ns, secret_name).await;
        let took = delete_and_wait_gone(&client, &ns, name, PROMPT).await;
        let (kind, _, note) = wait_event_for(&client, &ns, name, "RevokeNotSupported").await;
        assert_eq!(kind, "Normal", "{name}: {note}");
        assert!(note.contains("no revoke call"), "{name}: {note}");
        assert_eq!(snapshot(&client, &ns, secret_name).await, before, "{name}: the Secret changed");
        eprintln!("revoke e2e: {name} (no revoke call) deleted in {} ms", took.as_millis());
    }
    assert_no_leaks(&client, &ns, &[&pin, &bot]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoke_without_credentials_or_token_secret_is_skipped_and_the_deletion_goes_on() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "revoke-skip").await;
    let x = fakes::token("valid");
    secret(&client, &ns, "x-token", &[("access_token", &x)]).await;
    // X revokes with the app's client_id: without spec.appSecretRef there is none.
    let no_app = json!({"provider": "x", "account": {"id": fakes::X_USER_ID}, "secretRef": {"name": "x-token"}});
    // The token Secret does not exist.
    let no_secret = json!({"provider": "linkedin", "account": {"id": fakes::LINKEDIN_ORGANIZATION_URN}, "secretRef": {"name": "gone"}});
    revoking_connection(&client, &ns, "no-app", no_app).await;
    revoking_connection(&client, &ns, "no-secret", no_secret).await;

    let before = snapshot(&client, &ns, "x-token").await;
    delete_and_wait_gone(&client, &ns, "no-app", PROMPT).await;
    let (kind, _, note) = wait_event_for(&client, &ns, "no-app", "RevokeSkipped").await;
    assert_eq!(kind, "Normal");
    assert!(note.contains("client_id"), "names what is missing: {note}");
    assert_eq!(snapshot(&client, &ns, "x-token").await, before, "the Secret changed");
    assert!(calls_with("x", "POST", "/2/oauth2/revoke", &x).is_empty(), "no revoke call without credentials");

    delete_and_wait_gone(&client, &ns, "no-secret", PROMPT).await;
    let (kind, _, note) = wait_event_for(&client, &ns, "no-secret", "RevokeSkipped").await;
    assert_eq!(kind, "Normal");
    assert!(note.contains("\"gone\""), "names the missing Secret: {note}");
    assert_no_leaks(&client, &ns, &[&x]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn turning_revoke_on_delete_off_removes_the_finalizer_and_a_deletion_revokes_nothing() {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, "revoke-off").await;
    let token = fakes::token("valid");
    secret(&client, &ns, "tt-token", &[("access_token", &token)]).await;
    secret(&client, &ns, "app", &[("client_id", "cid-app"), ("client_secret", "app-secret-value")]).await;
    let spec = json!({
        "provider": "tiktok",
        "account": {"id": fakes::TIKTOK_OPEN_ID},
        "secretRef": {"name": "tt-token"},
        "appSecretRef": {"name": "app"},
    });
    revoking_connection(&client, &ns, "conn", spec).await;
    let api = Api::<SocialConnection>::namespaced(client.clone(), &ns);
    api.patch("conn", &PatchParams::default(), &Patch::Merge(json!({"spec": {"revokeOnDelete": false}}))).await.expect("patch spec");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while api.get("conn").await.expect("get").metadata.finalizers.is_some_and(|f| !f.is_empty()) {
        assert!(std::time::Instant::now() < deadline, "the finalizer stayed after revokeOnDelete was turned off");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    delete_and_wait_gone(&client, &ns, "conn", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(calls_with("tiktok", "POST", "/v2/oauth/revoke/", &token).is_empty(), "revoked although revokeOnDelete was off");
    let reasons: Vec<String> = events_for(&client, &ns, "conn").await.into_iter().map(|e| e.1).collect();
    assert!(!reasons.iter().any(|r| r.contains("Revoke")), "{reasons:?}");
}
