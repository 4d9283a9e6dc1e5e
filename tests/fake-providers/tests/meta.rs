//! facebook, instagram, instagram-login, threads.

mod support;

use fake_providers::token;
use support::Harness;

const APP: &str = "cid-app|s3cret";

async fn debug_token(h: &Harness, provider: &str, t: &str, app: &str) -> support::Answer {
    h.get(provider, "/v24.0/debug_token", &[("input_token", t), ("access_token", app)]).await
}

#[tokio::test]
async fn debug_token_of_a_valid_user_token_is_fb1_user() {
    let h = Harness::start().await;
    let a = debug_token(&h, "facebook", &token("valid"), APP).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.body,
        r#"{"data":{"type":"USER","is_valid":true,"expires_at":1893456000,"data_access_expires_at":1893456000,"scopes":["pages_show_list","pages_manage_posts"],"granular_scopes":[{"scope":"pages_manage_posts","target_ids":["2002"]}],"user_id":"3003"}}"#
    );
    let recorded = &h.fakes.requests("facebook")[0];
    assert_eq!(recorded.query_param("access_token"), Some(APP));
    assert!(recorded.query.contains("%7C"));
}

#[tokio::test]
async fn debug_token_with_a_bad_secret_is_d1() {
    let h = Harness::start().await;
    let a = debug_token(&h, "facebook", &token("valid"), "cid-app|bad-secret").await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"]["code"], 190);
    assert_eq!(a.json()["error"]["message"], "Invalid OAuth access token signature.");
}

#[tokio::test]
async fn debug_token_carries_g1_to_g8_in_the_d4_form() {
    let h = Harness::start().await;
    let a = debug_token(&h, "facebook", &token("g5"), APP).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["data"]["is_valid"], false);
    assert_eq!(a.json()["data"]["error"]["code"], 190);
    assert_eq!(a.json()["data"]["error"]["subcode"], 467);
    assert!(a.json().get("error").is_none());
}

#[tokio::test]
async fn an_unknown_scenario_on_debug_token_is_g8_in_the_d4_form() {
    let h = Harness::start().await;
    let a = debug_token(&h, "facebook", &token("no-such-thing"), APP).await;
    assert_eq!(
        a.body,
        r#"{"data":{"type":"USER","is_valid":false,"expires_at":1893456000,"scopes":[],"error":{"code":190,"message":"Invalid OAuth access token."}}}"#
    );
}

#[tokio::test]
async fn expiring_reports_an_expiry_three_days_ahead() {
    let h = Harness::start().await;
    let a = debug_token(&h, "facebook", &token("expiring"), APP).await;
    let expires_at = a.json()["data"]["expires_at"].as_i64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((expires_at - (now + 3 * 86_400)).abs() < 10);
}

#[tokio::test]
async fn debug_token_requires_the_app_token() {
    let h = Harness::start().await;
    let a = h.get("facebook", "/v24.0/debug_token", &[("input_token", &token("valid"))]).await;
    assert_eq!(a.status, 400);
    assert!(a.json()["fake_error"].as_str().unwrap().contains("access_token"));
}

#[tokio::test]
async fn graph_calls_without_a_version_prefix_are_refused() {
    let h = Harness::start().await;
    let a = h.get("facebook", "/me", &[("fields", "id,name"), ("access_token", &token("page"))]).await;
    assert_eq!(a.status, 400);
    assert!(a.json()["fake_error"].as_str().unwrap().contains("/vNN.N/"));
}

#[tokio::test]
async fn fb2_of_a_page_token_is_the_page_and_fb_c_is_another() {
    let h = &Harness::start().await;
    let me = |t: String| async move { h.get("facebook", "/v99.1/me", &[("fields", "id,name"), ("access_token", &t)]).await };
    assert_eq!(me(token("page")).await.body, r#"{"id":"2002","name":"Example Page"}"#);
    assert_eq!(me(token("fb-c")).await.json()["id"], "2999");
    assert_eq!(me(token("valid")).await.json()["id"], "3003");
}

#[tokio::test]
async fn a_token_in_the_authorization_header_of_a_graph_call_is_refused() {
    let h = Harness::start().await;
    let a = h.get_bearer("facebook", "/v24.0/me", &[("fields", "id,name")], &token("page")).await;
    assert_eq!(a.status, 400);
}

#[tokio::test]
async fn g13_on_fb3_carries_the_business_use_case_header() {
    let h = Harness::start().await;
    let a =
        h.get("facebook", "/v24.0/me/accounts", &[("fields", "id,name,tasks"), ("limit", "100"), ("access_token", &token("g13"))]).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"]["code"], 80001);
    assert_eq!(
        a.header("x-business-use-case-usage"),
        Some(r#"{"2002":[{"type":"pages","call_count":100,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":5}]}"#)
    );
}

#[tokio::test]
async fn fb3_requires_its_fields_and_limit() {
    let h = Harness::start().await;
    let a = h.get("facebook", "/v24.0/me/accounts", &[("fields", "id,name"), ("access_token", &token("valid"))]).await;
    assert_eq!(a.status, 400);
    assert!(a.json()["fake_error"].as_str().unwrap().contains("fields"));
}

#[tokio::test]
async fn fb3_paging_lists_the_page_only_after_the_cursor() {
    let h = Harness::start().await;
    let t = token("fb3-paging");
    let base = [("fields", "id,name,tasks"), ("limit", "100"), ("access_token", t.as_str())];
    let first = h.get("facebook", "/v24.0/me/accounts", &base).await.json();
    assert_eq!(first["data"][0]["id"], "2999");
    assert_eq!(first["paging"]["cursors"]["after"], "QR");
    let next = first["paging"]["next"].as_str().unwrap().to_string();
    let mut with_after = base.to_vec();
    with_after.push(("after", "QR"));
    let second = h.get("facebook", "/v24.0/me/accounts", &with_after).await.json();
    assert_eq!(second["data"][0]["id"], "2002");
    assert!(second["paging"].get("next").is_none());
    // Following paging.next is itself recorded as a contract violation.
    assert!(h.fakes.contract_violations().is_empty());
    let followed = h.send(h.http.get(next)).await;
    assert_eq!(followed.status, 400);
    assert_eq!(h.fakes.contract_violations().len(), 1);
}

#[tokio::test]
async fn fb_f_lists_the_page_without_the_required_task() {
    let h = Harness::start().await;
    let a =
        h.get("facebook", "/v24.0/me/accounts", &[("fields", "id,name,tasks"), ("limit", "100"), ("access_token", &token("fb-f"))]).await;
    assert_eq!(a.json()["data"][0]["id"], "2002");
    assert_eq!(a.json()["data"][0]["tasks"], serde_json::json!(["ADVERTISE"]));
}

#[tokio::test]
async fn exchange_mints_a_token_that_keeps_working() {
    let h = Harness::start().await;
    let old = token("expiring");
    let a = h
        .get(
            "facebook",
            "/v24.0/oauth/access_token",
            &[("grant_type", "fb_exchange_token"), ("client_id", "cid-app"), ("client_secret", "s3cret"), ("fb_exchange_token", &old)],
        )
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["expires_in"], 5183944);
    let new = a.json()["access_token"].as_str().unwrap().to_string();
    assert!(new.starts_with("valid__EAAnew-"), "{new}");
    assert_eq!(debug_token(&h, "facebook", &new, APP).await.json()["data"]["is_valid"], true);
}

#[tokio::test]
async fn revoking_a_user_token_kills_it() {
    let h = Harness::start().await;
    let t = token("valid");
    let url = format!("{}/v24.0/me/permissions?access_token={t}", h.fakes.url("facebook"));
    let a = h.send(h.http.delete(url)).await;
    assert_eq!(a.body, r#"{"success":true}"#);
    assert_eq!(debug_token(&h, "facebook", &t, APP).await.json()["data"]["error"]["code"], 190);
}

#[tokio::test]
async fn instagram_ig2_answers_the_account_and_ig_d_says_not_business() {
    let h = Harness::start().await;
    let ig2 = |t: String, id: &'static str| {
        let h = &h;
        async move { h.get("instagram", &format!("/v24.0/{id}"), &[("fields", "id,username"), ("access_token", &t)]).await }
    };
    let a = ig2(token("valid"), "17841400000000000").await;
    assert_eq!(a.body, r#"{"id":"17841400000000000","username":"example.shop"}"#);
    let d = ig2(token("ig-d"), "17841400000000000").await;
    assert_eq!(d.status, 400);
    assert!(d.json()["error"]["message"].as_str().unwrap().contains("not an Instagram Business"));
    let other = ig2(token("valid"), "17841400000000042").await;
    assert_eq!(other.json()["error"]["error_subcode"], 33);
}

#[tokio::test]
async fn instagram_g13_says_type_instagram() {
    let h = Harness::start().await;
    let a = h.get("instagram", "/v24.0/17841400000000000", &[("fields", "id,username"), ("access_token", &token("g13"))]).await;
    assert!(a.header("x-business-use-case-usage").unwrap().contains(r#""type":"instagram""#));
}

#[tokio::test]
async fn instagram_ig3_finds_the_page_by_its_linked_account() {
    let h = Harness::start().await;
    let a = h
        .get(
            "instagram",
            "/v24.0/me/accounts",
            &[("fields", "id,tasks,instagram_business_account"), ("limit", "100"), ("access_token", &token("valid"))],
        )
        .await;
    assert_eq!(
        a.body,
        r#"{"data":[{"id":"2002","tasks":["CREATE_CONTENT","MODERATE","ANALYZE"],"instagram_business_account":{"id":"17841400000000000"}}]}"#
    );
}

#[tokio::test]
async fn instagram_login_il1_and_il_c() {
    let h = Harness::start().await;
    let fields = "id,user_id,username,account_type";
    let a = h.get("instagram-login", "/v24.0/me", &[("fields", fields), ("access_token", &token("valid"))]).await;
    assert_eq!(a.body, r#"{"id":"9001","user_id":"17841400000000001","account_type":"MEDIA_CREATOR"}"#);
    let c = h.get("instagram-login", "/v24.0/me", &[("fields", fields), ("access_token", &token("il-c"))]).await;
    assert_eq!(c.json()["account_type"], "PERSONAL");
    let g6 = h.get("instagram-login", "/v24.0/me", &[("fields", fields), ("access_token", &token("g6"))]).await;
    assert_eq!(g6.json()["error"]["error_subcode"], 463);
}

#[tokio::test]
async fn instagram_login_refresh_answers_il2() {
    let h = Harness::start().await;
    let a =
        h.get("instagram-login", "/refresh_access_token", &[("grant_type", "ig_refresh_token"), ("access_token", &token("valid"))]).await;
    assert_eq!(a.status, 200);
    assert!(a.json()["access_token"].as_str().unwrap().starts_with("valid__IGAAnew-"));
    assert_eq!(a.json()["expires_in"], 5183944);
}

#[tokio::test]
async fn threads_th1_and_retry_after_on_g12() {
    let h = Harness::start().await;
    let a = h.get("threads", "/v1.0/me", &[("fields", "id,username"), ("access_token", &token("valid"))]).await;
    assert_eq!(a.body, r#"{"id":"7007","username":"example"}"#);
    let g12 = h.get("threads", "/v1.0/me", &[("fields", "id,username"), ("access_token", &token("g12"))]).await;
    assert_eq!(g12.status, 400);
    assert_eq!(g12.header("retry-after"), Some("60"));
    let wrong = h.get("threads", "/v24.0/me", &[("fields", "id,username"), ("access_token", &token("valid"))]).await;
    assert_eq!(wrong.status, 400);
}
