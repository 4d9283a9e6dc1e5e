//! The provider matrix: for every provider family a table of cases (valid, revoked, role lost,
//! expiring soon, transient failure, …), each in its own SocialConnection of the family's
//! namespace, checked against the fake providers and providers.md.
//!
//! Each case states what providers.md says the operator must report; [`run_cases`] creates all
//! of a family's objects at once, waits for them concurrently and reports every deviation.

use std::time::{Duration, Instant};

use futures::future::join_all;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use social_connection_operator::api::{SocialConnection, SocialConnectionStatus};

use crate::support::*;

/// The operator's default redirect URL in the harness.
pub const REDIRECT: &str = "https://app.example.com/oauth/callback";

/// One Event about one object.
#[derive(Clone, Debug)]
pub struct Ev {
    /// Normal or Warning.
    pub type_: String,
    /// The Event reason.
    pub reason: String,
    /// The note.
    pub note: String,
    /// How often the recorder saw it (1 without a series).
    pub count: i32,
}

/// The Events in `ns` regarding the object named `name`.
pub async fn events_of(client: &Client, ns: &str, name: &str) -> Vec<Ev> {
    let list = Api::<Event>::namespaced(client.clone(), ns).list(&ListParams::default()).await.expect("list events");
    list.items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| Ev {
            type_: e.type_.unwrap_or_default(),
            reason: e.reason.unwrap_or_default(),
            note: e.note.unwrap_or_default(),
            count: e.series.map_or(1, |s| s.count.max(1)),
        })
        .collect()
}

/// The current status of a connection (default when it has none yet).
pub async fn status_of(client: &Client, ns: &str, name: &str) -> SocialConnectionStatus {
    Api::<SocialConnection>::namespaced(client.clone(), ns).get(name).await.expect("get SocialConnection").status.unwrap_or_default()
}

/// Polls the connection's status until `pred` holds or `secs` pass.
pub async fn poll_status(
    client: &Client,
    ns: &str,
    name: &str,
    secs: u64,
    pred: impl Fn(&SocialConnectionStatus) -> bool,
) -> Result<SocialConnectionStatus, Option<SocialConnectionStatus>> {
    let api = Api::<SocialConnection>::namespaced(client.clone(), ns);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = None;
    loop {
        if let Some(obj) = api.get_opt(name).await.expect("get SocialConnection")
            && let Some(st) = obj.status
        {
            if pred(&st) {
                return Ok(st);
            }
            last = Some(st);
        }
        if Instant::now() > deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The status fingerprint of a token: the first 16 hex digits of its SHA-256 (§2.7).
pub fn fingerprint(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))[..16].to_string()
}

/// `now + d` as RFC 3339 (seconds).
pub fn rfc3339_in(d: SignedDuration) -> (Timestamp, String) {
    let t = Timestamp::from_second((Timestamp::now() + d).as_second()).expect("timestamp");
    (t, t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// `now + m` minutes as RFC 3339 (seconds).
pub fn in_minutes(m: i64) -> String {
    rfc3339_in(SignedDuration::from_mins(m)).1
}

/// `now + d` as unix seconds.
pub fn unix_in(d: SignedDuration) -> (Timestamp, String) {
    let t = Timestamp::from_second((Timestamp::now() + d).as_second()).expect("timestamp");
    (t, t.as_second().to_string())
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// What `status.expiresAt` must be.
#[derive(Clone, Debug)]
pub enum Expires {
    /// Not checked.
    Any,
    /// Absent.
    Absent,
    /// This instant, give or take the tolerance in seconds.
    At(Timestamp, i64),
}

/// When the next check after a transient answer must be (`nextCheckTime − lastCheckTime`).
#[derive(Clone, Debug)]
pub enum Retry {
    /// Not checked.
    Any,
    /// §2.5 rule 7: base = min(10 s × 2^(n−1), 1 h); delay in [base/2, base].
    Backoff,
    /// A provider-given delay of this many seconds plus 0–10 % jitter.
    After(i64),
    /// A provider-given delay between these many seconds, plus 0–10 % jitter.
    Between(i64, i64),
    /// Until this instant, plus 0–10 % jitter of the delay.
    Until(Timestamp),
}

/// One connection of a family's table and what providers.md says about it.
pub struct Case {
    name: &'static str,
    provider: &'static str,
    account: String,
    token: String,
    secret_extra: Vec<(&'static str, String)>,
    app: Option<(String, String)>,
    spec_extra: Value,
    ready: (&'static str, &'static str),
    conds: Vec<(&'static str, &'static str, &'static str)>,
    cond_messages: Vec<(&'static str, String)>,
    url: Option<&'static str>,
    url_scope: Option<String>,
    events: Vec<(&'static str, Vec<String>)>,
    no_events: Vec<&'static str>,
    expires: Expires,
    account_name: Option<&'static str>,
    granted: Option<Vec<String>>,
    missing: Option<Vec<String>>,
    transient: Option<&'static str>,
    third_failure: bool,
    never: Vec<(&'static str, &'static str, &'static str)>,
    timeout: u64,
    retry: Retry,
}

impl Case {
    /// A case named `name` (also the SocialConnection's name) for `provider`.
    pub fn new(name: &'static str, provider: &'static str, account: &str, token: String) -> Self {
        Case {
            name,
            provider,
            account: account.to_string(),
            token,
            secret_extra: vec![],
            app: None,
            spec_extra: json!({}),
            ready: ("", ""),
            conds: vec![],
            cond_messages: vec![],
            url: None,
            url_scope: None,
            events: vec![],
            no_events: vec![],
            expires: Expires::Any,
            account_name: None,
            granted: None,
            missing: None,
            transient: None,
            third_failure: false,
            never: vec![],
            timeout: 90,
            retry: Retry::Any,
        }
    }

    /// References an app Secret with client id `cid-<name>` and a fresh client secret.
    pub fn app(mut self) -> Self {
        self.app = Some((format!("cid-{}", self.name), fakes::token("csec")));
        self
    }

    /// References an app Secret with this client secret.
    pub fn app_with_secret(mut self, secret: &str) -> Self {
        self.app = Some((format!("cid-{}", self.name), secret.to_string()));
        self
    }

    /// Adds a key to the token Secret.
    pub fn secret(mut self, key: &'static str, value: String) -> Self {
        self.secret_extra.push((key, value));
        self
    }

    /// Merges fields into the spec.
    pub fn spec(mut self, extra: Value) -> Self {
        for (k, v) in extra.as_object().expect("object").clone() {
            self.spec_extra[k] = v;
        }
        self
    }

    /// Expects the condition `ty` with `status` and `reason`.
    pub fn cond(mut self, ty: &'static str, status: &'static str, reason: &'static str) -> Self {
        self.conds.retain(|c| c.0 != ty);
        self.conds.push((ty, status, reason));
        self
    }

    /// Expects the condition `ty`'s message to contain `needle`.
    pub fn message(mut self, ty: &'static str, needle: &str) -> Self {
        self.cond_messages.push((ty, needle.to_string()));
        self
    }

    /// Expects Ready with `status` and `reason`.
    pub fn ready(mut self, status: &'static str, reason: &'static str) -> Self {
        self.ready = (status, reason);
        self
    }

    /// Expects an Event with `reason` whose note contains every needle.
    pub fn event(mut self, reason: &'static str, needles: &[&str]) -> Self {
        self.events.push((reason, needles.iter().map(|s| s.to_string()).collect()));
        self
    }

    /// Expects no Event with `reason`.
    pub fn no_event(mut self, reason: &'static str) -> Self {
        self.no_events.push(reason);
        self
    }

    /// The reauthorization URL must be set, on `base` (scheme, host, path).
    pub fn url(mut self, base: &'static str) -> Self {
        self.url = Some(base);
        self
    }

    /// The reauthorization URL's scope parameter (decoded).
    pub fn url_scope(mut self, scope: &str) -> Self {
        self.url_scope = Some(scope.to_string());
        self
    }

    /// `status.expiresAt`.
    pub fn expires(mut self, e: Expires) -> Self {
        self.expires = e;
        self
    }

    /// `status.accountName`.
    pub fn account_name(mut self, n: &'static str) -> Self {
        self.account_name = Some(n);
        self
    }

    /// `status.grantedScopes` and `status.missingScopes`.
    pub fn scopes(mut self, granted: &[&str], missing: &[&str]) -> Self {
        self.granted = Some(granted.iter().map(|s| s.to_string()).collect());
        self.missing = Some(missing.iter().map(|s| s.to_string()).collect());
        self
    }

    /// `status.missingScopes` only.
    pub fn missing(mut self, missing: &[&str]) -> Self {
        self.missing = Some(missing.iter().map(|s| s.to_string()).collect());
        self
    }

    /// A working connection: Ready, Valid, not revoked; no reauthorization, restore or
    /// unavailability Event.
    pub fn valid(self) -> Self {
        self.ready("True", "AllChecksPassed")
            .cond("Valid", "True", "TokenValid")
            .cond("Revoked", "False", "NotRevoked")
            .no_event("ReauthorizationRequired")
            .no_event("ConnectionRestored")
            .no_event("ProviderUnavailable")
    }

    /// Revoked=True with `reason`, Valid=False Revoked, Ready=False with the same reason, and a
    /// ReauthorizationRequired Event naming it.
    pub fn revoked(self, reason: &'static str) -> Self {
        self.ready("False", reason)
            .cond("Valid", "False", "Revoked")
            .cond("Revoked", "True", reason)
            .event("ReauthorizationRequired", &[reason])
            .no_event("ConnectionRestored")
    }

    /// Valid=False Expired, Revoked=False, and a ReauthorizationRequired Event.
    pub fn expired(self) -> Self {
        self.ready("False", "Expired")
            .cond("Valid", "False", "Expired")
            .cond("Revoked", "False", "NotRevoked")
            .event("ReauthorizationRequired", &["Expired"])
            .no_event("ConnectionRestored")
    }

    /// Valid=True, RoleLost=True with `reason`, Ready=False with it, and a
    /// ReauthorizationRequired Event naming it.
    pub fn role_lost(self, reason: &'static str) -> Self {
        self.ready("False", reason)
            .cond("Valid", "True", "TokenValid")
            .cond("Revoked", "False", "NotRevoked")
            .cond("RoleLost", "True", reason)
            .event("ReauthorizationRequired", &[reason])
            .no_event("ConnectionRestored")
    }

    /// Valid=True with ScopesMissing=True ScopesNotGranted.
    pub fn scopes_missing(self) -> Self {
        self.ready("False", "ScopesNotGranted")
            .cond("Valid", "True", "TokenValid")
            .cond("Revoked", "False", "NotRevoked")
            .cond("ScopesMissing", "True", "ScopesNotGranted")
            .event("ReauthorizationRequired", &["ScopesNotGranted"])
    }

    /// Valid=False InvalidSecret (never Revoked).
    pub fn invalid_secret(self) -> Self {
        self.ready("False", "InvalidSecret")
            .cond("Valid", "False", "InvalidSecret")
            .cond("Revoked", "Unknown", "Pending")
            .no_event("ReauthorizationRequired")
            .no_event("ConnectionRestored")
    }

    /// The probe accepted the token (decided and kept), then a later call of the cycle got a
    /// transient answer: Valid=True, the role undecided, Ready Unknown Pending.
    pub fn valid_then_interrupted(self) -> Self {
        self.ready("Unknown", "Pending")
            .cond("Valid", "True", "TokenValid")
            .cond("Revoked", "False", "NotRevoked")
            .cond("RoleLost", "Unknown", "Pending")
            .no_event("ReauthorizationRequired")
    }

    /// ExpiringSoon=True AccessTokenExpiring and one TokenExpiringSoon Event.
    pub fn expiring(self) -> Self {
        self.cond("ExpiringSoon", "True", "AccessTokenExpiring").event("TokenExpiringSoon", &["AccessTokenExpiring"])
    }

    /// The first check got a transient answer: Valid=Unknown with `reason` at once (the
    /// connection was Pending), Revoked stays Unknown Pending, Ready Unknown with Valid's
    /// reason; never a ReauthorizationRequired Event.
    pub fn transient(mut self, reason: &'static str) -> Self {
        self.transient = Some(reason);
        if matches!(self.retry, Retry::Any) {
            self.retry = Retry::Backoff;
        }
        self.ready("Unknown", reason)
            .cond("Valid", "Unknown", reason)
            .cond("Revoked", "Unknown", "Pending")
            .no_event("ReauthorizationRequired")
            .no_event("ConnectionRestored")
    }

    /// While waiting for Ready, condition `ty` must never be `status` `reason` ("*": any reason).
    pub fn never(mut self, ty: &'static str, status: &'static str, reason: &'static str) -> Self {
        self.never.push((ty, status, reason));
        self
    }

    /// The retry delay after the transient answer.
    pub fn retry(mut self, r: Retry) -> Self {
        self.retry = r;
        self
    }

    /// Waits up to `secs` for Ready (default 90).
    pub fn timeout(mut self, secs: u64) -> Self {
        self.timeout = secs;
        self
    }

    /// Also waits for the third transient answer in a row and its one ProviderUnavailable Event.
    pub fn until_third_failure(mut self) -> Self {
        self.third_failure = true;
        self
    }

    /// The token and client secret of this case (for the leak check).
    pub fn secrets(&self) -> Vec<String> {
        let mut v = vec![self.token.clone()];
        if let Some((_, s)) = &self.app
            && s != fakes::BAD_SECRET
        {
            v.push(s.clone());
        }
        v
    }

    /// Strings whose presence in a fake's request record marks it as this case's.
    fn needles(&self) -> Vec<String> {
        let mut v = vec![self.token.clone()];
        if let Some((cid, _)) = &self.app {
            v.push(cid.clone());
        }
        v
    }

    async fn create(&self, client: &Client, ns: &str) {
        let secret_name = format!("{}-token", self.name);
        let mut data: Vec<(&str, &str)> = vec![("access_token", self.token.as_str())];
        for (k, v) in &self.secret_extra {
            data.push((k, v.as_str()));
        }
        secret(client, ns, &secret_name, &data).await;
        let mut spec = json!({
            "provider": self.provider,
            "account": {"id": self.account},
            "secretRef": {"name": secret_name},
        });
        if let Some((cid, csec)) = &self.app {
            let app_name = format!("{}-app", self.name);
            secret(client, ns, &app_name, &[("client_id", cid), ("client_secret", csec)]).await;
            spec["appSecretRef"] = json!({"name": app_name});
        }
        for (k, v) in self.spec_extra.as_object().expect("object") {
            spec[k] = v.clone();
        }
        connection(client, ns, self.name, spec).await;
    }

    fn check_url(&self, ns: &str, url: &str) -> Vec<String> {
        let mut errs = vec![];
        let base = self.url.expect("url expected");
        if self.provider == "telegram" {
            if url != base {
                errs.push(format!("reauthorizationURL {url:?}, expected {base:?}"));
            }
            return errs;
        }
        let parsed = match url::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return vec![format!("reauthorizationURL {url:?} does not parse: {e}")],
        };
        let got_base = format!("{}://{}{}", parsed.scheme(), parsed.host_str().unwrap_or(""), parsed.path());
        if got_base != base {
            errs.push(format!("reauthorizationURL {url:?} is not on {base}"));
        }
        let q: Vec<(String, String)> = parsed.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let cid_key = if self.provider == "tiktok" { "client_key" } else { "client_id" };
        let (cid, _) = self.app.as_ref().expect("a URL needs app credentials");
        let state = format!("{ns}/{}", self.name);
        let mut expect =
            vec![(cid_key, cid.clone()), ("redirect_uri", REDIRECT.to_string()), ("state", state), ("response_type", "code".to_string())];
        if let Some(s) = &self.url_scope {
            expect.push(("scope", s.clone()));
        }
        for (k, v) in expect {
            if param(k).as_deref() != Some(v.as_str()) {
                errs.push(format!("reauthorizationURL {url:?}: {k} is {:?}, expected {v:?}", param(k)));
            }
        }
        if param("scope").is_none_or(|s| s.is_empty()) {
            errs.push(format!("reauthorizationURL {url:?} has no scope"));
        }
        if url.contains('{') || url.contains('}') {
            errs.push(format!("reauthorizationURL {url:?} has an unfilled placeholder"));
        }
        errs
    }

    /// Waits for the case's outcome and returns every deviation.
    async fn verify(&self, client: &Client, ns: &str) -> Vec<String> {
        let n = self.name;
        let (rs, rr) = self.ready;
        let seen = std::sync::Mutex::new(Vec::<String>::new());
        let waited = poll_status(client, ns, n, self.timeout, |s| {
            for (ty, st, r) in &self.never {
                if let Some((a, b, m)) = condition(s, ty)
                    && a == *st
                    && (*r == "*" || b == *r)
                {
                    seen.lock().expect("lock").push(format!("{ty} was {a} {b} ({m}) while waiting"));
                }
            }
            condition(s, "Ready").is_some_and(|(a, b, _)| a == rs && b == rr)
        })
        .await;
        let mut seen = seen.into_inner().expect("lock");
        seen.dedup();
        let st = match waited {
            Ok(st) => st,
            Err(last) => {
                let conds: Vec<String> = last
                    .map(|s| s.conditions.iter().map(|c| format!("{}={} {} ({})", c.type_, c.status, c.reason, c.message)).collect())
                    .unwrap_or_default();
                let mut errs: Vec<String> = seen.into_iter().map(|e| format!("{n}: {e}")).collect();
                errs.push(format!(
                    "{n} ({} {}): Ready never became {rs} {rr}; last conditions: {conds:#?}",
                    self.provider,
                    self.token_scenario()
                ));
                return errs;
            }
        };
        let mut errs = seen;
        errs.extend(self.check_status(ns, &st));
        errs.extend(self.check_events(client, ns).await);
        if let Some(reason) = self.transient {
            errs.extend(self.check_transient(client, ns, reason).await);
        }
        errs.into_iter().map(|e| format!("{n} ({} {}): {e}", self.provider, self.token_scenario())).collect()
    }

    fn token_scenario(&self) -> &str {
        let t = self.token.split_once(':').filter(|_| self.provider == "telegram").map_or(self.token.as_str(), |(_, r)| r);
        t.split("__").next().unwrap_or("")
    }

    fn check_status(&self, ns: &str, st: &SocialConnectionStatus) -> Vec<String> {
        let mut errs = vec![];
        for (ty, s, r) in &self.conds {
            match condition(st, ty) {
                Some((a, b, _)) if a == *s && b == *r => {}
                other => errs.push(format!("{ty} is {other:?}, expected {s} {r}")),
            }
        }
        for (ty, needle) in &self.cond_messages {
            let m = condition(st, ty).map(|c| c.2).unwrap_or_default();
            if !m.contains(needle.as_str()) {
                errs.push(format!("{ty} message {m:?} does not mention {needle:?}"));
            }
        }
        for c in &st.conditions {
            if c.observed_generation != Some(1) {
                errs.push(format!("condition {} has observedGeneration {:?}", c.type_, c.observed_generation));
            }
        }
        if st.observed_generation != Some(1) {
            errs.push(format!("observedGeneration {:?}, expected 1", st.observed_generation));
        }
        if st.token_fingerprint.as_deref() != Some(fingerprint(&self.token).as_str()) {
            errs.push(format!("tokenFingerprint {:?}, expected the token's", st.token_fingerprint));
        }
        if st.last_check_time.is_none() || st.next_check_time.is_none() {
            errs.push("lastCheckTime or nextCheckTime missing".to_string());
        }
        let ready = condition(st, "Ready").expect("ready");
        let expected_nrr = (ready.0 != "True").then(|| ready.1.clone());
        if st.not_ready_reason != expected_nrr {
            errs.push(format!("notReadyReason {:?}, expected {expected_nrr:?}", st.not_ready_reason));
        }
        match (&self.expires, &st.expires_at) {
            (Expires::Any, _) | (Expires::Absent, None) => {}
            (Expires::Absent, Some(t)) => errs.push(format!("expiresAt {} should be absent", t.0)),
            (Expires::At(want, tol), got) => match got {
                Some(t) if (t.0.as_second() - want.as_second()).abs() <= *tol => {}
                other => errs.push(format!("expiresAt {:?}, expected {want} ± {tol} s", other.as_ref().map(|t| t.0))),
            },
        }
        errs.extend(self.check_retry(st));
        if let Some(n) = self.account_name
            && st.account_name.as_deref() != Some(n)
        {
            errs.push(format!("accountName {:?}, expected {n:?}", st.account_name));
        }
        if let Some(g) = &self.granted {
            let mut a = st.granted_scopes.clone();
            let mut b = g.clone();
            a.sort();
            b.sort();
            if a != b {
                errs.push(format!("grantedScopes {:?}, expected {g:?}", st.granted_scopes));
            }
        }
        if let Some(m) = &self.missing
            && &st.missing_scopes != m
        {
            errs.push(format!("missingScopes {:?}, expected {m:?}", st.missing_scopes));
        }
        match (&self.url, &st.reauthorization_url) {
            (None, None) => {}
            (None, Some(u)) => errs.push(format!("reauthorizationURL {u:?} should be absent")),
            (Some(b), None) => errs.push(format!("reauthorizationURL missing, expected one on {b}")),
            (Some(_), Some(u)) => errs.extend(self.check_url(ns, u)),
        }
        errs
    }

    fn check_retry(&self, st: &SocialConnectionStatus) -> Vec<String> {
        let (Some(last), Some(next)) = (&st.last_check_time, &st.next_check_time) else {
            return vec![];
        };
        let (last, next) = (last.0.as_second(), next.0.as_second());
        let delay = next - last;
        // Times in status have whole seconds: one second of slack on each side.
        let (lo, hi) = match &self.retry {
            Retry::Any => return vec![],
            Retry::Backoff => {
                let n = st.consecutive_failures.unwrap_or(1).max(1) as u32;
                let base = (10i64 << (n - 1).min(20)).min(3600);
                (base / 2, base)
            }
            Retry::After(d) => (*d, *d + *d / 10),
            Retry::Between(a, b) => (*a, *b + *b / 10),
            Retry::Until(t) => {
                let d = t.as_second() - last;
                (d, d + d / 10)
            }
        };
        if delay < lo.max(1) - 1 || delay > hi.clamp(1, 86_400) + 1 {
            vec![format!(
                "retry delay {delay} s (nextCheckTime {next}, lastCheckTime {last}, {:?} failures), expected {lo}–{hi} s ({:?})",
                st.consecutive_failures, self.retry
            )]
        } else {
            vec![]
        }
    }

    async fn check_events(&self, client: &Client, ns: &str) -> Vec<String> {
        let mut errs = vec![];
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut evs = events_of(client, ns, self.name).await;
        while self.events.iter().any(|(r, _)| !evs.iter().any(|e| e.reason == *r)) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(500)).await;
            evs = events_of(client, ns, self.name).await;
        }
        // Give late, unwanted Events a moment to show.
        tokio::time::sleep(Duration::from_secs(2)).await;
        evs = events_of(client, ns, self.name).await;
        let st = status_of(client, ns, self.name).await;
        for (reason, needles) in &self.events {
            let found: Vec<&Ev> = evs.iter().filter(|e| e.reason == *reason).collect();
            match found.as_slice() {
                [] => errs.push(format!("no {reason} Event; Events: {evs:#?}")),
                [e] => {
                    if e.type_ != "Warning" {
                        errs.push(format!("{reason} Event is {}, expected Warning", e.type_));
                    }
                    if e.count != 1 && *reason != "UnexpectedProviderResponse" {
                        errs.push(format!("{reason} Event recorded {} times, expected once", e.count));
                    }
                    for needle in needles {
                        if !e.note.contains(needle.as_str()) {
                            errs.push(format!("{reason} Event note {:?} does not mention {needle:?}", e.note));
                        }
                    }
                    if *reason == "ReauthorizationRequired" {
                        if let Some(u) = &st.reauthorization_url
                            && !e.note.contains(u.as_str())
                        {
                            errs.push(format!("ReauthorizationRequired note {:?} lacks the reauthorization URL", e.note));
                        }
                        let cause = condition(&st, "Ready").map(|c| c.2).unwrap_or_default();
                        if !e.note.contains(cause.as_str()) {
                            errs.push(format!("ReauthorizationRequired note {:?} does not give the cause {cause:?}", e.note));
                        }
                    }
                }
                many => errs.push(format!("{} {reason} Events, expected one: {many:#?}", many.len())),
            }
        }
        for reason in &self.no_events {
            if *reason == "ProviderUnavailable" && self.transient.is_some() {
                continue;
            }
            if let Some(e) = evs.iter().find(|e| e.reason == *reason) {
                errs.push(format!("unexpected {reason} Event: {:?}", e.note));
            }
        }
        errs
    }

    async fn check_transient(&self, client: &Client, ns: &str, reason: &str) -> Vec<String> {
        let mut errs = vec![];
        let n = self.name;
        // A ProviderUnavailable Event only on the third transient answer in a row.
        let evs = events_of(client, ns, n).await;
        let st = status_of(client, ns, n).await;
        let failures = st.consecutive_failures.unwrap_or(0);
        if failures < 1 {
            errs.push(format!("consecutiveFailures {:?} after a transient answer", st.consecutive_failures));
        }
        let pu: Vec<&Ev> = evs.iter().filter(|e| e.reason == "ProviderUnavailable").collect();
        if !pu.is_empty() && failures < 3 {
            errs.push(format!("ProviderUnavailable Event after only {failures} transient answers"));
        }
        if self.third_failure {
            match poll_status(client, ns, n, 90, |s| s.consecutive_failures.unwrap_or(0) >= 3).await {
                Err(last) => errs.push(format!("never reached 3 transient answers in a row: {:?}", last.map(|s| s.consecutive_failures))),
                Ok(_) => {
                    let deadline = Instant::now() + Duration::from_secs(20);
                    let mut evs = events_of(client, ns, n).await;
                    while !evs.iter().any(|e| e.reason == "ProviderUnavailable") && Instant::now() < deadline {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        evs = events_of(client, ns, n).await;
                    }
                    let pu: Vec<&Ev> = evs.iter().filter(|e| e.reason == "ProviderUnavailable").collect();
                    match pu.as_slice() {
                        [e] if e.count == 1 && e.type_ == "Warning" => {}
                        other => errs.push(format!(
                            "expected exactly one Warning ProviderUnavailable Event after the third transient answer, got {other:#?}"
                        )),
                    }
                }
            }
        }
        // Transient answers never decide the token: Valid stays Unknown, Revoked Pending.
        let st = status_of(client, ns, n).await;
        if condition(&st, "Valid").map(|c| (c.0, c.1)) != Some(("Unknown".into(), reason.into())) {
            errs.push(format!("Valid later became {:?}", condition(&st, "Valid")));
        }
        if condition(&st, "Revoked").map(|c| (c.0, c.1)) != Some(("Unknown".into(), "Pending".into())) {
            errs.push(format!("Revoked later became {:?}", condition(&st, "Revoked")));
        }
        errs
    }
}

/// Creates every case's Secrets and SocialConnection in a fresh namespace, waits for all of
/// them concurrently, checks leaks and contract violations, and fails with every deviation.
pub async fn run_cases(prefix: &str, cases: Vec<Case>) {
    let w = world();
    let client = w.client().await;
    let ns = namespace(&client, prefix).await;
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names must be unique");
    join_all(cases.iter().map(|c| c.create(&client, &ns))).await;
    let results = join_all(cases.iter().map(|c| c.verify(&client, &ns))).await;
    let mut failures: Vec<String> = results.into_iter().flatten().collect();

    let needles: Vec<String> = cases.iter().flat_map(|c| c.needles()).collect();
    let violations: Vec<String> = w
        .fakes()
        .contract_violations()
        .into_iter()
        .filter(|(_, r)| needles.iter().any(|n| r.mentions(n)))
        .map(|(p, r)| {
            format!(
                "contract violation at the {p} fake: {} {} -> {} {:?}",
                r.method,
                r.path.split("/bot").next().unwrap_or(""),
                r.status,
                r.fake_error
            )
        })
        .collect();
    failures.extend(violations);
    let secrets: Vec<String> = cases.iter().flat_map(|c| c.secrets()).collect();
    let secret_refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_leaks(&client, &ns, &secret_refs).await;
    assert!(failures.is_empty(), "{} deviation(s) in {ns}:\n{}", failures.len(), failures.join("\n"));
}

const FACEBOOK_DIALOG: &str = "https://www.facebook.com/v24.0/dialog/oauth";
const INSTAGRAM_DIALOG: &str = "https://www.instagram.com/oauth/authorize";
const THREADS_DIALOG: &str = "https://threads.com/oauth/authorize";
const LINKEDIN_DIALOG: &str = "https://www.linkedin.com/oauth/v2/authorization";
const PINTEREST_DIALOG: &str = "https://www.pinterest.com/oauth/";
const GOOGLE_DIALOG: &str = "https://accounts.google.com/o/oauth2/v2/auth";
const TIKTOK_DIALOG: &str = "https://www.tiktok.com/v2/auth/authorize/";
const BOTFATHER: &str = "https://t.me/BotFather";

/// The next 00:00 in America/Los_Angeles.
fn next_pacific_midnight() -> Timestamp {
    let now = Timestamp::now().in_tz("America/Los_Angeles").expect("tz");
    let tomorrow = now.date().tomorrow().expect("date");
    tomorrow.to_zoned(now.time_zone().clone()).expect("midnight").timestamp()
}

fn fb1_expiry() -> Timestamp {
    Timestamp::from_second(1_893_456_000).expect("timestamp")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_meta_family_reports_valid_revoked_role_lost_expiring_and_transient_tokens() {
    let fb = "facebook";
    let ig = "instagram";
    let il = "instagram-login";
    let th = "threads";
    let page = fakes::FACEBOOK_PAGE_ID;
    let igid = fakes::INSTAGRAM_ACCOUNT_ID;
    let ilid = fakes::INSTAGRAM_LOGIN_ACCOUNT_ID;
    let thid = fakes::THREADS_USER_ID;
    let (fb_exp, fb_exp_s) = rfc3339_in(days(3));
    let (th_exp, th_exp_s) = unix_in(days(4));
    let t = fakes::token;
    let cases = vec![
        // Valid.
        Case::new("fb-user-valid", fb, page, t("valid"))
            .app()
            .spec(json!({"requiredRole": "editor", "requiredScopes": ["pages_manage_posts"]}))
            .valid()
            .cond("RoleLost", "False", "RoleConfirmed")
            .cond("ScopesMissing", "False", "ScopesGranted")
            .cond("ExpiringSoon", "False", "NotExpiring")
            .scopes(&["pages_show_list", "pages_manage_posts"], &[])
            .expires(Expires::At(fb1_expiry(), 0)),
        Case::new("fb-page-valid", fb, page, t("page"))
            .valid()
            .cond("RoleLost", "False", "NoRoleRequired")
            .cond("ScopesMissing", "False", "NoScopesRequired")
            .cond("ExpiringSoon", "False", "ExpiryUnknown")
            .account_name("Example Page")
            .expires(Expires::Absent),
        Case::new("fb-page-token-never-expires", fb, page, t("page"))
            .app()
            .valid()
            .cond("ExpiringSoon", "False", "NoExpiry")
            .expires(Expires::Absent),
        Case::new("fb-paged-role", fb, page, t("fb3-paging")).app().spec(json!({"requiredRole": "admin"})).valid().cond(
            "RoleLost",
            "False",
            "RoleConfirmed",
        ),
        Case::new("ig-valid", ig, igid, t("valid"))
            .app()
            .spec(json!({"requiredRole": "editor"}))
            .valid()
            .cond("RoleLost", "False", "RoleConfirmed")
            .account_name("example.shop")
            .expires(Expires::At(fb1_expiry(), 0)),
        Case::new("il-valid", il, ilid, t("valid")).valid().cond("RoleLost", "False", "IdentityConfirmed").cond(
            "ExpiringSoon",
            "False",
            "ExpiryUnknown",
        ),
        Case::new("il-valid-by-id", il, fakes::INSTAGRAM_LOGIN_ID, t("valid")).valid().cond("RoleLost", "False", "IdentityConfirmed"),
        Case::new("th-valid", th, thid, t("valid")).valid().cond("RoleLost", "False", "IdentityConfirmed").account_name("example"),
        // Revoked and expired.
        Case::new("fb-revoked", fb, page, t("g5"))
            .app()
            .revoked("TokenInvalidated")
            .url(FACEBOOK_DIALOG)
            .url_scope("pages_show_list,pages_read_engagement,pages_manage_posts"),
        Case::new("fb-revoked-without-app", fb, page, t("g2")).revoked("AppDeauthorized"),
        Case::new("ig-password-changed", ig, igid, t("g1")).app().revoked("PasswordChanged").url(FACEBOOK_DIALOG),
        Case::new("il-checkpointed", il, ilid, t("g3")).app().revoked("AccountCheckpointed").url(INSTAGRAM_DIALOG),
        Case::new("th-deauthorized", th, thid, t("g2")).app().revoked("AppDeauthorized").url(THREADS_DIALOG),
        Case::new("th-unknown-token", th, thid, t("nonsense")).revoked("TokenInvalidated"),
        Case::new("fb-expired", fb, page, t("d5")).app().expired().url(FACEBOOK_DIALOG),
        Case::new("il-expired", il, ilid, t("g6")).expired(),
        // Client credentials or token type rejected: InvalidSecret, never Revoked.
        Case::new("fb-app-token-rejected", fb, page, t("d1")).app().invalid_secret(),
        Case::new("fb-bad-client-secret", fb, page, t("valid")).app_with_secret(fakes::BAD_SECRET).invalid_secret(),
        Case::new("ig-app-token-stored", ig, igid, t("d6")).app().invalid_secret(),
        Case::new("fb-invalid-without-expiry", fb, page, t("d5-zero")).app().revoked("TokenInvalidated").url(FACEBOOK_DIALOG),
        // Scopes: G10 on IG2 keeps the token valid.
        Case::new("ig-scope-denied", ig, igid, t("g10")).app().scopes_missing().url(FACEBOOK_DIALOG),
        Case::new("fb-scope-missing", fb, page, t("valid"))
            .app()
            .spec(json!({"requiredScopes": ["pages_manage_posts", "pages_read_engagement"]}))
            .scopes_missing()
            .scopes(&["pages_show_list", "pages_manage_posts"], &["pages_read_engagement"])
            .url(FACEBOOK_DIALOG)
            .url_scope("pages_manage_posts,pages_read_engagement,pages_show_list"),
        // Role lost.
        Case::new("fb-no-role-g9", fb, page, t("g9")).app().spec(json!({"requiredRole": "analyst"})).role_lost("RoleRemoved"),
        Case::new("fb-role-removed-g7", fb, page, t("g7")).app().role_lost("RoleRemoved"),
        Case::new("fb-insufficient", fb, page, t("fb-f")).app().spec(json!({"requiredRole": "editor"})).role_lost("InsufficientRole"),
        Case::new("fb-analyst-is-enough", fb, page, t("fb-f-analyze")).app().spec(json!({"requiredRole": "analyst"})).valid().cond(
            "RoleLost",
            "False",
            "RoleConfirmed",
        ),
        Case::new("fb-page-gone", fb, page, t("fb-g")).app().spec(json!({"requiredRole": "analyst"})).role_lost("RoleRemoved"),
        Case::new("fb-account-not-found", fb, page, t("g11")).app().spec(json!({"requiredRole": "analyst"})).role_lost("AccountNotFound"),
        Case::new("fb-page-mismatch", fb, page, t("fb-c")).app().role_lost("AccountMismatch").url(FACEBOOK_DIALOG),
        Case::new("ig-mismatch", ig, igid, t("ig-c")).app().role_lost("AccountMismatch").url(FACEBOOK_DIALOG),
        Case::new("ig-personal", ig, igid, t("ig-d")).app().role_lost("NotProfessionalAccount"),
        Case::new("ig-unknown-account", ig, "17841400000007777", t("valid")).app().role_lost("AccountNotFound"),
        Case::new("ig-page-gone", ig, igid, t("fb-g")).app().spec(json!({"requiredRole": "analyst"})).role_lost("RoleRemoved"),
        Case::new("il-mismatch", il, ilid, t("il-b"))
            .app()
            .role_lost("AccountMismatch")
            .url(INSTAGRAM_DIALOG)
            .url_scope("instagram_business_basic,instagram_business_content_publish"),
        Case::new("il-personal", il, ilid, t("il-c")).role_lost("NotProfessionalAccount"),
        Case::new("th-mismatch", th, thid, t("th-b")).app().role_lost("AccountMismatch").url(THREADS_DIALOG),
        // Expiring soon: no refresh path (no app credentials; a threads token younger than 24 h).
        Case::new("fb-expiring", fb, page, t("page")).secret("expires_at", fb_exp_s).valid().expiring().expires(Expires::At(fb_exp, 0)),
        Case::new("th-expiring", th, thid, t("valid"))
            .app()
            .secret("expires_at", th_exp_s)
            .valid()
            .expiring()
            .expires(Expires::At(th_exp, 0))
            .url(THREADS_DIALOG)
            .url_scope("threads_basic,threads_content_publish"),
        // Transient.
        Case::new("fb-unavailable", fb, page, t("http-503")).transient("ProviderUnavailable").until_third_failure(),
        // The retry delay (backoff 5–10 s) counts from when the 20 s request timeout ended, not
        // from the start of the check (providers.md 2.5).
        Case::new("fb-slow", fb, page, t("slow")).transient("ProviderUnavailable").retry(Retry::Between(25, 30)),
        Case::new("fb-unexpected-error", fb, page, t("g15")).transient("ProviderUnavailable").event("UnexpectedProviderResponse", &[]),
        // G13 on debug_token (D2) with the BUC header: 5 minutes (§2.5 rule 4).
        Case::new("ig-throttled", ig, igid, t("g13")).app().transient("RateLimited").retry(Retry::After(300)),
        Case::new("il-unavailable", il, ilid, t("g12")).transient("ProviderUnavailable"),
        // Retry-After: 60 comes before the BUC header (rule 2 before rule 4).
        Case::new("th-throttled", th, thid, t("g13")).transient("RateLimited").retry(Retry::After(60)),
    ];
    run_cases("meta", cases).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn linkedin_reports_valid_revoked_role_lost_expiring_and_transient_tokens() {
    let li = "linkedin";
    let org = fakes::LINKEDIN_ORGANIZATION_URN;
    let member = fakes::LINKEDIN_MEMBER_URN;
    let t = fakes::token;
    let li1_scopes = ["openid", "profile", "rw_organization_admin"];
    let in3d = Timestamp::now() + days(3);
    let cases = vec![
        Case::new("org-valid", li, org, t("valid"))
            .app()
            .spec(json!({"requiredRole": "admin", "requiredScopes": ["rw_organization_admin"]}))
            .valid()
            .cond("RoleLost", "False", "RoleConfirmed")
            .cond("ScopesMissing", "False", "ScopesGranted")
            .cond("ExpiringSoon", "False", "NotExpiring")
            .scopes(&li1_scopes, &[])
            .expires(Expires::At(fb1_expiry(), 0)),
        Case::new("org-numeric-valid", li, fakes::LINKEDIN_ORGANIZATION_ID, t("valid"))
            .app()
            .spec(json!({"requiredRole": "analyst"}))
            .valid()
            .cond("RoleLost", "False", "RoleConfirmed"),
        Case::new("org-analyst-is-enough", li, org, t("li-l")).app().spec(json!({"requiredRole": "analyst"})).valid().cond(
            "RoleLost",
            "False",
            "RoleConfirmed",
        ),
        Case::new("member-valid", li, member, t("valid"))
            .valid()
            .cond("RoleLost", "False", "IdentityConfirmed")
            .cond("ExpiringSoon", "False", "ExpiryUnknown")
            .account_name("Example Member"),
        Case::new("org-revoked", li, org, t("li-c"))
            .app()
            .revoked("TokenInvalidated")
            .url(LINKEDIN_DIALOG)
            .url_scope("openid profile w_organization_social rw_organization_admin"),
        Case::new("unknown-token", li, org, t("nonsense")).app().revoked("TokenInvalidated").url(LINKEDIN_DIALOG),
        Case::new("org-expired", li, org, t("li-b")).app().expired().url(LINKEDIN_DIALOG),
        Case::new("org-role-removed", li, org, t("li-m")).app().spec(json!({"requiredRole": "editor"})).role_lost("RoleRemoved"),
        Case::new("org-insufficient", li, org, t("li-l")).app().spec(json!({"requiredRole": "editor"})).role_lost("InsufficientRole"),
        Case::new("member-mismatch", li, member, t("li-mismatch"))
            .app()
            .role_lost("AccountMismatch")
            .url(LINKEDIN_DIALOG)
            .url_scope("openid profile rw_organization_admin"),
        Case::new("org-acls-denied", li, org, t("li-n")).app().spec(json!({"requiredRole": "admin"})).scopes_missing().url(LINKEDIN_DIALOG),
        Case::new("org-acl-revoked", li, org, t("li-f"))
            .app()
            .spec(json!({"requiredRole": "admin"}))
            .revoked("TokenInvalidated")
            .url(LINKEDIN_DIALOG),
        Case::new("org-acl-expired", li, org, t("li-g")).app().spec(json!({"requiredRole": "admin"})).expired().url(LINKEDIN_DIALOG),
        // LI-h with LI1's expiry (2030) still ahead: the expiry fallback says invalidated.
        Case::new("org-acl-invalid", li, org, t("li-h"))
            .app()
            .spec(json!({"requiredRole": "admin"}))
            .revoked("TokenInvalidated")
            .url(LINKEDIN_DIALOG),
        Case::new("member-no-openid", li, member, t("li-j")).valid().cond("RoleLost", "False", "RoleNotVerifiable"),
        Case::new("bad-client-id", li, org, t("li-d")).app().invalid_secret(),
        Case::new("bad-client-secret", li, org, t("valid")).app_with_secret(fakes::BAD_SECRET).invalid_secret(),
        Case::new("org-expiring", li, org, t("expiring")).app().valid().expiring().expires(Expires::At(in3d, 300)).url(LINKEDIN_DIALOG),
        // Introspection says "revoked" for a token a minute old: not believed (young-token rule,
        // 30 s waits); the third introspection says active.
        Case::new("org-young-token", li, org, t("li-c-young"))
            .app()
            .valid()
            .never("Revoked", "True", "*")
            .never("Valid", "False", "*")
            .timeout(150),
        Case::new("org-throttled", li, org, t("li-o")).app().transient("RateLimited"),
        Case::new("member-unavailable", li, member, t("http-503")).transient("ProviderUnavailable").until_third_failure(),
    ];
    run_cases("linkedin", cases).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn google_providers_report_valid_revoked_role_lost_expiring_and_transient_tokens() {
    let yt = "youtube";
    let gb = "google-business-profile";
    let ch = fakes::YOUTUBE_CHANNEL_ID;
    let acct = fakes::GBP_ACCOUNT;
    let t = fakes::token;
    let ro = "https://www.googleapis.com/auth/youtube.readonly";
    let up = "https://www.googleapis.com/auth/youtube.upload";
    let bm = "https://www.googleapis.com/auth/business.manage";
    let in1h = Timestamp::now() + SignedDuration::from_secs(3599);
    let (_, in30m) = rfc3339_in(SignedDuration::from_mins(30));
    let cases = vec![
        // GO1 reports an expiry one hour ahead; without a refresh path that is AccessTokenExpiring.
        Case::new("yt-valid", yt, ch, t("valid"))
            .spec(json!({"requiredRole": "editor", "requiredScopes": [ro]}))
            .valid()
            .cond("RoleLost", "False", "RoleConfirmed")
            .cond("ScopesMissing", "False", "ScopesGranted")
            .scopes(&[ro, up], &[])
            .expiring()
            .expires(Expires::At(in1h, 120)),
        Case::new("gbp-valid", gb, acct, t("valid"))
            .spec(json!({"requiredRole": "admin", "requiredScopes": [bm]}))
            .valid()
            .cond("RoleLost", "False", "RoleConfirmed")
            .cond("ScopesMissing", "False", "ScopesGranted")
            .scopes(&[bm], &[])
            .expiring()
            .expires(Expires::At(in1h, 120)),
        Case::new("gbp-numeric-valid", gb, "123456789", t("valid")).spec(json!({"requiredRole": "editor"})).valid().cond(
            "RoleLost",
            "False",
            "RoleConfirmed",
        ),
        Case::new("gbp-role-unknown", gb, acct, t("gb-c")).spec(json!({"requiredRole": "editor"})).valid().cond(
            "RoleLost",
            "False",
            "RoleNotVerifiable",
        ),
        // Revoked and expired.
        Case::new("yt-suspended", yt, ch, t("yt-g"))
            .app()
            .spec(json!({"requiredRole": "editor"}))
            .revoked("AccountSuspended")
            .url(GOOGLE_DIALOG),
        Case::new("gbp-invalidated", gb, acct, t("go-b"))
            .app()
            .secret("expires_at", in30m)
            .revoked("TokenInvalidated")
            .url(GOOGLE_DIALOG)
            .url_scope(bm),
        Case::new("yt-expired", yt, ch, t("go-b")).expired(),
        // GO1 just reported an expiry an hour ahead, so GB1's 401 (GO-c) is a revocation.
        Case::new("gbp-api-401", gb, acct, t("gb-h")).spec(json!({"requiredRole": "editor"})).revoked("TokenInvalidated"),
        // Role lost.
        Case::new("yt-mismatch", yt, ch, t("yt-b"))
            .app()
            .spec(json!({"requiredRole": "editor"}))
            .role_lost("AccountMismatch")
            .url(GOOGLE_DIALOG),
        Case::new("yt-no-channel", yt, ch, t("yt-c")).spec(json!({"requiredRole": "editor"})).role_lost("AccountNotFound"),
        Case::new("yt-forbidden", yt, ch, t("yt-h")).spec(json!({"requiredRole": "editor"})).role_lost("RoleRemoved"),
        Case::new("gbp-insufficient", gb, acct, t("gb-b")).spec(json!({"requiredRole": "editor"})).role_lost("InsufficientRole"),
        Case::new("gbp-moderator-is-enough", gb, acct, t("gb-b")).spec(json!({"requiredRole": "moderator"})).valid().cond(
            "RoleLost",
            "False",
            "RoleConfirmed",
        ),
        Case::new("gbp-not-found", gb, acct, t("gb-d")).spec(json!({"requiredRole": "editor"})).role_lost("AccountNotFound"),
        Case::new("gbp-other-account", gb, "accounts/987654321", t("valid"))
            .spec(json!({"requiredRole": "editor"}))
            .role_lost("AccountNotFound"),
        Case::new("gbp-permission-denied", gb, acct, t("gb-g")).spec(json!({"requiredRole": "editor"})).role_lost("RoleRemoved"),
        // Scopes.
        Case::new("yt-scope-denied", yt, ch, t("yt-f"))
            .app()
            .spec(json!({"requiredRole": "editor"}))
            .scopes_missing()
            .missing(&[ro])
            .url(GOOGLE_DIALOG),
        Case::new("gbp-scope-missing", gb, acct, t("valid"))
            .spec(json!({"requiredScopes": [bm, "https://www.googleapis.com/auth/plus.me"]}))
            .scopes_missing()
            .scopes(&[bm], &["https://www.googleapis.com/auth/plus.me"]),
        // Expiring with a consent link (client id, but no refresh token).
        Case::new("gbp-expiring", gb, acct, t("expiring"))
            .app()
            .valid()
            .expiring()
            .expires(Expires::At(in1h, 120))
            .url(GOOGLE_DIALOG)
            .url_scope(bm),
        // Transient.
        Case::new("yt-throttled", yt, ch, t("go-h")).transient("RateLimited"),
        // GO1 accepts the token (decided, kept), then YT1's quotaExceeded ends the cycle until
        // the next midnight in Los Angeles (rule 5); the role stays undecided.
        Case::new("yt-quota", yt, ch, t("yt-d"))
            .spec(json!({"requiredRole": "editor"}))
            .valid_then_interrupted()
            .retry(Retry::Until(next_pacific_midnight())),
        Case::new("gbp-quota", gb, acct, t("gb-i")).spec(json!({"requiredRole": "editor"})).valid_then_interrupted().retry(Retry::Backoff),
        // GB-f (API not enabled) is unclassified: transient plus UnexpectedProviderResponse.
        Case::new("gbp-api-disabled", gb, acct, t("gb-f"))
            .spec(json!({"requiredRole": "editor"}))
            .valid_then_interrupted()
            .event("UnexpectedProviderResponse", &["403"]),
        Case::new("gbp-scope-denied", gb, acct, t("gb-e"))
            .spec(json!({"requiredRole": "editor"}))
            .scopes_missing()
            .message("ScopesMissing", "business.manage"),
        Case::new("gbp-unavailable", gb, acct, t("http-503")).transient("ProviderUnavailable").until_third_failure(),
    ];
    run_cases("google", cases).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn x_reports_valid_revoked_role_lost_expiring_and_transient_tokens() {
    let x = "x";
    let id = fakes::X_USER_ID;
    let t = fakes::token;
    let (_, in1h) = rfc3339_in(SignedDuration::from_hours(1));
    let (exp, exp_s) = unix_in(days(2));
    let cases = vec![
        Case::new("valid", x, id, t("valid"))
            .app()
            .valid()
            .cond("RoleLost", "False", "IdentityConfirmed")
            .cond("ExpiringSoon", "False", "ExpiryUnknown")
            .account_name("example"),
        // X publishes no reauthorization URL (no PKCE code_challenge without a callback flow).
        Case::new("suspended", x, id, t("x-e")).app().revoked("AccountSuspended"),
        Case::new("invalidated", x, id, t("x-c")).secret("expires_at", in1h).revoked("TokenInvalidated"),
        Case::new("expired", x, id, t("x-c")).app().expired(),
        Case::new("mismatch", x, id, t("x-b")).app().role_lost("AccountMismatch"),
        Case::new("not-enrolled", x, id, t("x-f")).scopes_missing(),
        Case::new("app-only-token", x, id, t("x-d")).invalid_secret(),
        Case::new("expiring", x, id, t("valid")).secret("expires_at", exp_s).valid().expiring().expires(Expires::At(exp, 0)),
        // x-rate-limit-reset = now + 60 (rule 3).
        Case::new("throttled", x, id, t("x-g")).transient("RateLimited").retry(Retry::Between(57, 61)),
        Case::new("unavailable", x, id, t("http-503")).transient("ProviderUnavailable").until_third_failure(),
    ];
    run_cases("x", cases).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pinterest_reports_valid_revoked_role_lost_expiring_and_transient_tokens() {
    let pi = "pinterest";
    let user = fakes::PINTEREST_USERNAME;
    let t = fakes::token;
    let (exp, exp_s) = rfc3339_in(days(4));
    let cases = vec![
        Case::new("valid-by-username", pi, user, t("valid"))
            .valid()
            .cond("RoleLost", "False", "IdentityConfirmed")
            .account_name("exampleshop"),
        Case::new("valid-by-id", pi, fakes::PINTEREST_ACCOUNT_ID, t("valid")).valid().cond("RoleLost", "False", "IdentityConfirmed"),
        Case::new("revoked", pi, user, t("pi-c"))
            .app()
            .revoked("TokenInvalidated")
            .url(PINTEREST_DIALOG)
            .url_scope("user_accounts:read,boards:read,pins:read,pins:write"),
        Case::new("mismatch", pi, user, t("pi-b")).app().role_lost("AccountMismatch").url(PINTEREST_DIALOG),
        Case::new("scope-denied", pi, user, t("pi-d")).scopes_missing().missing(&["user_accounts:read"]),
        Case::new("expiring", pi, user, t("valid")).secret("expires_at", exp_s).valid().expiring().expires(Expires::At(exp, 0)),
        Case::new("throttled", pi, user, t("pi-f")).transient("RateLimited"),
        Case::new("unclassified", pi, user, t("pi-e")).transient("ProviderUnavailable").event("UnexpectedProviderResponse", &["403"]),
        Case::new("unavailable", pi, user, t("http-503")).transient("ProviderUnavailable").until_third_failure(),
    ];
    run_cases("pinterest", cases).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn telegram_reports_valid_revoked_role_lost_never_expiring_and_transient_bot_tokens() {
    let tg = "telegram";
    let chat = fakes::TELEGRAM_CHAT_ID;
    let t = fakes::telegram_token;
    let (_, exp_s) = rfc3339_in(days(3));
    let cases = vec![
        Case::new("editor", tg, chat, t("valid"))
            .spec(json!({"requiredRole": "editor"}))
            .valid()
            .cond("RoleLost", "False", "RoleConfirmed")
            .cond("ScopesMissing", "False", "NoScopesRequired")
            .cond("ExpiringSoon", "False", "NoExpiry")
            .expires(Expires::Absent),
        Case::new("admin", tg, chat, t("tg-admin")).spec(json!({"requiredRole": "admin"})).valid().cond(
            "RoleLost",
            "False",
            "RoleConfirmed",
        ),
        Case::new("no-role", tg, "@examplechannel", t("valid")).valid().cond("RoleLost", "False", "NoRoleRequired"),
        Case::new("revoked", tg, chat, t("tg-b")).revoked("TokenInvalidated").url(BOTFATHER),
        Case::new("malformed", tg, chat, t("tg-c")).invalid_secret(),
        Case::new("kicked", tg, chat, t("tg-f")).spec(json!({"requiredRole": "editor"})).role_lost("RoleRemoved"),
        Case::new("not-a-member", tg, chat, t("tg-f-403")).spec(json!({"requiredRole": "analyst"})).role_lost("RoleRemoved"),
        Case::new("not-admin", tg, chat, t("valid")).spec(json!({"requiredRole": "admin"})).role_lost("InsufficientRole"),
        Case::new("plain-member", tg, chat, t("tg-e")).spec(json!({"requiredRole": "editor"})).role_lost("InsufficientRole"),
        Case::new("migrated", tg, chat, t("tg-g"))
            .spec(json!({"requiredRole": "editor"}))
            .role_lost("AccountNotFound")
            .message("RoleLost", "-1001234567890"),
        Case::new("chat-not-found", tg, chat, t("tg-h")).spec(json!({"requiredRole": "editor"})).role_lost("AccountNotFound"),
        // Bot tokens never expire (TG-a: NoExpiry), whatever the Secret says.
        Case::new("never-expires", tg, chat, t("valid"))
            .secret("expires_at", exp_s)
            .valid()
            .cond("ExpiringSoon", "False", "NoExpiry")
            .no_event("TokenExpiringSoon")
            .expires(Expires::Absent),
        // parameters.retry_after 7 (rule 1).
        Case::new("member-list-hidden", tg, chat, t("tg-j"))
            .spec(json!({"requiredRole": "editor"}))
            .valid_then_interrupted()
            .event("UnexpectedProviderResponse", &["400"]),
        Case::new("throttled", tg, chat, t("tg-i")).transient("RateLimited").retry(Retry::After(7)),
        Case::new("unavailable", tg, chat, t("http-503")).transient("ProviderUnavailable").until_third_failure(),
    ];
    run_cases("telegram", cases).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tiktok_reports_valid_revoked_role_lost_expiring_and_transient_tokens() {
    let tt = "tiktok";
    let id = fakes::TIKTOK_OPEN_ID;
    let t = fakes::token;
    let (_, in1h) = unix_in(SignedDuration::from_hours(1));
    let (exp, exp_s) = rfc3339_in(days(3));
    let cases = vec![
        Case::new("valid", tt, id, t("valid")).app().valid().cond("RoleLost", "False", "IdentityConfirmed"),
        Case::new("valid-by-union-id", tt, fakes::TIKTOK_UNION_ID, t("valid")).valid().cond("RoleLost", "False", "IdentityConfirmed"),
        Case::new("invalidated", tt, id, t("tt-c"))
            .app()
            .secret("expires_at", in1h)
            .revoked("TokenInvalidated")
            .url(TIKTOK_DIALOG)
            .url_scope("user.info.basic,video.upload,video.publish"),
        Case::new("expired", tt, id, t("tt-c")).expired(),
        Case::new("mismatch", tt, id, t("tt-b")).app().role_lost("AccountMismatch").url(TIKTOK_DIALOG),
        Case::new("scope-denied", tt, id, t("tt-d")).scopes_missing().missing(&["user.info.basic"]),
        Case::new("expiring", tt, id, t("valid")).secret("expires_at", exp_s).valid().expiring().expires(Expires::At(exp, 0)),
        Case::new("throttled", tt, id, t("tt-e")).transient("RateLimited"),
        Case::new("unavailable", tt, id, t("http-503")).transient("ProviderUnavailable").until_third_failure(),
    ];
    run_cases("tiktok", cases).await;
}
