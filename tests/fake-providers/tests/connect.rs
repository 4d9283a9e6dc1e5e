//! The connect flow's consent pages and code exchanges (providers.md §2.14 "Tests").

mod support;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use support::Harness;

const REDIRECT: &str = "http://127.0.0.1:8090/callback";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The `href` of the link with this id, unescaped, and its query decoded.
fn link(page: &str, id: &str) -> (String, Vec<(String, String)>) {
    let start = page.find(&format!("id=\"{id}\" href=\"")).unwrap_or_else(|| panic!("no {id} link in {page}")) + id.len() + 12;
    let end = start + page[start..].find('"').unwrap();
    let href = page[start..end].replace("&amp;", "&");
    let query = href.split_once('?').map(|(_, q)| q).unwrap_or("");
    let pairs = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    (href, pairs)
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Opens the consent page like a browser (no operator headers) and returns the Allow link's
/// code.
async fn consent(h: &Harness, provider: &str, path: &str, query: &[(&str, &str)]) -> String {
    let url = format!("{}{path}?{}", h.fakes.url(provider), support::enc(query));
    let page = reqwest::Client::new().get(url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let body = page.text().await.unwrap();
    let (href, pairs) = link(&body, "allow");
    assert!(href.starts_with(REDIRECT), "{href}");
    assert_eq!(get(&pairs, "state"), Some("st.ate-1"), "state echoed");
    let (_, deny) = link(&body, "deny");
    assert_eq!(get(&deny, "error"), Some("access_denied"));
    assert_eq!(get(&deny, "state"), Some("st.ate-1"));
    get(&pairs, "code").unwrap().to_string()
}

#[tokio::test]
async fn x_consent_and_exchange_check_the_pkce_verifier_and_use_the_code_once() {
    let h = Harness::start().await;
    let verifier = "v".repeat(43);
    let q = [
        ("response_type", "code"),
        ("client_id", "cid-x"),
        ("redirect_uri", REDIRECT),
        ("scope", "tweet.read users.read"),
        ("state", "st.ate-1"),
        ("code_challenge", &challenge(&verifier)),
        ("code_challenge_method", "S256"),
    ];
    let code = consent(&h, "x", "/i/oauth2/authorize", &q).await;
    assert!(code.starts_with("valid__code-"), "{code}");
    async fn send(h: &Harness, code: &str, verifier: &str) -> support::Answer {
        let form = [
            ("code", code),
            ("grant_type", "authorization_code"),
            ("client_id", "cid-x"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ];
        h.post_form("x", "/2/oauth2/token", &form).await
    }
    // The wrong verifier is a contract violation.
    let a = send(&h, &code, &"w".repeat(43)).await;
    assert_eq!(a.status, 400);
    assert!(a.body.contains("code_verifier"), "{}", a.body);
    // A code is single use: the fake forgets it even on a refused exchange.
    let code = consent(&h, "x", "/i/oauth2/authorize", &q).await;
    let a = send(&h, &code, &verifier).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let access = a.json()["access_token"].as_str().unwrap().to_string();
    assert!(access.starts_with("valid__XAnew-"), "{access}");
    assert!(a.json()["refresh_token"].as_str().unwrap().starts_with("valid__XRnew-"));
    // The token works for the check.
    assert_eq!(h.get_bearer("x", "/2/users/me", &[], &access).await.status, 200);
    let again = send(&h, &code, &verifier).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "invalid_grant");
}

#[tokio::test]
async fn the_consent_scenario_decides_the_tokens_identity() {
    let h = Harness::start().await;
    h.fakes.set_consent_scenario("x", "x-b");
    let verifier = "a".repeat(43);
    let q = [
        ("response_type", "code"),
        ("client_id", "cid-x"),
        ("redirect_uri", REDIRECT),
        ("scope", "users.read"),
        ("state", "st.ate-1"),
        ("code_challenge", &challenge(&verifier)),
        ("code_challenge_method", "S256"),
    ];
    let code = consent(&h, "x", "/i/oauth2/authorize", &q).await;
    let a = h
        .post_form(
            "x",
            "/2/oauth2/token",
            &[
                ("code", &code),
                ("grant_type", "authorization_code"),
                ("client_id", "cid-x"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    let access = a.json()["access_token"].as_str().unwrap().to_string();
    assert!(access.starts_with("x-b__"), "{access}");
    let me = h.get_bearer("x", "/2/users/me", &[], &access).await;
    assert_eq!(me.json()["data"]["id"], "4999", "another account");
}

#[tokio::test]
async fn a_pkce_providers_consent_page_needs_the_challenge() {
    let h = Harness::start().await;
    let q = [("response_type", "code"), ("client_id", "cid-g"), ("redirect_uri", REDIRECT), ("scope", "s"), ("state", "s")];
    let url = format!("{}/o/oauth2/v2/auth?{}", h.fakes.url("youtube"), support::enc(&q));
    let a = reqwest::Client::new().get(url).send().await.unwrap();
    assert_eq!(a.status().as_u16(), 400);
    assert_eq!(h.fakes.contract_violations().len(), 1);
}

#[tokio::test]
async fn facebook_exchanges_the_code_for_a_short_token_that_the_fb_exchange_makes_long_lived() {
    let h = Harness::start().await;
    let q = [
        ("client_id", "cid-fb"),
        ("redirect_uri", REDIRECT),
        ("state", "st.ate-1"),
        ("response_type", "code"),
        ("scope", "pages_show_list"),
    ];
    let code = consent(&h, "facebook", "/v24.0/dialog/oauth", &q).await;
    let exchange = [("client_id", "cid-fb"), ("redirect_uri", REDIRECT), ("client_secret", "s"), ("code", code.as_str())];
    let a = h.get("facebook", "/v24.0/oauth/access_token", &exchange).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let short = a.json()["access_token"].as_str().unwrap().to_string();
    assert!(short.starts_with("valid__EAAshort-"));
    let long = h
        .get(
            "facebook",
            "/v24.0/oauth/access_token",
            &[("grant_type", "fb_exchange_token"), ("client_id", "cid-fb"), ("client_secret", "s"), ("fb_exchange_token", &short)],
        )
        .await;
    assert_eq!(long.status, 200, "{}", long.body);
    let again = h.get("facebook", "/v24.0/oauth/access_token", &exchange).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"]["code"], 100);
    assert!(h.fakes.contract_violations().is_empty(), "{:?}", h.fakes.contract_violations());
}

#[tokio::test]
async fn instagram_login_exchanges_on_api_instagram_com_then_for_a_long_lived_token() {
    let h = Harness::start().await;
    let q = [("client_id", "cid-il"), ("redirect_uri", REDIRECT), ("response_type", "code"), ("scope", "a,b"), ("state", "st.ate-1")];
    let code = consent(&h, "instagram-login", "/oauth/authorize", &q).await;
    let a = h
        .post_form(
            "instagram-login",
            "/oauth/access_token",
            &[
                ("client_id", "cid-il"),
                ("client_secret", "s"),
                ("grant_type", "authorization_code"),
                ("redirect_uri", REDIRECT),
                ("code", &code),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let short = a.json()["access_token"].as_str().unwrap().to_string();
    let long = h
        .get("instagram-login", "/access_token", &[("grant_type", "ig_exchange_token"), ("client_secret", "s"), ("access_token", &short)])
        .await;
    assert_eq!(long.status, 200, "{}", long.body);
    assert!(long.json()["access_token"].as_str().unwrap().starts_with("valid__IGAAnew-"));
    assert_eq!(long.json()["expires_in"], 5183944);
}

#[tokio::test]
async fn linkedin_and_tiktok_exchanges_check_redirect_and_client() {
    let h = Harness::start().await;
    let q = [("response_type", "code"), ("client_id", "cid-li"), ("redirect_uri", REDIRECT), ("state", "st.ate-1"), ("scope", "openid")];
    let code = consent(&h, "linkedin", "/oauth/v2/authorization", &q).await;
    let wrong = h
        .post_form(
            "linkedin",
            "/oauth/v2/accessToken",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://elsewhere/cb"),
                ("client_id", "cid-li"),
                ("client_secret", "s"),
            ],
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(wrong.body.contains("redirect_uri"), "{}", wrong.body);

    let verifier = "t".repeat(43);
    let q = [
        ("client_key", "cid-tt"),
        ("scope", "user.info.basic"),
        ("response_type", "code"),
        ("redirect_uri", REDIRECT),
        ("state", "st.ate-1"),
        ("code_challenge", &challenge(&verifier)),
        ("code_challenge_method", "S256"),
    ];
    let code = consent(&h, "tiktok", "/v2/auth/authorize/", &q).await;
    let a = h
        .post_form(
            "tiktok",
            "/v2/oauth/token/",
            &[
                ("client_key", "cid-tt"),
                ("client_secret", "s"),
                ("code", &code),
                ("grant_type", "authorization_code"),
                ("redirect_uri", REDIRECT),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["open_id"], "tt-open-1");
}
