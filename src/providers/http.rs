//! The HTTP client every provider uses: explicit timeouts, no redirects, a User-Agent naming the
//! operator, endpoint overrides, and request logs with secrets redacted (providers.md §2.1,
//! §2.5, §2.10).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use jiff::Timestamp;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue, RETRY_AFTER};
use url::Url;

use super::Interruption;
use super::endpoints::Endpoints;
use super::numbers;
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

/// Admission of provider requests: every request waits here first (the controller's
/// per-provider request budgets implement it).
#[async_trait::async_trait]
pub trait RequestGate: Send + Sync + std::fmt::Debug {
    /// Returns when a request to `provider` may be sent.
    async fn admit(&self, provider: ProviderKind);
}

/// Which provider call a request belongs to (a metrics label).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProviderCall {
    /// The token check (the default).
    #[default]
    Check,
    /// A refresh (providers.md §2.6).
    Refresh,
    /// A revocation (§2.8).
    Revoke,
    /// The authorization-code exchange of the connect flow (§2.14).
    ExchangeCode,
}

impl ProviderCall {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderCall::Check => "check",
            ProviderCall::Refresh => "refresh",
            ProviderCall::Revoke => "revoke",
            ProviderCall::ExchangeCode => "exchange_code",
        }
    }
}

/// How a provider request ended, as far as HTTP goes (a metrics label; what the answer means
/// is the provider's to classify).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestResult {
    /// 2xx.
    Success,
    /// 3xx (never followed).
    Redirect,
    /// 4xx other than 429: usually a definite answer about the token.
    ClientError,
    /// 429.
    RateLimited,
    /// 5xx.
    ServerError,
    /// An answer whose body was too large, too slow or broken.
    BodyDropped,
    /// No answer within the timeout.
    Timeout,
    /// The connection could not be made.
    ConnectionError,
    /// Any other transport failure (TLS, building the request).
    TransportError,
}

impl RequestResult {
    /// Every value, for tests and dashboards.
    pub const ALL: [RequestResult; 9] = [
        RequestResult::Success,
        RequestResult::Redirect,
        RequestResult::ClientError,
        RequestResult::RateLimited,
        RequestResult::ServerError,
        RequestResult::BodyDropped,
        RequestResult::Timeout,
        RequestResult::ConnectionError,
        RequestResult::TransportError,
    ];

    /// The result of an answer with HTTP status `status`.
    pub const fn of_status(status: u16) -> Self {
        match status {
            200..=299 => RequestResult::Success,
            300..=399 => RequestResult::Redirect,
            429 => RequestResult::RateLimited,
            500..=599 => RequestResult::ServerError,
            _ => RequestResult::ClientError,
        }
    }

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestResult::Success => "success",
            RequestResult::Redirect => "redirect",
            RequestResult::ClientError => "client_error",
            RequestResult::RateLimited => "rate_limited",
            RequestResult::ServerError => "server_error",
            RequestResult::BodyDropped => "body_dropped",
            RequestResult::Timeout => "timeout",
            RequestResult::ConnectionError => "connection_error",
            RequestResult::TransportError => "transport_error",
        }
    }
}

/// Told about every provider request that was sent (the hook of the request metrics).
pub trait RequestObserver: Send + Sync + std::fmt::Debug {
    /// A request of `call` to `provider` ended with `result` after `elapsed` (from sending,
    /// after the request budget admitted it).
    fn observe(&self, provider: ProviderKind, call: ProviderCall, result: RequestResult, elapsed: Duration);
}

/// Shared HTTP access to every provider.
#[derive(Clone, Debug)]
pub struct ProviderHttp {
    client: reqwest::Client,
    endpoints: Endpoints,
    gate: Option<Arc<dyn RequestGate>>,
    observer: Option<Arc<dyn RequestObserver>>,
    call: ProviderCall,
    /// Graph API version for facebook, instagram and instagram-login, such as `v24.0`.
    pub graph_version: String,
    /// `LinkedIn-Version` header value, such as `202603`.
    pub linkedin_version: String,
}

/// The largest answer body the operator reads (providers.md §2.1); a larger one is a transient
/// answer and is never parsed.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Connect timeout (§2.1).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Request timeout, covering the whole exchange including the body (§2.1).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A provider's answer: status, headers and body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Raw body (at most [`MAX_BODY_BYTES`]).
    pub body: Bytes,
    /// When the answer had fully arrived: provider delays count from here (§2.5).
    pub received_at: Timestamp,
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

    /// The `Retry-After` header as a delay (seconds or HTTP-date) from when the answer arrived,
    /// clamped to [`numbers::MAX_DELAY`] however large it is.
    pub fn retry_after(&self) -> Option<Duration> {
        let raw = self.headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
        if let Some(d) = numbers::delay_from_secs_text(raw) {
            return Some(d);
        }
        let when = httpdate::parse_http_date(raw).ok()?;
        // A date beyond what a timestamp holds is as far away as a delay can be.
        let Ok(when) = Timestamp::try_from(when) else { return Some(numbers::MAX_DELAY) };
        Some(Duration::try_from(when.duration_since(self.received_at)).unwrap_or(Duration::ZERO).min(numbers::MAX_DELAY))
    }

    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The transient answers every provider shares (§2.5): 3xx, 5xx, and 429 (with
    /// `Retry-After` when present). Providers whose tables give 429 more detail check their
    /// own rows first.
    pub fn generic_transient(&self) -> Option<Interruption> {
        match self.status {
            300..=399 => Some(Interruption::unavailable(format!("provider answered HTTP {} (redirects are not followed)", self.status))),
            429 => Some(Interruption::rate_limited("provider answered HTTP 429 (rate limited)", self.retry_after())),
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
            .connect_timeout(CONNECT_TIMEOUT)
            // reqwest's total timeout runs until the body has been read, so a trickling body
            // ends as a timeout too.
            .timeout(REQUEST_TIMEOUT)
            // The operator never follows provider redirects (§2.1); a 3xx is transient.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(ProviderHttp { client, endpoints, gate: None, observer: None, call: ProviderCall::Check, graph_version, linkedin_version })
    }

    /// Every request first waits for `gate` (the per-provider request budgets).
    pub fn with_gate(mut self, gate: Arc<dyn RequestGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Every request is reported to `observer` (the request metrics).
    pub fn with_observer(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The same client, with its requests labelled as part of `call` (cheap: the connection
    /// pool is shared).
    pub fn for_call(&self, call: ProviderCall) -> Self {
        ProviderHttp { call, ..self.clone() }
    }

    fn observe(&self, provider: ProviderKind, result: RequestResult, started: Instant) {
        if let Some(o) = &self.observer {
            o.observe(provider, self.call, result, started.elapsed());
        }
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
        if let Some(gate) = &self.gate {
            gate.admit(provider).await;
        }
        let started = Instant::now();
        let request = request.build().map_err(|e| {
            self.observe(provider, RequestResult::TransportError, started);
            Interruption::unavailable(format!("building the request failed: {}", e.without_url()))
        })?;
        let method = request.method().clone();
        let host = request.url().host_str().unwrap_or("").to_string();
        let path = redact_path_and_query(request.url());
        match self.client.execute(request).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = read_capped(resp, MAX_BODY_BYTES).await.map_err(|why| {
                    self.observe(provider, RequestResult::BodyDropped, started);
                    tracing::debug!(provider = provider.as_str(), %method, %host, %path, status, error = %why, "provider answer dropped");
                    Interruption::unavailable(format!("the answer from {host} (HTTP {status}) was dropped: {why}"))
                })?;
                self.observe(provider, RequestResult::of_status(status), started);
                tracing::debug!(provider = provider.as_str(), %method, %host, %path, status, "provider request");
                Ok(Answer { status, headers, body, received_at: Timestamp::now() })
            }
            Err(e) => {
                let why = describe(&e);
                let result = if e.is_timeout() {
                    RequestResult::Timeout
                } else if e.is_connect() {
                    RequestResult::ConnectionError
                } else {
                    RequestResult::TransportError
                };
                self.observe(provider, result, started);
                tracing::debug!(provider = provider.as_str(), %method, %host, %path, error = %why, "provider request failed");
                Err(Interruption::unavailable(format!("calling {host} failed: {why}")))
            }
        }
    }
}

/// Why an answer body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the cap.
    #[error("its body is larger than {limit} bytes")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// The body was still arriving when the request timeout ended.
    #[error("its body was still arriving after {}s", REQUEST_TIMEOUT.as_secs())]
    Timeout,
    /// The connection broke while the body was arriving.
    #[error("the connection broke while its body was arriving")]
    Broken,
}

/// Reads a body in chunks, refusing it as soon as it passes `limit` bytes (a declared
/// Content-Length over the limit is refused before reading), so no answer can grow the process.
async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Bytes, BodyError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = bytes::BytesMut::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len().saturating_add(chunk.len()) > limit {
                    return Err(BodyError::TooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(e) if e.is_timeout() => return Err(BodyError::Timeout),
            Err(_) => return Err(BodyError::Broken),
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
        let a = Answer { status: 429, headers: headers.clone(), body: Bytes::new(), received_at: now };
        assert_eq!(a.retry_after(), Some(Duration::from_secs(60)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Thu, 01 Jan 2026 00:02:00 GMT"));
        let a = Answer { status: 429, headers: headers.clone(), body: Bytes::new(), received_at: now };
        assert_eq!(a.retry_after(), Some(Duration::from_secs(120)));
        // An HTTP-date counts from when the answer arrived.
        let later: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let a = Answer { status: 429, headers, body: Bytes::new(), received_at: later };
        assert_eq!(a.retry_after(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn an_out_of_range_retry_after_is_clamped_to_a_day() {
        let now: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        for raw in ["18446744073709551615", "99999999999999999999999999", "Fri, 31 Dec 9999 23:59:59 GMT"] {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(raw).unwrap());
            let a = Answer { status: 429, headers, body: Bytes::new(), received_at: now };
            assert_eq!(a.retry_after(), Some(numbers::MAX_DELAY), "{raw}");
        }
    }

    #[test]
    fn overrides_replace_scheme_host_and_port_only() {
        let e = Endpoints::from_sources(&["facebook=http://127.0.0.1:8080".into()], None).unwrap();
        let http = ProviderHttp::with_endpoints(e).unwrap();
        let u = http.url(ProviderKind::Facebook, "https://graph.facebook.com", "/v24.0/me");
        assert_eq!(u.as_str(), "http://127.0.0.1:8080/v24.0/me");
    }

    /// A one-shot HTTP server on loopback that writes `head` and then `chunks` of the body.
    async fn raw_server(head: &'static str, chunks: Vec<Vec<u8>>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let _ = sock.write_all(head.as_bytes()).await;
            for c in chunks {
                if sock.write_all(&c).await.is_err() {
                    return;
                }
            }
            // Dropping the socket closes the connection.
        });
        format!("http://{addr}")
    }

    async fn send_to(base: String) -> Result<Answer, Interruption> {
        let e = Endpoints::from_sources(&[format!("facebook={base}")], None).unwrap();
        let http = ProviderHttp::with_endpoints(e).unwrap();
        let url = http.url(ProviderKind::Facebook, "https://graph.facebook.com", "/v24.0/me");
        http.send(ProviderKind::Facebook, http.client().get(url)).await
    }

    fn chunk(data: &[u8]) -> Vec<u8> {
        let mut v = format!("{:x}\r\n", data.len()).into_bytes();
        v.extend_from_slice(data);
        v.extend_from_slice(b"\r\n");
        v
    }

    #[tokio::test]
    async fn a_streamed_body_over_one_mebibyte_is_dropped_as_transient() {
        let piece = vec![b'a'; 64 * 1024];
        // 2 MiB in chunks, without a Content-Length: the cap must stop reading at 1 MiB.
        let chunks: Vec<Vec<u8>> = (0..32).map(|_| chunk(&piece)).chain([b"0\r\n\r\n".to_vec()]).collect();
        let base = raw_server("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", chunks).await;
        let err = send_to(base).await.unwrap_err();
        assert!(err.detail.contains("larger than 1048576 bytes"), "{}", err.detail);
        assert_eq!(err.kind, super::super::TransientKind::Unavailable);
    }

    #[tokio::test]
    async fn a_declared_length_over_the_cap_is_refused_before_reading() {
        let base = raw_server("HTTP/1.1 200 OK\r\nContent-Length: 2147483648\r\n\r\n", vec![b"{}".to_vec()]).await;
        let err = send_to(base).await.unwrap_err();
        assert!(err.detail.contains("larger than"), "{}", err.detail);
    }

    #[tokio::test]
    async fn a_connection_reset_mid_body_is_transient_and_says_so() {
        let base = raw_server("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", vec![b"{\"id\":".to_vec()]).await;
        let err = send_to(base).await.unwrap_err();
        assert!(err.detail.contains("connection broke"), "{}", err.detail);
    }

    /// Records what the request hook was told.
    #[derive(Debug, Default)]
    struct Seen(std::sync::Mutex<Vec<(ProviderKind, ProviderCall, RequestResult)>>);

    impl RequestObserver for Seen {
        fn observe(&self, provider: ProviderKind, call: ProviderCall, result: RequestResult, _elapsed: Duration) {
            self.0.lock().unwrap().push((provider, call, result));
        }
    }

    #[tokio::test]
    async fn every_request_is_reported_with_its_call_and_result() {
        let seen = Arc::new(Seen::default());
        let cases = [
            ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", vec![b"{}".to_vec()], ProviderCall::Check, RequestResult::Success),
            ("HTTP/1.1 429 Too Many\r\nContent-Length: 0\r\n\r\n", vec![], ProviderCall::Refresh, RequestResult::RateLimited),
            ("HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n", vec![], ProviderCall::Check, RequestResult::ClientError),
            ("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", vec![b"{".to_vec()], ProviderCall::Check, RequestResult::BodyDropped),
        ];
        for (head, body, call, _) in cases.clone() {
            let base = raw_server(head, body).await;
            let e = Endpoints::from_sources(&[format!("facebook={base}")], None).unwrap();
            let http = ProviderHttp::with_endpoints(e).unwrap().with_observer(seen.clone()).for_call(call);
            let url = http.url(ProviderKind::Facebook, "https://graph.facebook.com", "/v24.0/me");
            let _ = http.send(ProviderKind::Facebook, http.client().get(url)).await;
        }
        // Nothing listens on port 9 of loopback: a connection error.
        let e = Endpoints::from_sources(&["x=http://127.0.0.1:9".to_string()], None).unwrap();
        let http = ProviderHttp::with_endpoints(e).unwrap().with_observer(seen.clone());
        let url = http.url(ProviderKind::X, "https://api.x.com", "/2/users/me");
        assert!(http.send(ProviderKind::X, http.client().get(url)).await.is_err());
        let mut want: Vec<_> = cases.iter().map(|c| (ProviderKind::Facebook, c.2, c.3)).collect();
        want.push((ProviderKind::X, ProviderCall::Check, RequestResult::ConnectionError));
        assert_eq!(*seen.0.lock().unwrap(), want);
    }

    #[test]
    fn status_codes_map_to_bounded_results() {
        let cases = [
            (204, RequestResult::Success),
            (302, RequestResult::Redirect),
            (401, RequestResult::ClientError),
            (429, RequestResult::RateLimited),
            (503, RequestResult::ServerError),
            (99, RequestResult::ClientError),
        ];
        for (status, want) in cases {
            assert_eq!(RequestResult::of_status(status), want, "{status}");
        }
        let labels: std::collections::HashSet<&str> = RequestResult::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), RequestResult::ALL.len());
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let body = format!("{{\"id\":\"{}\"}}", "x".repeat(100_000));
        let chunks = vec![chunk(body.as_bytes()), b"0\r\n\r\n".to_vec()];
        let base = raw_server("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", chunks).await;
        let answer = send_to(base).await.unwrap();
        assert_eq!(answer.body.len(), body.len());
        assert!(answer.json().is_some());
    }
}
