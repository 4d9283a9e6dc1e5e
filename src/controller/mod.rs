//! The SocialConnection controller: wiring (one controller for every watched namespace, fed
//! by [`feed`]; the Secret → connection [`index`]; the HTTP server of [`crate::server`]), [`reconcile`]
//! (orchestration), [`decision`] (pure rules), [`schedule`] and [`spread`] (timing),
//! [`throttle`] and [`outage`] (politeness toward providers), [`consent`] (reauthorization
//! URLs), [`finalizer`] (revoke on delete) and [`events`].

pub mod consent;
pub mod decision;
pub mod events;
pub mod feed;
pub mod finalizer;
pub mod index;
pub mod outage;
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

use futures::StreamExt;
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
use crate::server::metrics::Metrics;
use crate::server::readiness::WatchHealth;

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

/// Runs the controller until SIGINT or SIGTERM.
pub async fn run(args: RunArgs) -> Result<()> {
    crate::providers::http::install_crypto_provider();
    let endpoints = args.endpoints()?;
    let connect = crate::server::connect::ConnectConfig::from_args(&args)?;
    let budgets = Arc::new(throttle::ProviderBudgets::new(&args.rates()?));
    let scopes: Vec<Option<String>> =
        if args.namespaces.is_empty() { vec![None] } else { args.namespaces.iter().map(|n| Some(n.clone())).collect() };
    let index = Arc::new(index::SecretIndex::default());
    // The feed owns the controller's store; the metrics collector reads a clone at scrape time.
    let (mut connection_feed, store) = feed::ConnectionFeed::new(scopes.len(), index.clone());
    let metrics = Arc::new(Metrics::new(Some(store.clone())));
    let http = ProviderHttp::new(endpoints, args.graph_api_version.clone(), args.linkedin_version.clone())?
        .with_gate(budgets.clone())
        .with_observer(metrics.clone());
    let client = Client::try_default().await.map_err(|e| Error::KubeConfig(e.to_string()))?;
    let reporter = Reporter { controller: "social-connection-operator".into(), instance: std::env::var("POD_NAME").ok() };
    let recorder = Recorder::new(client.clone(), reporter);
    let (outbox, policy_changes) = if args.disable_notifications {
        (None, None)
    } else {
        let policies = crate::notify::outbox::watch_policies(&client, &scopes);
        let observer = metrics.clone();
        let outbox = crate::notify::Outbox::new(client.clone(), recorder.clone(), policies.stores, observer, Default::default())
            .map_err(|e| Error::Http(e.into()))?;
        (Some(Arc::new(outbox)), Some(policies.changed))
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        http,
        recorder,
        default_redirect_url: args.default_redirect_url.clone(),
        throttles: throttle::AppThrottles::default(),
        outbox,
        unstored: unstored::UnstoredOutcomes::default(),
        api_retries: unstored::ApiRetries::default(),
        written: unstored::WrittenStatuses::default(),
        budgets,
        outages: outage::ProviderOutages::default(),
        index: index.clone(),
        started: Timestamp::now(),
        flights: Arc::default(),
        connect_public: connect.as_ref().map(|c| c.public_url().to_string()),
        metrics: metrics.clone(),
        revocations: finalizer::Revocations::default(),
        revoke_timeout: args.revoke_timeout,
    });

    let watch_health = WatchHealth::default();
    let server = tokio::spawn(crate::server::serve(args.health_addr, crate::server::router(watch_health.clone(), metrics)));
    // The connect flow's link and callback, on their own address (off without a public URL).
    let connect_server = connect.map(|config| {
        let connect = crate::server::connect::Connect::new(client.clone(), ctx.http.clone(), config);
        tokio::spawn(crate::server::connect::serve(Arc::new(connect)))
    });

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
            watcher(api, watcher::Config::default().any_semantic())
                .default_backoff()
                .inspect(move |item| handle.observe(item))
                .map(move |e| (i, scope.clone(), e))
                .boxed()
        })
        .collect();
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
    tracing::info!(version = env!("CARGO_PKG_VERSION"), watches = scopes.len(), "social-connection-operator started");
    Controller::for_stream(connections, store)
        .with_config(ControllerConfig::default().concurrency(args.concurrency.get()))
        .watches_stream(secrets, move |s| feed::connections_using(&mapper_index, &s))
        .watches_stream(policy_changes, move |p| feed::connections_in_namespace_of(&policy_store, &p))
        .shutdown_on_signal()
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
    server.abort();
    if let Some(s) = connect_server {
        s.abort();
    }
    tracing::info!("social-connection-operator stopped");
    Ok(())
}
