//! The API of the crate and what every fake checks of every request.

mod support;

use std::time::Duration;

use fake_providers::{PROVIDERS, token};
use support::{Harness, enc};

#[tokio::test]
async fn endpoint_args_and_env_name_every_provider_with_its_own_port() {
    let h = Harness::start().await;
    let args = h.fakes.endpoint_args();
    assert_eq!(args.len(), 22);
    for (pair, provider) in args.chunks(2).zip(PROVIDERS) {
        assert_eq!(pair[0], "--provider-endpoint");
        assert_eq!(pair[1], format!("{provider}={}", h.fakes.url(provider)));
        assert!(h.fakes.url(provider).starts_with("http://127.0.0.1:"));
    }
    let env = h.fakes.endpoints_env();
    let pairs: Vec<&str> = env.split(',').collect();
    assert_eq!(pairs.len(), 11);
    assert_eq!(pairs[0], format!("facebook={}", h.fakes.url("facebook")));
    let mut ports: Vec<u16> = PROVIDERS.iter().map(|p| h.fakes.port(p)).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 11);
}

#[tokio::test]
async fn fixed_port_base_assigns_ports_in_provider_order() {
    // A base unlikely to be taken; retried on a few bases in case it is.
    for base in [47_311u16, 48_411, 49_511] {
        if let Ok(fakes) = fake_providers::start_all_at(base).await {
            for (offset, provider) in (0u16..).zip(PROVIDERS) {
                assert_eq!(fakes.port(provider), base + offset);
            }
            return;
        }
    }
    panic!("no free port range found");
}

#[tokio::test]
async fn a_request_without_the_operator_user_agent_is_refused_and_recorded() {
    let h = Harness::start().await;
    let url = format!("{}/2/users/me", h.fakes.url("x"));
    let answer = h.send(reqwest::Client::new().get(url).header("accept", "application/json").bearer_auth(token("valid"))).await;
    assert_eq!(answer.status, 400);
    assert!(answer.json()["fake_error"].as_str().unwrap().contains("User-Agent"));
    let violations = h.fakes.contract_violations();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].0, "x");
    assert!(violations[0].1.fake_error.as_deref().unwrap().contains("User-Agent"));
}

#[tokio::test]
async fn a_request_without_accept_json_is_refused() {
    let h = Harness::start().await;
    let url = format!("{}/v5/user_account", h.fakes.url("pinterest"));
    let answer = h.send(reqwest::Client::builder().user_agent(support::UA).build().unwrap().get(url).bearer_auth(token("valid"))).await;
    assert_eq!(answer.status, 400);
    assert!(answer.json()["fake_error"].as_str().unwrap().contains("Accept"));
}

#[tokio::test]
async fn an_unknown_route_is_a_contract_violation() {
    let h = Harness::start().await;
    let answer = h.get_bearer("x", "/2/users/by", &[], &token("valid")).await;
    assert_eq!(answer.status, 404);
    assert_eq!(h.fakes.contract_violations().len(), 1);
}

#[tokio::test]
async fn requests_record_method_path_query_headers_and_form() {
    let h = Harness::start().await;
    let refresh = token("valid");
    h.post_form(
        "tiktok",
        "/v2/oauth/token/",
        &[("client_key", "cid-tt"), ("client_secret", "s"), ("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    let recorded = h.fakes.requests("tiktok");
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v2/oauth/token/");
    assert_eq!(r.form_param("refresh_token"), Some(refresh.as_str()));
    assert_eq!(r.header("User-Agent"), Some(support::UA));
    assert_eq!(r.header("content-type"), Some("application/x-www-form-urlencoded"));
    assert_eq!(r.status, 200);
    assert!(r.mentions(&refresh));
    assert!(r.to_string().starts_with("POST /v2/oauth/token/ "));
    assert!(r.fake_error.is_none());
    h.fakes.clear_requests();
    assert!(h.fakes.requests("tiktok").is_empty());
}

#[tokio::test]
async fn http_503_answers_503_on_every_call() {
    let h = Harness::start().await;
    let t = token("http-503");
    for _ in 0..2 {
        assert_eq!(h.get_bearer("x", "/2/users/me", &[], &t).await.status, 503);
    }
    assert_eq!(h.get("youtube", "/tokeninfo", &[("access_token", &t)]).await.status, 503);
}

#[tokio::test]
async fn valid_then_503_answers_the_first_cycle_then_503() {
    let h = Harness::start().await;
    let t = token("valid-then-503");
    let app = "cid-app|secret";
    let debug = [("input_token", t.as_str()), ("access_token", app)];
    let accounts = [("fields", "id,name,tasks"), ("limit", "100"), ("access_token", t.as_str())];
    // First cycle: debug_token, then /me/accounts, both valid.
    assert_eq!(h.get("facebook", "/v24.0/debug_token", &debug).await.status, 200);
    assert_eq!(h.get("facebook", "/v24.0/me/accounts", &accounts).await.status, 200);
    // Second cycle starts with debug_token again: 503 from now on.
    assert_eq!(h.get("facebook", "/v24.0/debug_token", &debug).await.status, 503);
    assert_eq!(h.get("facebook", "/v24.0/me/accounts", &accounts).await.status, 503);
}

#[tokio::test]
async fn slow_answers_only_after_the_operator_timeout() {
    let h = Harness::start().await;
    let url = format!("{}/v1.0/me?{}", h.fakes.url("threads"), enc(&[("fields", "id,username"), ("access_token", &token("slow")),]));
    let started = std::time::Instant::now();
    let result = h.http.get(url).timeout(Duration::from_millis(500)).send().await;
    assert!(result.is_err_and(|e| e.is_timeout()));
    assert!(started.elapsed() < Duration::from_secs(5));
    // Recorded on arrival, with the answer it would have sent.
    let recorded = h.fakes.requests("threads");
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].status, 200);
}

#[tokio::test]
async fn dropping_the_fakes_stops_the_servers() {
    let fakes = fake_providers::start_all().await.unwrap();
    let url = format!("{}/2/users/me", fakes.url("x"));
    drop(fakes);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let result = support::operator_client().get(url).send().await;
    assert!(result.is_err());
}

#[tokio::test]
async fn dropping_the_fakes_also_ends_kept_alive_connections() {
    let fakes = fake_providers::start_all().await.unwrap();
    let client = support::operator_client();
    let url = format!("{}/2/users/me", fakes.url("x"));
    let first = client.get(&url).bearer_auth(token("valid")).send().await.unwrap();
    assert_eq!(first.status(), 200);
    first.text().await.unwrap();
    drop(fakes);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(client.get(&url).bearer_auth(token("valid")).send().await.is_err());
}

#[test]
fn tokens_carry_their_scenario_and_a_unique_nonce() {
    let a = fake_providers::token("valid");
    let b = fake_providers::token("valid");
    assert!(a.starts_with("valid__"));
    assert_ne!(a, b);
    let tg = fake_providers::telegram_token("tg-b");
    assert!(tg.starts_with("6006:tg-b__"));
    assert!(fake_providers::scenarios("linkedin").unwrap().contains(&"li-c-young"));
    assert!(fake_providers::scenarios("myspace").is_none());
}
