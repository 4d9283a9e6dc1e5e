//! The Meta Graph error family (providers.md §2.11), shared by facebook, instagram,
//! instagram-login and threads: the G1–G15 table, the `debug_token` outer rules D1–D6, the
//! Graph retry delays (§2.5 rules 2, 4 and 6), and the calls two providers make alike (FB1
//! `debug_token`, the FB3/IG3 walk through `/me/accounts`).

use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::http::Answer;
use super::numbers;
use super::oauth_errors::{code_at, scope_denial, str_at, unix_seconds_at};
use super::{CheckInput, CheckReport, ExpiryFact, Interruption, ProviderHttp, RoleFinding, ScopeDenial, TokenVerdict};
use crate::api::{ProviderKind, RequiredRole};
use crate::conditions::{RevokedReason, RoleReason};
use crate::redact::scrub;

/// Default host of facebook and instagram (§3.1, §3.2).
pub const FACEBOOK_BASE: &str = "https://graph.facebook.com";

/// Graph 368 ("temporarily blocked") asks for at least an hour (§2.5 rule 6).
const BLOCKED_DELAY: Duration = Duration::from_secs(3600);

/// FB3/IG3 read at most this many pages of `/me/accounts`.
const MAX_PAGES: usize = 10;

/// The scope `/me/accounts` needs (FB3, IG3).
const PAGES_SHOW_LIST: &str = "pages_show_list";

/// The `error` object of a Graph answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphError {
    /// `code`.
    pub code: i64,
    /// `error_subcode` (top level) or `subcode` (inside `debug_token`'s `data.error`).
    pub subcode: Option<i64>,
    /// `message`, unscrubbed: pass it through [`scrub`] before it reaches people.
    pub message: String,
}

impl GraphError {
    /// Reads an error object; `subcode_key` differs between the top level and `data.error`.
    fn parse(v: &Value, subcode_key: &str) -> Option<Self> {
        Some(GraphError {
            code: v.get("code")?.as_i64()?,
            subcode: v.get(subcode_key).and_then(Value::as_i64),
            message: v.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
        })
    }

    /// `190/460`, or `190` without a subcode.
    fn code_text(&self) -> String {
        match self.subcode {
            Some(s) => format!("{}/{s}", self.code),
            None => self.code.to_string(),
        }
    }
}

/// A row of the G table (§2.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    /// G1–G5: Revoked with this reason.
    Revoked(RevokedReason),
    /// G6: Valid=False `Expired`.
    Expired,
    /// G7: the token is intact but the Page role is gone.
    PageRoleRemoved,
    /// G8: expiry fallback.
    ExpiryFallback,
    /// G9: RoleLost `RoleRemoved`.
    RoleRemoved,
    /// G10: Valid=True, `ScopesNotGranted`.
    LacksPermission,
    /// G11: RoleLost `AccountNotFound`.
    AccountNotFound,
    /// G12: transient.
    Temporary,
    /// G13: transient (rate).
    RateLimited,
    /// G14: transient, at least an hour.
    Blocked,
    /// G15: unclassified.
    Unknown,
}

impl Row {
    /// Whether the row is one of G1–G8, the rows `debug_token`'s D4 may carry.
    pub fn is_token_row(self) -> bool {
        matches!(self, Row::Revoked(_) | Row::Expired | Row::PageRoleRemoved | Row::ExpiryFallback)
    }
}

/// The G table: the first row matching the error (§2.11).
pub fn row(e: &GraphError) -> Row {
    match (e.code, e.subcode) {
        (190, Some(460)) => Row::Revoked(RevokedReason::PasswordChanged),
        (190, Some(458)) => Row::Revoked(RevokedReason::AppDeauthorized),
        (190, Some(459)) => Row::Revoked(RevokedReason::AccountCheckpointed),
        (190, Some(464)) => Row::Revoked(RevokedReason::AccountUnconfirmed),
        (190, Some(467)) => Row::Revoked(RevokedReason::TokenInvalidated),
        (190, Some(463)) => Row::Expired,
        (190, Some(492)) => Row::PageRoleRemoved,
        (190 | 102, _) => Row::ExpiryFallback,
        (10 | 200..=299, _) if e.message.contains("appropriate role") => Row::RoleRemoved,
        (3 | 10 | 200..=299, _) => Row::LacksPermission,
        (100, Some(33)) => Row::AccountNotFound,
        (1 | 2, _) => Row::Temporary,
        (4 | 17 | 32 | 341 | 613 | 80000..=80014, _) => Row::RateLimited,
        (368, _) => Row::Blocked,
        _ => Row::Unknown,
    }
}

/// What a failed Graph call means for the check.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// A token verdict (G1–G6, G8, D1, D4–D6).
    Token(TokenVerdict),
    /// G7: the token is intact (Valid) and the Page role is gone.
    IntactRoleRemoved(RoleFinding),
    /// A role or account finding from a call the token authenticated for (G9, G11, IG-d).
    Finding(RoleFinding),
    /// G10: the call lacks a permission; the token works.
    Denied(ScopeDenial),
    /// A transient or unclassified answer: the cycle ends.
    Interrupted(Interruption),
}

impl Effect {
    /// Records the effect, keeping what the cycle decided before it (§2.3: a transient answer
    /// ends the cycle; conditions already decided in it are still written).
    pub fn apply(self, report: &mut CheckReport) {
        match self {
            Effect::Token(v) => report.token = Some(v),
            Effect::IntactRoleRemoved(f) => {
                report.token = Some(TokenVerdict::Valid);
                report.role.push(f);
            }
            Effect::Finding(f) => {
                report.token.get_or_insert(TokenVerdict::Valid);
                report.role.push(f);
            }
            Effect::Denied(d) => {
                report.token.get_or_insert(TokenVerdict::Valid);
                report.scope_denials.push(d);
            }
            Effect::Interrupted(i) => report.interruption = Some(i),
        }
    }
}

/// Why a Graph call gave no data.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// The answer carried a Graph `error` body (classified by body whatever the HTTP status,
    /// 5xx excepted).
    Graph {
        /// HTTP status.
        status: u16,
        /// The error.
        error: GraphError,
        /// The delay the answer's headers ask for (§2.5 rules 2 and 4).
        delay: Option<Duration>,
    },
    /// A transient or unclassified answer without a Graph error body.
    Other(Interruption),
}

/// A provider-specific rule checked before the G table (instagram's IG-d).
pub type PreCheck = fn(&GraphError, &CheckInput<'_>) -> Option<Effect>;

/// The delay a Graph answer asks for: `Retry-After` (§2.5 rule 2), else the largest
/// `X-Business-Use-Case-Usage` `estimated_time_to_regain_access` (rule 4).
pub fn retry_delay(answer: &Answer) -> Option<Duration> {
    answer.retry_after().or_else(|| buc_delay(answer))
}

/// §2.5 rule 4: largest `estimated_time_to_regain_access` (minutes) × 60, if > 0.
fn buc_delay(answer: &Answer) -> Option<Duration> {
    let usage: Value = serde_json::from_str(answer.header("x-business-use-case-usage")?).ok()?;
    let minutes = usage
        .as_object()?
        .values()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|entry| entry.get("estimated_time_to_regain_access")?.as_f64())
        .filter(|m| !m.is_nan())
        .fold(0.0_f64, f64::max);
    // An estimate of 1e300 minutes is clamped to a day, never turned into a panic (§2.5).
    if minutes > 0.0 { numbers::delay_from_secs_f64(minutes * 60.0) } else { None }
}

/// Sorts an answer into data (a JSON object) or a [`Failure`].
pub fn read(answer: &Answer) -> Result<Value, Failure> {
    let delay = retry_delay(answer);
    let transient = |mut i: Interruption| {
        i.retry_after = i.retry_after.or(delay);
        Failure::Other(i)
    };
    // 3xx and 5xx are transient whatever the body; a 429 is looked at after the body so that
    // a Graph code in it (368, say) keeps its own row.
    if answer.status != 429
        && let Some(i) = answer.generic_transient()
    {
        return Err(transient(i));
    }
    let json = answer.json();
    if let Some(error) = json.as_ref().and_then(|v| v.get("error")).and_then(|e| GraphError::parse(e, "error_subcode")) {
        return Err(Failure::Graph { status: answer.status, error, delay });
    }
    if let Some(i) = answer.generic_transient() {
        return Err(transient(i));
    }
    if !answer.is_success() {
        return Err(Failure::Other(Interruption::unclassified(format!("HTTP {}", answer.status))));
    }
    match json {
        Some(v) if v.is_object() => Ok(v),
        _ => Err(transient(Interruption::unavailable(format!(
            "Meta Graph answered HTTP {} with a body that is not the expected JSON object",
            answer.status
        )))),
    }
}

/// The words of a Graph message that look like permission names (`pages_read_engagement`).
fn scopes_in(message: &str) -> Vec<&str> {
    let mut found: Vec<&str> = message
        .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .filter(|w| w.contains('_') && w.starts_with(|c: char| c.is_ascii_lowercase()))
        .filter(|w| !w.ends_with("_token"))
        .collect();
    found.dedup();
    found
}

/// The effect of a Graph error under the G table (§2.11). `needs` names the scope the call
/// needs when the message names none (G10).
pub fn effect(status: u16, error: &GraphError, delay: Option<Duration>, input: &CheckInput<'_>, needs: &str) -> Effect {
    let msg = scrub(&error.message, &input.secrets());
    let code = error.code_text();
    let said = |what: &str| format!("{what} (Meta Graph code {code}: {msg})");
    let revoked = |reason, what: &str| Effect::Token(TokenVerdict::Revoked { reason, message: said(what) });
    match row(error) {
        Row::Revoked(r @ RevokedReason::PasswordChanged) => revoked(r, "the user changed their password"),
        Row::Revoked(r @ RevokedReason::AppDeauthorized) => revoked(r, "the user removed the app"),
        Row::Revoked(r @ RevokedReason::AccountCheckpointed) => revoked(r, "the account is held at a security checkpoint"),
        Row::Revoked(r @ RevokedReason::AccountUnconfirmed) => revoked(r, "the account is unconfirmed"),
        Row::Revoked(r) => revoked(r, "Meta invalidated the token"),
        Row::Expired => Effect::Token(TokenVerdict::Expired { message: said("the token expired") }),
        Row::PageRoleRemoved => Effect::IntactRoleRemoved(RoleFinding {
            reason: RoleReason::RoleRemoved,
            message: said("the token's user no longer has a role on the Page; restoring the role fixes it"),
        }),
        Row::ExpiryFallback => Effect::Token(TokenVerdict::ExpiryFallback { message: said("Meta rejected the token") }),
        Row::RoleRemoved => Effect::Finding(RoleFinding {
            reason: RoleReason::RoleRemoved,
            message: said("the token's user has no appropriate role on the account"),
        }),
        Row::LacksPermission => {
            let named = scopes_in(&error.message);
            let scope = if named.is_empty() { needs.to_string() } else { named.join(", ") };
            Effect::Denied(scope_denial(input, &scope, &error.message))
        }
        Row::AccountNotFound => Effect::Finding(RoleFinding {
            reason: RoleReason::AccountNotFound,
            message: said("the account does not exist or the token cannot see it"),
        }),
        Row::Temporary => {
            let mut i = Interruption::unavailable(format!("Meta Graph temporary error (code {code})"));
            i.retry_after = delay;
            Effect::Interrupted(i)
        }
        Row::RateLimited => Effect::Interrupted(Interruption {
            // Codes 4 and 341 limit the whole app, not this token (§2.5).
            app_wide: matches!(error.code, 4 | 341),
            ..Interruption::rate_limited(format!("Meta Graph rate limit (code {code})"), delay)
        }),
        Row::Blocked => Effect::Interrupted(Interruption::rate_limited(
            format!("Meta Graph temporarily blocked the calls (code {code})"),
            Some(delay.map_or(BLOCKED_DELAY, |d| d.max(BLOCKED_DELAY))),
        )),
        Row::Unknown => Effect::Interrupted(Interruption::unclassified(format!("HTTP {status}, code {}", error.code))),
    }
}

/// The Page task that satisfies a required role (§2.12; higher Page roles hold the lower
/// tasks too).
pub fn required_task(role: RequiredRole) -> &'static str {
    match role {
        RequiredRole::Admin => "MANAGE",
        RequiredRole::Editor => "CREATE_CONTENT",
        RequiredRole::Moderator => "MODERATE",
        RequiredRole::Analyst => "ANALYZE",
    }
}

/// The token type `debug_token` reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    /// A user token (also any type other than PAGE and APP).
    User,
    /// A Page token.
    Page,
}

/// One `granular_scopes` entry: the scope and, when restricted, the objects it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granular {
    /// The scope.
    pub scope: String,
    /// `target_ids`; empty when the scope is not restricted.
    pub target_ids: Vec<String>,
}

/// What a valid `debug_token` answer (D3) said beyond the fields it records in the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    /// `data.type`.
    pub token_type: TokenType,
    /// `data.scopes`.
    pub scopes: Vec<String>,
    /// `data.granular_scopes`.
    pub granular: Vec<Granular>,
    /// `data.user_id`: the user a PAGE token acts for (its revoke call names it, §3.1).
    pub user_id: Option<String>,
}

impl TokenInfo {
    /// The scopes granted for the account: `scopes`, minus those whose granular entry lists
    /// `target_ids` that `covers` rejects.
    pub fn granted(&self, covers: impl Fn(&str, &[String]) -> bool) -> Vec<String> {
        self.scopes
            .iter()
            .filter(|s| {
                self.granular.iter().filter(|g| &g.scope == *s && !g.target_ids.is_empty()).all(|g| covers(&g.scope, &g.target_ids))
            })
            .cloned()
            .collect()
    }

    fn parse(data: &Value) -> Self {
        let strings = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array).map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
        };
        let granular = data
            .get("granular_scopes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|g| Some(Granular { scope: str_at(g, "/scope")?.to_string(), target_ids: strings(g.get("target_ids")) }))
                    .collect()
            })
            .unwrap_or_default();
        let token_type = if str_at(data, "/type") == Some("PAGE") { TokenType::Page } else { TokenType::User };
        TokenInfo { token_type, scopes: strings(data.get("scopes")), granular, user_id: code_at(data, "/user_id") }
    }
}

/// A Graph unix-seconds field as a timestamp (absent, zero or out of range: `None`).
fn time_of(data: &Value, pointer: &str) -> Option<Timestamp> {
    unix_seconds_at(data, pointer).filter(|t| *t != Timestamp::UNIX_EPOCH)
}

/// The calls of one check against one Graph host.
pub struct Graph<'a> {
    http: &'a ProviderHttp,
    kind: ProviderKind,
    base: &'static str,
    version: &'a str,
    input: &'a CheckInput<'a>,
    pre_check: Option<PreCheck>,
}

impl<'a> Graph<'a> {
    /// Calls go to `base` (overridable, §2.1) under `/{version}/`.
    pub fn new(http: &'a ProviderHttp, kind: ProviderKind, base: &'static str, version: &'a str, input: &'a CheckInput<'a>) -> Self {
        Graph { http, kind, base, version, input, pre_check: None }
    }

    /// Adds a provider rule checked before the G table.
    pub fn with_pre_check(mut self, pre_check: PreCheck) -> Self {
        self.pre_check = Some(pre_check);
        self
    }

    /// `GET /{version}/{rest}` with `query` and `access_token`, sorted by [`read`].
    async fn fetch(&self, rest: &str, query: &[(&str, &str)], access_token: &str) -> Result<Value, Failure> {
        let url = self.http.url(self.kind, self.base, &format!("/{}/{rest}", self.version));
        let request = self.http.client().get(url).query(query).query(&[("access_token", access_token)]);
        let answer = self.http.send(self.kind, request).await.map_err(Failure::Other)?;
        read(&answer)
    }

    /// The effect of a failed call (the pre-check, then the G table).
    fn effect(&self, failure: Failure, needs: &str) -> Effect {
        match failure {
            Failure::Other(i) => Effect::Interrupted(i),
            Failure::Graph { status, error, delay } => self
                .pre_check
                .and_then(|check| check(&error, self.input))
                .unwrap_or_else(|| effect(status, &error, delay, self.input, needs)),
        }
    }

    /// `GET /{version}/{rest}` with the user's token. On failure the effect goes into
    /// `report` and `None` comes back: the caller ends the cycle.
    pub async fn get(&self, report: &mut CheckReport, rest: &str, query: &[(&str, &str)], needs: &str) -> Option<Value> {
        match self.fetch(rest, query, self.input.token.expose()).await {
            Ok(v) => Some(v),
            Err(f) => {
                self.effect(f, needs).apply(report);
                None
            }
        }
    }

    /// A probe (FB2, IG2, IL1, TH1): `GET /{version}/{rest}?fields={fields}`, which must name
    /// the token's account `id`. A 200 means the token works (Valid, unless FB1 already said
    /// so), and the account name (`username`, else `name`) is recorded. On failure the effect
    /// goes into `report` and `None` comes back.
    pub async fn probe(&self, report: &mut CheckReport, rest: &str, fields: &str, needs: &str) -> Option<(String, Value)> {
        let body = self.get(report, rest, &[("fields", fields)], needs).await?;
        let Some(id) = code_at(&body, "/id") else {
            report.interruption = Some(Interruption::unavailable("Meta Graph answered without the account id"));
            return None;
        };
        report.token.get_or_insert(TokenVerdict::Valid);
        report.account_name = str_at(&body, "/username").or_else(|| str_at(&body, "/name")).map(str::to_string);
        Some((id, body))
    }

    /// FB1: `debug_token` with the app token `{cid}|{csec}`, classified by D1–D6. A valid
    /// token (D3) is recorded in `report` (verdict, expiry, data access expiry, issue time)
    /// and its type and scopes come back; otherwise the effect goes into `report` and `None`
    /// comes back.
    pub async fn debug_token(&self, report: &mut CheckReport, app_token: &str) -> Option<TokenInfo> {
        let token = self.input.token.expose();
        let answer = self.fetch("debug_token", &[("input_token", token)], app_token).await;
        match self.debug_verdict(answer) {
            Ok(data) => {
                report.token = Some(TokenVerdict::Valid);
                report.expiry = match data.get("expires_at").and_then(Value::as_i64) {
                    Some(0) => ExpiryFact::Never,
                    Some(_) => time_of(&data, "/expires_at").map_or(ExpiryFact::NotReported, ExpiryFact::At),
                    None => ExpiryFact::NotReported,
                };
                report.data_access_expires_at = time_of(&data, "/data_access_expires_at");
                report.issued_at = time_of(&data, "/issued_at");
                Some(TokenInfo::parse(&data))
            }
            Err(e) => {
                e.apply(report);
                None
            }
        }
    }

    /// D1–D6 (§2.11): `data` of a D3 answer, or the effect of any other.
    fn debug_verdict(&self, answer: Result<Value, Failure>) -> Result<Value, Effect> {
        let body = match answer {
            Ok(body) => body,
            // A top-level error speaks about the app token, never about the user's token.
            Err(Failure::Graph { status, error, delay }) => {
                return Err(match (error.code, row(&error)) {
                    (190 | 100, _) => Effect::Token(TokenVerdict::InvalidSecret {
                        message: format!("client credentials rejected: Meta refused the app token (code {})", error.code_text()),
                    }),
                    (_, Row::Temporary | Row::RateLimited | Row::Blocked) => effect(status, &error, delay, self.input, ""),
                    _ => Effect::Interrupted(Interruption::unclassified(format!("HTTP {status}, code {}", error.code))),
                });
            }
            Err(Failure::Other(i)) => return Err(Effect::Interrupted(i)),
        };
        let not_expected = || Effect::Interrupted(Interruption::unavailable("debug_token answered without data.is_valid"));
        let data = body.get("data").filter(|d| d.is_object()).ok_or_else(not_expected)?;
        let is_valid = data.get("is_valid").and_then(Value::as_bool).ok_or_else(not_expected)?;
        let is_app = str_at(data, "/type") == Some("APP");
        if is_valid && !is_app {
            return Ok(data.clone());
        }
        if !is_valid {
            if let Some(error) = data.get("error").and_then(|e| GraphError::parse(e, "subcode")) {
                if row(&error).is_token_row() {
                    return Err(effect(200, &error, None, self.input, ""));
                }
                return Err(Effect::Interrupted(Interruption::unclassified(format!("HTTP 200, code {}", error.code))));
            }
            let expires = time_of(data, "/expires_at");
            return Err(Effect::Token(match expires.filter(|t| *t <= self.input.now) {
                Some(t) => TokenVerdict::Expired { message: format!("Meta reports the token invalid; it expired at {t}") },
                None => TokenVerdict::Revoked {
                    reason: RevokedReason::TokenInvalidated,
                    message: "Meta reports the token invalid without saying why".to_string(),
                },
            }));
        }
        Err(Effect::Token(TokenVerdict::InvalidSecret {
            message: "the token Secret holds an app token, not a user or Page token".to_string(),
        }))
    }

    /// FB3/IG3: the role of the token's user on the Page that `is_page` picks among the
    /// user's Pages (`/me/accounts`, ≤ 10 pages of 100), recorded in `report`. `granted` are
    /// FB1's scopes, when FB1 ran: without `pages_show_list` the call is skipped with a scope
    /// denial. Returns the Page when found.
    pub async fn page_role(
        &self,
        report: &mut CheckReport,
        role: RequiredRole,
        granted: Option<&[String]>,
        fields: &str,
        is_page: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        if granted.is_some_and(|g| !g.iter().any(|s| s == PAGES_SHOW_LIST)) {
            report.scope_denials.push(ScopeDenial {
                scope: PAGES_SHOW_LIST.to_string(),
                message: "the token was not granted pages_show_list, which reading the user's Page roles needs".to_string(),
            });
            return None;
        }
        let task = required_task(role);
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![("fields", fields), ("limit", "100")];
            if let Some(cursor) = after.as_deref() {
                query.push(("after", cursor));
            }
            let body = self.get(report, "me/accounts", &query, PAGES_SHOW_LIST).await?;
            let data = body.get("data").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            if let Some(page) = data.iter().find(|p| is_page(p)) {
                let tasks: Vec<&str> =
                    page.get("tasks").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
                let finding = if tasks.contains(&task) {
                    RoleFinding { reason: RoleReason::RoleConfirmed, message: format!("the token's user holds the Page task {task}") }
                } else {
                    RoleFinding {
                        reason: RoleReason::InsufficientRole,
                        message: format!("the token's user lacks the Page task {task} (has: {})", tasks.join(", ")),
                    }
                };
                report.role.push(finding);
                return Some(page.clone());
            }
            let paging = body.get("paging");
            let next = paging.and_then(|p| p.get("next")).is_some_and(|n| !n.is_null());
            after = paging.and_then(|p| p.get("cursors")).and_then(|c| str_at(c, "/after")).map(str::to_string);
            if !next || after.is_none() {
                report.role.push(RoleFinding {
                    reason: RoleReason::RoleRemoved,
                    message: "the account is not among the Pages the token's user manages".to_string(),
                });
                return None;
            }
        }
        report.role.push(RoleFinding {
            reason: RoleReason::RoleNotVerifiable,
            message: format!("the account is not among the first {} Pages the token's user manages", MAX_PAGES * 100),
        });
        None
    }
}

/// The app token `{cid}|{csec}` for FB1, when the app Secret has both keys.
pub fn app_token(input: &CheckInput<'_>) -> Option<String> {
    let app = input.app?;
    let secret = app.client_secret.as_ref()?;
    Some(format!("{}|{}", app.client_id, secret.expose()))
}

/// The `RoleNotVerifiable` finding for a Page token with a required role (FB3, IG3).
pub fn page_token_role() -> RoleFinding {
    RoleFinding {
        reason: RoleReason::RoleNotVerifiable,
        message: "Page tokens carry no task list; a lost Page role still shows as Graph errors".to_string(),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Graph bodies and calls shared by the Meta providers' tests, on top of the common
    //! fake-server fixtures (`test_support`).

    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockBuilder, ResponseTemplate};

    pub use crate::providers::oauth_errors::test_support::{CLIENT_ID, CLIENT_SECRET, Case, TOKEN, answer, fake, now, reasons};

    /// G1–G14 bodies of providers.md §2.11, by row id.
    pub const G: [(&str, &str); 14] = [
        ("G1", r#"{"error":{"message":"password changed","type":"OAuthException","code":190,"error_subcode":460}}"#),
        ("G2", r#"{"error":{"message":"app not installed","type":"OAuthException","code":190,"error_subcode":458}}"#),
        ("G3", r#"{"error":{"message":"user checkpointed","type":"OAuthException","code":190,"error_subcode":459}}"#),
        ("G4", r#"{"error":{"message":"unconfirmed user","type":"OAuthException","code":190,"error_subcode":464}}"#),
        ("G5", r#"{"error":{"message":"invalid access token","type":"OAuthException","code":190,"error_subcode":467}}"#),
        ("G6", r#"{"error":{"message":"session has expired","type":"OAuthException","code":190,"error_subcode":463}}"#),
        ("G7", r#"{"error":{"message":"invalid session","type":"OAuthException","code":190,"error_subcode":492}}"#),
        ("G8", r#"{"error":{"message":"Invalid OAuth access token.","type":"OAuthException","code":190}}"#),
        ("G9", r#"{"error":{"message":"(#200) User does not have an appropriate role on the Page","type":"OAuthException","code":200}}"#),
        ("G10", r#"{"error":{"message":"(#10) Requires pages_read_engagement permission","type":"OAuthException","code":10}}"#),
        (
            "G11",
            r#"{"error":{"message":"Object does not exist or missing permissions","type":"GraphMethodException","code":100,"error_subcode":33}}"#,
        ),
        ("G12", r#"{"error":{"message":"An unexpected error has occurred.","type":"OAuthException","code":2}}"#),
        ("G13", r#"{"error":{"message":"(#80001) Too many calls to this Page account.","type":"OAuthException","code":80001}}"#),
        ("G14", r#"{"error":{"message":"temporarily blocked","type":"OAuthException","code":368}}"#),
    ];

    /// The body of a G row.
    pub fn g(id: &str) -> &'static str {
        G.iter().find(|(i, _)| *i == id).map(|(_, b)| *b).unwrap_or_else(|| panic!("no body for {id}"))
    }

    /// FB1's answer for a Page token (§3.1).
    pub const FB1_PAGE: &str = r#"{"data":{"type":"PAGE","is_valid":true,"expires_at":0,"data_access_expires_at":0,"scopes":["pages_manage_posts"],"user_id":"3003"}}"#;

    /// The BUC header the fakes send with G13 (delay 300 s).
    pub fn buc(kind: &str) -> String {
        format!(
            r#"{{"2002":[{{"type":"{kind}","call_count":100,"total_cputime":20,"total_time":30,"estimated_time_to_regain_access":5}}]}}"#
        )
    }

    /// A Graph error answer as the fakes send it (HTTP 400).
    pub fn graph_error(id: &str) -> ResponseTemplate {
        answer(400, g(id))
    }

    /// `GET {p}` carrying the user's token.
    pub fn get_with_token(p: &str) -> MockBuilder {
        Mock::given(method("GET")).and(path(p)).and(query_param("access_token", TOKEN))
    }

    /// `GET /v24.0/debug_token` as FB1 sends it.
    pub fn fb1() -> MockBuilder {
        Mock::given(method("GET"))
            .and(path("/v24.0/debug_token"))
            .and(query_param("input_token", TOKEN))
            .and(query_param("access_token", format!("{CLIENT_ID}|{CLIENT_SECRET}")))
    }
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, ResponseTemplate};

    use super::fixtures::*;
    use super::*;
    use crate::providers::TransientKind;
    use crate::providers::http::USER_AGENT;

    /// Runs `GET /v24.0/me` against a fake answering `template` and returns the report.
    async fn me_answering(template: ResponseTemplate) -> CheckReport {
        let (server, http) = fake(ProviderKind::Facebook).await;
        get_with_token("/v24.0/me").and(query_param("fields", "id")).respond_with(template).expect(1).mount(&server).await;
        let fx = Case::new("2002");
        let input = fx.input();
        let graph = Graph::new(&http, ProviderKind::Facebook, FACEBOOK_BASE, "v24.0", &input);
        let mut report = CheckReport::default();
        let v = graph.get(&mut report, "me", &[("fields", "id")], "public_profile").await;
        assert!(v.is_none(), "a Graph error gives no data");
        report
    }

    async fn revoked_by(id: &str) -> Option<RevokedReason> {
        match me_answering(graph_error(id)).await.token {
            Some(TokenVerdict::Revoked { reason, .. }) => Some(reason),
            _ => None,
        }
    }

    #[tokio::test]
    async fn app_level_limits_4_and_341_hold_the_whole_app_and_page_limits_do_not() {
        for (code, app_wide) in [(4, true), (341, true), (17, false), (80001, false)] {
            let body = serde_json::json!({"error": {"message": "limit", "type": "OAuthException", "code": code}});
            let report = me_answering(ResponseTemplate::new(400).set_body_json(body)).await;
            let i = report.interruption.expect("transient");
            assert_eq!(i.kind, TransientKind::RateLimited, "code {code}");
            assert_eq!(i.app_wide, app_wide, "code {code}");
        }
    }

    #[tokio::test]
    async fn g1_password_change_is_revoked_password_changed() {
        assert_eq!(revoked_by("G1").await, Some(RevokedReason::PasswordChanged));
    }

    #[tokio::test]
    async fn g2_removed_app_is_revoked_app_deauthorized() {
        assert_eq!(revoked_by("G2").await, Some(RevokedReason::AppDeauthorized));
    }

    #[tokio::test]
    async fn g3_checkpoint_is_revoked_account_checkpointed() {
        assert_eq!(revoked_by("G3").await, Some(RevokedReason::AccountCheckpointed));
    }

    #[tokio::test]
    async fn g4_unconfirmed_user_is_revoked_account_unconfirmed() {
        assert_eq!(revoked_by("G4").await, Some(RevokedReason::AccountUnconfirmed));
    }

    #[tokio::test]
    async fn g5_invalidated_token_is_revoked() {
        assert_eq!(revoked_by("G5").await, Some(RevokedReason::TokenInvalidated));
    }

    #[tokio::test]
    async fn g6_expired_session_is_expired() {
        let report = me_answering(graph_error("G6")).await;
        assert!(matches!(report.token, Some(TokenVerdict::Expired { .. })), "{report:?}");
        assert!(report.interruption.is_none());
    }

    #[tokio::test]
    async fn g7_invalid_session_keeps_the_token_valid_and_removes_the_role() {
        let report = me_answering(graph_error("G7")).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(reasons(&report), vec![RoleReason::RoleRemoved]);
    }

    #[tokio::test]
    async fn g8_other_190_and_102_fall_back_on_expiry() {
        let report = me_answering(graph_error("G8")).await;
        assert!(matches!(report.token, Some(TokenVerdict::ExpiryFallback { .. })), "{report:?}");
        let report = me_answering(answer(400, r#"{"error":{"message":"session key invalid","type":"OAuthException","code":102}}"#)).await;
        assert!(matches!(report.token, Some(TokenVerdict::ExpiryFallback { .. })), "{report:?}");
        let report = me_answering(answer(400, r#"{"error":{"message":"x","type":"OAuthException","code":190,"error_subcode":999}}"#)).await;
        assert!(matches!(report.token, Some(TokenVerdict::ExpiryFallback { .. })), "{report:?}");
    }

    #[tokio::test]
    async fn g9_missing_appropriate_role_is_role_removed_with_a_working_token() {
        let report = me_answering(graph_error("G9")).await;
        assert_eq!(reasons(&report), vec![RoleReason::RoleRemoved]);
        assert_eq!(report.token, Some(TokenVerdict::Valid));
    }

    #[tokio::test]
    async fn g10_missing_permission_names_the_scope_from_the_message() {
        let report = me_answering(graph_error("G10")).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(
            report.scope_denials,
            vec![ScopeDenial { scope: "pages_read_engagement".into(), message: "(#10) Requires pages_read_engagement permission".into() }]
        );
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn g10_without_a_named_permission_names_the_scope_the_call_needs() {
        let report = me_answering(answer(400, r#"{"error":{"message":"(#3) Application does not have the capability","code":3}}"#)).await;
        assert_eq!(report.scope_denials[0].scope, "public_profile");
    }

    #[tokio::test]
    async fn g11_missing_object_is_account_not_found() {
        let report = me_answering(graph_error("G11")).await;
        assert_eq!(reasons(&report), vec![RoleReason::AccountNotFound]);
    }

    #[tokio::test]
    async fn g12_unexpected_error_is_transient_outage() {
        let report = me_answering(graph_error("G12")).await;
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::Unavailable);
        assert_eq!(i.unexpected, None);
        assert!(report.token.is_none());
    }

    #[tokio::test]
    async fn g13_rate_limit_waits_for_the_business_use_case_estimate() {
        let report = me_answering(graph_error("G13").insert_header("X-Business-Use-Case-Usage", buc("pages"))).await;
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::RateLimited);
        assert_eq!(i.retry_after, Some(Duration::from_secs(300)));
    }

    #[tokio::test]
    async fn g13_without_headers_leaves_the_delay_to_backoff() {
        let report = me_answering(graph_error("G13")).await;
        assert_eq!(report.interruption.unwrap().retry_after, None);
    }

    #[tokio::test]
    async fn g14_temporary_block_waits_an_hour() {
        let report = me_answering(graph_error("G14")).await;
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::RateLimited);
        assert_eq!(i.retry_after, Some(Duration::from_secs(3600)));
    }

    #[tokio::test]
    async fn g14_temporary_block_waits_at_least_an_hour_whatever_retry_after_says() {
        let report = me_answering(graph_error("G14").insert_header("Retry-After", "60")).await;
        assert_eq!(report.interruption.unwrap().retry_after, Some(Duration::from_secs(3600)));
        let report = me_answering(graph_error("G14").insert_header("Retry-After", "7200")).await;
        assert_eq!(report.interruption.unwrap().retry_after, Some(Duration::from_secs(7200)));
    }

    #[tokio::test]
    async fn g15_unknown_code_is_unclassified_with_status_and_code_only() {
        let report = me_answering(answer(400, &format!(r#"{{"error":{{"message":"secret {TOKEN} stuff","code":12345}}}}"#))).await;
        let i = report.interruption.unwrap();
        assert_eq!(i.unexpected.as_deref(), Some("HTTP 400, code 12345"));
        assert!(!i.detail.contains(TOKEN));
        assert!(report.token.is_none());
    }

    #[tokio::test]
    async fn graph_errors_are_classified_by_body_whatever_the_status() {
        let report = me_answering(answer(200, g("G5"))).await;
        assert!(matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::TokenInvalidated, .. })));
        let report = me_answering(answer(403, g("G13"))).await;
        assert_eq!(report.interruption.unwrap().kind, TransientKind::RateLimited);
    }

    #[tokio::test]
    async fn any_5xx_is_transient_even_with_a_graph_error_body() {
        let report = me_answering(answer(503, g("G5"))).await;
        assert_eq!(report.interruption.unwrap().kind, TransientKind::Unavailable);
        assert!(report.token.is_none());
        let report = me_answering(ResponseTemplate::new(500)).await;
        assert_eq!(report.interruption.unwrap().kind, TransientKind::Unavailable);
    }

    #[tokio::test]
    async fn a_non_json_200_is_transient() {
        let report = me_answering(ResponseTemplate::new(200).set_body_string("<html>hello</html>")).await;
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::Unavailable);
        assert_eq!(i.unexpected, None);
    }

    #[tokio::test]
    async fn a_429_without_graph_body_is_rate_limited_with_retry_after() {
        let report = me_answering(ResponseTemplate::new(429).insert_header("Retry-After", "42")).await;
        let i = report.interruption.unwrap();
        assert_eq!(i.kind, TransientKind::RateLimited);
        assert_eq!(i.retry_after, Some(Duration::from_secs(42)));
    }

    #[tokio::test]
    async fn a_4xx_without_graph_body_is_unclassified() {
        let report = me_answering(ResponseTemplate::new(404).set_body_string("nope")).await;
        assert_eq!(report.interruption.unwrap().unexpected.as_deref(), Some("HTTP 404"));
    }

    #[tokio::test]
    async fn provider_messages_are_scrubbed_of_the_token() {
        let body = format!(r#"{{"error":{{"message":"token {TOKEN} was invalidated","code":190,"error_subcode":467}}}}"#);
        match me_answering(answer(400, &body)).await.token {
            Some(TokenVerdict::Revoked { message, .. }) => {
                assert!(!message.contains(TOKEN), "{message}");
                assert!(message.contains("<redacted>"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn requests_name_the_operator_and_ask_for_json() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        Mock::given(method("GET"))
            .and(path("/v24.0/me"))
            .and(header("User-Agent", USER_AGENT))
            .and(header("Accept", "application/json"))
            .respond_with(answer(200, r#"{"id":"2002"}"#))
            .expect(1)
            .mount(&server)
            .await;
        assert!(USER_AGENT.starts_with("social-connection-operator/"));
        let fx = Case::new("2002");
        let input = fx.input();
        let graph = Graph::new(&http, ProviderKind::Facebook, FACEBOOK_BASE, "v24.0", &input);
        let mut report = CheckReport::default();
        let v = graph.get(&mut report, "me", &[], "public_profile").await;
        assert_eq!(v.and_then(|v| code_at(&v, "/id")).as_deref(), Some("2002"));
    }

    #[tokio::test]
    async fn the_app_token_is_sent_with_an_encoded_bar() {
        let (server, http) = fake(ProviderKind::Facebook).await;
        fb1()
            .and(|r: &wiremock::Request| r.url.query().is_some_and(|q| q.contains("access_token=cid%7Ccsec-secret")))
            .respond_with(answer(200, r#"{"data":{"type":"USER","is_valid":true,"expires_at":0,"scopes":[]}}"#))
            .expect(1)
            .mount(&server)
            .await;
        let fx = Case::new("2002").with_app();
        let input = fx.input();
        let graph = Graph::new(&http, ProviderKind::Facebook, FACEBOOK_BASE, "v24.0", &input);
        let mut report = CheckReport::default();
        let info = graph.debug_token(&mut report, &app_token(&input).unwrap()).await.unwrap();
        assert_eq!(info.token_type, TokenType::User);
        assert_eq!(report.expiry, ExpiryFact::Never);
    }

    #[test]
    fn the_business_use_case_delay_takes_the_largest_estimate() {
        let mut headers = reqwest::header::HeaderMap::new();
        let usage = r#"{"1":[{"type":"pages","estimated_time_to_regain_access":2}],"2":[{"type":"pages","estimated_time_to_regain_access":7},{"estimated_time_to_regain_access":0}]}"#;
        headers.insert("x-business-use-case-usage", usage.parse().unwrap());
        let a = Answer { status: 400, headers, body: Default::default(), received_at: now() };
        assert_eq!(retry_delay(&a), Some(Duration::from_secs(420)));
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-business-use-case-usage", r#"{"1":[{"estimated_time_to_regain_access":0}]}"#.parse().unwrap());
        let a = Answer { status: 400, headers, body: Default::default(), received_at: now() };
        assert_eq!(retry_delay(&a), None);
    }

    #[test]
    fn granular_scopes_drop_scopes_restricted_to_other_targets() {
        let info = TokenInfo {
            token_type: TokenType::User,
            scopes: vec!["a".into(), "b".into(), "c".into()],
            granular: vec![
                Granular { scope: "a".into(), target_ids: vec!["2002".into()] },
                Granular { scope: "b".into(), target_ids: vec!["9".into()] },
                Granular { scope: "c".into(), target_ids: vec![] },
            ],
            user_id: None,
        };
        assert_eq!(info.granted(|_, ids| ids.iter().any(|i| i == "2002")), vec!["a".to_string(), "c".to_string()]);
    }
}
