//! Telegram bots (providers.md §3.10): TG1 `getMe`, then TG2 `getChatMember` when a role is
//! required. The bot token is part of the path; the HTTP layer redacts it in logs.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::http::Answer;
use super::numbers;
use super::{AppKeys, CheckInput, CheckReport, Interruption, Provider, ProviderHttp, ProviderProfile, RoleFinding, TokenVerdict};
use crate::api::{ProviderKind, RequiredRole};
use crate::conditions::{RevokedReason, RoleReason};
use crate::redact;

/// The Telegram bot provider.
pub struct Telegram;

const KIND: ProviderKind = ProviderKind::Telegram;

/// Default (and only) host of the Bot API.
const API_BASE: &str = "https://api.telegram.org";

static PROFILE: ProviderProfile = ProviderProfile {
    short_lived: false,
    app_keys: AppKeys::None,
    consent_url: "https://t.me/BotFather",
    scope_separator: " ",
    default_scopes: &[],
    reports_scopes: false,
    tokens_expire: false,
};

#[async_trait]
impl Provider for Telegram {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn profile(&self) -> &'static ProviderProfile {
        &PROFILE
    }

    async fn check(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> CheckReport {
        let token = input.token.expose();
        // The Secret parser already refuses other tokens (§2.2); checked again because the
        // token becomes a path segment, where `/`, `?` or `#` would change the call.
        if token.is_empty() || !token.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-')) {
            return CheckReport::verdict(TokenVerdict::InvalidSecret {
                message: "the bot token is not of the form <digits>:<characters>".to_string(),
            });
        }
        let get_me = http.url(KIND, API_BASE, &format!("/bot{token}/getMe"));
        let answer = http.send(KIND, http.client().get(get_me)).await.map_err(Outcome::Transient);
        let bot_id = match answer.and_then(|answer| classify_get_me(&answer, input)) {
            Ok(id) => id,
            Err(outcome) => return outcome.apply(CheckReport::default()),
        };
        let report = CheckReport::verdict(TokenVerdict::Valid);
        let Some(required) = input.required_role else {
            return report;
        };
        let chat = input.account_id.trim();
        let mut get_chat_member = http.url(KIND, API_BASE, &format!("/bot{token}/getChatMember"));
        get_chat_member.query_pairs_mut().append_pair("chat_id", chat).append_pair("user_id", &bot_id.to_string());
        let outcome = match http.send(KIND, http.client().get(get_chat_member)).await {
            Ok(answer) => classify_chat_member(&answer, input, chat, required),
            Err(interruption) => Outcome::Transient(interruption),
        };
        outcome.apply(report)
    }
}

/// What an answer decided.
enum Outcome {
    /// A role or account finding; the verdict so far stands.
    Role(RoleFinding),
    /// A verdict about the token itself.
    Token(TokenVerdict),
    /// A transient answer; what was decided before stands.
    Transient(Interruption),
}

impl Outcome {
    /// Adds this outcome to the facts gathered so far.
    fn apply(self, mut report: CheckReport) -> CheckReport {
        match self {
            Outcome::Role(finding) => report.role.push(finding),
            Outcome::Token(verdict) => report.token = Some(verdict),
            Outcome::Transient(interruption) => report.interruption = Some(interruption),
        }
        report
    }
}

/// TG-b and TG-i, which apply to any call, and the shared transients of §2.5.
fn any_call_rows(answer: &Answer, json: Option<&Value>, input: &CheckInput<'_>) -> Option<Result<TokenVerdict, Interruption>> {
    match answer.status {
        401 => Some(Ok(TokenVerdict::Revoked {
            reason: RevokedReason::TokenInvalidated,
            message: format!("Telegram rejected the bot token ({}); it was revoked or replaced in @BotFather", description(json, input)),
        })),
        429 => Some(Err(Interruption::rate_limited("Telegram rate limit (HTTP 429)", retry_after(json).or_else(|| answer.retry_after())))),
        _ => answer.generic_transient().map(Err),
    }
}

/// The TG1 rows: the bot's user id (TG-a), or the outcome that ends the check.
fn classify_get_me(answer: &Answer, input: &CheckInput<'_>) -> Result<i64, Outcome> {
    let json = answer.json();
    if let Some(outcome) = any_call_rows(answer, json.as_ref(), input) {
        return Err(outcome.map_or_else(Outcome::Transient, Outcome::Token));
    }
    if answer.status == 404 {
        return Err(Outcome::Token(TokenVerdict::InvalidSecret {
            message: "Telegram does not know this bot token (HTTP 404): it is malformed".to_string(),
        }));
    }
    if !answer.is_success() {
        return Err(Outcome::Transient(Interruption::unclassified(unexpected(answer, json.as_ref()))));
    }
    ok_result(json.as_ref()).and_then(|result| result.get("id")?.as_i64()).ok_or_else(|| {
        Outcome::Transient(Interruption::unavailable(format!("Telegram getMe answered HTTP {} without the expected result", answer.status)))
    })
}

/// The TG2 rows (TG-b, TG-d … TG-j).
fn classify_chat_member(answer: &Answer, input: &CheckInput<'_>, chat: &str, required: RequiredRole) -> Outcome {
    let json = answer.json();
    let json = json.as_ref();
    if let Some(outcome) = any_call_rows(answer, json, input) {
        return outcome.map_or_else(Outcome::Transient, Outcome::Token);
    }
    let finding = |reason, message| Outcome::Role(RoleFinding { reason, message });
    let why = description(json, input);
    match answer.status {
        // TG-f: the bot was kicked or never joined.
        403 => finding(RoleReason::RoleRemoved, format!("the bot has no access to chat {chat}: {why}")),
        // TG-g.
        400 if migrated_to(json).is_some() => finding(
            RoleReason::AccountNotFound,
            format!(
                "chat {chat} was upgraded to a supergroup with id {}; set spec.account.id to it",
                migrated_to(json).unwrap_or_default()
            ),
        ),
        // TG-h.
        400 if why.contains("chat not found") => finding(RoleReason::AccountNotFound, format!("Telegram does not know chat {chat}: {why}")),
        200..=299 => match ok_result(json) {
            Some(member) => member_finding(member, chat, required)
                .unwrap_or_else(|| Outcome::Transient(Interruption::unclassified(unexpected(answer, Some(member))))),
            None => Outcome::Transient(Interruption::unavailable(format!(
                "Telegram getChatMember answered HTTP {} without the expected result",
                answer.status
            ))),
        },
        // TG-j and anything else.
        _ => Outcome::Transient(Interruption::unclassified(unexpected(answer, json))),
    }
}

/// TG-d, TG-e, TG-f for a `ChatMember` result; `None` for a status the table does not know.
fn member_finding(member: &Value, chat: &str, required: RequiredRole) -> Option<Outcome> {
    let status = member.get("status")?.as_str()?;
    let right = |name: &str, absent: bool| member.get(name).and_then(Value::as_bool).unwrap_or(absent);
    let rights = Rights {
        post: right("can_post_messages", true),
        delete: right("can_delete_messages", false),
        promote: right("can_promote_members", false),
    };
    let (reason, message) = match role_level(status, rights, required)? {
        Ok(()) => (RoleReason::RoleConfirmed, format!("the bot is {status} of chat {chat}")),
        Err(RoleLack::Removed) => (RoleReason::RoleRemoved, format!("the bot's status in chat {chat} is {status}")),
        Err(RoleLack::Insufficient(lacking)) => (
            RoleReason::InsufficientRole,
            format!("the bot is {status} of chat {chat} without {lacking}, below the required role {}", required.as_str()),
        ),
    };
    Some(Outcome::Role(RoleFinding { reason, message }))
}

/// An administrator's rights that §2.12 looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rights {
    /// `can_post_messages` (true when absent: only channels have it).
    post: bool,
    /// `can_delete_messages`.
    delete: bool,
    /// `can_promote_members`.
    promote: bool,
}

/// Why a chat member status does not satisfy the required level.
#[derive(Clone, Debug, PartialEq, Eq)]
enum RoleLack {
    /// `left` or `kicked`.
    Removed,
    /// A lower status, or an administrator lacking the named rights.
    Insufficient(String),
}

/// §2.12 for Telegram: `Some(Ok)` when `status` with `rights` satisfies `required`,
/// `Some(Err)` with the reason when not, `None` for a status Telegram does not document.
fn role_level(status: &str, rights: Rights, required: RequiredRole) -> Option<Result<(), RoleLack>> {
    let needed: &[(&str, bool)] = match required {
        RequiredRole::Admin => {
            &[("can_post_messages", rights.post), ("can_delete_messages", rights.delete), ("can_promote_members", rights.promote)]
        }
        RequiredRole::Editor => &[("can_post_messages", rights.post)],
        RequiredRole::Moderator => &[("can_delete_messages", rights.delete)],
        RequiredRole::Analyst => &[],
    };
    Some(match status {
        "creator" => Ok(()),
        "administrator" => {
            let lacking: Vec<&str> = needed.iter().filter(|(_, has)| !has).map(|(name, _)| *name).collect();
            if lacking.is_empty() { Ok(()) } else { Err(RoleLack::Insufficient(lacking.join(", "))) }
        }
        "member" | "restricted" => Err(RoleLack::Insufficient("administrator rights".to_string())),
        "left" | "kicked" => Err(RoleLack::Removed),
        _ => return None,
    })
}

/// `result` of an envelope with `ok` true.
fn ok_result(json: Option<&Value>) -> Option<&Value> {
    let json = json?;
    (json.get("ok")?.as_bool()? && json.get("result").is_some()).then(|| &json["result"])
}

/// `parameters.retry_after` in seconds (§2.5 rule 1), clamped however large it is.
fn retry_after(json: Option<&Value>) -> Option<Duration> {
    numbers::delay_from_json_secs(json?.get("parameters")?.get("retry_after")?)
}

/// `parameters.migrate_to_chat_id` (TG-g).
fn migrated_to(json: Option<&Value>) -> Option<i64> {
    json?.get("parameters")?.get("migrate_to_chat_id")?.as_i64()
}

/// The envelope's `description`, scrubbed.
fn description(json: Option<&Value>, input: &CheckInput<'_>) -> String {
    let text = json.and_then(|j| j.get("description")).and_then(Value::as_str).unwrap_or("no description");
    redact::scrub(text, &input.secrets())
}

/// HTTP status and the provider's `error_code` (or member `status`) only, for an unclassified
/// answer.
fn unexpected(answer: &Answer, json: Option<&Value>) -> String {
    let code = json.and_then(|j| j.get("error_code")).and_then(Value::as_i64);
    let status = json.and_then(|j| j.get("status")).and_then(Value::as_str);
    match (code, status) {
        (Some(code), _) => format!("HTTP {}, error_code {code}", answer.status),
        (None, Some(status)) => format!("HTTP {}, chat member status {}", answer.status, redact::scrub(status, &[])),
        (None, None) => format!("HTTP {}", answer.status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::endpoints::Endpoints;
    use crate::providers::http::USER_AGENT;
    use crate::providers::{ExpiryFact, TransientKind};
    use crate::redact::SecretString;
    use jiff::Timestamp;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    const TOKEN: &str = "123456:ABC-def_ghi";
    const CHAT: &str = "-1001234567890";
    const TG1: &str = r#"{"ok":true,"result":{"id":6006,"is_bot":true,"username":"example_bot"}}"#;
    const TG_B: &str = r#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#;
    const TG_C: &str = r#"{"ok":false,"error_code":404,"description":"Not Found"}"#;
    const TG2: &str = r#"{"ok":true,"result":{"user":{"id":6006,"is_bot":true},"status":"administrator","can_post_messages":true,"can_edit_messages":true,"can_delete_messages":true,"can_promote_members":false}}"#;
    const TG_F: &str = r#"{"ok":true,"result":{"user":{"id":6006,"is_bot":true},"status":"kicked"}}"#;
    const TG_F_403: &str = r#"{"ok":false,"error_code":403,"description":"Forbidden: bot is not a member of the channel chat"}"#;
    const TG_G: &str = r#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001234567890}}"#;
    const TG_H: &str = r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#;
    const TG_I: &str = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#;

    fn reply(status: u16, body: &str) -> ResponseTemplate {
        ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
    }

    /// An exact Bot API call: GET, the token in the path, the common headers, no Authorization.
    fn bot_call(method_name: &str) -> wiremock::MockBuilder {
        Mock::given(method("GET"))
            .and(path(format!("/bot{TOKEN}/{method_name}")))
            .and(header("accept", "application/json"))
            .and(header("user-agent", USER_AGENT))
            .and(|r: &Request| !r.headers.contains_key("authorization"))
    }

    fn get_me(response: ResponseTemplate) -> Mock {
        bot_call("getMe").and(|r: &Request| r.url.query().is_none()).respond_with(response).expect(1)
    }

    /// TG2 for `chat` (raw query as sent, so the encoding is checked) and the bot id of TG1.
    fn get_chat_member(raw_query: &'static str, response: ResponseTemplate) -> Mock {
        bot_call("getChatMember")
            .and(query_param("user_id", "6006"))
            .and(move |r: &Request| r.url.query() == Some(raw_query))
            .respond_with(response)
            .expect(1)
    }

    async fn run(mocks: Vec<Mock>, chat: &str, role: Option<RequiredRole>) -> CheckReport {
        let server = MockServer::start().await;
        for mock in mocks {
            mock.mount(&server).await;
        }
        let endpoints = Endpoints::from_sources(&[format!("telegram={}", server.uri())], None).unwrap();
        let http = ProviderHttp::with_endpoints(endpoints).unwrap();
        let token = SecretString::new(TOKEN);
        let input = CheckInput {
            account_id: chat,
            token: &token,
            refresh_token: None,
            app: None,
            required_role: role,
            known_expires_at: None,
            token_issued_at: None,
            now: "2026-04-01T12:00:00Z".parse::<Timestamp>().unwrap(),
        };
        Telegram.check(&http, &input).await
    }

    /// TG1 succeeds; TG2 for the default chat answers `response`; editor is required.
    async fn tg2_says(response: ResponseTemplate) -> CheckReport {
        let tg2 = get_chat_member("chat_id=-1001234567890&user_id=6006", response);
        run(vec![get_me(reply(200, TG1)), tg2], CHAT, Some(RequiredRole::Editor)).await
    }

    fn role_of(report: &CheckReport) -> Vec<RoleReason> {
        report.role.iter().map(|f| f.reason).collect()
    }

    #[tokio::test]
    async fn tg_a_get_me_ok_is_valid_without_expiry_or_scopes() {
        let unused = Mock::given(path(format!("/bot{TOKEN}/getChatMember"))).respond_with(reply(200, TG2)).expect(0);
        let report = run(vec![get_me(reply(200, TG1)), unused], CHAT, None).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.expiry, ExpiryFact::NotReported);
        assert_eq!(report.granted_scopes, None);
        assert!(report.role.is_empty());
        assert_eq!(report.interruption, None);
    }

    #[tokio::test]
    async fn tg_b_a_401_on_get_me_is_token_invalidated() {
        let report = run(vec![get_me(reply(401, TG_B))], CHAT, Some(RequiredRole::Admin)).await;
        assert!(matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, .. })));
    }

    #[tokio::test]
    async fn tg_b_a_401_on_get_chat_member_is_token_invalidated() {
        let report = tg2_says(reply(401, TG_B)).await;
        assert!(matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, .. })));
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn tg_c_a_404_on_get_me_is_an_invalid_secret() {
        let report = run(vec![get_me(reply(404, TG_C))], CHAT, None).await;
        assert!(matches!(report.token, Some(TokenVerdict::InvalidSecret { .. })));
    }

    #[tokio::test]
    async fn tg_d_an_administrator_that_can_post_is_an_editor() {
        let report = tg2_says(reply(200, TG2)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(role_of(&report), vec![RoleReason::RoleConfirmed]);
    }

    #[tokio::test]
    async fn tg_e_a_member_is_an_insufficient_role() {
        let report = tg2_says(reply(200, &TG_F.replace("kicked", "member"))).await;
        assert_eq!(role_of(&report), vec![RoleReason::InsufficientRole]);
    }

    #[tokio::test]
    async fn tg_e_an_administrator_lacking_a_right_is_an_insufficient_role() {
        let tg2 = get_chat_member("chat_id=-1001234567890&user_id=6006", reply(200, TG2));
        let report = run(vec![get_me(reply(200, TG1)), tg2], CHAT, Some(RequiredRole::Admin)).await;
        assert_eq!(role_of(&report), vec![RoleReason::InsufficientRole]);
        assert!(report.role[0].message.contains("can_promote_members"), "{}", report.role[0].message);
    }

    #[tokio::test]
    async fn tg_f_a_kicked_bot_has_its_role_removed() {
        let report = tg2_says(reply(200, TG_F)).await;
        assert_eq!(role_of(&report), vec![RoleReason::RoleRemoved]);
    }

    #[tokio::test]
    async fn tg_f_a_403_has_its_role_removed() {
        let report = tg2_says(reply(403, TG_F_403)).await;
        assert_eq!(role_of(&report), vec![RoleReason::RoleRemoved]);
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert!(report.role[0].message.contains("not a member"));
    }

    #[tokio::test]
    async fn tg_g_a_migrated_group_is_not_found_and_names_the_new_id() {
        let report = tg2_says(reply(400, TG_G)).await;
        assert_eq!(role_of(&report), vec![RoleReason::AccountNotFound]);
        assert!(report.role[0].message.contains("-1001234567890"));
    }

    #[tokio::test]
    async fn tg_h_an_unknown_chat_is_not_found() {
        let report = tg2_says(reply(400, TG_H)).await;
        assert_eq!(role_of(&report), vec![RoleReason::AccountNotFound]);
    }

    #[tokio::test]
    async fn tg_i_a_429_on_get_me_waits_parameters_retry_after_before_the_header() {
        let response = reply(429, TG_I).insert_header("retry-after", "30");
        let report = run(vec![get_me(response)], CHAT, None).await;
        assert_eq!(report.token, None);
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::RateLimited);
        assert_eq!(i.retry_after, Some(Duration::from_secs(7)));
    }

    #[tokio::test]
    async fn tg_i_a_429_without_parameters_uses_the_retry_after_header() {
        let response = reply(429, r#"{"ok":false,"error_code":429,"description":"Too Many Requests"}"#).insert_header("retry-after", "30");
        let report = run(vec![get_me(response)], CHAT, None).await;
        assert_eq!(report.interruption.unwrap().retry_after, Some(Duration::from_secs(30)));
    }

    #[tokio::test]
    async fn tg_i_a_429_on_get_chat_member_keeps_the_verdict() {
        let report = tg2_says(reply(429, TG_I)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert!(report.role.is_empty());
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::RateLimited);
        assert_eq!(i.retry_after, Some(Duration::from_secs(7)));
    }

    #[tokio::test]
    async fn tg_j_other_400s_are_unclassified_with_status_and_code_only() {
        let report = tg2_says(reply(400, r#"{"ok":false,"error_code":400,"description":"Bad Request: something else"}"#)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.interruption.unwrap().unexpected.as_deref(), Some("HTTP 400, error_code 400"));
    }

    #[tokio::test]
    async fn a_channel_username_is_url_encoded_as_chat_id() {
        let tg2 = get_chat_member("chat_id=%40example_channel&user_id=6006", reply(200, TG2));
        let report = run(vec![get_me(reply(200, TG1)), tg2], "@example_channel", Some(RequiredRole::Editor)).await;
        assert_eq!(role_of(&report), vec![RoleReason::RoleConfirmed]);
    }

    #[tokio::test]
    async fn a_token_that_could_change_the_path_is_refused_without_a_call() {
        let server = MockServer::start().await;
        let endpoints = Endpoints::from_sources(&[format!("telegram={}", server.uri())], None).unwrap();
        let http = ProviderHttp::with_endpoints(endpoints).unwrap();
        let token = SecretString::new("123:abc/../x?y");
        let input = CheckInput {
            account_id: CHAT,
            token: &token,
            refresh_token: None,
            app: None,
            required_role: None,
            known_expires_at: None,
            token_issued_at: None,
            now: Timestamp::UNIX_EPOCH,
        };
        let report = Telegram.check(&http, &input).await;
        assert!(matches!(report.token, Some(TokenVerdict::InvalidSecret { .. })));
        assert!(server.received_requests().await.unwrap_or_default().is_empty());
    }

    #[test]
    fn role_levels_follow_the_role_map() {
        use RequiredRole::*;
        let all = Rights { post: true, delete: true, promote: true };
        let none = Rights { post: false, delete: false, promote: false };
        let post_only = Rights { post: true, delete: false, promote: false };
        let delete_only = Rights { post: false, delete: true, promote: false };
        let no_promote = Rights { post: true, delete: true, promote: false };
        // (status, rights, [admin, editor, moderator, analyst]) — true: satisfied.
        let table = [
            ("creator", none, [true, true, true, true]),
            ("administrator", all, [true, true, true, true]),
            ("administrator", no_promote, [false, true, true, true]),
            ("administrator", post_only, [false, true, false, true]),
            ("administrator", delete_only, [false, false, true, true]),
            ("administrator", none, [false, false, false, true]),
            ("member", all, [false, false, false, false]),
            ("restricted", all, [false, false, false, false]),
        ];
        for (status, rights, expected) in table {
            for (level, want) in [Admin, Editor, Moderator, Analyst].into_iter().zip(expected) {
                let got = role_level(status, rights, level);
                assert_eq!(got.as_ref().map(Result::is_ok), Some(want), "{status} {rights:?} as {}", level.as_str());
            }
        }
        for status in ["left", "kicked"] {
            assert_eq!(role_level(status, all, Analyst), Some(Err(RoleLack::Removed)));
        }
        assert_eq!(role_level("owner?", all, Analyst), None);
    }

    #[test]
    fn absent_post_right_counts_as_true_and_other_absent_rights_as_false() {
        let member: Value = serde_json::from_str(r#"{"status":"administrator","can_delete_messages":true}"#).unwrap();
        assert!(matches!(
            member_finding(&member, CHAT, RequiredRole::Editor),
            Some(Outcome::Role(RoleFinding { reason: RoleReason::RoleConfirmed, .. }))
        ));
        assert!(matches!(
            member_finding(&member, CHAT, RequiredRole::Admin),
            Some(Outcome::Role(RoleFinding { reason: RoleReason::InsufficientRole, .. }))
        ));
    }

    #[test]
    fn the_profile_follows_the_contract() {
        let p = Telegram.profile();
        assert!(!p.tokens_expire && !p.reports_scopes && !p.short_lived);
        assert_eq!(p.app_keys, AppKeys::None);
        assert_eq!(p.consent_url, "https://t.me/BotFather");
    }
}
