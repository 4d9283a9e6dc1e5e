//! The SocialConnection controller: wiring (watches, the Secret → connection mapper, the
//! health endpoints), [`reconcile`] (orchestration), [`decision`] (pure rules), [`schedule`]
//! (timing), [`consent`] (reauthorization URLs) and [`events`].

pub mod consent;
pub mod decision;
pub mod events;
pub mod policy;
pub mod reconcile;
pub mod schedule;
pub mod throttle;
pub mod unstored;
pub mod watch_health;

#[cfg(test)]
mod hostile_answers;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::controller::{self, Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

use crate::api::SocialConnection;
use crate::config::RunArgs;
use crate::error::{Error, Result};
use crate::providers::ProviderHttp;

/// Everything a reconcile needs, built once in `run`.
pub struct Context {
    /// The Kubernetes client.
    pub client: Client,
    /// HTTP access to the providers.
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
}

/// The connections in `store` that reference the Secret `secret` (as token or app Secret).
pub fn connections_using_secret(store: &Store<SocialConnection>, secret: &PartialObjectMeta<Secret>) -> Vec<ObjectRef<SocialConnection>> {
    let Some(ns) = secret.namespace() else { return vec![] };
    let name = secret.name_any();
    let refs: Vec<ObjectRef<SocialConnection>> = store
        .state()
        .iter()
        .filter(|c| c.namespace().as_deref() == Some(ns.as_str()))
        .filter(|c| c.spec.secret_ref.name == name || c.spec.app_secret_ref.as_ref().is_some_and(|a| a.name == name))
        .map(|c| ObjectRef::from_obj(c.as_ref()))
        .collect();
    tracing::debug!(namespace = %ns, secret = %name, connections = refs.len(), "secret changed");
    refs
}

/// Runs the controller until SIGINT or SIGTERM.
pub async fn run(args: RunArgs) -> Result<()> {
    crate::providers::http::install_crypto_provider();
    let endpoints = args.endpoints()?;
    let http = ProviderHttp::new(endpoints, args.graph_api_version.clone(), args.linkedin_version.clone())?;
    let client = Client::try_default().await.map_err(|e| Error::KubeConfig(e.to_string()))?;
    let reporter = Reporter { controller: "social-connection-operator".into(), instance: std::env::var("POD_NAME").ok() };
    let recorder = Recorder::new(client.clone(), reporter);
    let scopes: Vec<Option<String>> =
        if args.namespaces.is_empty() { vec![None] } else { args.namespaces.iter().map(|n| Some(n.clone())).collect() };
    let outbox = if args.disable_notifications {
        None
    } else {
        let policies = crate::notify::outbox::watch_policies(&client, &scopes);
        let observer = Arc::new(crate::notify::LogObserver);
        let outbox = crate::notify::Outbox::new(client.clone(), recorder.clone(), policies, observer, Default::default())
            .map_err(|e| Error::Http(e.into()))?;
        Some(Arc::new(outbox))
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
    });

    let watch_health = watch_health::WatchHealth::default();
    let health = tokio::spawn(health::serve(args.health_addr, watch_health.clone()));

    let mut controllers = Vec::new();
    for ns in scopes {
        let (conns, secrets): (Api<SocialConnection>, Api<PartialObjectMeta<Secret>>) = match &ns {
            Some(n) => (Api::namespaced(client.clone(), n), Api::namespaced(client.clone(), n)),
            None => (Api::all(client.clone()), Api::all(client.clone())),
        };
        // Own watch streams (rather than Controller::new) so that their errors reach the
        // logs at warning level and /readyz, instead of vanishing inside the controller.
        let conn_watch = watch_health.register("socialconnections");
        let secret_watch = watch_health.register("secrets");
        let (reader, writer) = reflector::store();
        let conn_stream = watcher(conns, watcher::Config::default().any_semantic())
            .default_backoff()
            .reflect(writer)
            .inspect(move |item| conn_watch.observe(item))
            .touched_objects();
        // Secrets are watched as metadata only: their data is never cached.
        let secret_stream = watcher(secrets, watcher::Config::default())
            .default_backoff()
            .inspect(move |item| secret_watch.observe(item))
            .touched_objects();
        let store = reader.clone();
        let ctx = ctx.clone();
        let fut = Controller::for_stream(conn_stream, reader)
            .with_config(ControllerConfig::default().concurrency(args.concurrency.get()))
            .watches_stream(secret_stream, move |s| connections_using_secret(&store, &s))
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
            });
        controllers.push(fut);
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "social-connection-operator started");
    futures::future::join_all(controllers).await;
    health.abort();
    tracing::info!("social-connection-operator stopped");
    Ok(())
}

mod health {
    //! `/healthz` (the process runs) and `/readyz` (every watch has listed and none is
    //! failing).

    use std::net::SocketAddr;

    use axum::{Router, http::StatusCode, routing::get};

    use super::watch_health::WatchHealth;

    pub async fn serve(addr: SocketAddr, watches: WatchHealth) {
        let app = Router::new().route("/healthz", get(|| async { "ok" })).route(
            "/readyz",
            get(move || {
                let watches = watches.clone();
                async move {
                    match watches.readiness() {
                        Ok(()) => (StatusCode::OK, "ready".to_string()),
                        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why.to_string()),
                    }
                }
            }),
        );
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::error!(error = %e, "health server failed");
                }
            }
            Err(e) => tracing::error!(%addr, error = %e, "cannot bind the health server"),
        }
    }
}
