//! Per-provider state: the request log and the token book (which tokens are dead, which refresh
//! tokens were used, where each `valid-then-503` / `li-c-young` token is in its sequence), and
//! the scenario lookup every handler starts with.

use std::cell::Cell;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::record::{RECORDED_HEADERS, RecordedRequest};
use crate::request::{Reply, Req};

/// The eleven providers, in the order of `spec.provider` documentation (and of `--port-base`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Provider {
    Facebook,
    Instagram,
    InstagramLogin,
    Threads,
    Linkedin,
    X,
    Pinterest,
    Youtube,
    GoogleBusinessProfile,
    Telegram,
    Tiktok,
}

impl Provider {
    pub const ALL: [Provider; 11] = [
        Provider::Facebook,
        Provider::Instagram,
        Provider::InstagramLogin,
        Provider::Threads,
        Provider::Linkedin,
        Provider::X,
        Provider::Pinterest,
        Provider::Youtube,
        Provider::GoogleBusinessProfile,
        Provider::Telegram,
        Provider::Tiktok,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Provider::Facebook => "facebook",
            Provider::Instagram => "instagram",
            Provider::InstagramLogin => "instagram-login",
            Provider::Threads => "threads",
            Provider::Linkedin => "linkedin",
            Provider::X => "x",
            Provider::Pinterest => "pinterest",
            Provider::Youtube => "youtube",
            Provider::GoogleBusinessProfile => "google-business-profile",
            Provider::Telegram => "telegram",
            Provider::Tiktok => "tiktok",
        }
    }
}

/// Scenario name used for a token whose scenario the provider does not know, or that died
/// (revoked, or a rotated refresh token used again). Handlers answer it with the provider's
/// "invalid token" row.
pub(crate) const UNKNOWN: &str = "(unknown)";

/// The universal scenarios, answered the same way by every provider.
pub(crate) const UNIVERSAL: [&str; 10] = [
    "http-503",
    "valid-then-503",
    "expiring",
    "slow",
    "retry-after-max",
    "huge-body",
    "trickle-body",
    "reset-mid-body",
    "invalid-utf8",
    "deep-json",
];

/// The hostile universal scenarios (also after `valid-then-`).
pub(crate) const HOSTILE: [&str; 6] = ["retry-after-max", "huge-body", "trickle-body", "reset-mid-body", "invalid-utf8", "deep-json"];

/// The answer of a hostile universal scenario (or `503` for `valid-then-503`).
fn universal_failure(name: &str) -> Option<Reply> {
    use crate::request::Hostile;
    Some(match name {
        "503" | "http-503" => Reply::unavailable(),
        // u64::MAX seconds: providers.md §2.5 says clamp to 24 h, never fail.
        "retry-after-max" => Reply::json(429, r#"{"error":"rate limited"}"#).with_header("retry-after", u64::MAX.to_string()),
        "huge-body" => Reply::hostile(Hostile::Huge),
        "trickle-body" => Reply::hostile(Hostile::Trickle),
        "reset-mid-body" => Reply::hostile(Hostile::Reset),
        "invalid-utf8" => Reply::hostile(Hostile::InvalidUtf8),
        "deep-json" => Reply::ok(format!("{}{}", "[".repeat(DEEP_JSON_LEVELS), "]".repeat(DEEP_JSON_LEVELS))),
        _ => return None,
    })
}

/// How deep scenario `deep-json` nests its arrays.
pub(crate) const DEEP_JSON_LEVELS: usize = 10_000;

/// A token's scenario after the universal ones are applied: `http-503` never gets here,
/// `valid-then-503`, `slow` and `expiring` arrive as `valid` (with the flags below).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scn {
    /// A name from the provider's scenario list, `valid`, or [`UNKNOWN`].
    pub name: &'static str,
    /// Scenario `expiring`: report an expiry three days ahead where the provider reports one.
    pub expiring: bool,
}

impl Scn {
    /// The `gN` row number for Meta Graph scenarios `g1`…`g15`.
    pub fn g_row(self) -> Option<usize> {
        let n: usize = self.name.strip_prefix('g')?.parse().ok()?;
        (1..=15).contains(&n).then_some(n)
    }
}

/// The scenario part of a token: what comes before the first `__`, lower-cased (the whole
/// token when there is no `__`).
pub(crate) fn scenario_of(token: &str) -> String {
    token.split_once("__").map_or(token, |(s, _)| s).to_ascii_lowercase()
}

/// Tokens the fakes issue are numbered process-wide, so that two fakes never hand out the same
/// token (the e2e tests grep logs for them).
static MINTED: AtomicU64 = AtomicU64::new(1);

#[derive(Default)]
struct Book {
    /// `valid-then-503`: the calls seen in the token's first cycle; `None` once it is over.
    cycles: HashMap<String, Option<HashSet<String>>>,
    /// `li-c-young`: introspections so far and the `created_at` reported.
    introspections: HashMap<String, (u32, i64)>,
    /// Revoked tokens and used rotating refresh tokens: from now on answered as unknown.
    dead: HashSet<String>,
    /// Authorization codes issued by the consent page and not used yet.
    codes: HashMap<String, CodeGrant>,
}

/// What a consent page issued a code for (providers.md §2.14).
#[derive(Clone, Debug)]
pub(crate) struct CodeGrant {
    /// The consent request's `redirect_uri`: the exchange must send the same.
    pub redirect_uri: String,
    /// The consent request's client id.
    pub client_id: String,
    /// The PKCE S256 challenge, for the PKCE providers.
    pub challenge: Option<String>,
}

/// Everything one provider's fake server keeps.
pub(crate) struct Shared {
    pub provider: Provider,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    log: Mutex<Vec<RecordedRequest>>,
    book: Mutex<Book>,
    /// Print one line per request to stderr (the binary turns this on).
    pub echo: AtomicBool,
    /// The scenario of the codes the consent page issues next.
    consent: Mutex<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Shared {
    pub fn new(provider: Provider, base_url: String) -> Self {
        Shared {
            provider,
            base_url,
            log: Mutex::new(Vec::new()),
            book: Mutex::new(Book::default()),
            echo: AtomicBool::new(false),
            consent: Mutex::new("valid".to_string()),
        }
    }

    pub fn record(&self, req: &Req, reply: &Reply, received_at: SystemTime) {
        let headers = RECORDED_HEADERS.iter().filter_map(|name| req.header(name).map(|v| (name.to_string(), v.to_string()))).collect();
        let entry = RecordedRequest {
            method: req.method.to_string(),
            path: req.path.clone(),
            query: req.raw_query.clone(),
            query_params: req.query.clone(),
            headers,
            form: req.form.clone(),
            body: req.body.clone(),
            status: reply.status,
            fake_error: reply.fake_error.clone(),
            response_body: reply.body.clone(),
            received_at,
        };
        if self.echo.load(Ordering::Relaxed) {
            // The demo's console: never print a Telegram bot token.
            let path = if self.provider == Provider::Telegram { redact_telegram_path(&entry.path) } else { entry.path.clone() };
            let why = entry.fake_error.as_deref().map(|e| format!(" fake_error: {e}"));
            eprintln!("{} {} {} -> {}{}", self.provider.name(), entry.method, path, entry.status, why.unwrap_or_default());
        }
        lock(&self.log).push(entry);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.log).clear();
    }

    pub fn take_requests(&self) -> Vec<RecordedRequest> {
        std::mem::take(&mut *lock(&self.log))
    }

    /// Marks a token dead (revoked, or a rotating refresh token that was used).
    pub fn kill(&self, token: &str) {
        lock(&self.book).dead.insert(token.to_string());
    }

    /// `li-c-young`: counts this introspection; returns (how many so far, `created_at`).
    pub fn introspect_young(&self, token: &str, now: i64) -> (u32, i64) {
        let mut book = lock(&self.book);
        let entry = book.introspections.entry(token.to_string()).or_insert((0, now - 60));
        entry.0 += 1;
        *entry
    }

    /// The scenario the consent page gives its next codes.
    pub fn consent_scenario(&self) -> String {
        lock(&self.consent).clone()
    }

    /// Sets the scenario of the codes the consent page issues from now on.
    pub fn set_consent_scenario(&self, scenario: &str) {
        *lock(&self.consent) = scenario.to_string();
    }

    /// Records an issued authorization code.
    pub fn grant(&self, code: &str, grant: CodeGrant) {
        lock(&self.book).codes.insert(code.to_string(), grant);
    }

    /// Uses up an authorization code: its grant the first time, `None` after (or for a code
    /// never issued).
    pub fn redeem(&self, code: &str) -> Option<CodeGrant> {
        lock(&self.book).codes.remove(code)
    }

    /// A new token `<scenario>__<stem>-<n>` with the scenario given as text.
    pub fn mint_named(&self, scenario: &str, stem: &str) -> String {
        let n = MINTED.fetch_add(1, Ordering::Relaxed);
        format!("{scenario}__{stem}-{n}")
    }

    /// A new token for a refresh answer: `<scenario>__<stem>-<n>`, so that it keeps the
    /// scenario of the credential it replaces (`valid` for universal and unknown ones).
    pub fn mint(&self, scn: Scn, stem: &str) -> String {
        let scenario = if scn.name == UNKNOWN { "valid" } else { scn.name };
        let n = MINTED.fetch_add(1, Ordering::Relaxed);
        format!("{scenario}__{stem}-{n}")
    }
}

fn redact_telegram_path(path: &str) -> String {
    match path.strip_prefix("/bot").and_then(|rest| rest.rsplit_once('/')) {
        Some((_, method)) => format!("/bot<redacted>/{method}"),
        None => path.to_string(),
    }
}

/// The context of one request: the provider's state, the request, the clock, and the delay a
/// `slow` token asked for.
pub(crate) struct Cx<'a> {
    pub sh: &'a Shared,
    pub req: &'a Req,
    pub now: i64,
    pub delay: Cell<Option<Duration>>,
}

impl<'a> Cx<'a> {
    pub fn new(sh: &'a Shared, req: &'a Req) -> Self {
        Cx { sh, req, now: now_unix(), delay: Cell::new(None) }
    }

    /// The scenario of `token` for the call named `call`, with the universal scenarios applied:
    /// `http-503` answers 503 here; `valid-then-503` answers 503 once the token repeats a call it
    /// already made (its first check cycle is over); `slow` sets a 30 s delay. Unknown and dead
    /// tokens come back as [`UNKNOWN`].
    pub fn scenario(&self, token: &str, call: &str, known: &'static [&'static str]) -> Result<Scn, Reply> {
        self.scenario_from(token, token, call, known)
    }

    /// As [`Cx::scenario`], with the scenario read from `text` rather than from `token` (the
    /// Telegram bot token carries it after `<digits>:`). State is still keyed by `token`.
    pub fn scenario_from(&self, token: &str, text: &str, call: &str, known: &'static [&'static str]) -> Result<Scn, Reply> {
        let raw = scenario_of(text);
        let mut book = lock(&self.sh.book);
        let valid = Scn { name: "valid", expiring: false };
        if book.dead.contains(token) {
            return Ok(Scn { name: UNKNOWN, expiring: false });
        }
        if let Some(then) = raw.strip_prefix("valid-then-").and_then(universal_failure) {
            let cycle = book.cycles.entry(token.to_string()).or_insert_with(|| Some(HashSet::new()));
            let repeated = match cycle {
                Some(seen) => !seen.insert(call.to_string()),
                None => true,
            };
            return if repeated {
                *cycle = None;
                Err(then)
            } else {
                Ok(valid)
            };
        }
        if let Some(failure) = universal_failure(&raw) {
            return Err(failure);
        }
        // `delay-<n>s` (n in 1..=19): valid, answered after n seconds (within the 20 s timeout).
        if let Some(secs) = raw.strip_prefix("delay-").and_then(|r| r.strip_suffix('s')).and_then(|n| n.parse::<u64>().ok())
            && (1..=19).contains(&secs)
        {
            self.delay.set(Some(Duration::from_secs(secs)));
            return Ok(valid);
        }
        match raw.as_str() {
            "slow" => {
                self.delay.set(Some(crate::SLOW_DELAY));
                Ok(valid)
            }
            "expiring" => Ok(Scn { name: "valid", expiring: true }),
            other => Ok(Scn { name: known.iter().copied().find(|k| *k == other).unwrap_or(UNKNOWN), expiring: false }),
        }
    }
}
