//! Which notice is due, if any: a pure rule over what the connection's status says, what a
//! policy has already sent (its [`NotificationRecord`]) and an injected clock.
//!
//! Stages, each sent once: expiry warnings at each threshold (days before an expiry that no
//! automatic refresh will prevent), reauthorization required when a person must act, a
//! reminder every `repeat_every` while it stays broken, and recovery when it works again.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::api::NotificationRecord;

/// Why a person must act, as the Ready condition's reason says (providers.md §2.13: the
/// reasons of a `ReauthorizationRequired` event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakReason {
    /// The account's password was changed.
    PasswordChanged,
    /// The app was removed in the account's settings.
    AppDeauthorized,
    /// The provider locked the account until a security check.
    AccountCheckpointed,
    /// The account is not confirmed.
    AccountUnconfirmed,
    /// The provider no longer accepts the token.
    TokenInvalidated,
    /// The account is suspended.
    AccountSuspended,
    /// The token expired and cannot be refreshed.
    Expired,
    /// The connecting user lost their role on the account.
    RoleRemoved,
    /// The connecting user's role is below the required one.
    InsufficientRole,
    /// The account was not found.
    AccountNotFound,
    /// The token belongs to another account.
    AccountMismatch,
    /// The Instagram account is personal.
    NotProfessionalAccount,
    /// Required permissions were not granted.
    ScopesNotGranted,
}

impl BreakReason {
    /// Every reason.
    pub const ALL: [BreakReason; 13] = [
        BreakReason::PasswordChanged,
        BreakReason::AppDeauthorized,
        BreakReason::AccountCheckpointed,
        BreakReason::AccountUnconfirmed,
        BreakReason::TokenInvalidated,
        BreakReason::AccountSuspended,
        BreakReason::Expired,
        BreakReason::RoleRemoved,
        BreakReason::InsufficientRole,
        BreakReason::AccountNotFound,
        BreakReason::AccountMismatch,
        BreakReason::NotProfessionalAccount,
        BreakReason::ScopesNotGranted,
    ];

    /// The condition reason on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakReason::PasswordChanged => "PasswordChanged",
            BreakReason::AppDeauthorized => "AppDeauthorized",
            BreakReason::AccountCheckpointed => "AccountCheckpointed",
            BreakReason::AccountUnconfirmed => "AccountUnconfirmed",
            BreakReason::TokenInvalidated => "TokenInvalidated",
            BreakReason::AccountSuspended => "AccountSuspended",
            BreakReason::Expired => "Expired",
            BreakReason::RoleRemoved => "RoleRemoved",
            BreakReason::InsufficientRole => "InsufficientRole",
            BreakReason::AccountNotFound => "AccountNotFound",
            BreakReason::AccountMismatch => "AccountMismatch",
            BreakReason::NotProfessionalAccount => "NotProfessionalAccount",
            BreakReason::ScopesNotGranted => "ScopesNotGranted",
        }
    }

    /// Reads a Ready reason from the wire; `None` for reasons that are no person's task
    /// (pending, provider unavailable, Secret problems for the engineer who set it up).
    pub fn from_ready_reason(reason: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == reason)
    }
}

/// What the connection's status says about its health.
#[derive(Clone, Debug, PartialEq)]
pub enum Health {
    /// Ready=True.
    Ready,
    /// Ready=False for a reason a person must fix.
    Broken(BreakReason),
    /// Anything else (not checked yet, provider unavailable, Secret problems): no notice
    /// starts or ends a break on it.
    Undetermined,
}

/// The facts a decision needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Facts {
    /// Health from the Ready condition.
    pub health: Health,
    /// Best known expiry of the access token.
    pub expires_at: Option<Timestamp>,
    /// Whether an automatic refresh will renew the token before it expires (then no expiry
    /// warning is sent).
    pub refresh_renews: bool,
}

/// A policy's timing.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// Expiry warning thresholds in days, largest first.
    pub warning_days: Vec<u32>,
    /// Reminder interval while broken.
    pub repeat_every: Duration,
}

/// A notice to send.
#[derive(Clone, Debug, PartialEq)]
pub enum Stage {
    /// The token expires within `days` days and nothing will renew it.
    ExpiryWarning {
        /// The threshold reached.
        days: u32,
        /// When the token expires.
        expires_at: Timestamp,
    },
    /// A person must reconnect or fix the account.
    ReauthorizationRequired {
        /// Why.
        reason: BreakReason,
    },
    /// Still broken: reminder number `reminder` (1, 2, ...).
    StillBroken {
        /// Why.
        reason: BreakReason,
        /// Since when it is broken (first notice).
        since: Timestamp,
        /// Which reminder this is.
        reminder: u32,
    },
    /// The connection works again.
    Recovered {
        /// What had been wrong.
        reason: Option<BreakReason>,
        /// Since when it was broken.
        since: Option<Timestamp>,
    },
}

impl Stage {
    /// The stage's name on the wire (webhook `stage`, logs, metrics labels).
    pub const fn name(&self) -> &'static str {
        match self {
            Stage::ExpiryWarning { .. } => "ExpiryWarning",
            Stage::ReauthorizationRequired { .. } => "ReauthorizationRequired",
            Stage::StillBroken { .. } => "StillBroken",
            Stage::Recovered { .. } => "Recovered",
        }
    }

    /// What tells this notice from any other of the same connection: the same key means the
    /// same notice (used to skip receivers that already have it when a delivery is retried).
    pub fn key(&self) -> String {
        match self {
            Stage::ExpiryWarning { days, expires_at } => format!("ExpiryWarning/{days}/{expires_at}"),
            Stage::ReauthorizationRequired { reason } => format!("ReauthorizationRequired/{}", reason.as_str()),
            Stage::StillBroken { since, reminder, .. } => format!("StillBroken/{since}/{reminder}"),
            Stage::Recovered { since, .. } => format!("Recovered/{}", since.map(|t| t.to_string()).unwrap_or_default()),
        }
    }
}

const DAY: i64 = 24 * 3600;

/// The next notice due and the record to store once it was sent, or `None`. Call again with
/// the returned record for the notice after it (for example a recovery, then a warning about
/// the new token's expiry).
pub fn next(now: Timestamp, facts: &Facts, schedule: &Schedule, record: &NotificationRecord) -> Option<(Stage, NotificationRecord)> {
    match &facts.health {
        Health::Broken(reason) => {
            let announced = record.broken_reason.as_deref() == Some(reason.as_str());
            if record.broken_since.is_none() || !announced {
                let mut after = record.clone();
                after.broken_since = Some(record.broken_since.clone().unwrap_or(Time(now)));
                after.broken_reason = Some(reason.as_str().to_string());
                after.last_broken_notice = Some(Time(now));
                after.reminders = None;
                return Some((Stage::ReauthorizationRequired { reason: *reason }, after));
            }
            let last = record.last_broken_notice.as_ref().or(record.broken_since.as_ref()).map(|t| t.0)?;
            let repeat = SignedDuration::try_from(schedule.repeat_every).unwrap_or(SignedDuration::MAX);
            let due = last.checked_add(repeat).is_ok_and(|at| at <= now);
            if !due {
                return None;
            }
            let reminder = record.reminders.unwrap_or(0).saturating_add(1);
            let mut after = record.clone();
            after.last_broken_notice = Some(Time(now));
            after.reminders = Some(reminder);
            let since = record.broken_since.as_ref().map_or(now, |t| t.0);
            Some((Stage::StillBroken { reason: *reason, since, reminder }, after))
        }
        Health::Ready if record.broken_since.is_some() => {
            let mut after = record.clone();
            after.broken_since = None;
            after.broken_reason = None;
            after.last_broken_notice = None;
            after.reminders = None;
            let reason = record.broken_reason.as_deref().and_then(BreakReason::from_ready_reason);
            Some((Stage::Recovered { reason, since: record.broken_since.as_ref().map(|t| t.0) }, after))
        }
        Health::Ready | Health::Undetermined => expiry_warning(now, facts, schedule, record),
    }
}

fn expiry_warning(now: Timestamp, facts: &Facts, schedule: &Schedule, record: &NotificationRecord) -> Option<(Stage, NotificationRecord)> {
    if facts.refresh_renews {
        return None;
    }
    let expires_at = facts.expires_at?;
    let left = expires_at.as_second().checked_sub(now.as_second())?;
    if left <= 0 {
        return None;
    }
    // The smallest threshold already reached; one notice even when several were crossed at once.
    let days = schedule.warning_days.iter().copied().filter(|d| left <= i64::from(*d).saturating_mul(DAY)).min()?;
    let same_expiry = record.warned_expiry.as_ref().is_some_and(|t| t.0 == expires_at);
    if same_expiry && record.warned_days.is_some_and(|w| w <= days) {
        return None;
    }
    let mut after = record.clone();
    after.warned_expiry = Some(Time(expires_at));
    after.warned_days = Some(days);
    Some((Stage::ExpiryWarning { days, expires_at }, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn schedule() -> Schedule {
        Schedule { warning_days: vec![14, 7, 3, 1], repeat_every: Duration::from_secs(24 * 3600) }
    }

    fn ready(expires_at: Option<&str>) -> Facts {
        Facts { health: Health::Ready, expires_at: expires_at.map(t), refresh_renews: false }
    }

    fn broken(reason: BreakReason) -> Facts {
        Facts { health: Health::Broken(reason), expires_at: None, refresh_renews: false }
    }

    fn record() -> NotificationRecord {
        NotificationRecord { policy: "p".into(), ..Default::default() }
    }

    /// Runs `next` until nothing more is due, like the outbox does, and returns the stage names.
    fn drain(now: &str, facts: &Facts, rec: &mut NotificationRecord) -> Vec<Stage> {
        let mut out = vec![];
        while let Some((stage, after)) = next(t(now), facts, &schedule(), rec) {
            out.push(stage);
            *rec = after;
            assert!(out.len() < 5, "next never settles");
        }
        out
    }

    #[test]
    fn expiry_warnings_go_out_once_at_each_threshold() {
        let exp = "2026-03-15T12:00:00Z";
        let f = ready(Some(exp));
        let mut rec = record();
        let cases: [(&str, Option<u32>); 9] = [
            ("2026-02-20T12:00:00Z", None),     // 23 days left
            ("2026-03-01T12:00:00Z", Some(14)), // exactly 14 days
            ("2026-03-02T12:00:00Z", None),     // already warned at 14
            ("2026-03-08T12:00:01Z", Some(7)),
            ("2026-03-09T00:00:00Z", None),
            ("2026-03-12T13:00:00Z", Some(3)),
            ("2026-03-14T12:00:00Z", Some(1)),
            ("2026-03-15T00:00:00Z", None),
            ("2026-03-15T12:00:00Z", None), // expired: the break notice takes over
        ];
        for (now, want) in cases {
            let got: Vec<u32> = drain(now, &f, &mut rec)
                .into_iter()
                .map(|s| match s {
                    Stage::ExpiryWarning { days, expires_at } => {
                        assert_eq!(expires_at, t(exp));
                        days
                    }
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
            assert_eq!(got, want.into_iter().collect::<Vec<_>>(), "at {now}");
        }
    }

    #[test]
    fn crossing_several_thresholds_at_once_sends_only_the_closest() {
        let mut rec = record();
        let stages = drain("2026-03-13T12:00:00Z", &ready(Some("2026-03-15T12:00:00Z")), &mut rec);
        assert_eq!(stages, vec![Stage::ExpiryWarning { days: 3, expires_at: t("2026-03-15T12:00:00Z") }]);
    }

    #[test]
    fn a_new_token_with_another_expiry_starts_the_warnings_over() {
        let mut rec = record();
        drain("2026-03-14T13:00:00Z", &ready(Some("2026-03-15T12:00:00Z")), &mut rec);
        assert_eq!(rec.warned_days, Some(1));
        let stages = drain("2026-03-14T13:00:00Z", &ready(Some("2026-03-25T12:00:00Z")), &mut rec);
        assert_eq!(stages, vec![Stage::ExpiryWarning { days: 14, expires_at: t("2026-03-25T12:00:00Z") }]);
    }

    #[test]
    fn no_warning_when_a_refresh_will_renew_the_token_or_it_never_expires() {
        let mut f = ready(Some("2026-03-15T12:00:00Z"));
        f.refresh_renews = true;
        assert_eq!(next(t("2026-03-14T12:00:00Z"), &f, &schedule(), &record()), None);
        assert_eq!(next(t("2026-03-14T12:00:00Z"), &ready(None), &schedule(), &record()), None);
    }

    #[test]
    fn a_break_is_announced_once_then_reminded_every_interval_then_recovery_is_announced() {
        let f = broken(BreakReason::PasswordChanged);
        let mut rec = record();
        assert_eq!(
            drain("2026-03-01T10:00:00Z", &f, &mut rec),
            vec![Stage::ReauthorizationRequired { reason: BreakReason::PasswordChanged }]
        );
        assert_eq!(drain("2026-03-01T11:00:00Z", &f, &mut rec), vec![]);
        assert_eq!(drain("2026-03-02T09:59:59Z", &f, &mut rec), vec![]);
        let since = t("2026-03-01T10:00:00Z");
        assert_eq!(
            drain("2026-03-02T10:30:00Z", &f, &mut rec),
            vec![Stage::StillBroken { reason: BreakReason::PasswordChanged, since, reminder: 1 }]
        );
        assert_eq!(drain("2026-03-03T10:00:00Z", &f, &mut rec), vec![]);
        assert_eq!(
            drain("2026-03-03T10:30:00Z", &f, &mut rec),
            vec![Stage::StillBroken { reason: BreakReason::PasswordChanged, since, reminder: 2 }]
        );
        assert_eq!(
            drain("2026-03-03T12:00:00Z", &ready(None), &mut rec),
            vec![Stage::Recovered { reason: Some(BreakReason::PasswordChanged), since: Some(since) }]
        );
        assert_eq!(rec, record(), "recovery clears the break");
        assert_eq!(drain("2026-03-03T13:00:00Z", &ready(None), &mut rec), vec![]);
    }

    #[test]
    fn a_different_cause_while_broken_is_announced_as_a_new_reauthorization_notice() {
        let mut rec = record();
        drain("2026-03-01T10:00:00Z", &broken(BreakReason::RoleRemoved), &mut rec);
        let stages = drain("2026-03-01T12:00:00Z", &broken(BreakReason::TokenInvalidated), &mut rec);
        assert_eq!(stages, vec![Stage::ReauthorizationRequired { reason: BreakReason::TokenInvalidated }]);
        assert_eq!(rec.broken_since.map(|t| t.0), Some(t("2026-03-01T10:00:00Z")), "the break started with the first cause");
    }

    #[test]
    fn undetermined_health_neither_starts_nor_ends_a_break() {
        let undetermined = Facts { health: Health::Undetermined, expires_at: None, refresh_renews: false };
        let mut rec = record();
        assert_eq!(drain("2026-03-01T10:00:00Z", &undetermined, &mut rec), vec![]);
        drain("2026-03-01T10:00:00Z", &broken(BreakReason::Expired), &mut rec);
        assert_eq!(drain("2026-03-01T11:00:00Z", &undetermined, &mut rec), vec![]);
        assert!(rec.broken_since.is_some());
    }

    #[test]
    fn recovery_is_followed_by_a_warning_about_the_new_tokens_expiry() {
        let mut rec = record();
        drain("2026-03-01T10:00:00Z", &broken(BreakReason::Expired), &mut rec);
        let stages = drain("2026-03-01T11:00:00Z", &ready(Some("2026-03-05T11:00:00Z")), &mut rec);
        assert_eq!(stages.iter().map(Stage::name).collect::<Vec<_>>(), vec!["Recovered", "ExpiryWarning"]);
    }

    #[test]
    fn a_notice_keeps_its_key_while_it_is_due_and_the_next_one_has_another() {
        let f = broken(BreakReason::RoleRemoved);
        let (first, _) = next(t("2026-03-01T10:00:00Z"), &f, &schedule(), &record()).unwrap();
        let (again, after) = next(t("2026-03-01T10:05:00Z"), &f, &schedule(), &record()).unwrap();
        assert_eq!(first.key(), again.key(), "an undelivered notice is the same notice a pass later");
        let (reminder, _) = next(t("2026-03-02T10:05:00Z"), &f, &schedule(), &after).unwrap();
        assert_ne!(reminder.key(), first.key());
    }

    #[test]
    fn ready_reasons_that_are_no_persons_task_are_not_breaks() {
        for r in ["ProviderUnavailable", "Pending", "SecretNotFound", "AllChecksPassed", "RateLimited"] {
            assert_eq!(BreakReason::from_ready_reason(r), None, "{r}");
        }
        for r in BreakReason::ALL {
            assert_eq!(BreakReason::from_ready_reason(r.as_str()), Some(r));
        }
    }
}
