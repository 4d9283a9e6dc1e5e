//! tiktok: open.tiktokapis.com `/v2/user/info/`, `/v2/oauth/token/`, `/v2/oauth/revoke/`
//! (providers.md §3.11; the trailing slash is part of each path).

use axum::http::Method;

use crate::request::{Client, Outcome, Reply, check_client};
use crate::state::{Cx, UNKNOWN};

pub(crate) const SCENARIOS: &[&str] = &["valid", "tt-b", "tt-c", "tt-d", "tt-e", "tt2-b", "tt2-c"];

const TT_C: &str = r#"{"data":{},"error":{"code":"access_token_invalid","message":"The access token is invalid.","log_id":"L2"}}"#;
const TT_D: &str = r#"{"data":{},"error":{"code":"scope_not_authorized","message":"Scope not authorized.","log_id":"L3"}}"#;
const TT_E: &str = r#"{"data":{},"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded.","log_id":"L4"}}"#;
const TT2_B: &str = r#"{"error":"invalid_grant","error_description":"Refresh token is invalid or expired.","log_id":"L5"}"#;
const TT2_C: &str = r#"{"error":"invalid_client","error_description":"Client key or secret is invalid.","log_id":"L6"}"#;

pub(crate) fn tiktok(cx: &Cx) -> Outcome {
    match cx.req.path.as_str() {
        "/v2/user/info/" => user_info(cx),
        "/v2/oauth/token/" => refresh(cx),
        "/v2/oauth/revoke/" => revoke(cx),
        "/v2/user/info" | "/v2/oauth/token" | "/v2/oauth/revoke" => {
            Err(Reply::fake(404, format!("TikTok paths end in a slash: {}/", cx.req.path)))
        }
        _ => Err(cx.req.no_route()),
    }
}

/// TT1: `GET /v2/user/info/?fields=open_id,union_id,display_name`, Bearer.
fn user_info(cx: &Cx) -> Outcome {
    cx.req.method_is(Method::GET)?;
    let token = cx.req.bearer()?;
    cx.req.need_fields(&["open_id", "union_id", "display_name"])?;
    let scn = cx.scenario(token, "user_info", SCENARIOS)?;
    Ok(match scn.name {
        "tt-b" => Reply::ok(
            r#"{"data":{"user":{"open_id":"tt-open-other","union_id":"tt-union-other"}},"error":{"code":"ok","message":"","log_id":"L1"}}"#,
        ),
        "tt-c" | UNKNOWN => Reply::json(401, TT_C),
        "tt-d" => Reply::json(401, TT_D),
        "tt-e" => Reply::json(429, TT_E),
        _ => Reply::ok(
            r#"{"data":{"user":{"open_id":"tt-open-1","union_id":"tt-union-1"}},"error":{"code":"ok","message":"","log_id":"L1"}}"#,
        ),
    })
}

fn form_client(cx: &Cx) -> Result<Client, Reply> {
    check_client(cx.req.need_form("client_key")?, cx.req.need_form("client_secret")?)
}

/// TT2: `POST /v2/oauth/token/`, form `client_key, client_secret, grant_type=refresh_token,
/// refresh_token`. Rotates: the used refresh token dies and its reuse answers TT2-b.
fn refresh(cx: &Cx) -> Outcome {
    let req = cx.req;
    req.need_form_post()?;
    let client = form_client(cx)?;
    req.need_form_eq("grant_type", "refresh_token")?;
    let refresh = req.need_form("refresh_token")?;
    let scn = cx.scenario(refresh, "refresh", SCENARIOS)?;
    if client == Client::BadSecret || scn.name == "tt2-c" {
        return Ok(Reply::json(401, TT2_C));
    }
    if matches!(scn.name, "tt2-b" | UNKNOWN) {
        return Ok(Reply::json(400, TT2_B));
    }
    cx.sh.kill(refresh);
    let access = cx.sh.mint(scn, "act.new");
    let new_refresh = cx.sh.mint(scn, "rft.new");
    // A `tt-b` refresh token belongs to another account: TT2-a with another open_id.
    let open_id = if scn.name == "tt-b" { "tt-open-other" } else { "tt-open-1" };
    Ok(Reply::ok(format!(
        "{{\"access_token\":\"{access}\",\"expires_in\":7200,\"open_id\":\"{open_id}\",\"refresh_expires_in\":15552000,\"refresh_token\":\"{new_refresh}\",\"scope\":\"user.info.basic\",\"token_type\":\"Bearer\"}}"
    )))
}

/// TT3: `POST /v2/oauth/revoke/`, form `client_key, client_secret, token` → 200 `{}`; an unknown
/// or dead token answers TT2-b (already invalid).
fn revoke(cx: &Cx) -> Outcome {
    let req = cx.req;
    req.need_form_post()?;
    let client = form_client(cx)?;
    let token = req.need_form("token")?;
    let scn = cx.scenario(token, "revoke", SCENARIOS)?;
    if client == Client::BadSecret {
        return Ok(Reply::json(401, TT2_C));
    }
    if scn.name == UNKNOWN {
        return Ok(Reply::json(400, TT2_B));
    }
    cx.sh.kill(token);
    Ok(Reply::ok("{}"))
}
