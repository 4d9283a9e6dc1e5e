//! The words of a notice: a subject and a plain-text body written for the person who must act
//! (often not an engineer), and the JSON document webhooks receive. Pure; never given a token.

use jiff::Timestamp;
use serde_json::json;

use super::stages::{BreakReason, Stage};
use crate::api::{ProviderKind, RequiredRole};

/// What a notice says about its connection. Holds no secret by construction.
#[derive(Clone, Debug, PartialEq)]
pub struct Subject {
    /// Namespace of the SocialConnection.
    pub namespace: String,
    /// Name of the SocialConnection.
    pub name: String,
    /// `metadata.uid`.
    pub uid: String,
    /// The provider.
    pub provider: ProviderKind,
    /// `spec.account.id`.
    pub account_id: String,
    /// `spec.account.displayName`.
    pub display_name: Option<String>,
    /// `spec.requiredRole`.
    pub required_role: Option<RequiredRole>,
    /// Required scopes that were not granted.
    pub missing_scopes: Vec<String>,
    /// `status.reauthorizationURL`.
    pub reconnect_url: Option<String>,
}

/// A rendered notice.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// One line, for an email subject or a chat message's first line.
    pub subject: String,
    /// The full text.
    pub text: String,
    /// The webhook body.
    pub json: serde_json::Value,
}

/// The provider's name as people know it.
pub const fn provider_name(p: ProviderKind) -> &'static str {
    match p {
        ProviderKind::Facebook => "Facebook",
        ProviderKind::Instagram | ProviderKind::InstagramLogin => "Instagram",
        ProviderKind::Threads => "Threads",
        ProviderKind::Linkedin => "LinkedIn",
        ProviderKind::X => "X",
        ProviderKind::Pinterest => "Pinterest",
        ProviderKind::Youtube => "YouTube",
        ProviderKind::GoogleBusinessProfile => "Google Business Profile",
        ProviderKind::Telegram => "Telegram",
        ProviderKind::Tiktok => "TikTok",
    }
}

impl Subject {
    fn account(&self) -> String {
        match &self.display_name {
            Some(d) if !d.is_empty() => format!("\"{d}\""),
            _ => self.account_id.clone(),
        }
    }

    fn title(&self) -> String {
        format!("{} connection {}", provider_name(self.provider), self.account())
    }
}

fn day_time(t: Timestamp) -> String {
    t.strftime("%A %-d %B %Y at %H:%M UTC").to_string()
}

fn role_words(r: RequiredRole) -> &'static str {
    match r {
        RequiredRole::Admin => "admin",
        RequiredRole::Editor => "editor (can publish)",
        RequiredRole::Moderator => "moderator",
        RequiredRole::Analyst => "analyst",
    }
}

/// The cause in plain words.
pub fn cause(reason: BreakReason, s: &Subject) -> String {
    let p = provider_name(s.provider);
    let acct = s.account();
    match reason {
        BreakReason::PasswordChanged => {
            format!("The password of the {p} account that made this connection was changed. That ends every connection it had made.")
        }
        BreakReason::AppDeauthorized => format!("Someone removed this app's access in the {p} account's settings."),
        BreakReason::AccountCheckpointed => {
            format!("{p} has locked the account that made this connection until someone logs in to {p} and completes a security check.")
        }
        BreakReason::AccountUnconfirmed => {
            format!("The {p} account that made this connection is not confirmed yet (for example its email address).")
        }
        BreakReason::TokenInvalidated => {
            format!(
                "{p} no longer accepts this connection. This happens when access is withdrawn, the login session ends, or {p} resets it."
            )
        }
        BreakReason::AccountSuspended => format!("{p} has suspended the account."),
        BreakReason::Expired => "The connection's access ran out and cannot be renewed automatically.".to_string(),
        BreakReason::RoleRemoved => format!("The person who made this connection no longer has a role on {acct}."),
        BreakReason::InsufficientRole => match s.required_role {
            Some(r) => {
                format!("The person who made this connection has a role on {acct}, but not {} or higher, which this needs.", role_words(r))
            }
            None => format!("The person who made this connection does not have a high enough role on {acct}."),
        },
        BreakReason::AccountNotFound => format!("{p} cannot find the account {acct}, or this connection is not allowed to see it."),
        BreakReason::AccountMismatch => format!("The connection was made with a different {p} account, not {acct}."),
        BreakReason::NotProfessionalAccount => {
            "The Instagram account is a personal account; this needs a Business or Creator account.".to_string()
        }
        BreakReason::ScopesNotGranted => {
            if s.missing_scopes.is_empty() {
                "When the connection was made, some permissions it needs were not granted.".to_string()
            } else {
                format!("When the connection was made, these permissions were not granted: {}.", s.missing_scopes.join(", "))
            }
        }
    }
}

/// Who can fix it, in plain words.
pub fn who_can_fix(reason: BreakReason, s: &Subject) -> String {
    let p = provider_name(s.provider);
    let acct = s.account();
    match reason {
        BreakReason::AccountMismatch => format!("Someone who can log in to {p} as {acct}."),
        BreakReason::NotProfessionalAccount => {
            "The owner of the Instagram account: switch it to a Business or Creator account in the Instagram app, then reconnect."
                .to_string()
        }
        BreakReason::AccountNotFound => {
            format!("The person who set up this connection: check that the account {acct} still exists and that its id is right.")
        }
        _ => match s.required_role {
            Some(r) => format!("Someone with the {} role (or higher) on {acct} on {p}.", role_words(r)),
            None => format!("Someone who can manage {acct} on {p}."),
        },
    }
}

fn what_to_do(s: &Subject) -> String {
    match &s.reconnect_url {
        Some(u) => format!("To fix it, open this link and log in to {}: {u}", provider_name(s.provider)),
        None => "To fix it, ask the team that runs this system to reconnect the account (no reconnect link is set up).".to_string(),
    }
}

fn footer(s: &Subject) -> String {
    format!("(Kubernetes: SocialConnection {}/{})", s.namespace, s.name)
}

/// Renders a stage for a connection at `now`, addressed to `recipients`.
pub fn render(stage: &Stage, s: &Subject, recipients: &[String], now: Timestamp) -> Message {
    let title = s.title();
    let (subject, body, reason, who) = match stage {
        Stage::ExpiryWarning { expires_at, .. } => {
            let left = expires_at.as_second().saturating_sub(now.as_second()).max(0);
            let days = left.saturating_add(86_399) / 86_400;
            let when = if days <= 1 { "within a day".to_string() } else { format!("in {days} days") };
            let subject = format!("{title} stops working {when}");
            let body = format!(
                "The {title} stops working on {}, when its access expires, and it cannot be renewed automatically.\n\n\
                 Reconnect it before then to keep it working. {}",
                day_time(*expires_at),
                what_to_do(s)
            );
            (subject, body, None, None)
        }
        Stage::ReauthorizationRequired { reason } => {
            let subject = format!("{title} has stopped working: reconnect needed");
            let who = who_can_fix(*reason, s);
            let body =
                format!("The {title} has stopped working.\n\nWhy: {}\n\nWho can fix it: {who}\n\n{}", cause(*reason, s), what_to_do(s));
            (subject, body, Some(*reason), Some(who))
        }
        Stage::StillBroken { reason, since, .. } => {
            let subject = format!("Reminder: {title} is still not working");
            let who = who_can_fix(*reason, s);
            let body = format!(
                "The {title} has not worked since {}.\n\nWhy: {}\n\nWho can fix it: {who}\n\n{}",
                day_time(*since),
                cause(*reason, s),
                what_to_do(s)
            );
            (subject, body, Some(*reason), Some(who))
        }
        Stage::Recovered { reason, .. } => {
            let subject = format!("{title} works again");
            let body = format!("The {title} works again. Nothing more needs to be done.");
            (subject, body, *reason, None)
        }
    };
    let text = format!("{body}\n\n{}", footer(s));
    let (days, expires_at, reminder, since) = match stage {
        Stage::ExpiryWarning { days, expires_at } => (Some(*days), Some(expires_at.to_string()), None, None),
        Stage::StillBroken { since, reminder, .. } => (None, None, Some(*reminder), Some(since.to_string())),
        Stage::Recovered { since, .. } => (None, None, None, since.map(|t| t.to_string())),
        Stage::ReauthorizationRequired { .. } => (None, None, None, None),
    };
    let json = json!({
        "stage": stage.name(),
        "connection": {
            "namespace": s.namespace,
            "name": s.name,
            "uid": s.uid,
            "provider": s.provider.as_str(),
            "accountId": s.account_id,
            "displayName": s.display_name,
        },
        "reason": reason.map(BreakReason::as_str),
        "subject": subject,
        "text": text,
        "whoCanFix": who,
        "reconnectURL": s.reconnect_url,
        "expiresAt": expires_at,
        "warningDays": days,
        "brokenSince": since,
        "reminder": reminder,
        "recipients": recipients,
        "sentAt": now.to_string(),
    });
    Message { subject, text, json }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject {
            namespace: "shop".into(),
            name: "acme-fb".into(),
            uid: "u-1".into(),
            provider: ProviderKind::Facebook,
            account_id: "1234".into(),
            display_name: Some("Acme Page".into()),
            required_role: Some(RequiredRole::Editor),
            missing_scopes: vec![],
            reconnect_url: Some("https://connect.example.com/connect/shop/acme-fb".into()),
        }
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_reauthorization_notice_names_the_cause_who_can_fix_it_and_the_link() {
        let m =
            render(&Stage::ReauthorizationRequired { reason: BreakReason::PasswordChanged }, &subject(), &[], t("2026-03-01T10:00:00Z"));
        assert_eq!(m.subject, "Facebook connection \"Acme Page\" has stopped working: reconnect needed");
        assert_eq!(
            m.text,
            "The Facebook connection \"Acme Page\" has stopped working.\n\n\
             Why: The password of the Facebook account that made this connection was changed. That ends every connection it had made.\n\n\
             Who can fix it: Someone with the editor (can publish) role (or higher) on \"Acme Page\" on Facebook.\n\n\
             To fix it, open this link and log in to Facebook: https://connect.example.com/connect/shop/acme-fb\n\n\
             (Kubernetes: SocialConnection shop/acme-fb)"
        );
        assert_eq!(m.json["reason"], "PasswordChanged");
        assert_eq!(m.json["reconnectURL"], "https://connect.example.com/connect/shop/acme-fb");
    }

    #[test]
    fn an_expiry_warning_counts_whole_days_left_and_gives_the_date() {
        let stage = Stage::ExpiryWarning { days: 7, expires_at: t("2026-03-15T12:00:00Z") };
        let m = render(&stage, &subject(), &["a@example.com".into()], t("2026-03-08T13:00:00Z"));
        assert_eq!(m.subject, "Facebook connection \"Acme Page\" stops working in 7 days");
        assert!(m.text.contains("on Sunday 15 March 2026 at 12:00 UTC"), "{}", m.text);
        assert_eq!(m.json["warningDays"], 7);
        assert_eq!(m.json["recipients"][0], "a@example.com");
        let last_day = render(&stage, &subject(), &[], t("2026-03-15T01:00:00Z"));
        assert!(last_day.subject.ends_with("stops working within a day"), "{}", last_day.subject);
    }

    #[test]
    fn without_a_link_the_notice_says_whom_to_ask() {
        let mut s = subject();
        s.reconnect_url = None;
        let m = render(&Stage::ReauthorizationRequired { reason: BreakReason::Expired }, &s, &[], t("2026-03-01T10:00:00Z"));
        assert!(m.text.contains("ask the team that runs this system to reconnect"), "{}", m.text);
        assert!(m.json["reconnectURL"].is_null());
    }

    #[test]
    fn every_cause_is_a_sentence_without_condition_jargon() {
        let mut s = subject();
        s.missing_scopes = vec!["pages_manage_posts".into()];
        for r in BreakReason::ALL {
            let c = cause(r, &s);
            assert!(c.ends_with('.'), "{r:?}: {c}");
            assert!(!c.contains(r.as_str()), "{r:?} shows its reason name: {c}");
            assert!(!who_can_fix(r, &s).is_empty());
        }
        assert!(cause(BreakReason::ScopesNotGranted, &s).contains("pages_manage_posts"));
    }

    #[test]
    fn recovery_and_reminders_say_so() {
        let since = t("2026-03-01T10:00:00Z");
        let r = render(&Stage::StillBroken { reason: BreakReason::RoleRemoved, since, reminder: 2 }, &subject(), &[], since);
        assert_eq!(r.subject, "Reminder: Facebook connection \"Acme Page\" is still not working");
        assert_eq!(r.json["reminder"], 2);
        let ok = render(&Stage::Recovered { reason: Some(BreakReason::RoleRemoved), since: Some(since) }, &subject(), &[], since);
        assert_eq!(ok.subject, "Facebook connection \"Acme Page\" works again");
        assert_eq!(ok.json["stage"], "Recovered");
    }
}
