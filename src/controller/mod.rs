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

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PartialObjectMeta};
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
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
    });

    let ready = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let health = tokio::spawn(health::serve(args.health_addr, ready.clone(), scopes.len()));

    let mut controllers = Vec::new();
    for ns in scopes {
        let (conns, secrets): (Api<SocialConnection>, Api<PartialObjectMeta<Secret>>) = match &ns {
            Some(n) => (Api::namespaced(client.clone(), n), Api::namespaced(client.clone(), n)),
            None => (Api::all(client.clone()), Api::all(client.clone())),
        };
        let controller = Controller::new(conns, watcher::Config::default().any_semantic());
        let store = controller.store();
        let ready_store = store.clone();
        let ready_count = ready.clone();
        tokio::spawn(async move {
            // The store's readiness signal wakes only its latest waiter, and the controller
            // registers after us: poll with a timeout so a later wait sees the signal.
            loop {
                if let Ok(Ok(())) = tokio::time::timeout(std::time::Duration::from_millis(500), ready_store.wait_until_ready()).await {
                    ready_count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    break;
                }
            }
        });
        let ctx = ctx.clone();
        let fut = controller
            .with_config(ControllerConfig::default().concurrency(args.concurrency))
            .watches(secrets, watcher::Config::default(), move |s| connections_using_secret(&store, &s))
            .shutdown_on_signal()
            .run(reconcile::reconcile, reconcile::error_policy, ctx)
            .for_each(|res| async move {
                if let Err(e) = res {
                    tracing::debug!(error = %e, "controller event");
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
    //! `/healthz` (the process runs) and `/readyz` (every watch has listed once).

    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::{Router, http::StatusCode, routing::get};

    pub async fn serve(addr: SocketAddr, ready: Arc<AtomicUsize>, needed: usize) {
        let app = Router::new().route("/healthz", get(|| async { "ok" })).route(
            "/readyz",
            get(move || {
                let ready = ready.clone();
                async move {
                    if ready.load(Ordering::SeqCst) >= needed {
                        (StatusCode::OK, "ready")
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
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
