//! What every fake shares: the parsed request, the checks providers.md asks of every request
//! (§1: `Accept`, `User-Agent`; token placement; form bodies), and the reply.
//!
//! A check that fails answers 400 (405 for a wrong method, 404 for an unknown path) with
//! `{"fake_error": "<what is wrong>"}`; the request is recorded with that text in
//! [`RecordedRequest::fake_error`](crate::RecordedRequest::fake_error) so that a test can assert
//! the operator never sent a malformed request.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine as _;

/// The prefix every operator User-Agent starts with (providers.md §1).
pub(crate) const USER_AGENT_PREFIX: &str = "social-connection-operator/";

/// Result of a handler: `Err` short-circuits with a reply (a failed check, a 503, …).
pub(crate) type Outcome = Result<Reply, Reply>;

/// One request as the fakes see it.
pub(crate) struct Req {
    pub method: Method,
    pub path: String,
    /// The query as sent, still percent-encoded ("" when absent).
    pub raw_query: String,
    /// The query, decoded.
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    /// The body, decoded, when it was sent as `application/x-www-form-urlencoded`.
    pub form: Vec<(String, String)>,
    pub body: String,
}

fn pairs(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

impl Req {
    pub fn new(method: Method, uri: &Uri, headers: HeaderMap, body: &[u8]) -> Self {
        let raw_query = uri.query().unwrap_or("").to_string();
        let body = String::from_utf8_lossy(body).into_owned();
        let form = if is_form(&headers) { pairs(&body) } else { Vec::new() };
        Req { method, path: uri.path().to_string(), query: pairs(&raw_query), raw_query, headers, form, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        first_value(&self.query, name)
    }

    pub fn form_param(&self, name: &str) -> Option<&str> {
        first_value(&self.form, name)
    }

    /// providers.md §1: every request sends `Accept: application/json` and
    /// `User-Agent: social-connection-operator/<version>`.
    pub fn check_common(&self) -> Result<(), Reply> {
        let ua = self.header("user-agent");
        if !ua.is_some_and(|v| v.starts_with(USER_AGENT_PREFIX)) {
            return Err(Reply::fake(400, format!("User-Agent must start with {USER_AGENT_PREFIX} (got {ua:?})")));
        }
        let accept = self.header("accept");
        let json = accept.is_some_and(|v| {
            v.split(',').any(|part| part.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")))
        });
        if !json {
            return Err(Reply::fake(400, format!("Accept: application/json is required (got {accept:?})")));
        }
        Ok(())
    }

    pub fn method_is(&self, want: Method) -> Result<(), Reply> {
        if self.method == want {
            Ok(())
        } else {
            Err(Reply::fake(405, format!("{} {} must be called with {want}", self.method, self.path)))
        }
    }

    /// A query parameter that must be present and non-empty.
    pub fn need_query(&self, name: &str) -> Result<&str, Reply> {
        self.query_param(name).filter(|v| !v.is_empty()).ok_or_else(|| Reply::fake(400, format!("missing query parameter {name}")))
    }

    pub fn need_query_eq(&self, name: &str, want: &str) -> Result<(), Reply> {
        match self.query_param(name) {
            Some(v) if v == want => Ok(()),
            got => Err(Reply::fake(400, format!("query parameter {name} must be {want:?} (got {got:?})"))),
        }
    }

    /// Graph / TikTok `fields`: the same set of names as `want`, in any order.
    pub fn need_fields(&self, want: &[&str]) -> Result<(), Reply> {
        let got = self.query_param("fields").unwrap_or("");
        let mut g: Vec<&str> = got.split(',').filter(|s| !s.is_empty()).collect();
        let mut w = want.to_vec();
        g.sort_unstable();
        w.sort_unstable();
        if g == w { Ok(()) } else { Err(Reply::fake(400, format!("query parameter fields must be {:?} (got {got:?})", want.join(",")))) }
    }

    /// A token sent as `Authorization: Bearer`, and not also in the query.
    pub fn bearer(&self) -> Result<&str, Reply> {
        if self.query_param("access_token").is_some() {
            return Err(Reply::fake(400, "this call takes the token as Authorization: Bearer, not as query access_token"));
        }
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Reply::fake(400, "missing Authorization: Bearer <token>"))
    }

    /// A token sent as query parameter `name`, with no `Authorization` header.
    pub fn query_token(&self, name: &str) -> Result<&str, Reply> {
        if self.header("authorization").is_some() {
            return Err(Reply::fake(400, format!("this call takes the token as query {name}; no Authorization header")));
        }
        self.need_query(name)
    }

    /// A POST with an `application/x-www-form-urlencoded` body.
    pub fn need_form_post(&self) -> Result<(), Reply> {
        self.method_is(Method::POST)?;
        if is_form(&self.headers) {
            Ok(())
        } else {
            Err(Reply::fake(400, format!("Content-Type must be application/x-www-form-urlencoded (got {:?})", self.header("content-type"))))
        }
    }

    pub fn need_form(&self, name: &str) -> Result<&str, Reply> {
        self.form_param(name).filter(|v| !v.is_empty()).ok_or_else(|| Reply::fake(400, format!("missing form field {name}")))
    }

    pub fn need_form_eq(&self, name: &str, want: &str) -> Result<(), Reply> {
        match self.form_param(name) {
            Some(v) if v == want => Ok(()),
            got => Err(Reply::fake(400, format!("form field {name} must be {want:?} (got {got:?})"))),
        }
    }

    /// `Authorization: Basic base64(id:secret)`: `None` when there is no Authorization header.
    pub fn basic(&self) -> Result<Option<(String, String)>, Reply> {
        let Some(value) = self.header("authorization") else {
            return Ok(None);
        };
        let bad = || Reply::fake(400, "Authorization must be Basic base64(client_id:client_secret)");
        let encoded = value.strip_prefix("Basic ").ok_or_else(bad)?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (id, secret) = text.split_once(':').ok_or_else(bad)?;
        Ok(Some((id.to_string(), secret.to_string())))
    }

    /// No path matched.
    pub fn no_route(&self) -> Reply {
        Reply::fake(404, format!("no such route on this fake: {} {}", self.method, self.path))
    }
}

/// Whether app credentials were accepted (providers.md: tests use `client_id` `cid-<anything>`
/// and any non-empty secret; `bad-secret` is rejected by the provider).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Client {
    Good,
    BadSecret,
}

/// Judges app credentials. A `client_id` without the `cid-` prefix or an empty secret is a
/// request the tests never mean to send, so it is a `fake_error`, not a provider answer.
pub(crate) fn check_client(id: &str, secret: &str) -> Result<Client, Reply> {
    if !id.starts_with("cid-") {
        return Err(Reply::fake(400, format!("client id must look like cid-<anything> (got {id:?})")));
    }
    if secret.is_empty() {
        return Err(Reply::fake(400, "client secret is empty"));
    }
    Ok(if secret == crate::BAD_SECRET { Client::BadSecret } else { Client::Good })
}

/// The answer a fake sends.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub status: u16,
    /// The body (for a [`Hostile`] body: what the record shows instead).
    pub body: String,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    /// Wait this long before answering (scenario `slow`).
    pub delay: Option<Duration>,
    /// Set when the request broke the contract.
    pub fake_error: Option<String>,
    /// A body that is not a plain string: streamed, cut, or not UTF-8.
    pub hostile: Option<Hostile>,
}

/// The bodies of the hostile scenarios (see the README's "Hostile scenarios").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hostile {
    /// 2 GiB of one JSON string, generated chunk by chunk as the client reads.
    Huge,
    /// A few bytes, then one byte every 500 ms for 60 s: still arriving at the 20 s timeout.
    Trickle,
    /// Half of the announced body, then a TCP reset (SO_LINGER 0, then close).
    Reset,
    /// A JSON body with bytes that are not UTF-8.
    InvalidUtf8,
}

/// The whole size of [`Hostile::Huge`].
pub(crate) const HUGE_BODY_BYTES: u64 = 2 << 30;
const CHUNK: usize = 64 << 10;
static FILLER: [u8; CHUNK] = [b'a'; CHUNK];
/// What [`Hostile::Reset`] announces (Content-Length) and how much of it it sends.
const RESET_ANNOUNCED: usize = 4096;
const RESET_SENT: usize = 2048;

/// The file descriptor of the connection a request came on (an extension of every request), so
/// that [`Hostile::Reset`] can turn the close into a reset.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnFd(pub std::os::fd::RawFd);

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            body: body.into(),
            content_type: "application/json; charset=UTF-8",
            headers: Vec::new(),
            delay: None,
            fake_error: None,
            hostile: None,
        }
    }

    /// A 200 answer with one of the hostile bodies.
    pub fn hostile(kind: Hostile) -> Self {
        let shown = match kind {
            Hostile::Huge => format!("<{HUGE_BODY_BYTES} bytes of a JSON string, streamed>"),
            Hostile::Trickle => "<a JSON body trickling one byte per 500 ms for 60 s>".to_string(),
            Hostile::Reset => format!("<{RESET_SENT} of {RESET_ANNOUNCED} announced bytes, then a TCP reset>"),
            Hostile::InvalidUtf8 => "<JSON with invalid UTF-8: {\"id\":\"\\xff\\xfe\"}>".to_string(),
        };
        let mut reply = Self::ok(shown);
        reply.hostile = Some(kind);
        reply
    }

    pub fn ok(body: impl Into<String>) -> Self {
        Self::json(200, body)
    }

    /// A contract violation by the caller.
    pub fn fake(status: u16, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut reply = Self::json(status, serde_json::json!({ "fake_error": message }).to_string());
        reply.fake_error = Some(message);
        reply
    }

    /// Scenario `http-503` (and `valid-then-503` after its first cycle).
    pub fn unavailable() -> Self {
        let mut reply = Self::json(503, "Service Unavailable\n");
        reply.content_type = "text/plain; charset=UTF-8";
        reply
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The HTTP response; `conn` is the connection's descriptor (needed by [`Hostile::Reset`]).
    pub fn into_response(self, conn: Option<ConnFd>) -> Response {
        let mut builder = Response::builder().status(self.status).header(header::CONTENT_TYPE, self.content_type);
        for (name, value) in &self.headers {
            builder = builder.header(*name, value.as_str());
        }
        let body = match self.hostile {
            None => Body::from(self.body),
            Some(Hostile::InvalidUtf8) => Body::from(&b"{\"id\":\"\xff\xfe\"}"[..]),
            Some(Hostile::Huge) => huge_body(),
            Some(Hostile::Trickle) => trickle_body(),
            Some(Hostile::Reset) => {
                builder = builder.header(header::CONTENT_LENGTH, RESET_ANNOUNCED);
                reset_body(conn)
            }
        };
        builder.body(body).unwrap_or_else(|_| {
            let mut r = Response::new(Body::from("fake-providers: could not build the reply"));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
    }
}

/// [`Hostile::Huge`]: `{"data":"aaa…` for 2 GiB, produced only as fast as the client reads and
/// dropped when it goes away.
fn huge_body() -> Body {
    let stream = futures_util::stream::unfold(0u64, |sent| async move {
        if sent >= HUGE_BODY_BYTES {
            return None;
        }
        let chunk = if sent == 0 { bytes::Bytes::from_static(b"{\"data\":\"") } else { bytes::Bytes::from_static(&FILLER) };
        let next = sent + chunk.len() as u64;
        Some((Ok::<_, std::io::Error>(chunk), next))
    });
    Body::from_stream(stream)
}

/// [`Hostile::Trickle`]: `{"id":"` at once, then one digit every 500 ms for 60 s, then `"}`.
fn trickle_body() -> Body {
    let stream = futures_util::stream::unfold(0u32, |n| async move {
        let chunk: &'static [u8] = match n {
            0 => b"{\"id\":\"",
            1..=120 => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                b"1"
            }
            121 => b"\"}",
            _ => return None,
        };
        Some((Ok::<_, std::io::Error>(bytes::Bytes::from_static(chunk)), n + 1))
    });
    Body::from_stream(stream)
}

/// [`Hostile::Reset`]: the first half of the announced body, a short pause, then the socket is
/// set to linger 0 and the body fails, so the server closes it with a RST.
fn reset_body(conn: Option<ConnFd>) -> Body {
    let stream = futures_util::stream::unfold(0u8, move |step| async move {
        match step {
            0 => Some((Ok(bytes::Bytes::from(format!("{{\"data\":\"{}", "a".repeat(RESET_SENT - 9)))), 1)),
            1 => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if let Some(ConnFd(fd)) = conn {
                    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
                    // SAFETY: the connection (and so `fd`) is alive while hyper polls this body;
                    // setsockopt only reads `linger`.
                    unsafe {
                        libc::setsockopt(
                            fd,
                            libc::SOL_SOCKET,
                            libc::SO_LINGER,
                            (&raw const linger).cast(),
                            std::mem::size_of::<libc::linger>() as libc::socklen_t,
                        );
                    }
                }
                Some((Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "fake-providers: reset mid-body")), 2))
            }
            _ => None,
        }
    });
    Body::from_stream(stream)
}

/// The first value named `name` in decoded query or form pairs.
pub(crate) fn first_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}
