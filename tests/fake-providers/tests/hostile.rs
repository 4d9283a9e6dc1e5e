//! The hostile scenarios: answers no provider should send, which the operator must survive.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use fake_providers::{HOSTILE_SCENARIOS, HUGE_BODY_BYTES, UNIVERSAL_SCENARIOS, scenarios, telegram_token, token};
use support::{Harness, UA};

/// `GET /2/users/me` on the x fake with `token`: the response, body unread.
async fn x_me(h: &Harness, token: &str) -> reqwest::Response {
    h.http.get(format!("{}/2/users/me", h.fakes.url("x"))).bearer_auth(token).send().await.expect("request")
}

#[tokio::test]
async fn every_hostile_scenario_is_universal_and_documented() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for s in HOSTILE_SCENARIOS {
        assert!(UNIVERSAL_SCENARIOS.contains(&s), "{s}");
        assert!(readme.contains(&format!("`{s}`")), "README does not document {s}");
    }
    for (provider, s) in [("facebook", "buc-1e300"), ("instagram", "buc-1e300"), ("x", "x-reset-max"), ("telegram", "tg-retry-max")] {
        assert!(scenarios(provider).unwrap().contains(&s), "{provider}: {s}");
        assert!(readme.contains(&format!("`{s}`")), "README does not document {s}");
    }
}

#[tokio::test]
async fn huge_body_streams_far_more_than_a_mebibyte_without_a_content_length() {
    let h = Harness::start().await;
    let mut response = x_me(&h, &token("huge-body")).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-length").is_none(), "the size must not be announced");
    let mut read = 0usize;
    let mut first = Vec::new();
    while read < 8 << 20 {
        let chunk = response.chunk().await.expect("chunk").expect("the body goes on");
        if first.is_empty() {
            first = chunk.to_vec();
        }
        read += chunk.len();
    }
    assert!(first.starts_with(b"{\"data\":\""), "{:?}", String::from_utf8_lossy(&first));
    assert_eq!(HUGE_BODY_BYTES, 2 << 30);
    let recorded = h.fakes.requests("x");
    assert!(recorded[0].response_body.contains("2147483648 bytes"), "{}", recorded[0].response_body);
}

#[tokio::test]
async fn trickle_body_sends_its_headers_at_once_and_then_a_byte_every_half_second() {
    let h = Harness::start().await;
    let started = Instant::now();
    let mut response = x_me(&h, &token("trickle-body")).await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2), "headers took {:?}", started.elapsed());
    let mut body = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        match tokio::time::timeout(Duration::from_millis(700), response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            Ok(other) => panic!("the trickle ended early: {other:?}"),
            Err(_) => panic!("no byte for 700 ms"),
        }
    }
    assert!(body.starts_with(b"{\"id\":\"1"), "{:?}", String::from_utf8_lossy(&body));
    assert!((9..=16).contains(&body.len()), "{} bytes in 3 s", body.len());
}

#[test]
fn reset_mid_body_resets_the_connection_after_half_the_announced_body() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let fakes = rt.block_on(fake_providers::start_all()).unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", fakes.port("x"))).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /2/users/me HTTP/1.1\r\nHost: x\r\nUser-Agent: {UA}\r\nAccept: application/json\r\nAuthorization: Bearer {}\r\n\r\n",
        token("reset-mid-body")
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let err = loop {
        match s.read(&mut buf) {
            Ok(0) => panic!("closed with FIN, not reset, after {} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset, "{err}");
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200") && text.contains("content-length: 4096"), "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert_eq!(body.len(), 2048, "half of the announced body before the reset");
}

#[tokio::test]
async fn invalid_utf8_and_deep_json_are_200_answers_no_parser_should_trust() {
    let h = Harness::start().await;
    let bytes = x_me(&h, &token("invalid-utf8")).await.bytes().await.unwrap();
    assert!(std::str::from_utf8(&bytes).is_err(), "{bytes:?}");
    let deep = x_me(&h, &token("deep-json")).await.text().await.unwrap();
    assert_eq!(deep.len(), 20_000);
    assert!(deep.starts_with(&"[".repeat(10_000)) && deep.ends_with(&"]".repeat(10_000)));
    assert!(serde_json::from_str::<serde_json::Value>(&deep).is_err(), "serde_json's recursion limit refuses it");
}

#[tokio::test]
async fn out_of_range_retry_delays_in_headers_and_bodies() {
    let h = Harness::start().await;
    let r = x_me(&h, &token("retry-after-max")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "18446744073709551615");
    let r = x_me(&h, &token("x-reset-max")).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-rate-limit-reset"], "18446744073709551615");
    let tg = h.get("telegram", &format!("/bot{}/getMe", telegram_token("tg-retry-max")), &[]).await;
    assert_eq!(tg.status, 429);
    assert_eq!(tg.json()["parameters"]["retry_after"].as_u64(), Some(u64::MAX));
    let fb = h.get("facebook", "/v24.0/me", &[("access_token", &token("buc-1e300")), ("fields", "id,name")]).await;
    assert_eq!(fb.status, 400);
    assert_eq!(fb.json()["error"]["code"], 80001);
    let buc: serde_json::Value = serde_json::from_str(fb.header("x-business-use-case-usage").unwrap()).unwrap();
    assert_eq!(buc["2002"][0]["estimated_time_to_regain_access"].as_f64(), Some(1e300));
}

#[tokio::test]
async fn valid_then_a_hostile_answer_starts_with_one_valid_cycle_and_delay_answers_late() {
    let h = Harness::start().await;
    let t = token("valid-then-invalid-utf8");
    let first = x_me(&h, &t).await.text().await.unwrap();
    assert!(first.contains("4004"), "{first}");
    let second = x_me(&h, &t).await.bytes().await.unwrap();
    assert!(std::str::from_utf8(&second).is_err(), "the second cycle is hostile: {second:?}");

    let started = Instant::now();
    let late = x_me(&h, &token("delay-2s")).await.text().await.unwrap();
    assert!(late.contains("4004"), "{late}");
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
    let recorded = h.fakes.requests("x");
    let last = recorded.last().unwrap();
    assert!(last.received_at <= std::time::SystemTime::now() - Duration::from_secs(2), "recorded when it arrived, not when answered");
}
