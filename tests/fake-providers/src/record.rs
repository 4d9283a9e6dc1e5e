//! The record of what the operator sent, for tests to assert on and grep.

use std::fmt;

/// The headers kept in a [`RecordedRequest`] (lower-case names).
pub const RECORDED_HEADERS: [&str; 6] =
    ["authorization", "user-agent", "accept", "content-type", "linkedin-version", "x-restli-protocol-version"];

/// One request a fake received, with the answer it gave.
///
/// Recorded when the request arrives (before a `slow` scenario's delay), so a request whose
/// caller gave up is still listed. `Display` renders it on one line for grepping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `DELETE`, …
    pub method: String,
    /// The path as sent (for Telegram it contains the bot token).
    pub path: String,
    /// The raw query string, still percent-encoded; empty when there was none.
    pub query: String,
    /// The query parameters, decoded, in order.
    pub query_params: Vec<(String, String)>,
    /// The headers named in [`RECORDED_HEADERS`] that were present (lower-case names).
    pub headers: Vec<(String, String)>,
    /// The form fields, decoded, when the body was `application/x-www-form-urlencoded`.
    pub form: Vec<(String, String)>,
    /// The raw body.
    pub body: String,
    /// The HTTP status the fake answered.
    pub status: u16,
    /// Why the fake refused the request as a contract violation (missing `User-Agent`, token in
    /// the wrong place, missing parameter, unknown route, …); `None` for a well-formed request.
    pub fake_error: Option<String>,
    /// The body the fake answered (for a hostile scenario's streamed or binary body, a
    /// description in angle brackets).
    pub response_body: String,
    /// When the request arrived.
    pub received_at: std::time::SystemTime,
}

impl RecordedRequest {
    /// The first query parameter with this name, decoded.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        crate::request::first_value(&self.query_params, name)
    }

    /// The first form field with this name, decoded.
    pub fn form_param(&self, name: &str) -> Option<&str> {
        crate::request::first_value(&self.form, name)
    }

    /// A recorded header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether `needle` occurs anywhere in what the operator sent (path, query, headers, body),
    /// raw or decoded.
    pub fn mentions(&self, needle: &str) -> bool {
        self.path.contains(needle)
            || self.query.contains(needle)
            || self.body.contains(needle)
            || self.query_params.iter().any(|(_, v)| v.contains(needle))
            || self.form.iter().any(|(_, v)| v.contains(needle))
            || self.headers.iter().any(|(_, v)| v.contains(needle))
    }
}

impl fmt::Display for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        if !self.query.is_empty() {
            write!(f, "?{}", self.query)?;
        }
        for (name, value) in &self.headers {
            write!(f, " [{name}: {value}]")?;
        }
        if !self.body.is_empty() {
            write!(f, " body={}", self.body)?;
        }
        write!(f, " -> {}", self.status)?;
        if let Some(e) = &self.fake_error {
            write!(f, " fake_error={e}")?;
        }
        Ok(())
    }
}
