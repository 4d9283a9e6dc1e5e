//! x: api.x.com `/2/users/me`, `/2/oauth2/token`, `/2/oauth2/revoke` (providers.md §3.6).

use axum::http::Method;

use crate::request::{Client, Outcome, Reply, check_client};
use crate::state::{Cx, UNKNOWN};

pub(crate) const SCENARIOS: &[&str] = &["valid", "x-b", "x-c", "x-d", "x-e", "x-f", "x-g", "x-reset-max", "x2-b", "x2-c"];

const X_C: &str = r#"{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}"#;
const X_D: &str = r#"{"title":"Unsupported Authentication","detail":"Application-Only is forbidden.","type":"https://api.x.com/2/problems/unsupported-authentication","status":403}"#;
const X_E: &str =
    r#"{"title":"Forbidden","detail":"User is suspended.","type":"https://api.x.com/2/problems/user-suspended","status":403}"#;
const X_F: &str = r#"{"title":"Client Forbidden","detail":"App not enrolled.","reason":"client-not-enrolled","type":"https://api.x.com/2/problems/client-forbidden"}"#;
const X_G: &str = r#"{"title":"Too Many Requests","type":"about:blank","status":429,"detail":"Too Many Requests"}"#;
const X2_B: &str = r#"{"error":"unauthorized_client","error_description":"Missing valid authorization header"}"#;
const X2_C: &str = r#"{"error":"invalid_request","error_description":"Value passed for the token was invalid."}"#;

pub(crate) fn x(cx: &Cx) -> Outcome {
    match cx.req.path.as_str() {
        "/2/users/me" => me(cx),
        "/2/oauth2/token" => refresh(cx),
        "/2/oauth2/revoke" => revoke(cx),
        _ => Err(cx.req.no_route()),
    }
}

/// X1: `GET /2/users/me`, Bearer.
fn me(cx: &Cx) -> Outcome {
    cx.req.method_is(Method::GET)?;
    let token = cx.req.bearer()?;
    let scn = cx.scenario(token, "me", SCENARIOS)?;
    Ok(match scn.name {
        "x-b" => Reply::ok(r#"{"data":{"id":"4999","name":"Other","username":"other"}}"#),
        "x-c" | UNKNOWN => Reply::json(401, X_C),
        "x-d" => Reply::json(403, X_D),
        "x-e" => Reply::json(403, X_E),
        "x-f" => Reply::json(403, X_F),
        "x-g" => Reply::json(429, X_G)
            .with_header("x-rate-limit-limit", "75")
            .with_header("x-rate-limit-remaining", "0")
            .with_header("x-rate-limit-reset", (cx.now + 60).to_string()),
        // Hostile: a reset time of u64::MAX unix seconds (providers.md §2.5: clamp to 24 h).
        "x-reset-max" => Reply::json(429, X_G)
            .with_header("x-rate-limit-limit", "75")
            .with_header("x-rate-limit-remaining", "0")
            .with_header("x-rate-limit-reset", u64::MAX.to_string()),
        _ => Reply::ok(r#"{"data":{"id":"4004","name":"Example","username":"example"}}"#),
    })
}

/// Form `client_id` (always) plus optional Basic for confidential clients; a Basic client id
/// must be the form's.
fn client(cx: &Cx) -> Result<Client, Reply> {
    let id = cx.req.need_form("client_id")?;
    if !id.starts_with("cid-") {
        return Err(Reply::fake(400, format!("client id must look like cid-<anything> (got {id:?})")));
    }
    match cx.req.basic()? {
        None => Ok(Client::Good),
        Some((basic_id, _)) if basic_id != id => Err(Reply::fake(400, "the Basic client id differs from form client_id")),
        Some((basic_id, secret)) => check_client(&basic_id, &secret),
    }
}

/// X2: `POST /2/oauth2/token`, form `grant_type=refresh_token, refresh_token, client_id`
/// (+ Basic). Rotates: the used refresh token dies and its reuse answers X2-c.
fn refresh(cx: &Cx) -> Outcome {
    let req = cx.req;
    req.need_form_post()?;
    req.need_form_eq("grant_type", "refresh_token")?;
    let refresh = req.need_form("refresh_token")?;
    let client = client(cx)?;
    let scn = cx.scenario(refresh, "refresh", SCENARIOS)?;
    if client == Client::BadSecret || scn.name == "x2-b" {
        return Ok(Reply::json(401, X2_B));
    }
    if matches!(scn.name, "x2-c" | UNKNOWN) {
        return Ok(Reply::json(400, X2_C));
    }
    cx.sh.kill(refresh);
    let access = cx.sh.mint(scn, "XAnew");
    let new_refresh = cx.sh.mint(scn, "XRnew");
    Ok(Reply::ok(format!(
        "{{\"token_type\":\"bearer\",\"expires_in\":7200,\"access_token\":\"{access}\",\"scope\":\"tweet.read users.read offline.access\",\"refresh_token\":\"{new_refresh}\"}}"
    )))
}

/// X3: `POST /2/oauth2/revoke`, form `token, token_type_hint, client_id` (+ Basic). Kills the
/// token; an unknown or dead one answers X2-c 400 ("already invalid").
fn revoke(cx: &Cx) -> Outcome {
    let req = cx.req;
    req.need_form_post()?;
    let token = req.need_form("token")?;
    let hint = req.need_form("token_type_hint")?;
    if hint != "refresh_token" && hint != "access_token" {
        return Err(Reply::fake(400, format!("token_type_hint must be refresh_token or access_token (got {hint:?})")));
    }
    let client = client(cx)?;
    let scn = cx.scenario(token, &format!("revoke:{hint}"), SCENARIOS)?;
    if client == Client::BadSecret {
        return Ok(Reply::json(401, X2_B));
    }
    if scn.name == UNKNOWN {
        return Ok(Reply::json(400, X2_C));
    }
    cx.sh.kill(token);
    Ok(Reply::ok(r#"{"revoked":true}"#))
}
