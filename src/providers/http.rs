//! The HTTP client every provider uses: explicit timeouts, no redirects, a User-Agent naming the
//! operator, endpoint overrides, and request logs with secrets redacted (providers.md §2.1,
//! §2.5, §2.10).

use std::time::Duration;

use bytes::Bytes;
use jiff::Timestamp;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue, RETRY_AFTER};
use url::Url;

use super::Interruption;
use super::endpoints::Endpoints;
use crate::api::ProviderKind;
use crate::redact::redact_path_and_query;

/// The User-Agent sent with every request.
pub const USER_AGENT: &str = concat!("social-connection-operator/", env!("CARGO_PKG_VERSION"));
/// Default Graph API version (`{ver}`).
pub const DEFAULT_GRAPH_VERSION: &str = "v24.0";
/// Default `LinkedIn-Version` header.
pub const DEFAULT_LINKEDIN_VERSION: &str = "202603";

/// Installs the process-wide rustls crypto provider (ring) once. kube and reqwest both use
/// rustls; without one process default, building the kube client panics (dependencies.md).
pub fn install_crypto_provider() {
    // Err only means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why the HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("building the provider HTTP client failed: {0}")]
pub struct HttpBuildError(#[from] reqwest::Error);

/// Shared HTTP access to every provider.
#[derive(Clone, Debug)]
pub struct ProviderHttp {
    client: reqwest::Client,
    endpoints: Endpoints,
    /// Graph API version for facebook, instagram and instagram-login, such as `v24.0`.
    pub graph_version: String,
    /// `LinkedIn-Version` header value, such as `202603`.
    pub linkedin_version: String,
}

/// A provider's answer: status, headers and body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Raw body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `Retry-After` header as a delay (seconds or HTTP-date), if present.
    pub fn retry_after(&self, now: Timestamp) -> Option<Duration> {
        let raw = self.headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
        if let Ok(secs) = raw.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        let when = httpdate::parse_http_date(raw).ok()?;
        let when = Timestamp::try_from(when).ok()?;
        Some(Duration::try_from(when.duration_since(now)).unwrap_or(Duration::ZERO))
    }

    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The transient answers every provider shares (§2.5): 3xx, 5xx, and 429 (with
    /// `Retry-After` when present). Providers whose tables give 429 more detail check their
    /// own rows first.
    pub fn generic_transient(&self, now: Timestamp) -> Option<Interruption> {
        match self.status {
            300..=399 => Some(Interruption::unavailable(format!("provider answered HTTP {} (redirects are not followed)", self.status))),
            429 => Some(Interruption::rate_limited("provider answered HTTP 429 (rate limited)", self.retry_after(now))),
            500..=599 => Some(Interruption::unavailable(format!("provider answered HTTP {}", self.status))),
            _ => None,
        }
    }

    /// The body as JSON, or the transient "a 2xx body that is not the expected JSON" answer.
    pub fn json_or_transient(&self) -> Result<serde_json::Value, Interruption> {
        self.json().ok_or_else(|| Interruption::unavailable(format!("provider answered HTTP {} with a body that is not JSON", self.status)))
    }
}

impl ProviderHttp {
    /// Builds the client with the timeouts of providers.md §2.1 (connect 5 s, request 20 s).
    pub fn new(endpoints: Endpoints, graph_version: String, linkedin_version: String) -> Result<Self, HttpBuildError> {
        install_crypto_provider();
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(20))
            // The operator never follows provider redirects (§2.1); a 3xx is transient.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(ProviderHttp { client, endpoints, graph_version, linkedin_version })
    }

    /// A client with default versions and the given overrides (tests, demos).
    pub fn with_endpoints(endpoints: Endpoints) -> Result<Self, HttpBuildError> {
        Self::new(endpoints, DEFAULT_GRAPH_VERSION.to_string(), DEFAULT_LINKEDIN_VERSION.to_string())
    }

    /// The URL of a call: the provider's default base plus `path`, rewritten by the override.
    /// `default_base` is like `https://graph.facebook.com`; `path` starts with `/`.
    pub fn url(&self, provider: ProviderKind, default_base: &str, path: &str) -> Url {
        let mut url = match Url::parse(default_base).and_then(|b| b.join(path)) {
            Ok(u) => u,
            // Only reachable with a malformed constant in a provider module; tests cover them.
            Err(_) => Url::parse("http://invalid.invalid/").unwrap_or_else(|_| unreachable!()),
        };
        self.endpoints.apply(provider, &mut url);
        url
    }

    /// The underlying client, to build requests (`http.client().get(url)`).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends a request and returns the answer whatever its status. Transport failures
    /// (connection errors, timeouts, TLS errors) become a transient [`Interruption`]. Logs
    /// method, host, redacted path and status only.
    pub async fn send(&self, provider: ProviderKind, request: reqwest::RequestBuilder) -> Result<Answer, Interruption> {
        let request =
            request.build().map_err(|e| Interruption::unavailable(format!("building the request failed: {}", e.without_url())))?;
        let method = request.method().clone();
        let host = request.url().host_str().unwrap_or("").to_string();
        let path = redact_path_and_query(request.url());
        match self.client.execute(request).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp
                    .bytes()
                    .await
                    .map_err(|e| Interruption::unavailable(format!("reading the answer from {host} failed: {}", describe(&e))))?;
                tracing::debug!(provider = provider.as_str(), %method, %host, %path, status, "provider request");
                Ok(Answer { status, headers, body })
            }
            Err(e) => {
                let why = describe(&e);
                tracing::debug!(provider = provider.as_str(), %method, %host, %path, error = %why, "provider request failed");
                Err(Interruption::unavailable(format!("calling {host} failed: {why}")))
            }
        }
    }
}

/// Describes a reqwest error without its URL (which may hold a token).
fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection error"
    } else if e.is_body() || e.is_decode() {
        "broken answer body"
    } else {
        "transport error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("60"));
        let a = Answer { status: 429, headers: headers.clone(), body: Bytes::new() };
        assert_eq!(a.retry_after(now), Some(Duration::from_secs(60)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Thu, 01 Jan 2026 00:02:00 GMT"));
        let a = Answer { status: 429, headers, body: Bytes::new() };
        assert_eq!(a.retry_after(now), Some(Duration::from_secs(120)));
    }

    #[test]
    fn overrides_replace_scheme_host_and_port_only() {
        let e = Endpoints::from_sources(&["facebook=http://127.0.0.1:8080".into()], None).unwrap();
        let http = ProviderHttp::with_endpoints(e).unwrap();
        let u = http.url(ProviderKind::Facebook, "https://graph.facebook.com", "/v24.0/me");
        assert_eq!(u.as_str(), "http://127.0.0.1:8080/v24.0/me");
    }
}
