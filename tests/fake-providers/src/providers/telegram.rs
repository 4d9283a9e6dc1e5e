//! telegram: api.telegram.org `/bot{T}/getMe`, `/bot{T}/getChatMember` (providers.md §3.10).
//! The bot token is `<digits>:<scenario>__<nonce>`; the scenario is read after the colon.

use axum::http::Method;

use crate::request::{Outcome, Reply};
use crate::state::{Cx, UNKNOWN};

pub(crate) const SCENARIOS: &[&str] =
    &["valid", "tg-b", "tg-c", "tg-e", "tg-f", "tg-f-403", "tg-g", "tg-h", "tg-i", "tg-retry-max", "tg-j", "tg-admin"];

const TG1: &str = r#"{"ok":true,"result":{"id":6006,"is_bot":true,"username":"example_bot"}}"#;
const TG_B: &str = r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#;
const TG_C: &str = r#"{"ok":false,"error_code":404,"description":"Not Found"}"#;
const TG2: &str = r#"{"ok":true,"result":{"user":{"id":6006,"is_bot":true},"status":"administrator","can_post_messages":true,"can_edit_messages":true,"can_delete_messages":true,"can_promote_members":false}}"#;
const TG2_ADMIN: &str = r#"{"ok":true,"result":{"user":{"id":6006,"is_bot":true},"status":"administrator","can_post_messages":true,"can_edit_messages":true,"can_delete_messages":true,"can_promote_members":true}}"#;
const TG_E: &str = r#"{"ok":true,"result":{"user":{"id":6006,"is_bot":true},"status":"member"}}"#;
const TG_F: &str = r#"{"ok":true,"result":{"user":{"id":6006,"is_bot":true},"status":"kicked"}}"#;
const TG_F_403: &str = r#"{"ok":false,"error_code":403,"description":"Forbidden: bot is not a member of the channel chat"}"#;
const TG_G: &str = r#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234567890}}"#;
const TG_H: &str = r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#;
const TG_I: &str = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;
/// Hostile TG-i: `retry_after` of u64::MAX seconds (providers.md §2.5: clamp to 24 h).
const TG_RETRY_MAX: &str = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 18446744073709551615","parameters":{"retry_after":18446744073709551615}}"#;
const TG_J: &str = r#"{"ok":false,"error_code":400,"description":"Bad Request: member list is inaccessible"}"#;

pub(crate) fn telegram(cx: &Cx) -> Outcome {
    let Some((token, method)) = cx.req.path.strip_prefix("/bot").and_then(|r| r.rsplit_once('/')) else {
        return Err(cx.req.no_route());
    };
    if method != "getMe" && method != "getChatMember" {
        return Err(cx.req.no_route());
    }
    cx.req.method_is(Method::GET)?;
    // Telegram answers 404 to a token that is not `<digits>:<secret>`.
    let Some((digits, _)) = token.split_once(':') else {
        return Ok(Reply::json(404, TG_C));
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Reply::json(404, TG_C));
    }
    let secret = &token[digits.len() + 1..];
    if method == "getChatMember" {
        cx.req.need_query("chat_id")?;
        cx.req.need_query_eq("user_id", "6006")?;
    }
    let scn = cx.scenario_from(token, secret, method, SCENARIOS)?;
    Ok(match (method, scn.name) {
        (_, "tg-b" | UNKNOWN) => Reply::json(401, TG_B),
        (_, "tg-c") => Reply::json(404, TG_C),
        (_, "tg-i") => Reply::json(429, TG_I),
        (_, "tg-retry-max") => Reply::json(429, TG_RETRY_MAX),
        ("getMe", _) => Reply::ok(TG1),
        (_, "tg-e") => Reply::ok(TG_E),
        (_, "tg-f") => Reply::ok(TG_F),
        (_, "tg-f-403") => Reply::json(403, TG_F_403),
        (_, "tg-g") => Reply::json(400, TG_G),
        (_, "tg-h") => Reply::json(400, TG_H),
        (_, "tg-j") => Reply::json(400, TG_J),
        (_, "tg-admin") => Reply::ok(TG2_ADMIN),
        _ => Reply::ok(TG2),
    })
}
