//! Kubernetes Events: a closed set of notices, published through kube-runtime's `Recorder`
//! (which merges repeats into a series). Messages never carry a token or secret (§2.10).

use kube::runtime::events::{Event, EventType};

use crate::conditions::{ExpiryReason, Reason, RoleReason, ScopesReason};

/// Longest Event note the API accepts is 1 kB; stay well inside it.
const MAX_NOTE: usize = 900;

/// Something a person should hear about.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// Ready became False for a reason only a person can fix.
    ReauthorizationRequired {
        /// The blocking condition's reason.
        reason: Reason,
        /// The blocking condition's message.
        cause: String,
        /// `status.reauthorizationURL`, when known.
        url: Option<String>,
    },
    /// ExpiringSoon became True.
    TokenExpiringSoon {
        /// The ExpiringSoon reason.
        reason: ExpiryReason,
        /// The ExpiringSoon message.
        message: String,
    },
    /// Ready became True after having been False.
    ConnectionRestored,
    /// The third transient answer in a row.
    ProviderUnavailable {
        /// What failed.
        detail: String,
        /// How many answers in a row.
        failures: i32,
    },
    /// Valid became False `SecretNotFound`.
    SecretNotFound {
        /// Which Secret.
        message: String,
    },
    /// An answer missing from the provider's table: HTTP status and error code only.
    UnexpectedProviderResponse {
        /// HTTP status and provider error code.
        what: String,
    },
    /// A refresh stored a new access token (§2.6).
    TokenRefreshed {
        /// The new expiry, when known.
        expires_at: Option<String>,
    },
    /// A refresh was refused or cannot be made (§2.6); the reason is the classified outcome.
    RefreshFailed {
        /// Why (no secrets).
        why: String,
    },
    /// The refreshed token could not be stored yet; it is kept in memory and retried.
    WriteBackFailed {
        /// What failed (no secrets).
        why: String,
    },
    /// Revoke on delete succeeded, or the provider said the token was already invalid (§2.8).
    TokenRevoked {
        /// The provider said it was already invalid.
        already_invalid: bool,
    },
    /// Revoke on delete failed; the finalizer was released anyway.
    RevokeFailed {
        /// Why (no secrets).
        why: String,
    },
    /// The provider has no revoke call.
    RevokeNotSupported,
    /// The revoke call needs credentials that are missing.
    RevokeSkipped {
        /// What is missing.
        why: String,
    },
    /// Most checks of the provider failed transiently at once: every connection of the
    /// provider pauses (recorded once per outage, on the connection whose check started it).
    ProviderPaused {
        /// The provider's name.
        provider: &'static str,
        /// Transient failures among `checks` recent checks.
        failures: usize,
        /// Recent checks of the provider.
        checks: usize,
        /// The first pause.
        pause: std::time::Duration,
    },
}

impl Notice {
    /// The Event reason.
    pub const fn reason(&self) -> &'static str {
        match self {
            Notice::ReauthorizationRequired { .. } => "ReauthorizationRequired",
            Notice::TokenExpiringSoon { .. } => "TokenExpiringSoon",
            Notice::ConnectionRestored => "ConnectionRestored",
            Notice::ProviderUnavailable { .. } => "ProviderUnavailable",
            Notice::SecretNotFound { .. } => "SecretNotFound",
            Notice::UnexpectedProviderResponse { .. } => "UnexpectedProviderResponse",
            Notice::TokenRefreshed { .. } => "TokenRefreshed",
            Notice::RefreshFailed { .. } => "RefreshFailed",
            Notice::WriteBackFailed { .. } => "WriteBackFailed",
            Notice::TokenRevoked { .. } => "TokenRevoked",
            Notice::RevokeFailed { .. } => "RevokeFailed",
            Notice::RevokeNotSupported => "RevokeNotSupported",
            Notice::RevokeSkipped { .. } => "RevokeSkipped",
            Notice::ProviderPaused { .. } => "ProviderPaused",
        }
    }

    /// The Event action: what the operator was doing.
    pub const fn action(&self) -> &'static str {
        match self {
            Notice::TokenRefreshed { .. } | Notice::RefreshFailed { .. } | Notice::WriteBackFailed { .. } => "Refresh",
            Notice::TokenRevoked { .. } | Notice::RevokeFailed { .. } | Notice::RevokeNotSupported | Notice::RevokeSkipped { .. } => {
                "Revoke"
            }
            _ => "Check",
        }
    }

    /// Normal or Warning.
    pub const fn event_type(&self) -> EventType {
        match self {
            Notice::ConnectionRestored
            | Notice::TokenRefreshed { .. }
            | Notice::TokenRevoked { .. }
            | Notice::RevokeNotSupported
            | Notice::RevokeSkipped { .. } => EventType::Normal,
            _ => EventType::Warning,
        }
    }

    /// The human-readable note.
    pub fn note(&self) -> String {
        let mut note = match self {
            Notice::ReauthorizationRequired { reason, cause, url } => {
                let what = match reason {
                    Reason::Role(RoleReason::AccountMismatch) => {
                        "reconnect with the account named in spec.account.id, or correct spec.account.id"
                    }
                    Reason::Role(RoleReason::RoleRemoved | RoleReason::InsufficientRole) => {
                        "give the connecting user the required role on the account again, or reconnect with a user who has it"
                    }
                    Reason::Role(RoleReason::AccountNotFound) => "check spec.account.id and that the account still exists",
                    Reason::Role(RoleReason::NotProfessionalAccount) => {
                        "switch the Instagram account to a Business or Creator account, then reconnect"
                    }
                    Reason::Scopes(ScopesReason::ScopesNotGranted) => "reconnect and grant the missing permissions",
                    _ => "a person must reconnect the account and store the new token in the Secret",
                };
                let reason = reason.as_str();
                match url {
                    Some(u) => format!("{reason}: {cause}. To fix: {what}. Reconnect at {u}"),
                    None => format!("{reason}: {cause}. To fix: {what}."),
                }
            }
            Notice::TokenExpiringSoon { reason, message } => format!("{}: {message}", reason.as_str()),
            Notice::ConnectionRestored => "the connection works again".to_string(),
            Notice::ProviderUnavailable { detail, failures } => {
                format!("{failures} checks in a row failed transiently ({detail}); the token's state is unknown until the provider answers")
            }
            Notice::SecretNotFound { message } => message.clone(),
            Notice::UnexpectedProviderResponse { what } => {
                format!("the provider gave an answer this operator does not know ({what}); treated as transient")
            }
            Notice::TokenRefreshed { expires_at: Some(e) } => format!("the access token was refreshed and stored; it expires at {e}"),
            Notice::TokenRefreshed { expires_at: None } => "the access token was refreshed and stored".to_string(),
            Notice::RefreshFailed { why } => format!("the token was not refreshed: {why}"),
            Notice::WriteBackFailed { why } => {
                format!("the refreshed token could not be stored in its Secret yet ({why}); it is kept in memory and the write is retried")
            }
            Notice::TokenRevoked { already_invalid: false } => "the provider revoked the token".to_string(),
            Notice::TokenRevoked { already_invalid: true } => "the provider says the token was already invalid".to_string(),
            Notice::RevokeFailed { why } => format!("revoking the token failed ({why}); the finalizer was released anyway"),
            Notice::RevokeNotSupported => "the provider has no revoke call; revoke the app's access at the provider by hand".to_string(),
            Notice::RevokeSkipped { why } => format!("the token was not revoked: {why}"),
            Notice::ProviderPaused { provider, failures, checks, pause } => format!(
                "{provider} looks down: {failures} of its last {checks} checks failed transiently; every {provider} connection pauses \
                 for {}s, longer while the outage lasts (token states are unchanged)",
                pause.as_secs()
            ),
        };
        if note.len() > MAX_NOTE {
            let mut cut = MAX_NOTE;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
        }
        note
    }

    /// The kube-runtime event.
    pub fn to_event(&self) -> Event {
        Event {
            type_: self.event_type(),
            reason: self.reason().to_string(),
            note: Some(self.note()),
            action: self.action().to_string(),
            secondary: None,
        }
    }
}
