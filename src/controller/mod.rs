//! The SocialConnection controller: wiring (one controller for every watched namespace, fed
//! by [`feed`]; the Secret → connection [`index`]; the HTTP server of [`crate::server`];
//! [`leader`] election), [`reconcile`]
//! (orchestration), [`decision`] (pure rules), [`schedule`] and [`spread`] (timing),
//! [`throttle`] and [`outage`] (politeness toward providers), [`consent`] (reauthorization
//! URLs), [`finalizer`] (revoke on delete) and [`events`].

pub mod consent;
pub mod decision;
pub mod events;
pub mod feed;
pub mod finalizer;
pub mod index;
pub mod leader;
pub mod outage;
pub mod packed;
pub mod policy;
pub mod reconcile;
pub mod refresh;
pub mod schedule;
pub mod spread;
pub mod throttle;
pub mod unstored;

#[cfg(test)]
mod hostile_answers;

use std::sync::Arc;

use futures::{FutureExt, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::controller::{self, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::{WatchStreamExt, watcher};

use crate::api::SocialConnection;
use crate::config::RunArgs;
use crate::error::{Error, Result};
use crate::providers::ProviderHttp;
use crate::server::collector::StoreSlot;
use crate::server::metrics::Metrics;
use crate::server::readiness::{Readiness, WatchHealth};

/// Everything a reconcile needs, built once in `run`.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// HTTP access to the providers (every request passes `budgets`).
    pub http: ProviderHttp,
    /// The Event recorder.
    pub recorder: Recorder,
    /// Default redirect URL for reauthorization links.
    pub default_redirect_url: Option<String>,
    /// App-wide provider throttles (Graph codes 4 and 341).
    pub throttles: throttle::AppThrottles,
    /// Notices per SocialNotificationPolicy (`None` with --disable-notifications).
    pub outbox: Option<Arc<crate::notify::Outbox>>,
    /// Check outcomes whose status is not stored yet.
    pub unstored: unstored::UnstoredOutcomes,
    /// Per-object backoff after Kubernetes API errors.
    pub api_retries: unstored::ApiRetries,
    /// Statuses written and not yet seen through the watch.
    pub written: unstored::WrittenStatuses,
    /// Per-provider request budgets.
    pub budgets: Arc<throttle::ProviderBudgets>,
    /// Providers paused because they look down.
    pub outages: outage::ProviderOutages,
    /// Which connections use which Secrets, and the Secret versions they last read.
    pub index: Arc<index::SecretIndex>,
    /// When this process started (checks found due at start-up spread from here).
    pub started: Timestamp,
    /// One refresh at a time per token Secret; pending write-backs.
    pub flights: Arc<refresh::Flights>,
    /// The connect flow's public base URL, when it is on (§2.14): links in status point there.
    pub connect_public: Option<String>,
    /// The metrics registry (counters are incremented where the event happens).
    pub metrics: Arc<Metrics>,
    /// Revokes on delete in progress.
    pub revocations: finalizer::Revocations,
    /// How long transient revoke answers are retried after a deletion request.
    pub revoke_timeout: std::time::Duration,
}

/// What lives as long as the process, shared by every leadership term.
struct Process {
    client: Client,
    http: ProviderHttp,
    recorder: Recorder,
    budgets: Arc<throttle::ProviderBudgets>,
    /// Process-wide, not per term: a refresh write-back still retrying after a lost Lease
    /// keeps its Secret's flight, also if this process leads again.
    flights: Arc<refresh::Flights>,
    scopes: Vec<Option<String>>,
    default_redirect_url: Option<String>,
    concurrency: u16,
    disable_notifications: bool,
    readiness: Readiness,
    /// The connect flow's public base URL, when it is on.
    connect_public: Option<String>,
    metrics: Arc<Metrics>,
    /// The current term's store of connections, for the metrics collector (empty while
    /// standing by: only the leader exports per-connection series).
    store_slot: StoreSlot,
    /// How long transient revoke answers are retried after a deletion request.
    revoke_timeout: std::time::Duration,
    /// `--watch-label-selector`: only connections whose labels match.
    label_selector: Option<String>,
}

/// Runs the controller until SIGINT or SIGTERM: at once, or with `--leader-election` whenever
/// this process holds the leader Lease.
///
/// How losing the Lease stops everything before another process can start (see
/// [`leader`] for why the fence fires at least `leaseDuration - renewDeadline` before anyone
/// else may take the Lease): the fence's future and the term's future are branches of one
/// `select!`, so when the fence fires the term's future is dropped right there. That drops the
/// controller stream, whose reconciles run as kube-runtime `CancelableJoinHandle`s, aborted on
/// drop (with them their provider requests, status writes and Events), and the term's drop
/// guard cancels the token that ends every notice delivery and the policy watches. What
/// survives, on purpose: a rotated token whose write-back to its Secret is still being retried
/// (`refresh::retry_write`); the provider already spent the old refresh token, so dropping it
/// would lose the credential, and its conditional write (resourceVersion, expected old
/// access token) never overwrites what the new leader stored.
pub async fn run(args: RunArgs) -> Result<()> {
    crate::providers::http::install_crypto_provider();
    let endpoints = args.endpoints()?;
    let connect = crate::server::connect::ConnectConfig::from_args(&args)?;
    let budgets = Arc::new(throttle::ProviderBudgets::new(&args.rates()?));
    let store_slot = StoreSlot::default();
    let metrics = Arc::new(Metrics::for_terms(store_slot.clone()));
    let http = ProviderHttp::new(endpoints, args.graph_api_version.clone(), args.linkedin_version.clone())?
        .with_gate(budgets.clone())
        .with_observer(metrics.clone());
    let timings = if args.leader_election {
        Some(leader::Timings::new(
            args.leader_election_lease_duration,
            args.leader_election_renew_deadline,
            args.leader_election_retry_period,
        )?)
    } else {
        None
    };
    let client = Client::try_default().await.map_err(|e| Error::KubeConfig(e.to_string()))?;
    let reporter = Reporter { controller: "social-connection-operator".into(), instance: std::env::var("POD_NAME").ok() };
    let recorder = Recorder::new(client.clone(), reporter);
    let scopes: Vec<Option<String>> =
        if args.namespaces.is_empty() { vec![None] } else { args.namespaces.iter().map(|n| Some(n.clone())).collect() };
    let process = Process {
        client: client.clone(),
        http,
        recorder,
        budgets,
        flights: Arc::default(),
        scopes,
        default_redirect_url: args.default_redirect_url.clone(),
        concurrency: args.concurrency.get(),
        disable_notifications: args.disable_notifications,
        readiness: Readiness::default(),
        connect_public: connect.as_ref().map(|c| c.public_url().to_string()),
        metrics: metrics.clone(),
        store_slot,
        revoke_timeout: args.revoke_timeout,
        label_selector: args.watch_label_selector.clone(),
    };
    let server = tokio::spawn(crate::server::serve(args.health_addr, crate::server::router(process.readiness.clone(), metrics)));
    // The connect flow's link and callback, on their own address (off without a public URL).
    // It serves people, not the reconcile loop, so it runs on every replica (a callback can
    // reach any of them; its Secret write is guarded and conditional).
    let connect_server = connect.map(|config| {
        let connect = crate::server::connect::Connect::new(client.clone(), process.http.clone(), config);
        tokio::spawn(crate::server::connect::serve(Arc::new(connect)))
    });
    let mut signals = listen_for_signals();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        watches = process.scopes.len(),
        leader_election = args.leader_election,
        "social-connection-operator started"
    );

    match timings {
        None => run_until_signal(&process, signals.clone()).await?,
        Some(timings) => {
            let settings = leader::Settings {
                namespace: args.leader_election_namespace.clone().unwrap_or_else(|| client.default_namespace().to_string()),
                lease_name: args.leader_election_lease_name.clone(),
                identity: leader::identity(),
                timings,
            };
            let election = tokio::select! {
                e = leader::Election::start(client.clone(), settings) => Some(e),
                () = signalled(&mut signals, 1) => None,
            };
            if let Some(mut election) = election {
                process.readiness.standby();
                loop {
                    let until = tokio::select! {
                        until = election.elected() => until,
                        () = signalled(&mut signals, 1) => {
                            election.resign().await;
                            break;
                        }
                    };
                    tracing::info!(identity = election.identity(), "became the leader");
                    // Dropping the losing branch stops the term: see this function's docs.
                    let lost = tokio::select! {
                        biased;
                        lost = election.lost(until) => Ok(lost),
                        ended = run_until_signal(&process, signals.clone()) => Err(ended),
                    };
                    let why = match lost {
                        Ok(why) => why,
                        Err(ended) => {
                            election.resign().await;
                            ended?;
                            break;
                        }
                    };
                    process.readiness.standby();
                    tracing::warn!(reason = %why, identity = election.identity(), "lost the leader Lease: stopped reconciling, calling providers and sending notices; standing by");
                    if *signals.borrow() > 0 {
                        election.resign().await;
                        break;
                    }
                }
            }
        }
    }
    server.abort();
    if let Some(s) = connect_server {
        s.abort();
    }
    tracing::info!("social-connection-operator stopped");
    Ok(())
}

/// Counts SIGINT and SIGTERM: the first asks for a graceful stop, the second for an
/// immediate one.
fn listen_for_signals() -> tokio::sync::watch::Receiver<u32> {
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the operator");
                None
            }
        };
        loop {
            let sigterm = async {
                match terminate.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = sigterm => {}
            }
            tx.send_modify(|n| *n = n.saturating_add(1));
        }
    });
    rx
}

/// Resolves once `n` signals have arrived.
async fn signalled(signals: &mut tokio::sync::watch::Receiver<u32>, n: u32) {
    if signals.wait_for(|count| *count >= n).await.is_err() {
        // The listener never ends; if it did, no signal can come any more.
        std::future::pending::<()>().await;
    }
}

/// Runs one term until a signal: on the first, the controller stops taking work and waits for
/// running reconciles; a second stops it at once.
async fn run_until_signal(process: &Process, mut signals: tokio::sync::watch::Receiver<u32>) -> Result<()> {
    let (graceful, trigger) = futures::channel::oneshot::channel::<()>();
    let term = run_term(process, trigger);
    tokio::pin!(term);
    tokio::select! {
        ended = &mut term => return ended,
        () = signalled(&mut signals, 1) => {}
    }
    tracing::info!("stopping: waiting for running reconciles (a second signal stops at once)");
    let _ = graceful.send(());
    tokio::select! {
        ended = &mut term => ended,
        () = signalled(&mut signals, 2) => {
            tracing::warn!("second signal: stopping at once");
            Ok(())
        }
    }
}

/// One term of reconciling: every watch, the controller and the notices, built fresh (no
/// memory of an earlier term survives but the refresh flights). Ends when `graceful` fires
/// and running reconciles are done; dropping the future stops everything at once.
async fn run_term(process: &Process, graceful: futures::channel::oneshot::Receiver<()>) -> Result<()> {
    let client = &process.client;
    let scopes = &process.scopes;
    let stop = tokio_util::sync::CancellationToken::new();
    // Cancels the notices and policy watches of this term however the term ends.
    let _stop_on_drop = stop.clone().drop_guard();
    let (outbox, policy_changes) = if process.disable_notifications {
        (None, None)
    } else {
        let policies = crate::notify::outbox::watch_policies(client, scopes, &stop);
        let observer = process.metrics.clone();
        let outbox = crate::notify::Outbox::new(client.clone(), process.recorder.clone(), policies.stores, observer, Default::default())
            .map_err(|e| Error::Http(e.into()))?;
        (Some(Arc::new(outbox.stopped_by(stop.clone()))), Some(policies.changed))
    };
    let index = Arc::new(index::SecretIndex::default());
    let ctx = Arc::new(Context {
        client: client.clone(),
        http: process.http.clone(),
        recorder: process.recorder.clone(),
        default_redirect_url: process.default_redirect_url.clone(),
        throttles: throttle::AppThrottles::default(),
        outbox,
        unstored: unstored::UnstoredOutcomes::default(),
        api_retries: unstored::ApiRetries::default(),
        written: unstored::WrittenStatuses::default(),
        budgets: process.budgets.clone(),
        outages: outage::ProviderOutages::default(),
        index: index.clone(),
        started: Timestamp::now(),
        flights: process.flights.clone(),
        connect_public: process.connect_public.clone(),
        metrics: process.metrics.clone(),
        revocations: finalizer::Revocations::default(),
        revoke_timeout: process.revoke_timeout,
    });

    let watch_health = WatchHealth::default();
    process.readiness.leading(watch_health.clone());

    // One watch of connections and one metadata-only watch of Secrets per scope (a namespace,
    // or the whole cluster), feeding one controller: one store, one queue, one concurrency
    // limit. Errors reach the logs at warning level and /readyz through the watch handles.
    let label = |s: &Option<String>| s.clone().unwrap_or_else(|| "all namespaces".to_string());
    let connection_watches: Vec<_> = scopes
        .iter()
        .enumerate()
        .map(|(i, ns)| {
            let api: Api<SocialConnection> = match ns {
                Some(n) => Api::namespaced(client.clone(), n),
                None => Api::all(client.clone()),
            };
            let handle = watch_health.register("socialconnections");
            let scope = label(ns);
            let config = watcher::Config::default().any_semantic();
            let config = match &process.label_selector {
                Some(sel) => config.labels(sel),
                None => config,
            };
            watcher(api, config).default_backoff().inspect(move |item| handle.observe(item)).map(move |e| (i, scope.clone(), e)).boxed()
        })
        .collect();
    let (mut connection_feed, store) = feed::ConnectionFeed::new(scopes.len(), index.clone());
    // The metrics collector reads this term's store at scrape time, until the term ends.
    let _store_in_metrics = process.store_slot.hold(store.clone());
    let connections = futures::stream::select_all(connection_watches)
        .filter_map(move |(i, scope, e)| std::future::ready(connection_feed.apply(i, &scope, e).map(Ok::<_, watcher::Error>)));
    let secret_watches: Vec<_> = scopes
        .iter()
        .map(|ns| {
            let api: Api<PartialObjectMeta<Secret>> = match ns {
                Some(n) => Api::namespaced(client.clone(), n),
                None => Api::all(client.clone()),
            };
            let handle = watch_health.register("secrets");
            let index = index.clone();
            watcher(api, watcher::Config::default())
                .default_backoff()
                .inspect(move |item| handle.observe(item))
                .filter_map(move |e| std::future::ready(feed::secret_event(&index, e).map(Ok::<_, watcher::Error>)))
                .boxed()
        })
        .collect();
    let secrets = futures::stream::select_all(secret_watches);

    // A policy that changed wakes the connections of its namespace: their reconcile offers
    // them to the notifier (cheap while nothing is due: no Secret read, no provider call).
    let policy_store = store.clone();
    let policy_changes = match policy_changes {
        Some(rx) => rx.map(Ok::<_, watcher::Error>).boxed(),
        None => futures::stream::empty().boxed(),
    };
    let mapper_index = index.clone();
    Controller::for_stream(connections, store)
        .with_config(ControllerConfig::default().concurrency(process.concurrency))
        .watches_stream(secrets, move |s| feed::connections_using(&mapper_index, &s))
        .watches_stream(policy_changes, move |p| feed::connections_in_namespace_of(&policy_store, &p))
        .graceful_shutdown_on(graceful.map(|_| ()))
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|res| async move {
            match res {
                Ok(_) => {}
                // error_policy has logged these already.
                Err(controller::Error::ReconcilerFailed(..)) => {}
                // The watch streams log their own errors; anything else is worth a warning.
                Err(controller::Error::QueueError(e)) => tracing::debug!(error = %e, "watch error in the controller queue"),
                Err(e) => tracing::warn!(error = %e, "controller error"),
            }
        })
        .await;
    Ok(())
}
