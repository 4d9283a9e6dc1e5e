//! linkedin: www.linkedin.com `/oauth/v2/{introspectToken,accessToken,revoke}` and
//! api.linkedin.com `/v2/userinfo`, `/rest/organizationAcls` (providers.md §3.5).

use axum::http::Method;

use crate::request::{Client, Outcome, Reply, check_client};
use crate::state::{Cx, Scn, UNKNOWN};

pub(crate) const SCENARIOS: &[&str] = &[
    "valid",
    "li-b",
    "li-c",
    "li-c-young",
    "li-d",
    "li-d-401",
    "li-e",
    "li-f",
    "li-g",
    "li-h",
    "li-j",
    "li-l",
    "li-m",
    "li-n",
    "li-o",
    "li-mismatch",
    "li4-400",
];

const LI_B: &str = r#"{"active":false,"status":"expired","created_at":1700000000,"expires_at":1705184000}"#;
const LI_D: &str = r#"{"error":"invalid_request","error_description":"invalid client id or token"}"#;
const LI_E: &str = r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#;
const LI_F: &str = r#"{"status":401,"serviceErrorCode":65601,"code":"REVOKED_ACCESS_TOKEN","message":"The token used in the request has been revoked by the user"}"#;
const LI_G: &str =
    r#"{"status":401,"serviceErrorCode":65602,"code":"EXPIRED_ACCESS_TOKEN","message":"The token used in the request has expired"}"#;
const LI_H: &str = r#"{"status":401,"serviceErrorCode":65600,"message":"Invalid access token"}"#;
const LI_N: &str =
    r#"{"status":403,"serviceErrorCode":100,"code":"ACCESS_DENIED","message":"Not enough permissions to access: organizationAcls"}"#;
const LI4_400: &str = r#"{"error":"invalid_grant","error_description":"Token has been expired or revoked."}"#;
const LI_O: &str = r#"{"status":429,"message":"Too Many Requests"}"#;

/// LI1 with the given `created_at` / `expires_at` (literal: 1760000000 / 1893456000).
fn li1(created_at: i64, expires_at: i64) -> String {
    format!(
        "{{\"active\":true,\"status\":\"active\",\"created_at\":{created_at},\"expires_at\":{expires_at},\"scope\":\"openid,profile,rw_organization_admin\"}}"
    )
}

/// LI-c with the given `created_at` (literal: 1760000000, an old token: revocation believed).
fn li_c(created_at: i64) -> String {
    format!("{{\"active\":false,\"status\":\"revoked\",\"created_at\":{created_at},\"expires_at\":1893456000}}")
}

pub(crate) fn linkedin(cx: &Cx) -> Outcome {
    match cx.req.path.as_str() {
        "/oauth/v2/introspectToken" => introspect(cx),
        "/oauth/v2/accessToken" => refresh(cx),
        "/oauth/v2/revoke" => revoke(cx),
        "/v2/userinfo" => userinfo(cx),
        "/rest/organizationAcls" => acls(cx),
        _ => Err(cx.req.no_route()),
    }
}

/// `client_id`, `client_secret` form fields.
fn form_client(cx: &Cx) -> Result<Client, Reply> {
    check_client(cx.req.need_form("client_id")?, cx.req.need_form("client_secret")?)
}

/// LI1: `POST /oauth/v2/introspectToken`, form `client_id, client_secret, token`.
fn introspect(cx: &Cx) -> Outcome {
    cx.req.need_form_post()?;
    let client = form_client(cx)?;
    let token = cx.req.need_form("token")?;
    let scn = cx.scenario(token, "introspect", SCENARIOS)?;
    if client == Client::BadSecret {
        return Ok(Reply::json(401, LI_E));
    }
    Ok(match scn.name {
        "li-b" => Reply::ok(LI_B),
        "li-c" | UNKNOWN => Reply::ok(li_c(1_760_000_000)),
        "li-c-young" => {
            let (count, created_at) = cx.sh.introspect_young(token, cx.now);
            if count <= 2 { Reply::ok(li_c(created_at)) } else { Reply::ok(li1(created_at, 1_893_456_000)) }
        }
        "li-d" | "li-d-401" => Reply::json(400, LI_D),
        "li-e" => Reply::json(401, LI_E),
        "li-o" => Reply::json(429, LI_O),
        _ => {
            let expires_at = if scn.expiring { cx.now + 3 * 86_400 } else { 1_893_456_000 };
            Reply::ok(li1(1_760_000_000, expires_at))
        }
    })
}

/// The API 401s shared by LI2 and LI3 (`li-b` / `li-c` map to their API faces, LI-g / LI-f).
fn api_error(scn: Scn) -> Option<Reply> {
    match scn.name {
        "li-f" | "li-c" => Some(Reply::json(401, LI_F)),
        "li-g" | "li-b" => Some(Reply::json(401, LI_G)),
        "li-h" | "li-d-401" | UNKNOWN => Some(Reply::json(401, LI_H)),
        "li-o" => Some(Reply::json(429, LI_O)),
        _ => None,
    }
}

/// LI2: `GET /v2/userinfo`, Bearer.
fn userinfo(cx: &Cx) -> Outcome {
    cx.req.method_is(Method::GET)?;
    let token = cx.req.bearer()?;
    let scn = cx.scenario(token, "userinfo", SCENARIOS)?;
    if let Some(err) = api_error(scn) {
        return Ok(err);
    }
    Ok(match scn.name {
        "li-j" => Reply::json(403, LI_N),
        "li-mismatch" => Reply::ok(r#"{"sub":"xyz789","name":"Other Member"}"#),
        _ => Reply::ok(r#"{"sub":"abc123","name":"Example Member"}"#),
    })
}

/// LI3: `GET /rest/organizationAcls?q=roleAssignee&state=APPROVED&start={s}&count=100`, Bearer,
/// `LinkedIn-Version: <6 digits>`, `X-Restli-Protocol-Version: 2.0.0`.
fn acls(cx: &Cx) -> Outcome {
    let req = cx.req;
    req.method_is(Method::GET)?;
    let token = req.bearer()?;
    let version = req.header("linkedin-version");
    if !version.is_some_and(|v| v.len() == 6 && v.bytes().all(|b| b.is_ascii_digit())) {
        return Err(Reply::fake(400, format!("/rest/ calls need LinkedIn-Version: <six digits> (got {version:?})")));
    }
    let restli = req.header("x-restli-protocol-version");
    if restli != Some("2.0.0") {
        return Err(Reply::fake(400, format!("/rest/ calls need X-Restli-Protocol-Version: 2.0.0 (got {restli:?})")));
    }
    req.need_query_eq("q", "roleAssignee")?;
    req.need_query_eq("state", "APPROVED")?;
    req.need_query_eq("count", "100")?;
    let start: u32 = req.need_query("start")?.parse().map_err(|_| Reply::fake(400, "query parameter start must be a number"))?;
    let scn = cx.scenario(token, &format!("acls@{start}"), SCENARIOS)?;
    if let Some(err) = api_error(scn) {
        return Ok(err);
    }
    let empty = format!("{{\"paging\":{{\"start\":{start},\"count\":100}},\"elements\":[]}}");
    if scn.name == "li-n" {
        return Ok(Reply::json(403, LI_N));
    }
    Ok(Reply::ok(match scn.name {
        _ if start > 0 => empty,
        "li-m" => empty,
        "li-l" => acl_page("ANALYST"),
        _ => acl_page("ADMINISTRATOR"),
    }))
}

fn acl_page(role: &str) -> String {
    format!(
        "{{\"paging\":{{\"start\":0,\"count\":100}},\"elements\":[{{\"organization\":\"urn:li:organization:5001\",\"role\":\"{role}\",\"state\":\"APPROVED\",\"roleAssignee\":\"urn:li:person:abc123\"}}]}}"
    )
}

/// LI4: `POST /oauth/v2/accessToken`, form `grant_type=refresh_token, refresh_token, client_id,
/// client_secret`. Not rotating: the answer returns the same refresh token, which stays usable.
fn refresh(cx: &Cx) -> Outcome {
    let req = cx.req;
    req.need_form_post()?;
    req.need_form_eq("grant_type", "refresh_token")?;
    let refresh = req.need_form("refresh_token")?;
    let client = form_client(cx)?;
    let scn = cx.scenario(refresh, "refresh", SCENARIOS)?;
    if client == Client::BadSecret || scn.name == "li-e" {
        return Ok(Reply::json(401, LI_E));
    }
    if matches!(scn.name, "li4-400" | UNKNOWN) {
        return Ok(Reply::json(400, LI4_400));
    }
    let access = cx.sh.mint(scn, "AQVnew");
    Ok(Reply::ok(format!(
        "{{\"access_token\":\"{access}\",\"expires_in\":5184000,\"refresh_token\":\"{refresh}\",\"refresh_token_expires_in\":25000000,\"scope\":\"openid,profile,rw_organization_admin\"}}"
    )))
}

/// LI5: `POST /oauth/v2/revoke`, form `client_id, client_secret, token`. Kills the token.
fn revoke(cx: &Cx) -> Outcome {
    cx.req.need_form_post()?;
    let client = form_client(cx)?;
    let token = cx.req.need_form("token")?;
    cx.scenario(token, "revoke", SCENARIOS)?;
    if client == Client::BadSecret {
        return Ok(Reply::json(401, LI_E));
    }
    cx.sh.kill(token);
    Ok(Reply::ok("{}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn li1_and_li_c_are_the_documented_literals() {
        assert_eq!(
            li1(1_760_000_000, 1_893_456_000),
            r#"{"active":true,"status":"active","created_at":1760000000,"expires_at":1893456000,"scope":"openid,profile,rw_organization_admin"}"#
        );
        assert_eq!(li_c(1_760_000_000), r#"{"active":false,"status":"revoked","created_at":1760000000,"expires_at":1893456000}"#);
        assert_eq!(
            acl_page("ADMINISTRATOR"),
            r#"{"paging":{"start":0,"count":100},"elements":[{"organization":"urn:li:organization:5001","role":"ADMINISTRATOR","state":"APPROVED","roleAssignee":"urn:li:person:abc123"}]}"#
        );
    }
}
