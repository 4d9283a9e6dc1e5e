//! Keeping tokens and client secrets out of logs, events, status and errors.
//!
//! Secret values live in [`SecretString`], whose `Debug` and `Display` print `***`; the only way
//! to read one is [`SecretString::expose`], which makes every use greppable. Provider messages
//! that reach people go through [`scrub`], which cuts them and replaces known secret values.

use std::fmt;

/// A token, refresh token, client secret or bot token. Prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The secret value itself, for building a request. Never log or format the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Longest provider message passed on to people (providers.md §2.10).
pub const MAX_MESSAGE_CHARS: usize = 256;

/// Cuts a provider message to [`MAX_MESSAGE_CHARS`] characters and replaces every known secret
/// value in it with `<redacted>`.
pub fn scrub(message: &str, secrets: &[&SecretString]) -> String {
    let mut out = message.to_string();
    for s in secrets {
        let v = s.expose();
        // Very short values would blank out ordinary words; real tokens are long.
        if v.len() >= 4 {
            out = out.replace(v, "<redacted>");
        }
    }
    if out.chars().count() > MAX_MESSAGE_CHARS {
        out = out.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
    }
    out
}

/// `s` cut to at most `max_bytes` bytes on a character boundary, with `…` marking the cut
/// (within the limit, unless the limit is smaller than the mark). Text from providers is bounded with this before it reaches status or
/// Events, whose fields have maximum lengths the API server enforces.
pub fn truncate_utf8(s: &str, max_bytes: usize) -> String {
    if s.len() <= max_bytes {
        return s.to_string();
    }
    const MARK: &str = "…";
    let mut end = max_bytes.saturating_sub(MARK.len());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &s[..end])
}

/// Names of query parameters and form fields whose values are secret (providers.md §2.10, and
/// the connect flow's authorization code and PKCE verifier of §2.14).
pub const SECRET_PARAMS: [&str; 8] =
    ["access_token", "input_token", "fb_exchange_token", "client_secret", "token", "refresh_token", "code", "code_verifier"];

/// A URL path and query fit for a log line: secret query parameters become `<redacted>` and a
/// Telegram `/bot<token>/` path segment becomes `/bot<redacted>/`.
pub fn redact_path_and_query(url: &url::Url) -> String {
    let mut path = url.path().to_string();
    if let Some(rest) = path.strip_prefix("/bot") {
        if let Some(idx) = rest.find('/') {
            path = format!("/bot<redacted>{}", &rest[idx..]);
        } else {
            path = "/bot<redacted>".to_string();
        }
    }
    let pairs: Vec<String> = url
        .query_pairs()
        .map(|(k, v)| if SECRET_PARAMS.contains(&k.as_ref()) { format!("{k}=<redacted>") } else { format!("{k}={v}") })
        .collect();
    if pairs.is_empty() { path } else { format!("{path}?{}", pairs.join("&")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_strings_never_print_their_value() {
        let s = SecretString::new("EAAsecretvalue");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
    }

    #[test]
    fn truncation_keeps_whole_characters_and_the_limit() {
        assert_eq!(truncate_utf8("short", 10), "short");
        let cut = truncate_utf8(&"é".repeat(100), 11);
        assert!(cut.len() <= 11 && cut.ends_with('…'), "{cut}");
        assert_eq!(cut, "éééé…");
        // A limit smaller than the mark keeps only the mark.
        assert_eq!(truncate_utf8("abcdef", 2), "…");
    }

    #[test]
    fn scrub_replaces_known_secrets_and_cuts_long_messages() {
        let s = SecretString::new("EAAsecretvalue");
        assert_eq!(scrub("token EAAsecretvalue is bad", &[&s]), "token <redacted> is bad");
        let long = "x".repeat(400);
        assert_eq!(scrub(&long, &[]).chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn log_paths_hide_tokens_in_query_and_telegram_path() {
        let u = url::Url::parse("https://h/v24.0/debug_token?input_token=A&access_token=B&fields=id").unwrap();
        assert_eq!(redact_path_and_query(&u), "/v24.0/debug_token?input_token=<redacted>&access_token=<redacted>&fields=id");
        // The connect flow's authorization code is a credential too (§2.14).
        let u = url::Url::parse("https://h/v24.0/oauth/access_token?client_id=c&redirect_uri=r&client_secret=s&code=C").unwrap();
        assert_eq!(
            redact_path_and_query(&u),
            "/v24.0/oauth/access_token?client_id=c&redirect_uri=r&client_secret=<redacted>&code=<redacted>"
        );
        let t = url::Url::parse("https://api.telegram.org/bot123:abc/getMe").unwrap();
        assert_eq!(redact_path_and_query(&t), "/bot<redacted>/getMe");
    }
}
