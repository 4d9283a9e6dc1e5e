//! Property test: arbitrary provider answers (status, `Retry-After`, `x-rate-limit-reset`,
//! `X-Business-Use-Case-Usage`, bodies with provider-shaped fields holding arbitrary numbers)
//! go through every provider's classification and then through the decision and scheduling
//! arithmetic. None of it may panic, every retry delay stays within [1 s, 24 h], and an
//! outage (5xx) never yields a verdict about the token.

use std::time::Duration;

use jiff::Timestamp;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use wiremock::matchers::any as any_request;
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::decision::{DecisionInput, Findings, decide};
use crate::api::{ProviderKind, RequiredRole, SocialConnectionSpec, SocialConnectionStatus};
use crate::providers::endpoints::Endpoints;
use crate::providers::{self, AppCredentials, CheckInput, ProviderHttp};
use crate::redact::SecretString;

/// One hostile answer.
#[derive(Clone, Debug)]
struct Hostile {
    status: u16,
    retry_after: Option<String>,
    rate_limit_reset: Option<String>,
    buc: Option<String>,
    body: Vec<u8>,
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(json!(1e300)),
        Just(json!(-1e300)),
        Just(json!(0)),
        any::<f64>().prop_filter("JSON numbers are finite", |f| f.is_finite()).prop_map(Value::from),
        "[0-9]{1,30}".prop_map(Value::from),
        Just(Value::Null),
    ]
}

fn word() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("OAuthException")),
        Just(json!("invalid_token")),
        Just(json!("invalid_grant")),
        Just(json!("quotaExceeded")),
        Just(json!("access_token_invalid")),
        Just(json!("revoked")),
        Just(json!("expired")),
        Just(json!("USER")),
        Just(json!("PAGE")),
        Just(json!("administrator")),
        "\\PC{0,40}".prop_map(Value::from),
        Just(json!("x".repeat(5000))),
    ]
}

/// Bodies shaped like the providers' answers, with arbitrary values in their fields.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let shaped = prop_oneof![
        (number(), number(), word()).prop_map(|(c, s, m)| json!({"error": {"code": c, "error_subcode": s, "message": m, "type": "OAuthException"}})),
        (any::<bool>(), word(), number(), number(), number(), number(), number()).prop_map(|(v, t, e, d, i, c, s)| {
            json!({"data": {"is_valid": v, "type": t, "expires_at": e, "data_access_expires_at": d, "issued_at": i,
                "scopes": ["pages_show_list"], "user_id": "3003", "error": {"code": c, "subcode": s}}})
        }),
        (number(), word(), number()).prop_map(|(e, sc, ra)| json!({"expires_in": e, "scope": sc, "retry_after": ra})),
        (any::<bool>(), number(), number(), number(), word()).prop_map(|(ok, code, ra, mig, d)| {
            json!({"ok": ok, "error_code": code, "description": d, "parameters": {"retry_after": ra, "migrate_to_chat_id": mig},
                "result": {"id": code, "status": d}})
        }),
        (any::<bool>(), word(), number(), number(), word()).prop_map(|(a, st, cr, ex, sc)| {
            json!({"active": a, "status": st, "created_at": cr, "expires_at": ex, "scope": sc, "code": st, "serviceErrorCode": cr})
        }),
        (word(), word()).prop_map(|(id, code)| json!({"data": {"id": id, "user": {"open_id": id}}, "error": {"code": code, "errors": [{"reason": code}], "status": code}})),
        (word(), word()).prop_map(|(id, role)| json!({"id": id, "user_id": id, "sub": id, "items": [{"id": id}], "role": role,
            "elements": [{"organization": id, "role": role, "state": "APPROVED"}], "account_type": role,
            "paging": {"next": "x", "cursors": {"after": "QR"}}})),
    ]
    .prop_map(|v| serde_json::to_vec(&v).unwrap_or_default());
    prop_oneof![
        6 => shaped,
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => (1usize..3000).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()),
    ]
}

fn delay_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        "[0-9]{1,40}",
        "-[0-9]{1,25}",
        Just("Fri, 31 Dec 9999 23:59:59 GMT".to_string()),
        Just("Thu, 01 Jan 1970 00:00:00 GMT".to_string()),
        "[ -~]{0,30}",
    ]
}

fn hostile() -> impl Strategy<Value = Hostile> {
    let status = prop_oneof![Just(200u16), Just(400), Just(401), Just(403), Just(404), Just(429), Just(500), Just(503), 100u16..600];
    let buc =
        (number(), word()).prop_map(|(est, kind)| json!({"2002": [{"type": kind, "estimated_time_to_regain_access": est}]}).to_string());
    (status, prop::option::of(delay_text()), prop::option::of(delay_text()), prop::option::of(buc), body())
        .prop_map(|(status, retry_after, rate_limit_reset, buc, body)| Hostile { status, retry_after, rate_limit_reset, buc, body })
}

fn template(h: &Hostile) -> ResponseTemplate {
    let mut t = ResponseTemplate::new(h.status).set_body_raw(h.body.clone(), "application/json");
    if let Some(v) = &h.retry_after {
        t = t.insert_header("retry-after", v.as_str());
    }
    if let Some(v) = &h.rate_limit_reset {
        t = t.insert_header("x-rate-limit-reset", v.as_str());
    }
    if let Some(v) = &h.buc {
        t = t.insert_header("x-business-use-case-usage", v.as_str());
    }
    t
}

const ACCOUNTS: [(ProviderKind, &str); 11] = [
    (ProviderKind::Facebook, "2002"),
    (ProviderKind::Instagram, "17841400000000000"),
    (ProviderKind::InstagramLogin, "17841400000000001"),
    (ProviderKind::Threads, "7007"),
    (ProviderKind::Linkedin, "urn:li:organization:5001"),
    (ProviderKind::X, "4004"),
    (ProviderKind::Pinterest, "5005"),
    (ProviderKind::Youtube, "UCexample00000000000000"),
    (ProviderKind::GoogleBusinessProfile, "accounts/123456789"),
    (ProviderKind::Telegram, "@channel"),
    (ProviderKind::Tiktok, "tt-open-1"),
];

#[test]
fn hostile_answers_never_panic_and_delays_stay_within_a_day() {
    // proptest builds the value trees of these wide strategies on the stack; in debug builds
    // that needs more than the test thread's 2 MiB.
    let run = std::thread::Builder::new().stack_size(64 * 1024 * 1024).spawn(run_hostile_answers).unwrap();
    if let Err(panic) = run.join() {
        std::panic::resume_unwind(panic);
    }
}

fn run_hostile_answers() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let server = rt.block_on(MockServer::start());
    let sources: Vec<String> = ProviderKind::ALL.iter().map(|k| format!("{}={}", k.as_str(), server.uri())).collect();
    let http = ProviderHttp::with_endpoints(Endpoints::from_sources(&sources, None).unwrap()).unwrap();
    let token = SecretString::new("1234567:hostile-token_value");
    let refresh = SecretString::new("refresh-hostile");
    let app = AppCredentials { client_id: "cid".into(), client_secret: Some(SecretString::new("csec-hostile")) };

    let mut runner = TestRunner::new(Config { cases: 96, failure_persistence: None, ..Config::default() });
    runner
        .run(&(hostile(), any::<bool>(), 0i32..=i32::MAX, 0.0f64..1.0), |(h, with_app, failures, jitter)| {
            rt.block_on(async {
                server.reset().await;
                Mock::given(any_request()).respond_with(template(&h)).mount(&server).await;
            });
            let now = Timestamp::now();
            for (kind, account) in ACCOUNTS {
                let provider = providers::for_kind(kind);
                let input = CheckInput {
                    account_id: account,
                    token: &token,
                    refresh_token: Some(&refresh),
                    app: with_app.then_some(&app),
                    required_role: Some(RequiredRole::Editor),
                    known_expires_at: None,
                    token_issued_at: Some(now),
                    now,
                };
                // Boxed: block_on keeps its future on the test thread's stack, tokio tasks do not.
                let report = rt.block_on(Box::pin(provider.check(&http, &input)));
                if let Some(d) = report.interruption.as_ref().and_then(|i| i.retry_after) {
                    prop_assert!(d <= Duration::from_secs(24 * 3600), "{kind:?}: retry_after {d:?} for {h:?}");
                }
                if (500..600).contains(&h.status) {
                    prop_assert!(report.token.is_none(), "{kind:?}: verdict {:?} on HTTP {}", report.token, h.status);
                }
                let spec = SocialConnectionSpec::new(kind, account, "tok");
                let previous = SocialConnectionStatus { consecutive_failures: Some(failures), ..Default::default() };
                let decision = decide(DecisionInput {
                    now,
                    answered_at: Timestamp::now(),
                    refresh: Default::default(),
                    generation: Some(1),
                    object_key: "ns/conn",
                    spec: &spec,
                    previous: &previous,
                    profile: provider.profile(),
                    default_scopes: provider.default_scopes(account),
                    client_id: Some("cid"),
                    default_redirect_url: None,
                    graph_version: "v24.0",
                    connect_link: None,
                    check_request: None,
                    findings: Findings::Checked {
                        report: Box::new(report),
                        secret_expires_at: None,
                        secret_scopes: None,
                        fingerprint: "abcd".into(),
                    },
                    jitter: (jitter, jitter),
                });
                prop_assert!(decision.requeue_after >= Duration::from_secs(1));
                prop_assert!(decision.requeue_after <= Duration::from_secs(24 * 3600 + 60), "{kind:?}: {:?}", decision.requeue_after);
                let serialized = serde_json::to_vec(&decision.status).unwrap_or_default();
                prop_assert!(serialized.len() < 64 * 1024, "{kind:?}: status of {} bytes", serialized.len());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn json_nested_ten_thousand_levels_deep_is_a_transient_answer_for_every_provider() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let server = rt.block_on(MockServer::start());
    let sources: Vec<String> = ProviderKind::ALL.iter().map(|k| format!("{}={}", k.as_str(), server.uri())).collect();
    let http = ProviderHttp::with_endpoints(Endpoints::from_sources(&sources, None).unwrap()).unwrap();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    rt.block_on(Mock::given(any_request()).respond_with(ResponseTemplate::new(200).set_body_raw(deep, "application/json")).mount(&server));
    let token = SecretString::new("1234567:hostile-token_value");
    let now = Timestamp::now();
    for (kind, account) in ACCOUNTS {
        let input = CheckInput {
            account_id: account,
            token: &token,
            refresh_token: None,
            app: None,
            required_role: None,
            known_expires_at: None,
            token_issued_at: Some(now),
            now,
        };
        let report = rt.block_on(Box::pin(providers::for_kind(kind).check(&http, &input)));
        assert_eq!(report.token, None, "{kind:?}");
        assert!(report.interruption.is_some(), "{kind:?}");
    }
}
