//! Kubernetes Events: a closed set of notices, published through kube-runtime's `Recorder`
//! (which merges repeats into a series). Messages never carry a token or secret (§2.10).

use kube::runtime::events::{Event, EventType};

/// Longest Event note the API accepts is 1 kB; stay well inside it.
const MAX_NOTE: usize = 900;

/// Something a person should hear about.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// Ready became False for a reason only a person can fix.
    ReauthorizationRequired {
        /// The blocking condition's reason.
        reason: &'static str,
        /// The blocking condition's message.
        cause: String,
        /// `status.reauthorizationURL`, when known.
        url: Option<String>,
    },
    /// ExpiringSoon became True.
    TokenExpiringSoon {
        /// The ExpiringSoon reason.
        reason: &'static str,
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
        }
    }

    /// Normal or Warning.
    pub const fn event_type(&self) -> EventType {
        match self {
            Notice::ConnectionRestored => EventType::Normal,
            _ => EventType::Warning,
        }
    }

    /// The human-readable note.
    pub fn note(&self) -> String {
        let mut note = match self {
            Notice::ReauthorizationRequired { reason, cause, url } => {
                let what = match *reason {
                    "AccountMismatch" => "reconnect with the account named in spec.account.id, or correct spec.account.id",
                    "RoleRemoved" | "InsufficientRole" => {
                        "give the connecting user the required role on the account again, or reconnect with a user who has it"
                    }
                    "AccountNotFound" => "check spec.account.id and that the account still exists",
                    "NotProfessionalAccount" => "switch the Instagram account to a Business or Creator account, then reconnect",
                    "ScopesNotGranted" => "reconnect and grant the missing permissions",
                    _ => "a person must reconnect the account and store the new token in the Secret",
                };
                match url {
                    Some(u) => format!("{reason}: {cause}. To fix: {what}. Reconnect at {u}"),
                    None => format!("{reason}: {cause}. To fix: {what}."),
                }
            }
            Notice::TokenExpiringSoon { reason, message } => format!("{reason}: {message}"),
            Notice::ConnectionRestored => "the connection works again".to_string(),
            Notice::ProviderUnavailable { detail, failures } => {
                format!("{failures} checks in a row failed transiently ({detail}); the token's state is unknown until the provider answers")
            }
            Notice::SecretNotFound { message } => message.clone(),
            Notice::UnexpectedProviderResponse { what } => {
                format!("the provider gave an answer this operator does not know ({what}); treated as transient")
            }
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
            action: "Check".to_string(),
            secondary: None,
        }
    }
}
