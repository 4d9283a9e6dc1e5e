//! pinterest: api.pinterest.com `/v5/user_account`, `/v5/oauth/token` (providers.md §3.7).

use axum::http::Method;

use crate::request::{Client, Outcome, Reply, check_client};
use crate::state::{Cx, UNKNOWN};

pub(crate) const SCENARIOS: &[&str] = &["valid", "pi-b", "pi-c", "pi-d", "pi-e", "pi-f", "pi2-b", "pi2-c"];

const PI_C: &str = r#"{"code":2,"message":"Authentication failed."}"#;
const PI_D: &str = r#"{"code":3,"message":"Your token does not have sufficient permissions to perform this operation."}"#;
const PI_E: &str = r#"{"code":29,"message":"You are not permitted to access that resource."}"#;
const PI_F: &str = r#"{"code":8,"message":"This request exceeded a rate limit."}"#;
const PI2_B: &str = r#"{"code":283,"message":"The authorization grant is invalid"}"#;

pub(crate) fn pinterest(cx: &Cx) -> Outcome {
    match cx.req.path.as_str() {
        "/v5/user_account" => user_account(cx),
        "/v5/oauth/token" => refresh(cx),
        _ => Err(cx.req.no_route()),
    }
}

/// PI1: `GET /v5/user_account`, Bearer.
fn user_account(cx: &Cx) -> Outcome {
    cx.req.method_is(Method::GET)?;
    let token = cx.req.bearer()?;
    let scn = cx.scenario(token, "user_account", SCENARIOS)?;
    Ok(match scn.name {
        "pi-b" => Reply::ok(r#"{"account_type":"BUSINESS","id":"5999","username":"othershop"}"#),
        "pi-c" | UNKNOWN => Reply::json(401, PI_C),
        "pi-d" => Reply::json(401, PI_D),
        "pi-e" => Reply::json(403, PI_E),
        "pi-f" => Reply::json(429, PI_F),
        _ => Reply::ok(r#"{"account_type":"BUSINESS","id":"5005","username":"exampleshop"}"#),
    })
}

/// PI2: `POST /v5/oauth/token`, Basic (required), form `grant_type=refresh_token,
/// refresh_token`. Rotates: the used refresh token dies and its reuse answers PI2-b.
fn refresh(cx: &Cx) -> Outcome {
    let req = cx.req;
    req.need_form_post()?;
    let (id, secret) = req.basic()?.ok_or_else(|| Reply::fake(400, "PI2 needs Authorization: Basic base64(client_id:client_secret)"))?;
    let client = check_client(&id, &secret)?;
    req.need_form_eq("grant_type", "refresh_token")?;
    let refresh = req.need_form("refresh_token")?;
    let scn = cx.scenario(refresh, "refresh", SCENARIOS)?;
    if client == Client::BadSecret || scn.name == "pi2-c" {
        return Ok(Reply::json(401, PI_C));
    }
    if matches!(scn.name, "pi2-b" | UNKNOWN) {
        return Ok(Reply::json(401, PI2_B));
    }
    cx.sh.kill(refresh);
    let access = cx.sh.mint(scn, "pina_new");
    let new_refresh = cx.sh.mint(scn, "pinr_new");
    Ok(Reply::ok(format!(
        "{{\"access_token\":\"{access}\",\"expires_in\":2592000,\"refresh_token\":\"{new_refresh}\",\"refresh_token_expires_in\":5184000,\"refresh_token_expires_at\":1898640000,\"scope\":\"user_accounts:read\",\"token_type\":\"bearer\"}}"
    )))
}
