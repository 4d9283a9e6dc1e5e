//! Slack-compatible incoming webhook receiver (Slack, Mattermost, Rocket.Chat and others
//! accept the same `{"text": ...}` body). The URL itself is the credential: it lives in a
//! Secret and never appears in logs or errors.

use serde_json::json;

use super::SendError;
use super::message::Message;
use crate::redact::SecretString;

/// The incoming-webhook body: the subject in bold, then the text.
pub fn body(message: &Message) -> serde_json::Value {
    json!({ "text": format!("*{}*\n{}", message.subject, message.text) })
}

/// POSTs the notice to the incoming webhook `url`.
pub async fn send(http: &reqwest::Client, url: &SecretString, message: &Message) -> Result<(), SendError> {
    let req = http.post(url.expose()).json(&body(message));
    super::post(req).await
}
