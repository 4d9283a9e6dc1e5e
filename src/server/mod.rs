//! The operator's HTTP servers. The main one (`--health-addr`): [`health`] (`/healthz`,
//! `/readyz` from [`readiness`]) and [`metrics`] (`/metrics`, with the per-connection
//! [`collector`]); each part contributes an axum [`Router`], [`router`] merges them and other
//! routes can be merged in before [`serve`]. Beside it, on its own address, the connect flow
//! ([`connect`]: link, callback and pages) and its signed state ([`state`]).

pub mod collector;
pub mod connect;
pub mod health;
pub mod metrics;
pub mod readiness;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

/// The health, readiness and metrics routes.
pub fn router(readiness: readiness::Readiness, metrics: Arc<metrics::Metrics>) -> Router {
    health::routes(readiness).merge(metrics::routes(metrics))
}

/// Serves `app` on `addr` until the task is aborted; a bind or serve failure is logged (the
/// controller keeps running, and the probes that fail show it).
pub async fn serve(addr: SocketAddr, app: Router) {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => {
            if let Err(e) = axum::serve(l, app).await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        }
        Err(e) => tracing::error!(%addr, error = %e, "cannot bind the HTTP server"),
    }
}
