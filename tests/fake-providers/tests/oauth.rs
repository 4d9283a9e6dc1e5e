//! linkedin, x, pinterest, youtube, google-business-profile, telegram, tiktok.

mod support;

use fake_providers::{telegram_token, token};
use support::Harness;

async fn introspect(h: &Harness, t: &str, secret: &str) -> support::Answer {
    h.post_form("linkedin", "/oauth/v2/introspectToken", &[("client_id", "cid-li"), ("client_secret", secret), ("token", t)]).await
}

async fn acls(h: &Harness, t: &str, version: Option<&str>) -> support::Answer {
    let url = format!("{}/rest/organizationAcls?q=roleAssignee&state=APPROVED&start=0&count=100", h.fakes.url("linkedin"));
    let mut request = h.http.get(url).bearer_auth(t).header("X-Restli-Protocol-Version", "2.0.0");
    if let Some(v) = version {
        request = request.header("LinkedIn-Version", v);
    }
    h.send(request).await
}

#[tokio::test]
async fn linkedin_introspection_of_a_valid_token_is_li1() {
    let h = Harness::start().await;
    let a = introspect(&h, &token("valid"), "s").await;
    assert_eq!(
        a.body,
        r#"{"active":true,"status":"active","created_at":1760000000,"expires_at":1893456000,"scope":"openid,profile,rw_organization_admin"}"#
    );
}

#[tokio::test]
async fn linkedin_introspection_with_a_bad_secret_is_li_e() {
    let h = Harness::start().await;
    let a = introspect(&h, &token("valid"), "bad-secret").await;
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"], "invalid_client");
}

#[tokio::test]
async fn linkedin_introspection_needs_a_form_body() {
    let h = Harness::start().await;
    let url = format!("{}/oauth/v2/introspectToken", h.fakes.url("linkedin"));
    let a = h.send(h.http.post(url).header("content-type", "application/json").body("{}")).await;
    assert_eq!(a.status, 400);
    assert!(a.json()["fake_error"].as_str().unwrap().contains("x-www-form-urlencoded"));
}

#[tokio::test]
async fn linkedin_young_token_is_revoked_twice_then_active_with_the_same_created_at() {
    let h = Harness::start().await;
    let t = token("li-c-young");
    let first = introspect(&h, &t, "s").await.json();
    assert_eq!(first["status"], "revoked");
    let created = first["created_at"].as_i64().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - 60 - created).abs() < 5);
    let second = introspect(&h, &t, "s").await.json();
    assert_eq!(second["status"], "revoked");
    assert_eq!(second["created_at"], created);
    let third = introspect(&h, &t, "s").await.json();
    assert_eq!(third["status"], "active");
    assert_eq!(third["active"], true);
    assert_eq!(third["created_at"], created);
    assert_eq!(third["expires_at"], 1893456000);
}

#[tokio::test]
async fn linkedin_acls_need_the_version_headers() {
    let h = Harness::start().await;
    let t = token("valid");
    let missing = acls(&h, &t, None).await;
    assert_eq!(missing.status, 400);
    assert!(missing.json()["fake_error"].as_str().unwrap().contains("LinkedIn-Version"));
    let ok = acls(&h, &t, Some("202603")).await;
    assert_eq!(ok.json()["elements"][0]["role"], "ADMINISTRATOR");
    assert_eq!(acls(&h, &token("li-l"), Some("202603")).await.json()["elements"][0]["role"], "ANALYST");
    assert_eq!(acls(&h, &token("li-n"), Some("202603")).await.status, 403);
    assert_eq!(acls(&h, &token("li-f"), Some("202603")).await.json()["code"], "REVOKED_ACCESS_TOKEN");
}

#[tokio::test]
async fn linkedin_userinfo_li_j_is_403_and_li_g_is_expired() {
    let h = Harness::start().await;
    let ok = h.get_bearer("linkedin", "/v2/userinfo", &[], &token("valid")).await;
    assert_eq!(ok.body, r#"{"sub":"abc123","name":"Example Member"}"#);
    let j = h.get_bearer("linkedin", "/v2/userinfo", &[], &token("li-j")).await;
    assert_eq!(j.status, 403);
    assert_eq!(j.json()["code"], "ACCESS_DENIED");
    let g = h.get_bearer("linkedin", "/v2/userinfo", &[], &token("li-g")).await;
    assert_eq!((g.status, g.json()["serviceErrorCode"].as_i64()), (401, Some(65602)));
}

#[tokio::test]
async fn linkedin_refresh_keeps_the_refresh_token_alive() {
    let h = Harness::start().await;
    let r = token("valid");
    let form = [("grant_type", "refresh_token"), ("refresh_token", r.as_str()), ("client_id", "cid-li"), ("client_secret", "s")];
    for _ in 0..2 {
        let a = h.post_form("linkedin", "/oauth/v2/accessToken", &form).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.json()["refresh_token"], r.as_str());
        assert!(a.json()["access_token"].as_str().unwrap().starts_with("valid__AQVnew-"));
    }
    let dead = token("li4-400");
    let mut bad = form;
    bad[1].1 = &dead;
    let a = h.post_form("linkedin", "/oauth/v2/accessToken", &bad).await;
    assert_eq!((a.status, a.json()["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn x_me_and_the_rate_limit_reset_header() {
    let h = Harness::start().await;
    let a = h.get_bearer("x", "/2/users/me", &[], &token("valid")).await;
    assert_eq!(a.body, r#"{"data":{"id":"4004","name":"Example","username":"example"}}"#);
    let g = h.get_bearer("x", "/2/users/me", &[], &token("x-g")).await;
    assert_eq!(g.status, 429);
    let reset: i64 = g.header("x-rate-limit-reset").unwrap().parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((reset - now - 60).abs() < 5);
    assert_eq!(h.get_bearer("x", "/2/users/me", &[], &token("nonsense")).await.status, 401);
}

#[tokio::test]
async fn x_token_placement_in_the_query_is_refused() {
    let h = Harness::start().await;
    let a = h.get("x", "/2/users/me", &[("access_token", &token("valid"))]).await;
    assert_eq!(a.status, 400);
    assert!(a.json()["fake_error"].as_str().unwrap().contains("Bearer"));
}

#[tokio::test]
async fn x_refresh_rotates_and_a_reused_refresh_token_is_x2_c() {
    let h = Harness::start().await;
    let r = token("valid");
    let form = [("grant_type", "refresh_token"), ("refresh_token", r.as_str()), ("client_id", "cid-x")];
    let a = h.post_form("x", "/2/oauth2/token", &form).await;
    assert_eq!(a.status, 200);
    let new_refresh = a.json()["refresh_token"].as_str().unwrap().to_string();
    assert!(new_refresh.starts_with("valid__XRnew-"));
    let again = h.post_form("x", "/2/oauth2/token", &form).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "invalid_request");
    // The new one works once.
    let form2 = [("grant_type", "refresh_token"), ("refresh_token", new_refresh.as_str()), ("client_id", "cid-x")];
    assert_eq!(h.post_form("x", "/2/oauth2/token", &form2).await.status, 200);
    // The minted access token is valid.
    let access = a.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(h.get_bearer("x", "/2/users/me", &[], &access).await.status, 200);
}

#[tokio::test]
async fn x_refresh_with_a_bad_basic_secret_is_x2_b() {
    let h = Harness::start().await;
    let r = token("valid");
    let form = [("grant_type", "refresh_token"), ("refresh_token", r.as_str()), ("client_id", "cid-x")];
    let a = h.post_form_basic("x", "/2/oauth2/token", &form, "cid-x", "bad-secret").await;
    assert_eq!((a.status, a.json()["error"].as_str()), (401, Some("unauthorized_client")));
    // A failed refresh does not use the token up.
    let ok = h.post_form_basic("x", "/2/oauth2/token", &form, "cid-x", "good").await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn pinterest_refresh_needs_basic_and_rotates() {
    let h = Harness::start().await;
    let r = token("valid");
    let form = [("grant_type", "refresh_token"), ("refresh_token", r.as_str())];
    let no_basic = h.post_form("pinterest", "/v5/oauth/token", &form).await;
    assert_eq!(no_basic.status, 400);
    assert!(no_basic.json()["fake_error"].as_str().unwrap().contains("Basic"));
    let a = h.post_form_basic("pinterest", "/v5/oauth/token", &form, "cid-pi", "s").await;
    assert_eq!(a.status, 200);
    assert!(a.json()["access_token"].as_str().unwrap().starts_with("valid__pina_new-"));
    let again = h.post_form_basic("pinterest", "/v5/oauth/token", &form, "cid-pi", "s").await;
    assert_eq!((again.status, again.json()["code"].as_i64()), (401, Some(283)));
}

#[tokio::test]
async fn pinterest_user_account_scenarios() {
    let h = Harness::start().await;
    let a = h.get_bearer("pinterest", "/v5/user_account", &[], &token("valid")).await;
    assert_eq!(a.body, r#"{"account_type":"BUSINESS","id":"5005","username":"exampleshop"}"#);
    let d = h.get_bearer("pinterest", "/v5/user_account", &[], &token("pi-d")).await;
    assert_eq!((d.status, d.json()["code"].as_i64()), (401, Some(3)));
    let f = h.get_bearer("pinterest", "/v5/user_account", &[], &token("pi-f")).await;
    assert_eq!((f.status, f.json()["code"].as_i64()), (429, Some(8)));
}

#[tokio::test]
async fn youtube_tokeninfo_channels_and_revoke() {
    let h = Harness::start().await;
    let t = token("valid");
    let info = h.get("youtube", "/tokeninfo", &[("access_token", &t)]).await;
    assert_eq!(info.json()["expires_in"], "3599");
    let ch = h.get_bearer("youtube", "/youtube/v3/channels", &[("part", "id"), ("mine", "true")], &t).await;
    assert_eq!(ch.body, r#"{"kind":"youtube#channelListResponse","items":[{"id":"UCexample00000000000000"}]}"#);
    let f = h.get_bearer("youtube", "/youtube/v3/channels", &[("part", "id"), ("mine", "true")], &token("yt-f")).await;
    assert_eq!(f.status, 403);
    assert_eq!(f.json()["error"]["errors"][0]["reason"], "insufficientPermissions");
    // GO3: form content type, empty body, token in the query.
    let url = format!("{}/revoke?token={t}", h.fakes.url("youtube"));
    let revoked = h.send(h.http.post(url.clone()).header("content-type", "application/x-www-form-urlencoded")).await;
    assert_eq!(revoked.status, 200);
    let info = h.get("youtube", "/tokeninfo", &[("access_token", &t)]).await;
    assert_eq!((info.status, info.json()["error"].as_str()), (400, Some("invalid_token")));
    let again = h.send(h.http.post(url).header("content-type", "application/x-www-form-urlencoded")).await;
    assert_eq!(again.status, 400);
}

#[tokio::test]
async fn google_refresh_with_a_bad_secret_is_go_f_and_unknown_is_go_e() {
    let h = Harness::start().await;
    let r = token("valid");
    let form = |secret: &'static str, r: String| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", r),
            ("client_id", "cid-g".to_string()),
            ("client_secret", secret.to_string()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let h = &h;
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            h.post_form("google-business-profile", "/token", &pairs).await
        }
    };
    let bad = send(form("bad-secret", r.clone())).await;
    assert_eq!((bad.status, bad.json()["error"].as_str()), (401, Some("invalid_client")));
    let ok = send(form("s", r.clone())).await;
    assert_eq!(ok.json()["scope"], "https://www.googleapis.com/auth/business.manage");
    // Not rotating: the same refresh token works again.
    assert_eq!(send(form("s", r)).await.status, 200);
    let gone = send(form("s", token("whatever"))).await;
    assert_eq!((gone.status, gone.json()["error"].as_str()), (400, Some("invalid_grant")));
}

#[tokio::test]
async fn gbp_account_role_and_unknown_account() {
    let h = Harness::start().await;
    let ok = h.get_bearer("google-business-profile", "/v1/accounts/123456789", &[], &token("valid")).await;
    assert_eq!(ok.json()["role"], "OWNER");
    let other = h.get_bearer("google-business-profile", "/v1/accounts/42", &[], &token("valid")).await;
    assert_eq!(other.status, 404);
    let f = h.get_bearer("google-business-profile", "/v1/accounts/123456789", &[], &token("gb-f")).await;
    assert_eq!(f.json()["error"]["details"][0]["reason"], "SERVICE_DISABLED");
}

#[tokio::test]
async fn telegram_get_me_get_chat_member_and_bad_tokens() {
    let h = Harness::start().await;
    let t = telegram_token("valid");
    let me = h.get("telegram", &format!("/bot{t}/getMe"), &[]).await;
    assert_eq!(me.body, r#"{"ok":true,"result":{"id":6006,"is_bot":true,"username":"example_bot"}}"#);
    let member = h.get("telegram", &format!("/bot{t}/getChatMember"), &[("chat_id", "-1001000000001"), ("user_id", "6006")]).await;
    assert_eq!(member.json()["result"]["status"], "administrator");
    let e = telegram_token("tg-e");
    let member = h.get("telegram", &format!("/bot{e}/getChatMember"), &[("chat_id", "@chan"), ("user_id", "6006")]).await;
    assert_eq!(member.json()["result"]["status"], "member");
    let unknown = telegram_token("who-knows");
    assert_eq!(h.get("telegram", &format!("/bot{unknown}/getMe"), &[]).await.status, 401);
    assert_eq!(h.get("telegram", &format!("/bot{}/getMe", telegram_token("tg-c")), &[]).await.status, 404);
    let i = h.get("telegram", &format!("/bot{}/getMe", telegram_token("tg-i")), &[]).await;
    assert_eq!((i.status, i.json()["parameters"]["retry_after"].as_i64()), (429, Some(7)));
    assert_eq!(h.get("telegram", &format!("/bot{}/getMe", telegram_token("http-503")), &[]).await.status, 503);
}

#[tokio::test]
async fn tiktok_user_info_needs_fields_and_the_trailing_slash() {
    let h = Harness::start().await;
    let t = token("valid");
    let fields = [("fields", "open_id,union_id,display_name")];
    let a = h.get_bearer("tiktok", "/v2/user/info/", &fields, &t).await;
    assert_eq!(a.json()["data"]["user"]["open_id"], "tt-open-1");
    assert_eq!(h.get_bearer("tiktok", "/v2/user/info", &fields, &t).await.status, 404);
    assert_eq!(h.get_bearer("tiktok", "/v2/user/info/", &[], &t).await.status, 400);
    let c = h.get_bearer("tiktok", "/v2/user/info/", &fields, &token("tt-c")).await;
    assert_eq!(c.json()["error"]["code"], "access_token_invalid");
}

#[tokio::test]
async fn tiktok_refresh_rotates_and_reuse_is_tt2_b() {
    let h = Harness::start().await;
    let r = token("valid");
    let form = [("client_key", "cid-tt"), ("client_secret", "s"), ("grant_type", "refresh_token"), ("refresh_token", r.as_str())];
    let a = h.post_form("tiktok", "/v2/oauth/token/", &form).await;
    assert_eq!(a.json()["open_id"], "tt-open-1");
    let again = h.post_form("tiktok", "/v2/oauth/token/", &form).await;
    assert_eq!((again.status, again.json()["error"].as_str()), (400, Some("invalid_grant")));
    let mut bad = form;
    bad[1].1 = "bad-secret";
    let c = h.post_form("tiktok", "/v2/oauth/token/", &bad).await;
    assert_eq!((c.status, c.json()["error"].as_str()), (401, Some("invalid_client")));
}
