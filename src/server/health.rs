//! `/healthz` (the process runs) and `/readyz` (the leader: every watch has listed and none
//! is failing; a replica standing by: it read the leader Lease; see [`Readiness`]).

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use super::readiness::Readiness;

/// The health routes.
pub fn routes(readiness: Readiness) -> Router {
    Router::new().route("/healthz", get(|| async { "ok" })).route(
        "/readyz",
        get(move || {
            let readiness = readiness.clone();
            async move {
                match readiness.check() {
                    Ok(role) => (StatusCode::OK, role.to_string()),
                    Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why.to_string()),
                }
            }
        }),
    )
}
