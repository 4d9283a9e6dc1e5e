//! youtube and google-business-profile: the shared Google OAuth calls on oauth2.googleapis.com
//! (`/tokeninfo`, `/token`, `/revoke`: GO1–GO3) plus `/youtube/v3/channels` (YT1) or
//! `/v1/accounts/{n}` (GB1) (providers.md §3.8, §3.9).

use axum::http::Method;

use crate::request::{Client, Outcome, Reply, check_client};
use crate::state::{Cx, Provider, UNKNOWN};

pub(crate) const YOUTUBE_SCENARIOS: &[&str] =
    &["valid", "go-b", "go-c", "go-e", "go-f", "go-h", "yt-b", "yt-c", "yt-d", "yt-e", "yt-f", "yt-g", "yt-h"];
pub(crate) const GBP_SCENARIOS: &[&str] =
    &["valid", "go-b", "go-c", "go-e", "go-f", "go-h", "gb-b", "gb-c", "gb-d", "gb-e", "gb-f", "gb-g", "gb-h", "gb-i"];

const GO1: &str = r#"{"aud":"cid","scope":"https://www.googleapis.com/auth/youtube.readonly https://www.googleapis.com/auth/youtube.upload","expires_in":"3599"}"#;
const GO1_GBP: &str = r#"{"aud":"cid","scope":"https://www.googleapis.com/auth/business.manage","expires_in":"3599"}"#;
const GO_B: &str = r#"{"error":"invalid_token","error_description":"Invalid Value"}"#;
const GO_C: &str = r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#;
const GO_E: &str = r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#;
const GO_F: &str = r#"{"error":"invalid_client","error_description":"The OAuth client was not found."}"#;
const GO_H: &str = r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#;
const YT1: &str = r#"{"kind":"youtube#channelListResponse","items":[{"id":"UCexample00000000000000"}]}"#;
const YT_B: &str = r#"{"kind":"youtube#channelListResponse","items":[{"id":"UCother000000000000000000"}]}"#;
const YT_C: &str = r#"{"kind":"youtube#channelListResponse","items":[]}"#;
const GB1: &str = r#"{"name":"accounts/123456789","accountName":"Example Bakery","type":"PERSONAL","role":"OWNER"}"#;
const GB_B: &str = r#"{"name":"accounts/123456789","accountName":"Example Bakery","type":"PERSONAL","role":"SITE_MANAGER"}"#;
const GB_C: &str = r#"{"name":"accounts/123456789","accountName":"Example Bakery","type":"PERSONAL"}"#;
const GB_D: &str = r#"{"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND"}}"#;
const GB_G: &str = r#"{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}"#;
const GB_I: &str = r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#;

/// YT-d with the given `reason` (YT-e…h are "YT-d body with another reason").
fn yt_403(reason: &str) -> Reply {
    Reply::json(
        403,
        format!(
            "{{\"error\":{{\"code\":403,\"message\":\"quota\",\"errors\":[{{\"domain\":\"youtube.quota\",\"reason\":\"{reason}\"}}]}}}}"
        ),
    )
}

/// GB-e with the given `reason` (GB-f is GB-e with `SERVICE_DISABLED`).
fn gb_403(reason: &str) -> Reply {
    Reply::json(
        403,
        format!(
            "{{\"error\":{{\"code\":403,\"message\":\"Insufficient scopes.\",\"status\":\"PERMISSION_DENIED\",\"details\":[{{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"{reason}\"}}]}}}}"
        ),
    )
}

fn known(cx: &Cx) -> &'static [&'static str] {
    if cx.sh.provider == Provider::Youtube { YOUTUBE_SCENARIOS } else { GBP_SCENARIOS }
}

pub(crate) fn youtube(cx: &Cx) -> Outcome {
    match cx.req.path.as_str() {
        "/youtube/v3/channels" => channels(cx),
        _ => oauth(cx),
    }
}

pub(crate) fn google_business_profile(cx: &Cx) -> Outcome {
    match cx.req.path.strip_prefix("/v1/accounts/") {
        Some(n) => account(cx, n),
        None => oauth(cx),
    }
}

fn oauth(cx: &Cx) -> Outcome {
    match cx.req.path.as_str() {
        "/tokeninfo" => tokeninfo(cx),
        "/token" => refresh(cx),
        "/revoke" => revoke(cx),
        _ => Err(cx.req.no_route()),
    }
}

/// GO1: `GET /tokeninfo?access_token={T}`. `expiring` answers like `valid`: `expires_in` is
/// 3599 either way (an hour is already less than any warning window).
fn tokeninfo(cx: &Cx) -> Outcome {
    cx.req.method_is(Method::GET)?;
    let token = cx.req.query_token("access_token")?;
    let scn = cx.scenario(token, "tokeninfo", known(cx))?;
    Ok(match scn.name {
        "go-b" | UNKNOWN => Reply::json(400, GO_B),
        "go-h" => Reply::json(429, GO_H),
        _ if cx.sh.provider == Provider::Youtube => Reply::ok(GO1),
        _ => Reply::ok(GO1_GBP),
    })
}

/// GO2: `POST /token`, form `grant_type=refresh_token, refresh_token, client_id,
/// client_secret`. Not rotating: the refresh token stays usable and is not returned.
fn refresh(cx: &Cx) -> Outcome {
    let req = cx.req;
    req.need_form_post()?;
    req.need_form_eq("grant_type", "refresh_token")?;
    let refresh = req.need_form("refresh_token")?;
    let client = check_client(req.need_form("client_id")?, req.need_form("client_secret")?)?;
    let scn = cx.scenario(refresh, "token", known(cx))?;
    if client == Client::BadSecret || scn.name == "go-f" {
        return Ok(Reply::json(401, GO_F));
    }
    match scn.name {
        "go-e" | UNKNOWN => return Ok(Reply::json(400, GO_E)),
        "go-h" => return Ok(Reply::json(429, GO_H)),
        _ => {}
    }
    let access = cx.sh.mint(scn, "ya29.new");
    // GO2's literal scope is YouTube's; the GBP fake answers its own scope.
    let scope = if cx.sh.provider == Provider::Youtube {
        "https://www.googleapis.com/auth/youtube.readonly"
    } else {
        "https://www.googleapis.com/auth/business.manage"
    };
    Ok(Reply::ok(format!("{{\"access_token\":\"{access}\",\"expires_in\":3599,\"scope\":\"{scope}\",\"token_type\":\"Bearer\"}}")))
}

/// GO3: `POST /revoke?token={R or T}`, form content type, empty body, no app credentials.
/// Kills the token; an unknown or dead one answers GO-b 400 (already invalid).
fn revoke(cx: &Cx) -> Outcome {
    let req = cx.req;
    req.need_form_post()?;
    if !req.body.is_empty() {
        return Err(Reply::fake(400, "GO3 sends an empty body; the token goes in query token"));
    }
    let token = req.query_token("token")?;
    let scn = cx.scenario(token, "revoke", known(cx))?;
    if scn.name == UNKNOWN {
        return Ok(Reply::json(400, GO_B));
    }
    cx.sh.kill(token);
    Ok(Reply::ok("{}"))
}

/// YT1: `GET /youtube/v3/channels?part=id&mine=true`, Bearer.
fn channels(cx: &Cx) -> Outcome {
    let req = cx.req;
    req.method_is(Method::GET)?;
    let token = req.bearer()?;
    req.need_query_eq("part", "id")?;
    req.need_query_eq("mine", "true")?;
    let scn = cx.scenario(token, "channels", YOUTUBE_SCENARIOS)?;
    Ok(match scn.name {
        "go-b" | "go-c" | UNKNOWN => Reply::json(401, GO_C),
        "go-h" => Reply::json(429, GO_H),
        "yt-b" => Reply::ok(YT_B),
        "yt-c" => Reply::ok(YT_C),
        "yt-d" => yt_403("quotaExceeded"),
        "yt-e" => yt_403("rateLimitExceeded"),
        "yt-f" => yt_403("insufficientPermissions"),
        "yt-g" => yt_403("authenticatedUserAccountSuspended"),
        "yt-h" => yt_403("forbidden"),
        _ => Reply::ok(YT1),
    })
}

/// GB1: `GET /v1/accounts/{n}`, Bearer. An account other than 123456789 answers GB-d.
fn account(cx: &Cx, n: &str) -> Outcome {
    let req = cx.req;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Reply::fake(400, format!("GB1 is /v1/accounts/<digits> (got {})", req.path)));
    }
    req.method_is(Method::GET)?;
    let token = req.bearer()?;
    let scn = cx.scenario(token, "account", GBP_SCENARIOS)?;
    Ok(match scn.name {
        "go-b" | "go-c" | "gb-h" | UNKNOWN => Reply::json(401, GO_C),
        "go-h" => Reply::json(429, GO_H),
        "gb-i" => Reply::json(429, GB_I),
        _ if n != "123456789" => Reply::json(404, GB_D),
        "gb-b" => Reply::ok(GB_B),
        "gb-c" => Reply::ok(GB_C),
        "gb-d" => Reply::json(404, GB_D),
        "gb-e" => gb_403("ACCESS_TOKEN_SCOPE_INSUFFICIENT"),
        "gb-f" => gb_403("SERVICE_DISABLED"),
        "gb-g" => Reply::json(403, GB_G),
        _ => Reply::ok(GB1),
    })
}
