#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod connect;
mod providers;
mod record;
mod request;
mod state;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

pub use record::{RECORDED_HEADERS, RecordedRequest};

use state::{Cx, Provider, Shared};

/// The provider names, in the order of `--port-base` (port N is facebook, N+10 tiktok).
pub const PROVIDERS: [&str; 11] = [
    "facebook",
    "instagram",
    "instagram-login",
    "threads",
    "linkedin",
    "x",
    "pinterest",
    "youtube",
    "google-business-profile",
    "telegram",
    "tiktok",
];

/// The universal scenarios every provider answers the same way (see the crate docs), hostile
/// ones included.
pub const UNIVERSAL_SCENARIOS: [&str; 10] = state::UNIVERSAL;

/// The hostile universal scenarios (each also as `valid-then-<name>`: valid for the token's
/// first check cycle, then hostile).
pub const HOSTILE_SCENARIOS: [&str; 6] = state::HOSTILE;

/// The size of scenario `huge-body`'s body: 2 GiB.
pub const HUGE_BODY_BYTES: u64 = request::HUGE_BODY_BYTES;

/// The client secret every fake rejects with its provider's client-authentication-failure row.
pub const BAD_SECRET: &str = "bad-secret";

/// How long scenario `slow` waits before answering (longer than the operator's 20 s timeout).
pub const SLOW_DELAY: Duration = Duration::from_secs(30);

/// facebook / instagram: the Page id (`spec.account.id` for facebook).
pub const FACEBOOK_PAGE_ID: &str = "2002";
/// facebook / instagram: the user behind the USER token (debug_token `user_id`, FB2 for USER).
pub const FACEBOOK_USER_ID: &str = "3003";
/// instagram: the professional account linked to Page 2002.
pub const INSTAGRAM_ACCOUNT_ID: &str = "17841400000000000";
/// instagram-login: `user_id`, the professional account id (`spec.account.id`).
pub const INSTAGRAM_LOGIN_ACCOUNT_ID: &str = "17841400000000001";
/// instagram-login: the app-scoped `id` (also accepted as the account id).
pub const INSTAGRAM_LOGIN_ID: &str = "9001";
/// threads: the Threads user id.
pub const THREADS_USER_ID: &str = "7007";
/// linkedin: the organization connection's account.
pub const LINKEDIN_ORGANIZATION_URN: &str = "urn:li:organization:5001";
/// linkedin: the organization's numeric id (also a valid `spec.account.id`).
pub const LINKEDIN_ORGANIZATION_ID: &str = "5001";
/// linkedin: the member's `sub` from `/v2/userinfo`.
pub const LINKEDIN_MEMBER_SUB: &str = "abc123";
/// linkedin: the member connection's account.
pub const LINKEDIN_MEMBER_URN: &str = "urn:li:person:abc123";
/// x: the user id.
pub const X_USER_ID: &str = "4004";
/// pinterest: the account id.
pub const PINTEREST_ACCOUNT_ID: &str = "5005";
/// pinterest: the username (also a valid `spec.account.id`).
pub const PINTEREST_USERNAME: &str = "exampleshop";
/// youtube: the channel id.
pub const YOUTUBE_CHANNEL_ID: &str = "UCexample00000000000000";
/// google-business-profile: the account name.
pub const GBP_ACCOUNT: &str = "accounts/123456789";
/// telegram: the bot's user id (`getMe` `result.id`, the `user_id` of `getChatMember`).
pub const TELEGRAM_BOT_ID: i64 = 6006;
/// telegram: a chat id to use as `spec.account.id` (any chat id works).
pub const TELEGRAM_CHAT_ID: &str = "-1001000000001";
/// tiktok: the `open_id`.
pub const TIKTOK_OPEN_ID: &str = "tt-open-1";
/// tiktok: the `union_id` (also a valid `spec.account.id`).
pub const TIKTOK_UNION_ID: &str = "tt-union-1";

static NONCES: AtomicU64 = AtomicU64::new(1);

/// A nonce unique in this process (and unlikely to repeat across processes): `<pid>x<n>`.
pub fn nonce() -> String {
    format!("{}x{}", std::process::id(), NONCES.fetch_add(1, Ordering::Relaxed))
}

/// A token of scenario `scenario` with a fresh nonce: `<scenario>__<nonce>`.
pub fn token(scenario: &str) -> String {
    format!("{scenario}__{}", nonce())
}

/// A Telegram bot token of scenario `scenario`: `6006:<scenario>__<nonce>`.
pub fn telegram_token(scenario: &str) -> String {
    format!("{TELEGRAM_BOT_ID}:{}", token(scenario))
}

/// The scenario names `provider` knows besides [`UNIVERSAL_SCENARIOS`] (the refresh-only ones
/// included). `None` for an unknown provider name.
pub fn scenarios(provider: &str) -> Option<&'static [&'static str]> {
    find(provider).map(providers::scenarios)
}

fn find(provider: &str) -> Option<Provider> {
    Provider::ALL.into_iter().find(|p| p.name() == provider)
}

struct Server {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

/// The eleven running fake providers, one listener each on 127.0.0.1. Dropping it stops them.
///
/// The servers run on the Tokio runtime that started them: a test that blocks that runtime
/// (e.g. `std::process::Command::output` on a current-thread runtime) starves them, so use
/// `#[tokio::test(flavor = "multi_thread")]` or Tokio's process API.
pub struct FakeProviders {
    servers: Vec<Server>,
}

/// Starts every fake on its own ephemeral port of 127.0.0.1.
pub async fn start_all() -> io::Result<FakeProviders> {
    start(None).await
}

/// Starts every fake on the fixed ports `port_base`..`port_base + 10`, in the order of
/// [`PROVIDERS`].
pub async fn start_all_at(port_base: u16) -> io::Result<FakeProviders> {
    start(Some(port_base)).await
}

async fn start(port_base: Option<u16>) -> io::Result<FakeProviders> {
    let mut fakes = FakeProviders { servers: Vec::new() };
    for (offset, provider) in (0u16..).zip(Provider::ALL) {
        let port = match port_base {
            None => 0,
            Some(base) => {
                base.checked_add(offset).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "port base + 10 exceeds 65535"))?
            }
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(provider, format!("http://{addr}")));
        let app = Router::new().fallback(handle).with_state(Arc::clone(&shared));
        let task = tokio::spawn(serve(listener, app));
        // Pushed at once, so that an error on a later bind drops (and stops) this one.
        fakes.servers.push(Server { shared, addr, task });
    }
    Ok(fakes)
}

/// Accepts connections until aborted. The connections live in a `JoinSet` owned by this task,
/// so aborting it (dropping [`FakeProviders`]) also ends kept-alive connections and requests
/// in flight: the operator sees connection errors, as from a provider that went away.
async fn serve(listener: TcpListener, app: Router) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors or similar: wait instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
        let service = TowerToHyperService::new(app.clone().layer(axum::Extension(request::ConnFd(fd))));
        connections.spawn(async move {
            // A connection error concerns that connection only.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// Largest request body read; the operator never sends more than a small form.
const MAX_BODY: usize = 1 << 20;

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let conn = parts.extensions.get::<request::ConnFd>().copied();
    let bytes = axum::body::to_bytes(body, MAX_BODY).await.unwrap_or_default();
    let received_at = std::time::SystemTime::now();
    let req = request::Req::new(parts.method, &parts.uri, parts.headers, &bytes);
    let reply = providers::dispatch(&Cx::new(&shared, &req));
    shared.record(&req, &reply, received_at);
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    reply.into_response(conn)
}

impl FakeProviders {
    fn server(&self, provider: &str) -> &Server {
        self.servers
            .iter()
            .find(|s| s.shared.provider.name() == provider)
            .unwrap_or_else(|| panic!("fake-providers: unknown provider {provider:?}; known: {PROVIDERS:?}"))
    }

    /// The base URL of one provider's fake: `http://127.0.0.1:<port>`.
    ///
    /// # Panics
    /// When `provider` is not one of [`PROVIDERS`].
    pub fn url(&self, provider: &str) -> String {
        self.server(provider).shared.base_url.clone()
    }

    /// The port of one provider's fake.
    ///
    /// # Panics
    /// When `provider` is not one of [`PROVIDERS`].
    pub fn port(&self, provider: &str) -> u16 {
        self.server(provider).addr.port()
    }

    /// Operator arguments pointing every provider at its fake:
    /// `["--provider-endpoint", "facebook=http://127.0.0.1:PORT", "--provider-endpoint", …]`.
    pub fn endpoint_args(&self) -> Vec<String> {
        self.servers
            .iter()
            .flat_map(|s| ["--provider-endpoint".to_string(), format!("{}={}", s.shared.provider.name(), s.shared.base_url)])
            .collect()
    }

    /// The same as a `SOCIAL_PROVIDER_ENDPOINTS` value: `facebook=http://127.0.0.1:PORT,…`.
    pub fn endpoints_env(&self) -> String {
        self.servers.iter().map(|s| format!("{}={}", s.shared.provider.name(), s.shared.base_url)).collect::<Vec<_>>().join(",")
    }

    /// Every request one provider's fake received so far, oldest first.
    ///
    /// # Panics
    /// When `provider` is not one of [`PROVIDERS`].
    pub fn requests(&self, provider: &str) -> Vec<RecordedRequest> {
        self.server(provider).shared.requests()
    }

    /// Every request one provider's fake received since the last take (or clear), oldest first,
    /// forgotten by the fake in the same step: a poller that counts requests over time sees
    /// each one exactly once.
    ///
    /// # Panics
    /// When `provider` is not one of [`PROVIDERS`].
    pub fn take_requests(&self, provider: &str) -> Vec<RecordedRequest> {
        self.server(provider).shared.take_requests()
    }

    /// Every request any fake received that broke the contract (its
    /// [`RecordedRequest::fake_error`] is set), with the provider's name. Empty when the
    /// operator behaved.
    pub fn contract_violations(&self) -> Vec<(&'static str, RecordedRequest)> {
        self.servers
            .iter()
            .flat_map(|s| {
                let name = s.shared.provider.name();
                s.shared.requests().into_iter().filter(|r| r.fake_error.is_some()).map(move |r| (name, r))
            })
            .collect()
    }

    /// Sets the scenario of the authorization codes one provider's consent page issues from
    /// now on (default `valid`): the code exchange mints tokens of that scenario, so the
    /// operator's check of the new token answers it (`x-b`: another account, `li-l`: a lower
    /// role, …).
    ///
    /// # Panics
    /// When `provider` is not one of [`PROVIDERS`].
    pub fn set_consent_scenario(&self, provider: &str, scenario: &str) {
        self.server(provider).shared.set_consent_scenario(scenario);
    }

    /// Forgets the recorded requests of every fake (token state is kept).
    pub fn clear_requests(&self) {
        for s in &self.servers {
            s.shared.clear_requests();
        }
    }

    /// Prints one line per request to stderr (provider, method, path with Telegram tokens
    /// redacted, status, contract violation). The binary turns this on.
    pub fn echo_requests(&self, on: bool) {
        for s in &self.servers {
            s.shared.echo.store(on, Ordering::Relaxed);
        }
    }
}

impl Drop for FakeProviders {
    fn drop(&mut self) {
        for s in &self.servers {
            s.task.abort();
        }
    }
}
