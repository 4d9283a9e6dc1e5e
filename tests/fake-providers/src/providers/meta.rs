//! facebook, instagram (graph.facebook.com), instagram-login (graph.instagram.com) and threads
//! (graph.threads.net): providers.md §2.11 and §3.1–§3.4.

use axum::http::Method;

use crate::request::{Client, Outcome, Reply, check_client};
use crate::state::{Cx, Provider, Scn, UNKNOWN};
use crate::{FACEBOOK_PAGE_ID, FACEBOOK_USER_ID, INSTAGRAM_ACCOUNT_ID, INSTAGRAM_LOGIN_ACCOUNT_ID, INSTAGRAM_LOGIN_ID, THREADS_USER_ID};

/// A scenario list: the given names plus the Graph rows `g1`…`g15`.
macro_rules! with_g_rows {
    ($($name:literal),* $(,)?) => {
        &[
            $($name,)*
            "g1", "g2", "g3", "g4", "g5", "g6", "g7", "g8", "g9", "g10", "g11", "g12", "g13",
            "g14", "g15",
        ]
    };
}

pub(crate) const FACEBOOK_SCENARIOS: &[&str] = with_g_rows![
    "valid",
    "page",
    "d1",
    "d5",
    "d5-zero",
    "d6",
    "app-limit",
    "fb-c",
    "fb-f",
    "fb-f-analyze",
    "fb-g",
    "fb3-paging",
    "buc-1e300",
];
pub(crate) const INSTAGRAM_SCENARIOS: &[&str] = with_g_rows![
    "valid",
    "page",
    "ig-c",
    "ig-d",
    "app-limit",
    "d1",
    "d5",
    "d5-zero",
    "d6",
    "fb-f",
    "fb-f-analyze",
    "fb-g",
    "fb3-paging",
    "buc-1e300",
];
pub(crate) const INSTAGRAM_LOGIN_SCENARIOS: &[&str] = with_g_rows!["valid", "il-b", "il-c", "buc-1e300"];
pub(crate) const THREADS_SCENARIOS: &[&str] = with_g_rows!["valid", "th-b", "buc-1e300"];

/// G1–G15: (`code`, `error_subcode`, `message`, `type`). G15 ("anything else") has no literal in
/// providers.md; code 12 is in no row, so it is unclassified.
const G_ROWS: [(i64, Option<i64>, &str, &str); 15] = [
    (190, Some(460), "password changed", "OAuthException"),
    (190, Some(458), "app not installed", "OAuthException"),
    (190, Some(459), "user checkpointed", "OAuthException"),
    (190, Some(464), "unconfirmed user", "OAuthException"),
    (190, Some(467), "invalid access token", "OAuthException"),
    (190, Some(463), "session has expired", "OAuthException"),
    (190, Some(492), "invalid session", "OAuthException"),
    (190, None, "Invalid OAuth access token.", "OAuthException"),
    (200, None, "(#200) User does not have an appropriate role on the Page", "OAuthException"),
    (10, None, "(#10) Requires pages_read_engagement permission", "OAuthException"),
    (100, Some(33), "Object does not exist or missing permissions", "GraphMethodException"),
    (2, None, "An unexpected error has occurred.", "OAuthException"),
    (80001, None, "(#80001) Too many calls to this Page account.", "OAuthException"),
    (368, None, "temporarily blocked", "OAuthException"),
    (12, None, "(#12) This endpoint is deprecated", "OAuthException"),
];

fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The top-level Graph error body of row `Gn` (1-based), exactly as in providers.md §2.11.
pub(crate) fn g_body(n: usize) -> String {
    let (code, subcode, message, kind) = G_ROWS[n - 1];
    let sub = subcode.map(|s| format!(",\"error_subcode\":{s}")).unwrap_or_default();
    format!("{{\"error\":{{\"message\":{},\"type\":\"{kind}\",\"code\":{code}{sub}}}}}", json_str(message))
}

/// The D4 form of row `Gn` (n ≤ 8) on `debug_token`: the error inside `data`, with `subcode`.
pub(crate) fn d4_body(n: usize) -> String {
    let (code, subcode, message, _) = G_ROWS[n - 1];
    let sub = subcode.map(|s| format!(",\"subcode\":{s}")).unwrap_or_default();
    format!(
        "{{\"data\":{{\"type\":\"USER\",\"is_valid\":false,\"expires_at\":1893456000,\"scopes\":[],\"error\":{{\"code\":{code}{sub},\"message\":{}}}}}}}",
        json_str(message)
    )
}

/// A `Gn` answer (HTTP 400) with the headers providers.md asks for: G13 carries
/// `X-Business-Use-Case-Usage` (`type` `instagram` for instagram and instagram-login); threads
/// adds `Retry-After: 60` to G12 and G13.
fn g_reply(cx: &Cx, n: usize) -> Reply {
    let mut reply = Reply::json(400, g_body(n));
    if n == 13 {
        let kind = match cx.sh.provider {
            Provider::Instagram | Provider::InstagramLogin => "instagram",
            _ => "pages",
        };
        reply = reply.with_header(
            "x-business-use-case-usage",
            format!(
                "{{\"{FACEBOOK_PAGE_ID}\":[{{\"type\":\"{kind}\",\"call_count\":100,\"total_cputime\":20,\"total_time\":30,\"estimated_time_to_regain_access\":5}}]}}"
            ),
        );
    }
    if cx.sh.provider == Provider::Threads && (n == 12 || n == 13) {
        reply = reply.with_header("retry-after", "60");
    }
    reply
}

/// Hostile scenario `buc-1e300`: the G13 answer (80001, transient) whose
/// `X-Business-Use-Case-Usage` asks to wait `1e300` minutes (providers.md §2.5: clamp to 24 h).
fn buc_1e300(cx: &Cx) -> Reply {
    let mut reply = g_reply(cx, 13);
    reply.headers.retain(|(name, _)| *name != "x-business-use-case-usage");
    reply.with_header(
        "x-business-use-case-usage",
        format!(
            "{{\"{FACEBOOK_PAGE_ID}\":[{{\"type\":\"pages\",\"call_count\":100,\"total_cputime\":20,\"total_time\":30,\"estimated_time_to_regain_access\":1e300}}]}}"
        ),
    )
}

/// The G table on a call other than `debug_token`: `gN` → its row, unknown → G8.
fn g_error(cx: &Cx, scn: Scn) -> Option<Reply> {
    match scn.g_row() {
        Some(n) => Some(g_reply(cx, n)),
        None if scn.name == "buc-1e300" => Some(buc_1e300(cx)),
        None if scn.name == UNKNOWN => Some(g_reply(cx, 8)),
        None if scn.name == "app-limit" => Some(Reply::json(400, APP_LIMIT)),
        None => None,
    }
}

/// `/vNN.N/rest` → `rest`.
fn strip_version(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/v")?;
    let (version, rest) = rest.split_once('/')?;
    let (major, minor) = version.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(major) && digits(minor)).then_some((version, rest))
}

fn numeric(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Where the paging scenario's `paging.next` points: this fake, on a path that only records
/// that the operator followed it (it must not, providers.md §2.1).
const NEVER_FOLLOW: &str = "/never-follow/paging-next";

pub(crate) fn facebook(cx: &Cx) -> Outcome {
    graph_api(cx, FACEBOOK_SCENARIOS)
}

pub(crate) fn instagram(cx: &Cx) -> Outcome {
    graph_api(cx, INSTAGRAM_SCENARIOS)
}

fn graph_api(cx: &Cx, known: &'static [&'static str]) -> Outcome {
    let req = cx.req;
    if req.path == NEVER_FOLLOW {
        return Err(Reply::fake(400, "the operator followed paging.next; it must never do that"));
    }
    let (_, rest) = strip_version(&req.path).ok_or_else(|| Reply::fake(400, "Graph paths start with /vNN.N/ (e.g. /v24.0/)"))?;
    let segments: Vec<&str> = rest.split('/').collect();
    let instagram = cx.sh.provider == Provider::Instagram;
    match segments.as_slice() {
        ["debug_token"] => debug_token(cx, known),
        ["me"] => fb2(cx, known),
        ["me", "accounts"] => fb3(cx, known, instagram),
        ["me", "permissions"] => revoke_user(cx, known),
        ["oauth", "access_token"] => exchange(cx, known),
        [user, "permissions"] if numeric(user) => revoke_page(cx),
        [id] if instagram && numeric(id) => ig2(cx, id, known),
        _ => Err(req.no_route()),
    }
}

/// `{cid}|{csec}` in query `access_token`, with `|` sent as `%7C`.
fn app_token(cx: &Cx) -> Result<Client, Reply> {
    if cx.req.raw_query.contains('|') {
        return Err(Reply::fake(400, "the app token's | must be sent as %7C"));
    }
    let app = cx.req.need_query("access_token")?;
    let (id, secret) = app.split_once('|').ok_or_else(|| Reply::fake(400, "access_token must be the app token {cid}|{csec}"))?;
    check_client(id, secret)
}

/// Graph code 4, the app-level request limit (§2.5: app-wide, answered on every call).
const APP_LIMIT: &str = r#"{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4}}"#;
const D1: &str = r#"{"error":{"message":"Invalid OAuth access token signature.","type":"OAuthException","code":190}}"#;
const D5: &str = r#"{"data":{"type":"USER","is_valid":false,"expires_at":1600000000,"scopes":[]}}"#;
/// D5 with `expires_at` 0: not an expiry, so `TokenInvalidated`.
const D5_ZERO: &str = r#"{"data":{"type":"USER","is_valid":false,"expires_at":0,"scopes":[]}}"#;
const D6: &str = r#"{"data":{"type":"APP","is_valid":true,"scopes":[]}}"#;
pub(crate) const FB1_PAGE: &str = r#"{"data":{"type":"PAGE","is_valid":true,"expires_at":0,"data_access_expires_at":0,"scopes":["pages_manage_posts"],"user_id":"3003"}}"#;

/// FB1-USER; `expires_at` is the literal's 1893456000 unless the token is `expiring`.
pub(crate) fn fb1_user(expires_at: i64) -> String {
    format!(
        "{{\"data\":{{\"type\":\"USER\",\"is_valid\":true,\"expires_at\":{expires_at},\"data_access_expires_at\":1893456000,\"scopes\":[\"pages_show_list\",\"pages_manage_posts\"],\"granular_scopes\":[{{\"scope\":\"pages_manage_posts\",\"target_ids\":[\"{FACEBOOK_PAGE_ID}\"]}}],\"user_id\":\"{FACEBOOK_USER_ID}\"}}}}"
    )
}

/// FB1 / IG1: `GET /{ver}/debug_token?input_token={T}&access_token={cid}%7C{csec}`.
fn debug_token(cx: &Cx, known: &'static [&'static str]) -> Outcome {
    cx.req.method_is(Method::GET)?;
    let input = cx.req.query_token("input_token")?;
    let client = app_token(cx)?;
    let scn = cx.scenario(input, "debug_token", known)?;
    if client == Client::BadSecret {
        return Ok(Reply::json(400, D1));
    }
    Ok(match scn.name {
        "page" | "fb-c" => Reply::ok(FB1_PAGE),
        "d1" => Reply::json(400, D1),
        "d5" => Reply::ok(D5),
        "d5-zero" => Reply::ok(D5_ZERO),
        "d6" => Reply::ok(D6),
        "app-limit" => Reply::json(400, APP_LIMIT),
        "buc-1e300" => buc_1e300(cx),
        UNKNOWN => Reply::ok(d4_body(8)),
        _ => match scn.g_row() {
            Some(n @ 1..=8) => Reply::ok(d4_body(n)),
            // G9–G11 speak about the Page or the IG account: debug_token says the user token
            // is fine, and the row shows on the next call (FB2/FB3/IG2).
            Some(9..=11) => Reply::ok(fb1_user(1_893_456_000)),
            // G12–G15 are not about the token: top-level (D2 transient, G15 unclassified).
            Some(n) => g_reply(cx, n),
            None => {
                let expires_at = if scn.expiring { cx.now + 3 * 86_400 } else { 1_893_456_000 };
                Reply::ok(fb1_user(expires_at))
            }
        },
    })
}

/// FB2: `GET /{ver}/me?fields=id,name&access_token={T}`.
fn fb2(cx: &Cx, known: &'static [&'static str]) -> Outcome {
    cx.req.method_is(Method::GET)?;
    let token = cx.req.query_token("access_token")?;
    cx.req.need_fields(&["id", "name"])?;
    let scn = cx.scenario(token, "me", known)?;
    if let Some(err) = g_error(cx, scn) {
        return Ok(err);
    }
    Ok(Reply::ok(match scn.name {
        "page" => r#"{"id":"2002","name":"Example Page"}"#.to_string(),
        "fb-c" => r#"{"id":"2999","name":"Other Page"}"#.to_string(),
        // A USER token's /me is the user (FB-d).
        _ => format!("{{\"id\":\"{FACEBOOK_USER_ID}\",\"name\":\"Example User\"}}"),
    }))
}

const ALL_TASKS: &str = r#"["ANALYZE","ADVERTISE","MODERATE","CREATE_CONTENT","MANAGE"]"#;
const IG_TASKS: &str = r#"["CREATE_CONTENT","MODERATE","ANALYZE"]"#;

/// One `/me/accounts` page. `page`: (Page id, tasks JSON, linked IG account id).
fn accounts_body(instagram: bool, page: (&str, &str, Option<&str>), next: Option<&str>) -> String {
    let (id, tasks, ig) = page;
    let entry = if instagram {
        let ig = ig.map(|ig| format!(",\"instagram_business_account\":{{\"id\":\"{ig}\"}}")).unwrap_or_default();
        format!("{{\"id\":\"{id}\",\"tasks\":{tasks}{ig}}}")
    } else {
        let name = if id == FACEBOOK_PAGE_ID { "Example Page" } else { "Other Page" };
        format!("{{\"id\":\"{id}\",\"name\":\"{name}\",\"tasks\":{tasks}}}")
    };
    let paging = match next {
        Some(next) => format!(",\"paging\":{{\"cursors\":{{\"before\":\"QQ\",\"after\":\"QR\"}},\"next\":\"{next}\"}}"),
        None if instagram => String::new(),
        None => ",\"paging\":{\"cursors\":{\"before\":\"QQ\",\"after\":\"QR\"}}".to_string(),
    };
    format!("{{\"data\":[{entry}]{paging}}}")
}

/// FB3 / IG3: `GET /{ver}/me/accounts?fields=…&limit=100&access_token={T}[&after=QR]`.
fn fb3(cx: &Cx, known: &'static [&'static str], instagram: bool) -> Outcome {
    let req = cx.req;
    req.method_is(Method::GET)?;
    let token = req.query_token("access_token")?;
    if instagram {
        req.need_fields(&["id", "tasks", "instagram_business_account"])?;
    } else {
        req.need_fields(&["id", "name", "tasks"])?;
    }
    req.need_query_eq("limit", "100")?;
    let after = req.query_param("after");
    let call = if after.is_some() { "me/accounts?after" } else { "me/accounts" };
    let scn = cx.scenario(token, call, known)?;
    if let Some(err) = g_error(cx, scn) {
        return Ok(err);
    }
    let default_tasks = if instagram { IG_TASKS } else { ALL_TASKS };
    let ours = |tasks| (FACEBOOK_PAGE_ID, tasks, Some(INSTAGRAM_ACCOUNT_ID));
    let other = (FACEBOOK_OTHER_PAGE_ID, default_tasks, None);
    Ok(Reply::ok(match scn.name {
        "fb-f" => accounts_body(instagram, ours(r#"["ADVERTISE"]"#), None),
        "fb-f-analyze" => accounts_body(instagram, ours(r#"["ANALYZE","ADVERTISE"]"#), None),
        "fb-g" => accounts_body(instagram, other, None),
        "fb3-paging" => match after {
            None => {
                let next = format!("{}{NEVER_FOLLOW}", cx.sh.base_url);
                accounts_body(instagram, other, Some(&next))
            }
            Some("QR") => accounts_body(instagram, ours(default_tasks), None),
            Some(cursor) => {
                return Err(Reply::fake(400, format!("after must be the cursor QR from paging.cursors.after (got {cursor:?})")));
            }
        },
        _ => accounts_body(instagram, ours(default_tasks), None),
    }))
}

/// The Page that `fb-c`, `fb-g` and the first `fb3-paging` page show instead of ours.
const FACEBOOK_OTHER_PAGE_ID: &str = "2999";

/// USER revoke: `DELETE /{ver}/me/permissions?access_token={T}`. Success kills the token.
fn revoke_user(cx: &Cx, known: &'static [&'static str]) -> Outcome {
    cx.req.method_is(Method::DELETE)?;
    let token = cx.req.query_token("access_token")?;
    let scn = cx.scenario(token, "revoke", known)?;
    if let Some(err) = g_error(cx, scn) {
        return Ok(err);
    }
    cx.sh.kill(token);
    Ok(Reply::ok(r#"{"success":true}"#))
}

/// PAGE revoke: `DELETE /{ver}/{user_id}/permissions?access_token={cid}%7C{csec}`.
fn revoke_page(cx: &Cx) -> Outcome {
    cx.req.method_is(Method::DELETE)?;
    if cx.req.header("authorization").is_some() {
        return Err(Reply::fake(400, "the app token goes in query access_token; no Authorization header"));
    }
    Ok(match app_token(cx)? {
        Client::BadSecret => Reply::json(400, D1),
        Client::Good => Reply::ok(r#"{"success":true}"#),
    })
}

/// Graph's answer to an exchange with a wrong client secret (providers.md: code 1 or 101 with a
/// message naming the client secret).
const BAD_CLIENT_SECRET: &str = r#"{"error":{"message":"Error validating client secret.","type":"OAuthException","code":1}}"#;

/// `GET /{ver}/oauth/access_token?grant_type=fb_exchange_token&client_id&client_secret&fb_exchange_token`.
fn exchange(cx: &Cx, known: &'static [&'static str]) -> Outcome {
    let req = cx.req;
    req.method_is(Method::GET)?;
    req.need_query_eq("grant_type", "fb_exchange_token")?;
    let client = check_client(req.need_query("client_id")?, req.need_query("client_secret")?)?;
    let token = req.query_token("fb_exchange_token")?;
    let scn = cx.scenario(token, "exchange", known)?;
    if client == Client::BadSecret {
        return Ok(Reply::json(400, BAD_CLIENT_SECRET));
    }
    if let Some(err) = g_error(cx, scn) {
        return Ok(err);
    }
    let new = cx.sh.mint(scn, "EAAnew");
    Ok(Reply::ok(format!("{{\"access_token\":\"{new}\",\"token_type\":\"bearer\",\"expires_in\":5183944}}")))
}

const IG_D: &str = r#"{"error":{"message":"The user is not an Instagram Business","type":"OAuthException","code":10}}"#;

/// IG2: `GET /{ver}/{ig-user-id}?fields=id,username&access_token={T}`.
fn ig2(cx: &Cx, id: &str, known: &'static [&'static str]) -> Outcome {
    cx.req.method_is(Method::GET)?;
    let token = cx.req.query_token("access_token")?;
    cx.req.need_fields(&["id", "username"])?;
    let scn = cx.scenario(token, "ig2", known)?;
    if let Some(err) = g_error(cx, scn) {
        return Ok(err);
    }
    if id != INSTAGRAM_ACCOUNT_ID {
        return Ok(g_reply(cx, 11));
    }
    Ok(match scn.name {
        "ig-c" => Reply::ok(r#"{"id":"17841400000009999","username":"other.shop"}"#),
        "ig-d" => Reply::json(400, IG_D),
        _ => Reply::ok(r#"{"id":"17841400000000000","username":"example.shop"}"#),
    })
}

/// instagram-login: `GET /{ver}/me` (IL1) and `GET /refresh_access_token` (IL2).
pub(crate) fn instagram_login(cx: &Cx) -> Outcome {
    let known = INSTAGRAM_LOGIN_SCENARIOS;
    if cx.req.path == "/refresh_access_token" {
        return refresh_long_lived(cx, known, "ig_refresh_token", "IGAAnew");
    }
    let Some((_, "me")) = strip_version(&cx.req.path) else {
        return Err(graph_no_route(cx));
    };
    cx.req.method_is(Method::GET)?;
    let token = cx.req.query_token("access_token")?;
    cx.req.need_fields(&["id", "user_id", "username", "account_type"])?;
    let scn = cx.scenario(token, "me", known)?;
    if let Some(err) = g_error(cx, scn) {
        return Ok(err);
    }
    Ok(Reply::ok(match scn.name {
        "il-b" => r#"{"id":"9999","user_id":"17841400000009999","account_type":"MEDIA_CREATOR"}"#.to_string(),
        "il-c" => format!("{{\"id\":\"{INSTAGRAM_LOGIN_ID}\",\"user_id\":\"{INSTAGRAM_LOGIN_ACCOUNT_ID}\",\"account_type\":\"PERSONAL\"}}"),
        _ => format!("{{\"id\":\"{INSTAGRAM_LOGIN_ID}\",\"user_id\":\"{INSTAGRAM_LOGIN_ACCOUNT_ID}\",\"account_type\":\"MEDIA_CREATOR\"}}"),
    }))
}

/// threads: `GET /v1.0/me` (TH1) and `GET /refresh_access_token` (TH2).
pub(crate) fn threads(cx: &Cx) -> Outcome {
    let known = THREADS_SCENARIOS;
    if cx.req.path == "/refresh_access_token" {
        return refresh_long_lived(cx, known, "th_refresh_token", "THAAnew");
    }
    match strip_version(&cx.req.path) {
        Some(("1.0", "me")) => {}
        Some((_, "me")) => return Err(Reply::fake(400, "Threads uses /v1.0/")),
        _ => return Err(graph_no_route(cx)),
    }
    cx.req.method_is(Method::GET)?;
    let token = cx.req.query_token("access_token")?;
    cx.req.need_fields(&["id", "username"])?;
    let scn = cx.scenario(token, "me", known)?;
    if let Some(err) = g_error(cx, scn) {
        return Ok(err);
    }
    Ok(Reply::ok(match scn.name {
        "th-b" => r#"{"id":"7999","username":"other"}"#.to_string(),
        _ => format!("{{\"id\":\"{THREADS_USER_ID}\",\"username\":\"example\"}}"),
    }))
}

fn graph_no_route(cx: &Cx) -> Reply {
    if strip_version(&cx.req.path).is_none() {
        Reply::fake(400, format!("Graph paths start with /vNN.N/ (got {})", cx.req.path))
    } else {
        cx.req.no_route()
    }
}

/// IL2 / TH2: `GET /refresh_access_token?grant_type={grant}&access_token={T}`. The old token
/// keeps working (Meta does not rotate these); the new one keeps the old one's scenario.
fn refresh_long_lived(cx: &Cx, known: &'static [&'static str], grant: &str, stem: &str) -> Outcome {
    cx.req.method_is(Method::GET)?;
    cx.req.need_query_eq("grant_type", grant)?;
    let token = cx.req.query_token("access_token")?;
    let scn = cx.scenario(token, "refresh", known)?;
    if let Some(err) = g_error(cx, scn) {
        return Ok(err);
    }
    let new = cx.sh.mint(scn, stem);
    Ok(Reply::ok(format!("{{\"access_token\":\"{new}\",\"token_type\":\"bearer\",\"expires_in\":5183944}}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The G bodies, copied from providers.md §2.11.
    const DOC_G: [&str; 14] = [
        r#"{"error":{"message":"password changed","type":"OAuthException","code":190,"error_subcode":460}}"#,
        r#"{"error":{"message":"app not installed","type":"OAuthException","code":190,"error_subcode":458}}"#,
        r#"{"error":{"message":"user checkpointed","type":"OAuthException","code":190,"error_subcode":459}}"#,
        r#"{"error":{"message":"unconfirmed user","type":"OAuthException","code":190,"error_subcode":464}}"#,
        r#"{"error":{"message":"invalid access token","type":"OAuthException","code":190,"error_subcode":467}}"#,
        r#"{"error":{"message":"session has expired","type":"OAuthException","code":190,"error_subcode":463}}"#,
        r#"{"error":{"message":"invalid session","type":"OAuthException","code":190,"error_subcode":492}}"#,
        r#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}"#,
        r#"{"error":{"message":"(#200) User does not have an appropriate role on the Page","type":"OAuthException","code":200}}"#,
        r#"{"error":{"message":"(#10) Requires pages_read_engagement permission","type":"OAuthException","code":10}}"#,
        r#"{"error":{"message":"Object does not exist or missing permissions","type":"GraphMethodException","code":100,"error_subcode":33}}"#,
        r#"{"error":{"message":"An unexpected error has occurred.","type":"OAuthException","code":2}}"#,
        r#"{"error":{"message":"(#80001) Too many calls to this Page account.","type":"OAuthException","code":80001}}"#,
        r#"{"error":{"message":"temporarily blocked","type":"OAuthException","code":368}}"#,
    ];

    #[test]
    fn g_bodies_are_the_documented_literals() {
        for (i, doc) in DOC_G.iter().enumerate() {
            assert_eq!(g_body(i + 1), *doc, "G{}", i + 1);
        }
    }

    #[test]
    fn d4_of_g1_is_the_documented_literal() {
        assert_eq!(
            d4_body(1),
            r#"{"data":{"type":"USER","is_valid":false,"expires_at":1893456000,"scopes":[],"error":{"code":190,"subcode":460,"message":"password changed"}}}"#
        );
        assert_eq!(
            d4_body(8),
            r#"{"data":{"type":"USER","is_valid":false,"expires_at":1893456000,"scopes":[],"error":{"code":190,"message":"Invalid OAuth access token."}}}"#
        );
    }

    #[test]
    fn fb1_user_and_fb3_are_the_documented_literals() {
        assert_eq!(
            fb1_user(1_893_456_000),
            r#"{"data":{"type":"USER","is_valid":true,"expires_at":1893456000,"data_access_expires_at":1893456000,"scopes":["pages_show_list","pages_manage_posts"],"granular_scopes":[{"scope":"pages_manage_posts","target_ids":["2002"]}],"user_id":"3003"}}"#
        );
        assert_eq!(
            accounts_body(false, (FACEBOOK_PAGE_ID, ALL_TASKS, None), None),
            r#"{"data":[{"id":"2002","name":"Example Page","tasks":["ANALYZE","ADVERTISE","MODERATE","CREATE_CONTENT","MANAGE"]}],"paging":{"cursors":{"before":"QQ","after":"QR"}}}"#
        );
        assert_eq!(
            accounts_body(true, (FACEBOOK_PAGE_ID, IG_TASKS, Some(INSTAGRAM_ACCOUNT_ID)), None),
            r#"{"data":[{"id":"2002","tasks":["CREATE_CONTENT","MODERATE","ANALYZE"],"instagram_business_account":{"id":"17841400000000000"}}]}"#
        );
    }

    #[test]
    fn graph_version_prefix_is_recognised() {
        assert_eq!(strip_version("/v24.0/debug_token"), Some(("24.0", "debug_token")));
        assert_eq!(strip_version("/v1.0/me"), Some(("1.0", "me")));
        assert_eq!(strip_version("/debug_token"), None);
        assert_eq!(strip_version("/v24/me"), None);
        assert_eq!(strip_version("/vX.0/me"), None);
    }
}
