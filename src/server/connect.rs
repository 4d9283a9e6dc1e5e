//! The connect flow (providers.md §2.14): the operator's own link and OAuth callback, so that
//! the person who must reconnect needs a browser and nothing else.
//!
//! - `GET /connect/{namespace}/{name}` redirects to the provider's consent page with a signed,
//!   expiring, single-use state ([`super::state`]) and, for x, youtube,
//!   google-business-profile and tiktok, a PKCE S256 challenge.
//! - `GET /callback?code&state` checks the state, exchanges the code, runs the provider's own
//!   check on the new token and stores it only when it is for the declared account with the
//!   required role, through the guarded write of [`crate::secrets`]; then it asks for a check.
//!
//! Every answer is a small HTML page in plain words. No token, code, verifier or state ever
//! reaches a page, a log line or an error.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};

use super::state::{self, Claim, Claims, KeyError, StateError, StateKey, UsedNonces};
use crate::api::{CHECK_REQUESTED_ANNOTATION, MANAGED_LABEL, ProviderKind, SocialConnection};
use crate::conditions::RoleReason;
use crate::config::RunArgs;
use crate::controller::consent::{ConsentParams, consent_url, union_scopes};
use crate::providers::endpoints::{EndpointError, Endpoints};
use crate::providers::http::ProviderCall;
use crate::providers::{
    self, AppCredentials, AppKeys, CheckInput, CheckReport, CodeExchange, NewCredential, ProviderHttp, RefreshOutcome, TokenVerdict,
};
use crate::redact::SecretString;
use crate::secrets::{self, ConnectWrite, TokenWrite, WriteError};

/// The connect flow's settings, validated at start-up.
#[derive(Clone, Debug)]
pub struct ConnectConfig {
    /// The public base URL, without a trailing `/`.
    public: String,
    /// Where the link and callback are served.
    pub addr: SocketAddr,
    /// Signs states and derives PKCE verifiers.
    key: StateKey,
    /// Consent page host overrides (tests).
    consent: Endpoints,
    /// The watched namespaces (`--namespace`); empty: all. Links of other namespaces are 404.
    namespaces: Vec<String>,
}

/// Why the connect flow's settings were refused at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectConfigError {
    /// The public URL is not usable.
    #[error("--connect-public-url {url:?}: {why}")]
    PublicUrl {
        /// The value given.
        url: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The flow is on but nothing signs its links.
    #[error("--connect-public-url needs --connect-state-key-file (the key that signs the links)")]
    NoKey,
    /// The key file is unreadable or too short.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A bad `--consent-endpoint`.
    #[error("--consent-endpoint: {0}")]
    Consent(#[from] EndpointError),
}

/// Checks a public URL: `https://host[:port][/path]`, or `http` for a loopback host only; no
/// query, fragment or credentials. Returns it without a trailing `/`.
pub fn parse_public_url(raw: &str) -> Result<String, &'static str> {
    let url = url::Url::parse(raw.trim()).map_err(|_| "not a URL")?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err("a host is required"),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err("http is allowed for a loopback host only; use https"),
        _ => return Err("the scheme must be https"),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("a query or fragment is not allowed");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials are not allowed");
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

impl ConnectConfig {
    /// The settings of `--connect-*` and `--consent-endpoint`; `None` while the flow is off (no
    /// public URL).
    pub fn from_args(args: &RunArgs) -> Result<Option<Self>, ConnectConfigError> {
        let Some(raw) = args.connect_public_url.as_deref().filter(|s| !s.trim().is_empty()) else { return Ok(None) };
        let public = parse_public_url(raw).map_err(|why| ConnectConfigError::PublicUrl { url: raw.to_string(), why })?;
        let key_file = args.connect_state_key_file.as_deref().ok_or(ConnectConfigError::NoKey)?;
        let key = StateKey::from_file(key_file)?;
        Ok(Some(ConnectConfig {
            public,
            addr: args.connect_addr,
            key,
            consent: args.consent_endpoints()?,
            namespaces: args.namespaces.clone(),
        }))
    }

    /// A configuration from its parts (tests).
    pub fn new(public: &str, addr: SocketAddr, key: StateKey, consent: Endpoints) -> Result<Self, ConnectConfigError> {
        let public = parse_public_url(public).map_err(|why| ConnectConfigError::PublicUrl { url: public.to_string(), why })?;
        Ok(ConnectConfig { public, addr, key, consent, namespaces: Vec::new() })
    }

    /// The public base URL, without a trailing `/`.
    pub fn public_url(&self) -> &str {
        &self.public
    }

    /// The redirect URI every provider is sent to: `{public}/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.public)
    }
}

/// The link of a connection: `{public}/connect/{namespace}/{name}` (names are DNS labels and
/// subdomains: nothing to encode).
pub fn link(public: &str, namespace: &str, name: &str) -> String {
    format!("{public}/connect/{namespace}/{name}")
}

/// Whether the provider's flow uses PKCE S256 (§2.14).
pub const fn uses_pkce(kind: ProviderKind) -> bool {
    matches!(kind, ProviderKind::X | ProviderKind::Youtube | ProviderKind::GoogleBusinessProfile | ProviderKind::Tiktok)
}

/// Everything the connect endpoints need.
pub struct Connect {
    client: Client,
    http: ProviderHttp,
    config: ConnectConfig,
    used: UsedNonces,
}

impl Connect {
    /// The connect endpoints over a Kubernetes client and the providers' HTTP access.
    pub fn new(client: Client, http: ProviderHttp, config: ConnectConfig) -> Self {
        Connect { client, http, config, used: UsedNonces::default() }
    }
}

/// The routes: `/connect/{namespace}/{name}` and `/callback`.
pub fn router(connect: Arc<Connect>) -> Router {
    Router::new().route("/connect/{namespace}/{name}", get(link_handler)).route("/callback", get(callback_handler)).with_state(connect)
}

/// Serves the connect endpoints on the configured address until the task is dropped.
pub async fn serve(connect: Arc<Connect>) {
    let addr = connect.config.addr;
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => {
            tracing::info!(%addr, "connect flow listening");
            if let Err(e) = axum::serve(l, router(connect)).await {
                tracing::error!(error = %e, "connect server failed");
            }
        }
        Err(e) => tracing::error!(%addr, error = %e, "cannot bind the connect server"),
    }
}

// ---------------------------------------------------------------------------------------------
// Pages

/// A small HTML page: a title, paragraphs and an optional list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// HTTP status.
    pub status: StatusCode,
    /// Heading and title.
    pub title: String,
    /// Paragraphs, plain text (escaped when rendered).
    pub paragraphs: Vec<String>,
    /// Bullet points, plain text.
    pub list: Vec<String>,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Page {
    fn new(status: StatusCode, title: &str, paragraphs: &[&str]) -> Self {
        Page { status, title: title.to_string(), paragraphs: paragraphs.iter().map(|p| p.to_string()).collect(), list: Vec::new() }
    }

    fn with_list(mut self, items: Vec<String>) -> Self {
        self.list = items;
        self
    }

    /// The page as HTML.
    pub fn html(&self) -> String {
        let mut body = format!("<h1>{}</h1>\n", escape(&self.title));
        for p in &self.paragraphs {
            body.push_str(&format!("<p>{}</p>\n", escape(p)));
        }
        if !self.list.is_empty() {
            body.push_str("<ul>\n");
            for i in &self.list {
                body.push_str(&format!("<li>{}</li>\n", escape(i)));
            }
            body.push_str("</ul>\n");
        }
        format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n\
             <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
             h1{{font-size:1.4rem}}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
            escape(&self.title)
        )
    }
}

/// Headers of every answer: no caching, no referrer (the callback URL carries the code).
fn secure_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut resp = (self.status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], self.html()).into_response();
        secure_headers(&mut resp);
        resp
    }
}

const START_AGAIN: &str = "Open the reconnect link from the message you received again to start over.";

fn not_found() -> Page {
    Page::new(
        StatusCode::NOT_FOUND,
        "This connection cannot be reconnected here",
        &[
            "There is no connection at this address, or it is not set up for reconnecting through this page \
             (the app's client id and secret are missing).",
            "Ask the person who manages your social connections to check its settings.",
        ],
    )
}

fn try_again() -> Page {
    Page::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Please try again in a few minutes",
        &["The service could not be reached just now. Nothing was changed.", START_AGAIN],
    )
}

fn bad_link(why: &str) -> Page {
    Page::new(StatusCode::BAD_REQUEST, "This link cannot be used", &[why, "Nothing was changed.", START_AGAIN])
}

fn used_or_expired() -> Page {
    Page::new(
        StatusCode::BAD_REQUEST,
        "This link was already used or has expired",
        &["Nothing was changed. Start again from the reconnect link in the message you received."],
    )
}

fn cancelled() -> Page {
    Page::new(StatusCode::OK, "Nothing changed", &["You did not give permission, so the connection was left as it was.", START_AGAIN])
}

fn telegram_page(namespace: &str, secret: &str, key: &str) -> Page {
    Page::new(
        StatusCode::OK,
        "Telegram bots are reconnected with a new bot token",
        &[
            "Telegram bots do not sign in through a web page. A new bot token comes from @BotFather in Telegram \
             (https://t.me/BotFather): send it /token, or /revoke to replace a leaked token, and choose the bot.",
            &format!(
                "Then the new token goes into the Kubernetes Secret \"{secret}\" in namespace \"{namespace}\", under the key \
                 \"{key}\". If you do not manage the cluster, send the token to the person who does through a private channel."
            ),
        ],
    )
}

/// Why the new token is refused (§2.14: a 403 page, nothing written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The provider did not accept the new token (Revoked or Valid=False).
    TokenRefused,
    /// The token belongs to another account.
    AccountMismatch,
    /// The Instagram account is not a professional account.
    NotProfessionalAccount,
    /// The account does not exist or cannot be seen.
    AccountNotFound,
    /// The person has no role on the account.
    RoleRemoved,
    /// The person's role is below the required one.
    InsufficientRole,
}

impl Refusal {
    fn page(self, provider: ProviderKind, account: &str) -> Page {
        let who = match self {
            Refusal::TokenRefused => "The service did not accept the new sign-in.".to_string(),
            Refusal::AccountMismatch => {
                format!("You signed in for another account than the one this connection is for ({account}).")
            }
            Refusal::NotProfessionalAccount => "The Instagram account is not a professional (business or creator) account.".to_string(),
            Refusal::AccountNotFound => format!("The account {account} could not be found with the sign-in you used."),
            Refusal::RoleRemoved => format!("The person who signed in has no role on the account {account}."),
            Refusal::InsufficientRole => {
                format!("The person who signed in does not have a high enough role on the account {account}.")
            }
        };
        Page::new(
            StatusCode::FORBIDDEN,
            &format!("This sign-in cannot be used for the {provider} connection"),
            &[&who, "Nothing was changed. Sign in as someone who manages that account, or ask them to open the reconnect link."],
        )
    }
}

/// What the callback makes of the provider's check on the new token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// Store it; these required scopes were not granted.
    Accept {
        /// Scopes missing from the new token.
        missing_scopes: Vec<String>,
    },
    /// Refuse it.
    Refuse(Refusal),
    /// The check could not finish (a transient answer): try again later.
    Retry,
}

/// Judges the provider's check of a freshly exchanged token (§2.14): a refused token or a lost
/// role or identity refuses it; a transient answer before the identity and role were decided
/// means "try again"; otherwise it is stored, with the required scopes it lacks.
pub fn judge(report: &CheckReport, required_scopes: &[String], exchanged_scope: Option<&str>) -> Judgement {
    match &report.token {
        None => return Judgement::Retry,
        Some(TokenVerdict::Valid) => {}
        Some(_) => return Judgement::Refuse(Refusal::TokenRefused),
    }
    if let Some(lost) = report.role.iter().filter(|f| f.reason.is_lost()).min_by_key(|f| f.reason.precedence()) {
        return Judgement::Refuse(match lost.reason {
            RoleReason::AccountMismatch => Refusal::AccountMismatch,
            RoleReason::NotProfessionalAccount => Refusal::NotProfessionalAccount,
            RoleReason::AccountNotFound => Refusal::AccountNotFound,
            RoleReason::InsufficientRole => Refusal::InsufficientRole,
            _ => Refusal::RoleRemoved,
        });
    }
    if report.interruption.is_some() {
        return Judgement::Retry;
    }
    let granted = report.granted_scopes.clone().or_else(|| exchanged_scope.map(providers::split_scopes));
    let mut missing: Vec<String> = Vec::new();
    if let Some(granted) = granted {
        missing.extend(required_scopes.iter().filter(|s| !granted.contains(s)).cloned());
    }
    for d in &report.scope_denials {
        if !missing.contains(&d.scope) {
            missing.push(d.scope.clone());
        }
    }
    Judgement::Accept { missing_scopes: missing }
}

fn works_again(provider: ProviderKind, created: bool, missing: &[String]) -> Page {
    let title = if created { format!("The {provider} connection is set up") } else { format!("The {provider} connection works again") };
    let mut page = Page::new(
        StatusCode::OK,
        &title,
        &["Thank you. The new sign-in was checked and saved; the status will show Ready within a minute. You can close this page."],
    );
    if !missing.is_empty() {
        page.paragraphs.push(
            "Some permissions were not granted, so some features may not work. To grant them, open the reconnect link \
             again and allow everything asked for:"
                .to_string(),
        );
        page = page.with_list(missing.to_vec());
    }
    page
}

fn not_managed(secret: &str) -> Page {
    Page::new(
        StatusCode::CONFLICT,
        "The new sign-in cannot be saved automatically",
        &[
            &format!(
                "The Kubernetes Secret \"{secret}\" that holds this connection's token was not marked as managed by the operator, \
                 so it was left untouched and nothing was changed."
            ),
            &format!(
                "Whoever manages the cluster can allow it by adding the label {MANAGED_LABEL}: \"true\" to that Secret; then \
                 open the reconnect link again."
            ),
        ],
    )
}

fn app_refused() -> Page {
    Page::new(
        StatusCode::BAD_GATEWAY,
        "The service refused this app's settings",
        &[
            "Nothing was changed. The app's client id or secret was not accepted by the service.",
            "Ask the person who manages your social connections to check the app settings.",
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// A Kubernetes name: DNS subdomain characters, at most 253 bytes.
fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// The query of a request, decoded.
fn query(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

async fn link_handler(State(c): State<Arc<Connect>>, Path((namespace, name)): Path<(String, String)>) -> Response {
    match c.start(&namespace, &name, Timestamp::now()).await {
        Ok(Start::Redirect(url)) => {
            let mut resp = StatusCode::FOUND.into_response();
            if let Ok(v) = HeaderValue::from_str(&url) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            secure_headers(&mut resp);
            resp
        }
        Ok(Start::Page(p)) | Err(p) => p.into_response(),
    }
}

async fn callback_handler(State(c): State<Arc<Connect>>, uri: Uri) -> Response {
    let q = query(&uri);
    c.finish(&q, Timestamp::now()).await.into_response()
}

/// What `/connect` answers.
#[derive(Debug)]
enum Start {
    /// 302 to the consent page.
    Redirect(String),
    /// A page (telegram).
    Page(Page),
}

impl Connect {
    async fn connection(&self, namespace: &str, name: &str) -> Result<SocialConnection, Page> {
        let watched = self.config.namespaces.is_empty() || self.config.namespaces.iter().any(|n| n == namespace);
        if !watched || !valid_name(namespace) || !valid_name(name) {
            return Err(not_found());
        }
        let api: Api<SocialConnection> = Api::namespaced(self.client.clone(), namespace);
        match api.get_opt(name).await {
            Ok(Some(obj)) => Ok(obj),
            Ok(None) => Err(not_found()),
            Err(e) => {
                tracing::warn!(namespace, name, error = %e, "connect flow: reading the SocialConnection failed");
                Err(try_again())
            }
        }
    }

    /// The app credentials the flow needs (client id; a secret unless the provider takes
    /// public clients), or the 404 page.
    async fn app(&self, namespace: &str, obj: &SocialConnection) -> Result<AppCredentials, Page> {
        let Some(r) = &obj.spec.app_secret_ref else { return Err(not_found()) };
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = match api.get_opt(&r.name).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(not_found()),
            Err(e) => {
                tracing::warn!(namespace, secret = %r.name, error = %e, "connect flow: reading the app Secret failed");
                return Err(try_again());
            }
        };
        let needs = match providers::for_kind(obj.spec.provider).profile().app_keys {
            AppKeys::ClientId => AppKeys::ClientId,
            _ => AppKeys::ClientIdAndSecret,
        };
        match secrets::parse_app_secret(&r.name, needs, &secret.data.unwrap_or_default()) {
            Ok(app) if !app.client_id.is_empty() => Ok(app),
            _ => Err(not_found()),
        }
    }

    /// `GET /connect/{namespace}/{name}`.
    async fn start(&self, namespace: &str, name: &str, now: Timestamp) -> Result<Start, Page> {
        let obj = self.connection(namespace, name).await?;
        let spec = &obj.spec;
        if spec.provider == ProviderKind::Telegram {
            return Ok(Start::Page(telegram_page(namespace, &spec.secret_ref.name, spec.token_keys().access_token)));
        }
        let app = self.app(namespace, &obj).await?;
        let uid = obj.uid().ok_or_else(not_found)?;
        let claims = Claims::new(namespace, name, &uid, now);
        let signed = state::sign(&self.config.key, &claims);
        let challenge = uses_pkce(spec.provider).then(|| state::pkce_challenge(&state::pkce_verifier(&self.config.key, &claims.nonce)));
        let provider = providers::for_kind(spec.provider);
        let granted = obj.status.as_ref().map(|s| s.granted_scopes.clone()).unwrap_or_default();
        let redirect = self.config.redirect_uri();
        let url = consent_url(
            provider.profile(),
            &ConsentParams {
                client_id: Some(&app.client_id),
                redirect_uri: Some(&redirect),
                state: &signed,
                scopes: union_scopes(&spec.required_scopes, &granted),
                default_scopes: provider.default_scopes(&spec.account.id),
                graph_version: &self.http.graph_version,
                code_challenge: challenge.as_deref(),
            },
        )
        .ok_or_else(not_found)?;
        let mut url = url::Url::parse(&url).map_err(|_| not_found())?;
        self.config.consent.apply(spec.provider, &mut url);
        tracing::info!(namespace, name, provider = %spec.provider, "connect flow: sent to the consent page");
        Ok(Start::Redirect(url.to_string()))
    }

    /// `GET /callback`.
    async fn finish(&self, q: &[(String, String)], now: Timestamp) -> Page {
        if let Some(error) = param(q, "error") {
            tracing::info!(error = %error.chars().take(64).collect::<String>(), "connect flow: the provider answered without a code");
            return if error == "access_denied" { cancelled() } else { bad_link("The service did not give permission.") };
        }
        let (Some(code), Some(raw_state)) = (param(q, "code").filter(|c| !c.is_empty()), param(q, "state")) else {
            return bad_link("The address is incomplete.");
        };
        let claims = match state::verify(&self.config.key, raw_state, now) {
            Ok(c) => c,
            Err(e) => {
                tracing::info!(reason = %e, "connect flow: state refused");
                return match e {
                    StateError::Expired => used_or_expired(),
                    StateError::Malformed | StateError::BadSignature => bad_link("This link was not made by this service or was changed."),
                };
            }
        };
        let (ns, name) = (claims.namespace.as_str(), claims.name.as_str());
        let obj = match self.connection(ns, name).await {
            Ok(o) => o,
            Err(p) if p.status == StatusCode::NOT_FOUND => {
                return bad_link("The connection this link was made for no longer exists.");
            }
            Err(p) => return p,
        };
        if obj.uid().as_deref() != Some(claims.uid.as_str()) {
            tracing::info!(namespace = ns, name, "connect flow: the connection was re-created since the link was made");
            return bad_link("The connection this link was made for was deleted and created again.");
        }
        match self.used.claim(&claims, now) {
            Claim::Fresh => {}
            Claim::Replayed => {
                tracing::info!(namespace = ns, name, "connect flow: state used before");
                return used_or_expired();
            }
            Claim::Full => return try_again(),
        }
        self.complete(&obj, &claims, &SecretString::new(code), now).await
    }

    /// Exchanges the code, checks the new token and stores it.
    async fn complete(&self, obj: &SocialConnection, claims: &Claims, code: &SecretString, now: Timestamp) -> Page {
        let (ns, name) = (claims.namespace.as_str(), claims.name.as_str());
        let spec = &obj.spec;
        let kind = spec.provider;
        let app = match self.app(ns, obj).await {
            Ok(a) => a,
            Err(p) => return p,
        };
        let secret_api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let secret_name = spec.secret_ref.name.as_str();
        // Refuse before minting a token when the Secret may not be written (the write checks
        // again on the object it writes).
        match secret_api.get_metadata_opt(secret_name).await {
            Ok(Some(m)) if !secrets::is_managed(&m.metadata) => {
                tracing::info!(namespace = ns, name, secret = secret_name, "connect flow: token Secret not labelled managed");
                return not_managed(secret_name);
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(namespace = ns, name, error = %e, "connect flow: reading the token Secret failed");
                return try_again();
            }
        }
        let provider = providers::for_kind(kind);
        let verifier = uses_pkce(kind).then(|| state::pkce_verifier(&self.config.key, &claims.nonce));
        let redirect = self.config.redirect_uri();
        let exchange = CodeExchange { code, redirect_uri: &redirect, code_verifier: verifier.as_ref(), app: &app, now };
        let cred = match provider.exchange_code(&self.http.for_call(ProviderCall::ExchangeCode), &exchange).await {
            RefreshOutcome::Refreshed(c) => c,
            RefreshOutcome::Refused(TokenVerdict::InvalidSecret { message }) => {
                tracing::warn!(namespace = ns, name, provider = %kind, detail = %message, "connect flow: app credentials refused");
                return app_refused();
            }
            RefreshOutcome::Refused(v) => {
                tracing::info!(namespace = ns, name, provider = %kind, verdict = ?v, "connect flow: code refused");
                return used_or_expired();
            }
            RefreshOutcome::Interrupted(i) => {
                tracing::info!(namespace = ns, name, provider = %kind, detail = %i.detail, "connect flow: exchange interrupted");
                return try_again();
            }
            RefreshOutcome::NotSupported => return not_found(),
        };
        let expires_at = cred.expires_in.and_then(|d| jiff::SignedDuration::try_from(d).ok()).and_then(|d| now.checked_add(d).ok());
        let input = CheckInput {
            account_id: &spec.account.id,
            token: &cred.access_token,
            refresh_token: cred.refresh_token.as_ref(),
            app: Some(&app),
            required_role: spec.required_role,
            known_expires_at: expires_at,
            token_issued_at: Some(now),
            now,
        };
        let report = provider.check(&self.http, &input).await;
        let missing = match judge(&report, &spec.required_scopes, cred.scope.as_deref()) {
            Judgement::Accept { missing_scopes } => missing_scopes,
            Judgement::Refuse(r) => {
                tracing::info!(namespace = ns, name, provider = %kind, refusal = ?r, "connect flow: new token refused, nothing stored");
                return r.page(kind, &spec.account.id);
            }
            Judgement::Retry => return try_again(),
        };
        self.store(obj, claims, cred, expires_at, &missing, now).await
    }

    async fn store(
        &self,
        obj: &SocialConnection,
        claims: &Claims,
        cred: NewCredential,
        expires_at: Option<Timestamp>,
        missing: &[String],
        now: Timestamp,
    ) -> Page {
        let (ns, name) = (claims.namespace.as_str(), claims.name.as_str());
        let spec = &obj.spec;
        let write = TokenWrite {
            keys: spec.token_keys().into(),
            access_token: cred.access_token,
            refresh_token: cred.refresh_token,
            expires_at,
            scope: cred.scope,
        };
        let secret_api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let created = match secrets::store_connected_token(&secret_api, &spec.secret_ref.name, &write).await {
            Ok(w) => w == ConnectWrite::Created,
            Err(WriteError::NotManaged(s)) => return not_managed(&s),
            Err(e) => {
                tracing::warn!(namespace = ns, name, error = %e, "connect flow: storing the token failed");
                return try_again();
            }
        };
        // Ask for a check of the stored token (the Secret's change wakes the connection too;
        // the annotation makes the check happen even inside the provider's pacing).
        let api: Api<SocialConnection> = Api::namespaced(self.client.clone(), ns);
        let value = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
        let patch = serde_json::json!({"metadata": {"annotations": {CHECK_REQUESTED_ANNOTATION: value}}});
        if let Err(e) = api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            tracing::warn!(namespace = ns, name, error = %e, "connect flow: asking for a check failed; the Secret change triggers one");
        }
        tracing::info!(namespace = ns, name, provider = %spec.provider, created, missing_scopes = missing.len(), "connect flow: token stored");
        works_again(spec.provider, created, missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{Interruption, RoleFinding, ScopeDenial};

    #[test]
    fn public_urls_are_https_or_loopback_http() {
        assert_eq!(parse_public_url("https://connect.example.com/").as_deref(), Ok("https://connect.example.com"));
        assert_eq!(parse_public_url("https://example.com/social/").as_deref(), Ok("https://example.com/social"));
        assert_eq!(parse_public_url("http://127.0.0.1:8090").as_deref(), Ok("http://127.0.0.1:8090"));
        assert_eq!(parse_public_url("http://localhost:8090").as_deref(), Ok("http://localhost:8090"));
        assert_eq!(parse_public_url("http://[::1]:8090").as_deref(), Ok("http://[::1]:8090"));
        assert!(parse_public_url("http://connect.example.com").is_err());
        assert!(parse_public_url("ftp://connect.example.com").is_err());
        assert!(parse_public_url("https://example.com/?a=b").is_err());
        assert!(parse_public_url("https://u:p@example.com").is_err());
        assert!(parse_public_url("not a url").is_err());
    }

    #[test]
    fn links_and_redirects_are_built_from_the_public_url() {
        let key = StateKey::from_bytes(&[3u8; 32]).unwrap();
        let c = ConnectConfig::new("https://connect.example.com/", "127.0.0.1:0".parse().unwrap(), key, Endpoints::default()).unwrap();
        assert_eq!(link(c.public_url(), "team-a", "fb"), "https://connect.example.com/connect/team-a/fb");
        assert_eq!(c.redirect_uri(), "https://connect.example.com/callback");
    }

    #[tokio::test]
    async fn links_of_unwatched_namespaces_and_malformed_names_are_404_without_an_api_call() {
        crate::providers::http::install_crypto_provider();
        // Nothing listens there: any API call would end in the 503 page, not 404.
        let client = Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
        let key = StateKey::from_bytes(&[3u8; 32]).unwrap();
        let mut config = ConnectConfig::new("https://c.example", "127.0.0.1:0".parse().unwrap(), key, Endpoints::default()).unwrap();
        config.namespaces = vec!["team-a".into()];
        let c = Connect::new(client, ProviderHttp::with_endpoints(Endpoints::default()).unwrap(), config);
        for (ns, name) in [("team-b", "conn"), ("team-a", "../x"), ("Team-A", "conn"), ("team-a", "")] {
            match c.start(ns, name, Timestamp::now()).await {
                Err(p) => assert_eq!(p.status, StatusCode::NOT_FOUND, "{ns}/{name}"),
                Ok(s) => panic!("{ns}/{name}: {s:?}"),
            }
        }
    }

    #[test]
    fn pkce_is_used_by_exactly_four_providers() {
        let with: Vec<_> = ProviderKind::ALL.iter().copied().filter(|k| uses_pkce(*k)).collect();
        assert_eq!(with, [ProviderKind::X, ProviderKind::Youtube, ProviderKind::GoogleBusinessProfile, ProviderKind::Tiktok]);
    }

    #[test]
    fn pages_are_escaped_mobile_friendly_html() {
        let p = Page::new(StatusCode::OK, "a <b>", &["x & \"y\""]).with_list(vec!["<s>".into()]);
        let html = p.html();
        assert!(html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"));
        assert!(html.contains("<h1>a &lt;b&gt;</h1>"));
        assert!(html.contains("<p>x &amp; &quot;y&quot;</p>"));
        assert!(html.contains("<li>&lt;s&gt;</li>"));
        let resp = p.into_response();
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(resp.headers()[header::REFERRER_POLICY], "no-referrer");
    }

    fn finding(r: RoleReason) -> RoleFinding {
        RoleFinding { reason: r, message: "m".into() }
    }

    #[test]
    fn the_check_of_a_new_token_decides_whether_it_is_stored() {
        let valid = CheckReport::verdict(TokenVerdict::Valid);
        let required = vec!["a".to_string(), "b".to_string()];
        let cases: Vec<(CheckReport, Option<&str>, Judgement)> = vec![
            (valid.clone(), None, Judgement::Accept { missing_scopes: vec![] }),
            (valid.clone(), Some("a,b"), Judgement::Accept { missing_scopes: vec![] }),
            (valid.clone(), Some("a"), Judgement::Accept { missing_scopes: vec!["b".into()] }),
            (
                CheckReport { granted_scopes: Some(vec!["b".into()]), ..valid.clone() },
                Some("a b"),
                Judgement::Accept { missing_scopes: vec!["a".into()] },
            ),
            (
                CheckReport { scope_denials: vec![ScopeDenial { scope: "c".into(), message: "m".into() }], ..valid.clone() },
                Some("a b"),
                Judgement::Accept { missing_scopes: vec!["c".into()] },
            ),
            (
                CheckReport { role: vec![finding(RoleReason::IdentityConfirmed)], ..valid.clone() },
                Some("a b"),
                Judgement::Accept { missing_scopes: vec![] },
            ),
            (
                CheckReport { role: vec![finding(RoleReason::AccountMismatch)], ..valid.clone() },
                None,
                Judgement::Refuse(Refusal::AccountMismatch),
            ),
            (
                CheckReport { role: vec![finding(RoleReason::RoleRemoved), finding(RoleReason::AccountNotFound)], ..valid.clone() },
                None,
                Judgement::Refuse(Refusal::AccountNotFound),
            ),
            (
                CheckReport { role: vec![finding(RoleReason::InsufficientRole)], ..valid.clone() },
                None,
                Judgement::Refuse(Refusal::InsufficientRole),
            ),
            (
                CheckReport { role: vec![finding(RoleReason::NotProfessionalAccount)], ..valid.clone() },
                None,
                Judgement::Refuse(Refusal::NotProfessionalAccount),
            ),
            (CheckReport { role: vec![finding(RoleReason::RoleRemoved)], ..valid.clone() }, None, Judgement::Refuse(Refusal::RoleRemoved)),
            (
                CheckReport::verdict(TokenVerdict::Revoked {
                    reason: crate::conditions::RevokedReason::TokenInvalidated,
                    message: "m".into(),
                }),
                None,
                Judgement::Refuse(Refusal::TokenRefused),
            ),
            (CheckReport::verdict(TokenVerdict::Expired { message: "m".into() }), None, Judgement::Refuse(Refusal::TokenRefused)),
            (CheckReport::interrupted(Interruption::unavailable("down")), None, Judgement::Retry),
            (CheckReport { interruption: Some(Interruption::unavailable("down")), ..valid.clone() }, None, Judgement::Retry),
        ];
        for (report, scope, want) in cases {
            assert_eq!(judge(&report, &required, scope), want, "{report:?} {scope:?}");
        }
    }

    #[test]
    fn refusal_pages_are_403_in_plain_words() {
        let p = Refusal::AccountMismatch.page(ProviderKind::Facebook, "2002");
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert!(p.paragraphs.iter().any(|s| s.contains("another account") && s.contains("2002")));
        assert!(p.paragraphs.iter().any(|s| s.contains("Nothing was changed")));
        let p = not_managed("tok");
        assert_eq!(p.status, StatusCode::CONFLICT);
        assert!(p.paragraphs.iter().any(|s| s.contains("social.connections.dev/managed: \"true\"")));
        let p = works_again(ProviderKind::X, false, &["tweet.write".into()]);
        assert!(p.title.contains("works again"));
        assert_eq!(p.list, ["tweet.write"]);
    }
}
