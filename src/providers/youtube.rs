//! YouTube channels through Google OAuth (providers.md §3.8): GO1, then YT1
//! `channels?part=id&mine=true` when a role is required.

use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::Value;

use super::google::{self, ApiOutcome};
use super::http::Answer;
use super::lifecycle::{CodeExchange, Lifecycle, RefreshOutcome, RevokeOutcome};
use super::{CheckInput, CheckReport, Interruption, Provider, ProviderHttp, ProviderProfile, RoleFinding, ScopeDenial, TokenVerdict};
use crate::api::ProviderKind;
use crate::conditions::{RevokedReason, RoleReason};
use crate::redact;

/// The YouTube provider.
pub struct Youtube;

const KIND: ProviderKind = ProviderKind::Youtube;

/// Default host of the YouTube Data API.
const API_BASE: &str = "https://www.googleapis.com";

/// The scope YT1 needs, as YT-f names it.
const READONLY_SCOPE: &str = "https://www.googleapis.com/auth/youtube.readonly";

static PROFILE: ProviderProfile =
    google::profile(&["https://www.googleapis.com/auth/youtube.upload", "https://www.googleapis.com/auth/youtube.readonly"]);

#[async_trait]
impl Provider for Youtube {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn profile(&self) -> &'static ProviderProfile {
        &PROFILE
    }

    async fn check(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> CheckReport {
        let role_call = input.required_role.map(|_| {
            let mut url = http.url(KIND, API_BASE, "/youtube/v3/channels");
            url.query_pairs_mut().append_pair("part", "id").append_pair("mine", "true");
            url
        });
        google::check(http, KIND, input, role_call, yt1_rows).await
    }

    fn lifecycle(&self) -> &'static Lifecycle {
        &google::LIFECYCLE
    }

    async fn exchange_code(&self, http: &ProviderHttp, x: &CodeExchange<'_>) -> RefreshOutcome {
        google::exchange_code(http, KIND, x).await
    }

    async fn refresh(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> RefreshOutcome {
        google::refresh(http, KIND, input).await
    }

    async fn revoke(&self, http: &ProviderHttp, input: &CheckInput<'_>) -> RevokeOutcome {
        google::revoke(http, KIND, input).await
    }
}

/// The YT table for a YT1 answer (GO-c and GO-h are applied by [`google::check`]).
fn yt1_rows(answer: &Answer, json: Option<&Value>, input: &CheckInput<'_>) -> Option<ApiOutcome> {
    let channel = input.account_id.trim();
    if answer.is_success() {
        let Some(body) = json.and_then(Value::as_object) else {
            return Some(ApiOutcome::Transient(Interruption::unavailable(format!(
                "YouTube answered HTTP {} with a body that is not the expected JSON",
                answer.status
            ))));
        };
        let ids: Vec<&str> = body
            .get("items")
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(|item| item.get("id")?.as_str()).collect())
            .unwrap_or_default();
        return Some(ApiOutcome::Role(channel_finding(channel, &ids)));
    }
    if !(400..500).contains(&answer.status) {
        return None;
    }
    let reason = google::error_reasons(json).first().copied()?;
    let message = redact::scrub(google::error_message(json).unwrap_or(reason), &input.secrets());
    let role = |reason, message| Some(ApiOutcome::Role(RoleFinding { reason, message }));
    match reason {
        // YT-c (unconfirmed shape): the Google account has no channel at all.
        "youtubeSignupRequired" => role(
            RoleReason::AccountNotFound,
            format!("the token's Google account has no YouTube channel, so channel {channel} cannot be reached (youtubeSignupRequired)"),
        ),
        // YT-d: rule 2 of §2.5 (Retry-After) comes before rule 5 (midnight Pacific).
        "quotaExceeded" | "dailyLimitExceeded" => Some(ApiOutcome::Transient(Interruption::rate_limited(
            format!("YouTube Data API daily quota exhausted ({reason}); it resets at midnight Pacific time"),
            answer.retry_after().or_else(|| until_pacific_midnight(input.now)),
        ))),
        // YT-e.
        "rateLimitExceeded" | "userRateLimitExceeded" => {
            Some(ApiOutcome::Transient(Interruption::rate_limited(format!("YouTube Data API rate limit ({reason})"), answer.retry_after())))
        }
        // YT-f.
        "insufficientPermissions" => Some(ApiOutcome::ScopeDenied(ScopeDenial { scope: READONLY_SCOPE.to_string(), message })),
        // YT-g.
        "authenticatedUserAccountSuspended" | "authenticatedUserAccountClosed" => Some(ApiOutcome::Token(TokenVerdict::Revoked {
            reason: RevokedReason::AccountSuspended,
            message: format!("YouTube says the token's account is suspended or closed ({reason}): {message}"),
        })),
        // YT-h.
        "forbidden" | "accountDelegationForbidden" => {
            role(RoleReason::RoleRemoved, format!("YouTube refused access to the token's channels ({reason}): {message}"))
        }
        _ => None,
    }
}

/// YT-a, YT-b, YT-c for the channel ids YT1 returned (ownership satisfies every level).
fn channel_finding(channel: &str, ids: &[&str]) -> RoleFinding {
    if ids.contains(&channel) {
        RoleFinding { reason: RoleReason::RoleConfirmed, message: format!("the token can act for channel {channel}") }
    } else if ids.is_empty() {
        RoleFinding {
            reason: RoleReason::AccountNotFound,
            message: format!("the token's Google account has no YouTube channel, so channel {channel} cannot be reached"),
        }
    } else {
        RoleFinding {
            reason: RoleReason::AccountMismatch,
            message: format!("the token belongs to channel {} instead of {channel}", ids.join(", ")),
        }
    }
}

/// The delay until the next 00:00 in America/Los_Angeles, when the YouTube Data API quota
/// resets (§2.5 rule 5). `None` only if the time zone or the date arithmetic fails.
pub fn until_pacific_midnight(now: Timestamp) -> Option<Duration> {
    let tz = TimeZone::get("America/Los_Angeles").ok()?;
    let next = now.to_zoned(tz).tomorrow().ok()?.start_of_day().ok()?;
    Duration::try_from(next.timestamp().duration_since(now)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RequiredRole;
    use crate::providers::ExpiryFact;
    use crate::providers::TransientKind;
    use crate::providers::google::testing::*;
    use wiremock::matchers::path;
    use wiremock::{Mock, ResponseTemplate};

    const CHANNEL: &str = "UCexample00000000000000";
    const GO1: &str = r#"{"aud":"cid","scope":"https://www.googleapis.com/auth/youtube.readonly https://www.googleapis.com/auth/youtube.upload","expires_in":"3599"}"#;
    const GO_C: &str = r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#;
    const GO_H: &str = r#"{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}"#;
    const YT1: &str = r#"{"kind":"youtube#channelListResponse","items":[{"id":"UCexample00000000000000"}]}"#;
    const YT_C: &str = r#"{"kind":"youtube#channelListResponse","items":[]}"#;
    const YT_D: &str = r#"{"error":{"code":403,"message":"quota","errors":[{"domain":"youtube.quota","reason":"quotaExceeded"}]}}"#;

    /// The YT-d body with another `reason` (providers.md: fakes of YT-e…h).
    fn yt_d_with(reason: &str) -> String {
        YT_D.replace("quotaExceeded", reason)
    }

    /// The exact YT1 call, answered once.
    fn yt1(response: ResponseTemplate) -> Mock {
        bearer_get("/youtube/v3/channels", &[("part", "id"), ("mine", "true")]).respond_with(response).expect(1)
    }

    /// GO1 answers 200; YT1 answers `response`; the connection requires the editor role.
    async fn check_with_yt1(response: ResponseTemplate) -> CheckReport {
        let (_server, http) = fake("youtube", vec![go1(answer(200, GO1)), yt1(response)]).await;
        let token = token();
        Youtube.check(&http, &input(&token, CHANNEL, Some(RequiredRole::Editor))).await
    }

    #[tokio::test]
    async fn without_a_required_role_only_tokeninfo_is_called() {
        let unused = Mock::given(path("/youtube/v3/channels")).respond_with(answer(200, YT1)).expect(0);
        let (_server, http) = fake("youtube", vec![go1(answer(200, GO1)), unused]).await;
        let token = token();
        let report = Youtube.check(&http, &input(&token, CHANNEL, None)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.expiry, ExpiryFact::At("2026-04-01T12:59:59Z".parse().unwrap()));
        assert!(report.role.is_empty());
        assert_eq!(report.interruption, None);
    }

    #[tokio::test]
    async fn an_invalid_token_skips_the_channel_call() {
        let unused = Mock::given(path("/youtube/v3/channels")).respond_with(answer(200, YT1)).expect(0);
        let go_b = r#"{"error":"invalid_token","error_description":"Invalid Value"}"#;
        let (_server, http) = fake("youtube", vec![go1(answer(400, go_b)), unused]).await;
        let token = token();
        let report = Youtube.check(&http, &input(&token, CHANNEL, Some(RequiredRole::Admin))).await;
        assert!(is_refresh_then_fallback(&report.token), "{:?}", report.token);
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn yt_a_the_channel_in_items_confirms_the_role() {
        let report = check_with_yt1(answer(200, YT1)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(role_of(&report), vec![RoleReason::RoleConfirmed]);
        assert!(report.granted_scopes.is_some());
    }

    #[tokio::test]
    async fn yt_b_other_channels_are_an_account_mismatch() {
        let report = check_with_yt1(answer(200, &YT1.replace(CHANNEL, "UCother"))).await;
        assert_eq!(role_of(&report), vec![RoleReason::AccountMismatch]);
        assert!(report.role[0].message.contains("UCother"));
    }

    #[tokio::test]
    async fn yt_c_no_channel_is_account_not_found() {
        let report = check_with_yt1(answer(200, YT_C)).await;
        assert_eq!(role_of(&report), vec![RoleReason::AccountNotFound]);
        let absent = check_with_yt1(answer(200, r#"{"kind":"youtube#channelListResponse"}"#)).await;
        assert_eq!(role_of(&absent), vec![RoleReason::AccountNotFound]);
        let signup = check_with_yt1(answer(403, &yt_d_with("youtubeSignupRequired"))).await;
        assert_eq!(role_of(&signup), vec![RoleReason::AccountNotFound]);
        assert_eq!(signup.token, Some(TokenVerdict::Valid));
    }

    #[tokio::test]
    async fn yt_d_quota_exhaustion_waits_until_midnight_pacific_and_keeps_the_verdict() {
        for reason in ["quotaExceeded", "dailyLimitExceeded"] {
            let report = check_with_yt1(answer(403, &yt_d_with(reason))).await;
            assert_eq!(report.token, Some(TokenVerdict::Valid));
            assert!(report.role.is_empty());
            let i = report.interruption.unwrap();
            assert_eq!(i.kind, TransientKind::RateLimited);
            // 2026-04-01T12:00Z is 05:00 PDT: 19 h to midnight.
            assert_eq!(i.retry_after, Some(Duration::from_secs(19 * 3600)), "{reason}");
            assert_eq!(i.unexpected, None);
        }
    }

    #[tokio::test]
    async fn yt_d_a_retry_after_header_comes_first() {
        let report = check_with_yt1(answer(403, YT_D).insert_header("retry-after", "120")).await;
        assert_eq!(report.interruption.unwrap().retry_after, Some(Duration::from_secs(120)));
    }

    #[tokio::test]
    async fn yt_e_rate_limits_are_transient_and_keep_the_verdict() {
        for reason in ["rateLimitExceeded", "userRateLimitExceeded"] {
            let report = check_with_yt1(answer(403, &yt_d_with(reason))).await;
            assert_eq!(report.token, Some(TokenVerdict::Valid));
            let i = report.interruption.unwrap();
            assert_eq!(i.kind, TransientKind::RateLimited);
            assert_eq!(i.retry_after, None, "{reason}");
        }
    }

    #[tokio::test]
    async fn yt_f_insufficient_permissions_names_the_readonly_scope() {
        let report = check_with_yt1(answer(403, &yt_d_with("insufficientPermissions"))).await;
        assert_scope_denial_on_valid_token(&report, "https://www.googleapis.com/auth/youtube.readonly", "quota");
    }

    #[tokio::test]
    async fn yt_g_a_suspended_or_closed_account_is_revoked() {
        for reason in ["authenticatedUserAccountSuspended", "authenticatedUserAccountClosed"] {
            let report = check_with_yt1(answer(403, &yt_d_with(reason))).await;
            assert!(
                matches!(report.token, Some(TokenVerdict::Revoked { reason: RevokedReason::AccountSuspended, .. })),
                "{reason}: {:?}",
                report.token
            );
        }
    }

    #[tokio::test]
    async fn yt_h_forbidden_is_role_removed() {
        for reason in ["forbidden", "accountDelegationForbidden"] {
            let report = check_with_yt1(answer(403, &yt_d_with(reason))).await;
            assert_eq!(role_of(&report), vec![RoleReason::RoleRemoved], "{reason}");
            assert_eq!(report.token, Some(TokenVerdict::Valid));
        }
    }

    #[tokio::test]
    async fn go_c_a_401_on_the_channel_call_refreshes_with_the_expiry_fallback() {
        let report = check_with_yt1(answer(401, GO_C)).await;
        assert!(is_refresh_then_fallback(&report.token), "{:?}", report.token);
        assert!(report.role.is_empty());
    }

    #[tokio::test]
    async fn go_h_a_rate_limit_on_the_channel_call_keeps_the_verdict() {
        let report = check_with_yt1(answer(429, GO_H)).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.interruption.unwrap().kind, TransientKind::RateLimited);
    }

    #[tokio::test]
    async fn an_unknown_reason_is_unclassified_with_status_and_reason_only() {
        let report = check_with_yt1(answer(403, &yt_d_with("somethingNew"))).await;
        assert_eq!(report.token, Some(TokenVerdict::Valid));
        assert_eq!(report.interruption.unwrap().unexpected.as_deref(), Some("HTTP 403, reason somethingNew"));
    }

    #[test]
    fn the_quota_resets_at_the_next_midnight_in_los_angeles() {
        let cases = [
            // Winter (PST, UTC−8): 12:00 PST.
            ("2026-01-15T20:00:00Z", 12 * 3600),
            // Summer (PDT, UTC−7): 05:00 PDT.
            ("2026-07-01T12:00:00Z", 19 * 3600),
            // One minute before midnight PST.
            ("2026-01-16T07:59:00Z", 60),
            // Exactly midnight: the next one, a day later.
            ("2026-01-16T08:00:00Z", 24 * 3600),
            // 2026-03-08 springs forward at 02:00: 00:30 PST to midnight PDT is 22 h 30 min.
            ("2026-03-08T08:30:00Z", 22 * 3600 + 1800),
            // 2026-11-01 falls back at 02:00: midnight PDT to midnight PST is 25 h.
            ("2026-11-01T07:00:00Z", 25 * 3600),
        ];
        for (now, secs) in cases {
            let now: Timestamp = now.parse().unwrap();
            assert_eq!(until_pacific_midnight(now), Some(Duration::from_secs(secs)), "{now}");
        }
    }

    #[test]
    fn the_profile_follows_the_contract() {
        let p = Youtube.profile();
        assert!(p.short_lived && p.reports_scopes);
        assert_eq!(p.consent_url, google::CONSENT_URL);
        assert_eq!(
            p.default_scopes,
            ["https://www.googleapis.com/auth/youtube.upload", "https://www.googleapis.com/auth/youtube.readonly"]
        );
        assert_eq!(Youtube.kind(), ProviderKind::Youtube);
    }
}
