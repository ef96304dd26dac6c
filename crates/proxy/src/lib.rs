//! The Toolgate data plane: the gateway that stands between agents and their
//! account's upstream MCP servers and enforces the account's policy.
//!
//! Stateless: any replica serves any request. Configuration comes from a
//! per-account snapshot cached in memory ([`cache::SnapshotCache`]); Postgres
//! is read only when an account is cold or has changed.

#![forbid(unsafe_code)]

pub mod cache;
pub mod enforce;
pub mod error;
mod gateway;
pub mod relay;
pub mod session;
pub mod snapshot;
pub mod upstream;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;

use crate::cache::SnapshotCache;
use crate::session::SessionSealer;
use crate::upstream::UpstreamClient;

#[derive(Clone)]
pub struct ProxyState {
    pub cache: Arc<SnapshotCache>,
    pub upstream: UpstreamClient,
    pub sealer: Arc<SessionSealer>,
}

/// `/healthz` (the process is up) and `/readyz` (Postgres answers, so cold
/// accounts can load), for a gateway that runs without the control plane.
pub fn health_router(pool: sqlx::PgPool) -> Router {
    async fn healthz() -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({"status": "ok"}))
    }
    async fn readyz(
        State(pool): State<sqlx::PgPool>,
    ) -> (StatusCode, axum::Json<serde_json::Value>) {
        if toolgate_store::db::ping(&pool).await {
            (
                StatusCode::OK,
                axum::Json(serde_json::json!({"status": "ok", "postgres": "up"})),
            )
        } else {
            let body = serde_json::json!({"status": "unavailable", "postgres": "down"});
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body))
        }
    }
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(pool)
}

/// The gateway routes, to merge into a serving router.
pub fn router(state: ProxyState) -> Router {
    Router::new()
        .route(
            "/mcp/{account}/{server}",
            post(gateway::post)
                .get(gateway::get)
                .delete(gateway::delete),
        )
        .layer(DefaultBodyLimit::max(error::MAX_BODY))
        .with_state(state)
}
