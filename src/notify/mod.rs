//! Notices to the people who must act on a connection, per `SocialNotificationPolicy`:
//! [`stages`] decides what is due (pure), [`message`] words it, [`outbox`] sends each notice
//! once per stage and records it in the connection's status, and [`webhook`], [`slack`] and
//! [`smtp`] deliver. No notice ever carries a token: [`message::Subject`] has no field for one.

pub mod message;
pub mod outbox;
pub mod slack;
pub mod smtp;
pub mod stages;
pub mod webhook;

pub use outbox::Outbox;

/// Why a delivery failed. Messages never contain a receiver URL or credential.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The receiver's Secret is missing or incomplete; retrying will not help until a person
    /// fixes it.
    #[error("receiver configuration: {0}")]
    Config(String),
    /// A failure that may pass (connection refused, timeout, HTTP 429 or 5xx, SMTP 4xx).
    #[error("{0}")]
    Transient(String),
    /// The receiver refused the notice (HTTP 4xx, SMTP 5xx).
    #[error("{0}")]
    Permanent(String),
}

impl SendError {
    /// Whether retrying soon may succeed.
    pub const fn is_retryable(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}

/// The kind of a receiver, for logs and metrics labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReceiverKind {
    /// Generic signed webhook.
    Webhook,
    /// Slack-compatible incoming webhook.
    Slack,
    /// Email over SMTP.
    Email,
}

impl ReceiverKind {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ReceiverKind::Webhook => "webhook",
            ReceiverKind::Slack => "slack",
            ReceiverKind::Email => "email",
        }
    }
}

/// Told about every delivery attempt's outcome: the hook for sent/failed metrics.
pub trait DeliveryObserver: Send + Sync {
    /// A receiver accepted a notice of `stage`.
    fn sent(&self, receiver: ReceiverKind, stage: &'static str);
    /// A receiver did not accept a notice of `stage` after every retry.
    fn failed(&self, receiver: ReceiverKind, stage: &'static str);
}

/// The default observer: writes a debug log line.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogObserver;

impl DeliveryObserver for LogObserver {
    fn sent(&self, receiver: ReceiverKind, stage: &'static str) {
        tracing::debug!(receiver = receiver.as_str(), stage, "notice delivered");
    }
    fn failed(&self, receiver: ReceiverKind, stage: &'static str) {
        tracing::debug!(receiver = receiver.as_str(), stage, "notice not delivered");
    }
}

/// Sends an HTTP request and maps the answer: 2xx delivered; 429 and 5xx transient; other
/// statuses permanent. Errors drop the URL (it may be a credential, as Slack's are).
async fn post(req: reqwest::RequestBuilder) -> Result<(), SendError> {
    match req.send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
            Err(SendError::Transient(format!("the receiver answered HTTP {}", r.status().as_u16())))
        }
        Ok(r) => Err(SendError::Permanent(format!("the receiver refused the notice with HTTP {}", r.status().as_u16()))),
        Err(e) => Err(SendError::Transient(format!("the receiver could not be reached: {}", e.without_url()))),
    }
}
