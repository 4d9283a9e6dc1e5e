//! `/healthz` (the process runs) and `/readyz` (every watch has listed and none is failing).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use super::readiness::WatchHealth;

/// The health routes.
pub fn routes(watches: WatchHealth) -> Router {
    Router::new().route("/healthz", get(|| async { "ok" })).route(
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
    )
}
