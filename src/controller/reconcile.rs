//! One reconcile: read the Secrets, ask the provider when a check is due, decide, write the
//! status by server-side apply when it changed, record Events, and requeue at the next due time.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::Context;
use super::decision::{Decision, DecisionInput, Findings, RefreshEvent, RefreshView, decide};
use super::events::Notice;
use super::outage::OutageChange;
use super::packed::PackedConnection;
use super::policy::refresh_due::{self, ProbeFacts, RefreshFacts, Trigger};
use super::refresh::{Run, RunOutcome, Stored};
use super::unstored::{OutcomeKey, Unstored};
use crate::api::{CHECK_REQUESTED_ANNOTATION, REFRESH_REQUESTED_ANNOTATION, SocialConnection, SocialConnectionStatus};
use crate::conditions::{ConditionType, find};
use crate::error::{Error, Result};
use crate::providers::{self, AppCredentials, CheckInput, CheckReport, ExpiryFact, Provider, TokenVerdict};
use crate::secrets::{self, SecretProblem, TokenSecret, fingerprint};
use crate::server::metrics::Metrics;

/// How soon to look again while another refresh of the same Secret is under way, or a
/// refreshed token waits to be stored.
const BUSY_RETRY: Duration = Duration::from_secs(5);

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "social-connection-operator";

/// Valid reasons that come from the Secret rather than the provider: while one is shown, every
/// reconcile re-reads the Secret so that a fix is picked up at once.
const SECRET_REASONS: [&str; 4] = ["SecretNotFound", "SecretKeyMissing", "InvalidSecret", "SecretAccessDenied"];

/// Reads a Secret with a GET (Secrets are never cached, only their metadata is watched). A
/// 403 is a problem a person fixes in RBAC, so it becomes a condition rather than a retried
/// error.
pub(super) async fn get_secret(api: &Api<Secret>, name: &str, field: &'static str) -> Result<std::result::Result<Secret, SecretProblem>> {
    match api.get_opt(name).await {
        Ok(Some(s)) => Ok(Ok(s)),
        Ok(None) => Ok(Err(SecretProblem::NotFound { name: name.to_string(), field })),
        Err(kube::Error::Api(status)) if status.is_forbidden() => Ok(Err(SecretProblem::Forbidden { name: name.to_string(), field })),
        Err(e) => Err(e.into()),
    }
}

/// The Secrets a connection references: the token Secret, then the app Secret.
pub fn referenced_secrets(obj: &SocialConnection) -> Vec<String> {
    let spec = &obj.spec;
    std::iter::once(spec.secret_ref.name.clone()).chain(spec.app_secret_ref.as_ref().map(|a| a.name.clone())).collect()
}

/// The Secrets loaded for a check, and the (name, resourceVersion) pairs that were read.
type Loaded = (TokenSecret, Option<AppCredentials>, Vec<(String, String)>, bool);

/// Loads and parses the token Secret and, when referenced, the app Secret.
async fn load_secrets(api: &Api<Secret>, obj: &SocialConnection) -> Result<std::result::Result<Loaded, SecretProblem>> {
    let spec = &obj.spec;
    let mut read = Vec::new();
    let token_secret = match get_secret(api, &spec.secret_ref.name, "secretRef").await? {
        Ok(s) => s,
        Err(p) => return Ok(Err(p)),
    };
    read.push((spec.secret_ref.name.clone(), token_secret.resource_version().unwrap_or_default()));
    let managed = secrets::is_managed(&token_secret.metadata);
    let token = match secrets::parse_token_secret(spec, &token_secret.data.unwrap_or_default()) {
        Ok(t) => t,
        Err(p) => return Ok(Err(p)),
    };
    let app = match &spec.app_secret_ref {
        None => None,
        Some(r) => {
            let s = match get_secret(api, &r.name, "appSecretRef").await? {
                Ok(s) => s,
                Err(p) => return Ok(Err(p)),
            };
            read.push((r.name.clone(), s.resource_version().unwrap_or_default()));
            let needs = providers::for_kind(spec.provider).profile().app_keys;
            match secrets::parse_app_secret(&r.name, needs, &s.data.unwrap_or_default()) {
                Ok(a) => Some(a),
                Err(p) => return Ok(Err(p)),
            }
        }
    };
    Ok(Ok((token, app, read, managed)))
}

/// The app's client id, when the app Secret exists and has one (for the connect link of a
/// connection whose token Secret does not exist yet).
async fn app_client_id(api: &Api<Secret>, obj: &SocialConnection) -> Option<String> {
    let r = obj.spec.app_secret_ref.as_ref()?;
    let s = api.get_opt(&r.name).await.ok()??;
    let needs = providers::for_kind(obj.spec.provider).profile().app_keys;
    secrets::parse_app_secret(&r.name, needs, &s.data.unwrap_or_default()).ok().map(|a| a.client_id).filter(|c| !c.is_empty())
}

/// Reconciles one SocialConnection; a success resets the object's API-error backoff.
///
/// Each reconcile runs in a span `reconcile` with the connection's `namespace`, name
/// (`connection`) and `provider`
/// and an `outcome` (one of [`Outcome`], or an error's label), so every log line of it says
/// which connection and, from the point the outcome is known, what came of it.
pub async fn reconcile(packed: Arc<PackedConnection>, ctx: Arc<Context>) -> Result<Action> {
    use tracing::Instrument;
    let obj = packed.unpack()?;
    let key = object_key(&obj);
    let started = std::time::Instant::now();
    let span = tracing::info_span!(
        "reconcile",
        namespace = obj.namespace().unwrap_or_default(),
        // Not `name`: JSON log lines already use that key for the span's own name.
        connection = obj.name_any(),
        provider = obj.spec.provider.as_str(),
        outcome = Outcome::Waiting.as_str(),
    );
    let result = reconcile_once(&obj, &ctx).instrument(span.clone()).await;
    if let Err(e) = &result {
        span.record("outcome", e.label());
    }
    ctx.metrics.reconciled(result.is_ok(), started.elapsed());
    if result.is_ok() {
        ctx.api_retries.succeeded(&key);
    }
    result
}

/// What a reconcile came to, as its span's `outcome` field (an error records its label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was due, or the check waits for its turn (budget, throttle, pause, refresh).
    Waiting,
    /// A new status was written.
    StatusWritten,
    /// The decided status equals the stored one: nothing was written.
    StatusUnchanged,
    /// A refresh of the token Secret is under way or its result waits to be stored.
    RefreshPending,
}

impl Outcome {
    /// The outcome as logged.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Waiting => "waiting",
            Outcome::StatusWritten => "status written",
            Outcome::StatusUnchanged => "status unchanged",
            Outcome::RefreshPending => "refresh pending",
        }
    }

    /// Records the outcome on the current reconcile span.
    fn record(self) {
        tracing::Span::current().record("outcome", self.as_str());
    }
}

/// `<namespace>/<name>`.
fn object_key(obj: &impl ResourceExt) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

async fn reconcile_once(obj: &SocialConnection, ctx: &Context) -> Result<Action> {
    let ns = obj.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let name = obj.name_any();
    let now = Timestamp::now();
    // Read our own writes: the cached object may not show the status stored last.
    let prev = ctx.written.freshest(&format!("{ns}/{name}"), &obj.uid().unwrap_or_default(), obj.status.clone().unwrap_or_default());
    let generation = obj.meta().generation;
    let spec = &obj.spec;
    let api: Api<SocialConnection> = Api::namespaced(ctx.client.clone(), &ns);

    // A connection being deleted is never checked or refreshed again.
    if let Some(deleted_at) = obj.meta().deletion_timestamp.as_ref() {
        return super::finalizer::on_delete(obj, ctx, deleted_at.0).await;
    }
    super::finalizer::ensure(&api, obj).await?;
    if spec.is_suspended() {
        if prev.observed_generation != generation {
            let mut status = prev.clone();
            status.observed_generation = generation;
            status.next_check_time = None;
            write_status(&api, &name, &status, &ctx.metrics).await?;
        }
        return Ok(Action::await_change());
    }
    // Notices follow the stored status: a decision written below comes back through the watch.
    if let Some(outbox) = &ctx.outbox {
        outbox.offer(obj);
    }

    let check_request = obj
        .annotations()
        .get(CHECK_REQUESTED_ANNOTATION)
        .filter(|v| Some(v.as_str()) != prev.last_handled_check_request.as_deref())
        .cloned();
    let refresh_request = obj
        .annotations()
        .get(REFRESH_REQUESTED_ANNOTATION)
        .filter(|v| Some(v.as_str()) != prev.last_handled_refresh_request.as_deref())
        .cloned();
    let object_key = format!("{ns}/{name}");
    let phase = super::spread::phase(&object_key);
    let prev_valid_reason = find(&prev.conditions, ConditionType::Valid).map(|c| c.reason.as_str());
    let forced = check_request.is_some()
        || refresh_request.is_some()
        || prev.observed_generation != generation
        || prev_valid_reason.is_some_and(|r| SECRET_REASONS.contains(&r));
    let due_at = prev.next_check_time.as_ref().map(|t| t.0);
    let time_due = due_at.is_none_or(|t| t <= now);
    if !forced {
        // Nothing due and the Secrets unchanged since they were read: no GET at all.
        let refs = referenced_secrets(obj);
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        if !time_due && ctx.index.unchanged_since_read(&ns, &name, &refs) {
            let wait = due_at.map(|t| super::schedule::duration_between(now, t)).unwrap_or(spec.check_interval());
            return Ok(Action::requeue(wait.max(Duration::from_secs(1))));
        }
        // Checks found due at start-up spread over a catch-up window.
        if let Some(due) = due_at.filter(|_| time_due)
            && let Some(wait) = super::spread::catch_up_delay(now, due, ctx.started, spec.check_interval(), phase)
        {
            return Ok(Action::requeue(wait.max(Duration::from_secs(1))));
        }
    }
    // A long queue for the provider's request budget: come back at a turn of its own (before
    // any Secret read, so that waiting costs the API server nothing).
    if check_request.is_none()
        && (forced || time_due)
        && let Some(wait) = ctx.budgets.pace(spec.provider, &object_key, now)
    {
        return Ok(Action::requeue(wait));
    }
    let secret_api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let provider = providers::for_kind(spec.provider);
    let loaded = load_secrets(&secret_api, obj).await?;

    // When the provider's answer arrived: retry delays count from it (§2.5).
    let mut answered_at = now;
    let mut kept_key = None;
    let mut refresh_view = RefreshView::default();
    let (findings, client_id) = match loaded {
        Err(problem) => {
            ctx.index.forget_read(&ns, &name);
            // First connection through the connect flow (§2.14): the link needs the app.
            let client_id = match (&problem, &ctx.connect_public) {
                (SecretProblem::NotFound { field: "secretRef", .. }, Some(_)) => app_client_id(&secret_api, obj).await,
                _ => None,
            };
            (Findings::Secret(problem), client_id)
        }
        Ok((mut token, app, read, managed)) => {
            ctx.index.remember_read(&ns, &name, read);
            let fp = fingerprint(&token.access_token);
            // A check whose status could not be stored is stored now, without asking the
            // provider again.
            let outcome_key = OutcomeKey { uid: obj.uid().unwrap_or_default(), generation, fingerprint: fp.clone() };
            if let Some(decision) = ctx.unstored.take_matching(&object_key, &outcome_key) {
                tracing::debug!(namespace = %ns, name = %name, "storing a kept check outcome");
                return store(&api, obj, ctx, &object_key, &prev, decision).await;
            }
            let same_token = prev.token_fingerprint.as_deref() == Some(fp.as_str());
            let due = forced || !same_token || time_due;
            if !due {
                let wait =
                    prev.next_check_time.as_ref().map(|t| super::schedule::duration_between(now, t.0)).unwrap_or(spec.check_interval());
                return Ok(Action::requeue(wait.max(Duration::from_secs(1))));
            }
            // An app-wide throttle (Graph 4, 341) holds every connection of the app: calling
            // during it would prolong it.
            if let Some(client_id) = app.as_ref().map(|a| a.client_id.as_str()).filter(|c| !c.is_empty())
                && let Some(wait) = ctx.throttles.remaining(spec.provider, client_id, now)
            {
                tracing::debug!(namespace = %ns, name = %name, wait_secs = wait.as_secs(), "app-wide provider throttle in force");
                return Ok(Action::requeue(wait.max(Duration::from_secs(1))));
            }
            let secret_key = (ns.clone(), spec.secret_ref.name.clone());
            if ctx.flights.is_busy(&secret_key) {
                // Single flight (§2.6): the token is being refreshed or its rotated successor
                // waits to be stored; a check now would use a credential about to be replaced.
                return Ok(Action::requeue(BUSY_RETRY));
            }
            let known_expires_at = if same_token { prev.expires_at.as_ref().map(|t| t.0) } else { None }.or(token.expires_at);
            let issued_at = if same_token { prev.token_first_seen_time.as_ref().map(|t| t.0) } else { Some(now) };
            let conn_key = (ns.clone(), name.clone());
            let mut cycle = Cycle {
                run: Run {
                    http: &ctx.http,
                    metrics: &ctx.metrics,
                    flights: &ctx.flights,
                    secrets: &secret_api,
                    secret: secret_key,
                    connection: conn_key.clone(),
                    keys: spec.token_keys().into(),
                },
                provider,
                event: ctx.flights.take_completed(&conn_key).map(|s| stored_event(&s, false, &ctx.flights, known_expires_at)),
                refreshed: false,
                may_save: false,
                refresh_expires_at: prev.refresh_token_expires_at.as_ref().map(|t| t.0),
            };
            let own_write = prev.last_refresh_time.is_some() && prev.last_refresh_time == prev.token_first_seen_time && same_token;
            let requested = refresh_request.is_some();
            let base = FactsBase {
                now,
                lifecycle: provider.lifecycle(),
                policy: spec.refresh_policy(),
                renew_before: spec.renew_before(),
                managed,
                has_client_id: app.as_ref().is_some_and(|a| !a.client_id.is_empty()),
                has_client_secret: app.as_ref().is_some_and(|a| a.client_secret.is_some()),
                first_seen: if same_token { prev.token_first_seen_time.as_ref().map(|t| t.0) } else { Some(now) },
                flights: &ctx.flights,
            };
            let facts = |t: &TokenSecret, e, g, i| base.facts(t, e, g, i);
            let own_issue = own_write.then_some(issued_at).flatten();
            let secret_scopes = token.scopes.clone();

            // A provider that looks down pauses (a check a person asked for goes through).
            if check_request.is_none()
                && let Some(wait) = ctx.outages.remaining(spec.provider, now)
            {
                let spread = wait.min(Duration::from_secs(60)).mul_f64(phase);
                tracing::debug!(namespace = %ns, name = %name, provider = %spec.provider, wait_secs = wait.as_secs(), "provider paused");
                return Ok(Action::requeue((wait + spread).max(Duration::from_secs(1))));
            }
            // Step 2: refresh before the probe (refresh-token providers).
            let mut forced: Option<CheckReport> = None;
            let mut expires_now = known_expires_at;
            match refresh_due::before_probe(&facts(&token, known_expires_at, secret_scopes.as_deref(), own_issue), requested) {
                Err(blocker) => cycle.event = Some(RefreshEvent::Blocked { why: blocker.message() }),
                Ok(None) => {}
                Ok(Some(trigger)) => match cycle.refresh(&mut token, known_expires_at, spec, app.as_ref(), now, trigger).await {
                    Step::Done => expires_now = token.expires_at,
                    Step::Skipped => {}
                    Step::Report(r) => forced = Some(*r),
                    Step::Stop(wait, notice) => return stop(ctx, obj, wait, notice).await,
                },
            }

            // Step 3: probe; step 4: a "→ refresh" row refreshes once and probes again.
            let mut report = match forced {
                Some(r) => r,
                None => provider.check(&ctx.http, &check_input(spec, &token, app.as_ref(), expires_now, issued_at, now)).await,
            };
            if matches!(report.token, Some(TokenVerdict::RefreshThen(_)))
                && let Some(trigger) =
                    refresh_due::on_refresh_row(&facts(&token, expires_now, secret_scopes.as_deref(), own_issue), cycle.refreshed)
            {
                match cycle.refresh(&mut token, expires_now, spec, app.as_ref(), now, trigger).await {
                    Step::Done => {
                        report =
                            provider.check(&ctx.http, &check_input(spec, &token, app.as_ref(), token.expires_at, Some(now), now)).await;
                    }
                    Step::Report(r) => report = *r,
                    Step::Skipped => {}
                    Step::Stop(wait, notice) => return stop(ctx, obj, wait, notice).await,
                }
            }

            // Step 5: refresh after a valid probe (Meta family).
            let probe = ProbeFacts {
                valid: report.token == Some(TokenVerdict::Valid),
                token_type: report.token_type,
                never_expires: report.expiry == ExpiryFact::Never,
            };
            let probed_expiry = match report.expiry {
                ExpiryFact::At(t) => Some(t),
                _ => expires_now,
            };
            let granted = report.granted_scopes.clone().or(secret_scopes.clone());
            let issue = report.issued_at.or(own_issue);
            if !cycle.refreshed && cycle.event.is_none() {
                match refresh_due::after_probe(&facts(&token, probed_expiry, granted.as_deref(), issue), &probe, requested) {
                    Err(blocker) => cycle.event = Some(RefreshEvent::Blocked { why: blocker.message() }),
                    Ok(None) => {}
                    Ok(Some(trigger)) => match cycle.refresh(&mut token, probed_expiry, spec, app.as_ref(), now, trigger).await {
                        Step::Done => {
                            if let Some(RefreshEvent::Stored { after_probe, .. }) = &mut cycle.event {
                                *after_probe = true;
                            }
                        }
                        Step::Skipped => {}
                        Step::Report(r) => {
                            // A refused exchange decides about the token; a transient one
                            // leaves the probe's verdict and ends the cycle.
                            match r.token {
                                Some(v) => report.token = Some(v),
                                None => report.interruption = r.interruption,
                            }
                        }
                        Step::Stop(wait, notice) => return stop(ctx, obj, wait, notice).await,
                    },
                }
            }
            let final_facts = facts(&token, cycle_expiry(&cycle.event, probed_expiry), granted.as_deref(), issue.or(cycle.stored_at()));
            refresh_view = RefreshView {
                event: cycle.event.take(),
                request: None,
                renewability: refresh_due::renewability(&final_facts, Some(&probe)),
                window_opens: refresh_due::window_opens(&final_facts, Some(&probe)),
                may_save: cycle.may_save,
            };
            answered_at = Timestamp::now();
            kept_key = Some(outcome_key);
            let fp = fingerprint(&token.access_token);
            if let Some(i) = &report.interruption {
                tracing::info!(namespace = %ns, name = %name, provider = %spec.provider, detail = %i.detail, "transient provider answer");
            }
            let outage = report
                .interruption
                .as_ref()
                .is_some_and(|i| i.kind == providers::TransientKind::Unavailable && i.counts_as_failure && !i.app_wide);
            note_outage(ctx, obj, ctx.outages.record(spec.provider, &object_key, Timestamp::now(), outage)).await;
            let findings = Findings::Checked {
                report: Box::new(report),
                secret_expires_at: token.expires_at,
                secret_scopes: token.scopes.clone(),
                fingerprint: fp,
            };
            (findings, app.map(|a| a.client_id).filter(|c| !c.is_empty()))
        }
    };

    let connect_link = ctx.connect_public.as_deref().map(|p| crate::server::connect::link(p, &ns, &name));
    let app_wide_limit = matches!(&findings, Findings::Checked { report, .. }
        if report.interruption.as_ref().is_some_and(|i| i.app_wide));
    let decision: Decision = decide(DecisionInput {
        now,
        answered_at,
        generation,
        object_key: &object_key,
        spec,
        previous: &prev,
        profile: provider.profile(),
        default_scopes: provider.default_scopes(&spec.account.id),
        client_id: client_id.as_deref(),
        default_redirect_url: ctx.default_redirect_url.as_deref(),
        graph_version: &ctx.http.graph_version,
        connect_link: connect_link.as_deref(),
        check_request: check_request.as_deref(),
        findings,
        jitter: (phase, rand::random::<f64>()),
        refresh: RefreshView { request: refresh_request.as_deref(), ..refresh_view },
    });

    if app_wide_limit && let Some(client_id) = client_id.as_deref() {
        ctx.throttles.record(spec.provider, client_id, super::schedule::add(answered_at, decision.requeue_after));
    }
    if let Some(key) = kept_key {
        ctx.unstored.keep(&object_key, Unstored { key, decision: decision.clone() });
    }
    store(&api, obj, ctx, &object_key, &prev, decision).await
}

/// Writes the decided status when it changed, then records its Events (after the write, so a
/// failed write never sends an Event twice), and forgets the kept outcome.
async fn store(
    api: &Api<SocialConnection>,
    obj: &SocialConnection,
    ctx: &Context,
    object_key: &str,
    prev: &SocialConnectionStatus,
    decision: Decision,
) -> Result<Action> {
    let (ns, name) = (obj.namespace().unwrap_or_default(), obj.name_any());
    if &decision.status != prev {
        write_status(api, &name, &decision.status, &ctx.metrics).await?;
        Outcome::StatusWritten.record();
        ctx.written.wrote(object_key, &obj.uid().unwrap_or_default(), &decision.status);
        let ready = find(&decision.status.conditions, ConditionType::Ready);
        tracing::info!(
            namespace = %ns, name = %name, provider = %obj.spec.provider,
            ready = ready.map(|c| c.status.as_str()).unwrap_or(""),
            reason = ready.map(|c| c.reason.as_str()).unwrap_or(""),
            "status updated"
        );
    }
    ctx.unstored.stored(object_key);
    let reference = obj.object_ref(&());
    for notice in &decision.notices {
        if let Err(e) = ctx.recorder.publish(&notice.to_event(), &reference).await {
            tracing::warn!(namespace = %ns, name = %name, reason = notice.reason(), error = %e, "recording an event failed");
        }
    }
    // The requeue counts from now: a kept outcome may be stored long after it was decided.
    let wait = match decision.status.next_check_time.as_ref() {
        Some(t) => super::schedule::duration_between(Timestamp::now(), t.0),
        None => decision.requeue_after,
    };
    Ok(Action::requeue(wait.max(Duration::from_secs(1))))
}

/// Says once per outage (log and Event on the connection whose check started it) that a
/// provider pauses, and when it answers again. The metric hook is
/// [`super::outage::ProviderOutages::paused`].
async fn note_outage(ctx: &Context, obj: &SocialConnection, change: OutageChange) {
    let provider = obj.spec.provider.as_str();
    match change {
        OutageChange::None => {}
        OutageChange::Paused { pause, failures, checks, first: true } => {
            tracing::warn!(provider, failures, checks, pause_secs = pause.as_secs(), "provider looks down; pausing its checks");
            ctx.metrics.provider_paused(obj.spec.provider);
            let notice = Notice::ProviderPaused { provider, failures, checks, pause };
            if let Err(e) = ctx.recorder.publish(&notice.to_event(), &obj.object_ref(&())).await {
                tracing::warn!(provider, error = %e, "recording an event failed");
            }
        }
        OutageChange::Paused { pause, .. } => {
            tracing::debug!(provider, pause_secs = pause.as_secs(), "provider still down; pausing longer");
        }
        OutageChange::Recovered => tracing::info!(provider, "provider answers again; checks resume"),
    }
}

/// Ends a cycle early: records `notice` (once; the recorder merges repeats) and requeues.
async fn stop(ctx: &Context, obj: &SocialConnection, wait: Duration, notice: Option<Notice>) -> Result<Action> {
    Outcome::RefreshPending.record();
    if let Some(n) = notice
        && let Err(e) = ctx.recorder.publish(&n.to_event(), &obj.object_ref(&())).await
    {
        tracing::warn!(name = %obj.name_any(), reason = n.reason(), error = %e, "recording an event failed");
    }
    Ok(Action::requeue(wait))
}

/// The refresh facts that stay the same through a cycle.
struct FactsBase<'a> {
    now: Timestamp,
    lifecycle: &'static providers::Lifecycle,
    policy: crate::api::RefreshPolicy,
    renew_before: Option<Duration>,
    managed: bool,
    has_client_id: bool,
    has_client_secret: bool,
    first_seen: Option<Timestamp>,
    flights: &'a super::refresh::Flights,
}

impl FactsBase<'_> {
    fn facts<'g>(
        &self,
        t: &TokenSecret,
        expires_at: Option<Timestamp>,
        granted: Option<&'g [String]>,
        issued: Option<Timestamp>,
    ) -> RefreshFacts<'g> {
        RefreshFacts {
            now: self.now,
            lifecycle: self.lifecycle,
            policy: self.policy,
            renew_before: self.renew_before,
            managed: self.managed,
            has_refresh_token: t.refresh_token.is_some(),
            has_client_id: self.has_client_id,
            has_client_secret: self.has_client_secret,
            expires_at,
            issued_at: issued,
            first_seen: self.first_seen,
            granted_scopes: granted,
            not_extended: self.flights.not_extended(&fingerprint(&t.access_token)),
        }
    }
}

/// The check input for `token`.
fn check_input<'a>(
    spec: &'a crate::api::SocialConnectionSpec,
    token: &'a TokenSecret,
    app: Option<&'a AppCredentials>,
    known_expires_at: Option<Timestamp>,
    issued_at: Option<Timestamp>,
    now: Timestamp,
) -> CheckInput<'a> {
    CheckInput {
        account_id: &spec.account.id,
        token: &token.access_token,
        refresh_token: token.refresh_token.as_ref(),
        app,
        required_role: spec.required_role,
        known_expires_at,
        token_issued_at: issued_at,
        now,
    }
}

/// The expiry after the cycle's refresh, if one was stored.
fn cycle_expiry(event: &Option<RefreshEvent>, otherwise: Option<Timestamp>) -> Option<Timestamp> {
    match event {
        Some(RefreshEvent::Stored { expires_at, .. }) => *expires_at,
        _ => otherwise,
    }
}

/// The status event of a stored refresh; a refresh that did not move the expiry is
/// remembered so that it is not repeated for that token (§2.6).
fn stored_event(s: &Stored, after_probe: bool, flights: &super::refresh::Flights, old_expiry: Option<Timestamp>) -> RefreshEvent {
    let fp = fingerprint(&s.access_token);
    let extended = match (old_expiry, s.expires_at) {
        (Some(old), Some(new)) => new > old,
        (_, None) => true,
        (None, Some(_)) => true,
    };
    if !extended {
        flights.mark_not_extended(&fp);
    }
    RefreshEvent::Stored {
        at: s.at,
        fingerprint: fp,
        expires_at: s.expires_at,
        refresh_token_expires_at: s.refresh_token_expires_at,
        after_probe,
    }
}

/// What a refresh step leaves the cycle with.
enum Step {
    /// A new token is stored and in use.
    Done,
    /// No refresh was made after all (the provider has no call for this token).
    Skipped,
    /// The refresh decided the cycle: this report replaces the probe's.
    Report(Box<CheckReport>),
    /// The cycle ends here and starts again after this wait (busy, pending write, superseded),
    /// after recording the Event, if any.
    Stop(Duration, Option<Notice>),
}

/// The refresh part of one cycle: at most one refresh (§2.3), its outcome for status.
struct Cycle<'a> {
    run: Run<'a>,
    provider: &'static dyn Provider,
    event: Option<RefreshEvent>,
    refreshed: bool,
    may_save: bool,
    /// The refresh-token expiry recorded in status.
    refresh_expires_at: Option<Timestamp>,
}

impl Cycle<'_> {
    fn stored_at(&self) -> Option<Timestamp> {
        match &self.event {
            Some(RefreshEvent::Stored { at, .. }) => Some(*at),
            _ => None,
        }
    }

    /// Runs one refresh with `token` and, when stored, swaps in the new token.
    async fn refresh(
        &mut self,
        token: &mut TokenSecret,
        known_expires_at: Option<Timestamp>,
        spec: &crate::api::SocialConnectionSpec,
        app: Option<&AppCredentials>,
        now: Timestamp,
        trigger: Trigger,
    ) -> Step {
        self.refreshed = true;
        let input = check_input(spec, token, app, known_expires_at, None, now);
        let outcome = self.run.refresh(self.provider, &input).await;
        let (ns, secret) = &self.run.secret;
        tracing::info!(namespace = %ns, secret = %secret, trigger = ?trigger, outcome = outcome_label(&outcome), "refresh");
        match outcome {
            RunOutcome::Stored(s) => {
                self.event = Some(stored_event(&s, false, self.run.flights, known_expires_at));
                token.access_token = s.access_token.clone();
                token.expires_at = s.expires_at;
                Step::Done
            }
            RunOutcome::Refused(v) => {
                let v = refusal_verdict(v, self.refresh_expires_at, now);
                self.event = Some(RefreshEvent::Refused { why: refusal_reason(&v) });
                Step::Report(Box::new(CheckReport::verdict(v)))
            }
            RunOutcome::Interrupted(i) => {
                self.may_save = true;
                Step::Report(Box::new(CheckReport::interrupted(i)))
            }
            RunOutcome::NotSupported => Step::Skipped,
            RunOutcome::Pending { why } => Step::Stop(BUSY_RETRY, Some(Notice::WriteBackFailed { why })),
            RunOutcome::Busy => Step::Stop(BUSY_RETRY, None),
            RunOutcome::Superseded => Step::Stop(Duration::from_secs(1), None),
        }
    }
}

/// A refused refresh's verdict: `invalid_grant` past the recorded refresh-token expiry is
/// `Expired`, not revoked (§2.6).
fn refusal_verdict(v: TokenVerdict, refresh_expires_at: Option<Timestamp>, now: Timestamp) -> TokenVerdict {
    match v {
        TokenVerdict::Revoked { reason: crate::conditions::RevokedReason::TokenInvalidated, message }
            if refresh_due::refresh_token_expired(refresh_expires_at, now) =>
        {
            TokenVerdict::Expired { message: format!("{message}; the refresh token expired") }
        }
        other => other,
    }
}

/// The classified reason of a refused refresh, for its `RefreshFailed` Event.
fn refusal_reason(v: &TokenVerdict) -> String {
    match v {
        TokenVerdict::Revoked { reason, message } => format!("{}: {message}", reason.as_str()),
        TokenVerdict::Expired { message } => format!("Expired: {message}"),
        TokenVerdict::InvalidSecret { message } => format!("InvalidSecret: {message}"),
        _ => "the provider refused the refresh".to_string(),
    }
}

/// A fixed label for the log line of a refresh.
fn outcome_label(o: &RunOutcome) -> &'static str {
    match o {
        RunOutcome::Stored(_) => "stored",
        RunOutcome::Refused(_) => "refused",
        RunOutcome::Interrupted(_) => "transient",
        RunOutcome::Pending { .. } => "write-back pending",
        RunOutcome::Superseded => "superseded",
        RunOutcome::Busy => "busy",
        RunOutcome::NotSupported => "not supported",
    }
}

/// Server-side applies the whole status with the operator's field manager, except
/// `notifications`, which the notifier owns under a field manager of its own.
async fn write_status(api: &Api<SocialConnection>, name: &str, status: &SocialConnectionStatus, metrics: &Metrics) -> Result<()> {
    let status = SocialConnectionStatus { notifications: Vec::new(), ..status.clone() };
    let patch = serde_json::json!({
        "apiVersion": "social.connections.dev/v1alpha1",
        "kind": "SocialConnection",
        "status": status,
    });
    let written = api.patch_status(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await;
    metrics.status_written(written.is_ok());
    written?;
    Ok(())
}

/// Retry timing after a Kubernetes API error (provider failures are not errors: they are
/// decided into status and scheduled by the decision): exponential backoff per object, so a
/// failing API server is not hammered. A kept check outcome is stored on the retry without a
/// new provider call.
pub fn error_policy(obj: Arc<PackedConnection>, err: &Error, ctx: Arc<Context>) -> Action {
    let wait = ctx.api_retries.failed(&object_key(obj.as_ref()), rand::random::<f64>());
    tracing::warn!(
        name = %obj.name_any(), namespace = obj.namespace().unwrap_or_default(), error = %err, kind = err.label(),
        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "reconcile failed; retrying"
    );
    Action::requeue(wait)
}
