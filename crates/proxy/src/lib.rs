//! The Toolgate data plane: the gateway that stands between agents and their
//! account's upstream MCP servers and enforces the account's policy.
//!
//! Stateless: any replica serves any request. Configuration comes from a
//! per-account snapshot cached in memory ([`cache::SnapshotCache`]); Postgres
//! is read only when an account is cold or has changed.

#![forbid(unsafe_code)]

pub mod admit;
mod answer;
pub mod approval;
pub mod audit;
pub mod auth;
pub mod cache;
mod dial;
pub mod error;
mod forward;
mod gateway;
pub mod limiting;
pub mod outcome;
pub mod pins;
mod pipeline;
pub mod plan;
pub mod refusal;
pub mod relay;
pub mod session;
pub mod settle;
pub mod snapshot;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod upstream;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::routing::{get, post};
use axum::Router;
use http::StatusCode;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::approval::Approvals;
use crate::cache::SnapshotCache;
use crate::limiting::Limiter;
use crate::session::SessionSealer;
use crate::upstream::UpstreamClient;

#[derive(Clone)]
pub struct ProxyState {
    pub cache: Arc<SnapshotCache>,
    pub upstream: UpstreamClient,
    pub sealer: Arc<SessionSealer>,
    pub limiter: Limiter,
    /// Where each `tools/call` decision is recorded, off the request path.
    pub audit: toolgate_audit::AuditSink,
    /// Where `require_approval` calls are recorded and their decisions heard.
    pub approvals: Approvals,
    /// Tool definitions this replica saw upstreams serve otherwise than pinned.
    pub sightings: Arc<pins::Sightings>,
}

/// `/healthz` (the process is up) and `/readyz`, for a gateway that runs
/// without the control plane: 503 when Postgres is down (cold accounts
/// cannot load), 200 `degraded` when only the counter store is (each limit
/// then fails open or closed, as its rule says).
pub fn health_router(pool: sqlx::PgPool, limiter: Limiter) -> Router {
    async fn healthz() -> axum::Json<serde_json::Value> {
        axum::Json(serde_json::json!({"status": "ok"}))
    }
    async fn readyz(
        State((pool, limiter)): State<(sqlx::PgPool, Limiter)>,
    ) -> (StatusCode, axum::Json<serde_json::Value>) {
        let up = |ok: bool| if ok { "up" } else { "down" };
        let postgres = toolgate_store::db::ping(&pool).await;
        let counters = limiter.store().ping().await.is_ok();
        let (status, text) = match (postgres, counters) {
            (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            (true, false) => (StatusCode::OK, "degraded"),
            (true, true) => (StatusCode::OK, "ok"),
        };
        let body =
            serde_json::json!({"status": text, "postgres": up(postgres), "counters": up(counters)});
        (status, axum::Json(body))
    }
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state((pool, limiter))
}

/// The gateway routes, to merge into a serving router. Every response
/// carries an `x-request-id`: the client's own, or one made here.
pub fn router(state: ProxyState) -> Router {
    Router::new()
        .route(
            "/mcp/{account}/{server}",
            post(gateway::post)
                .get(gateway::get)
                .delete(gateway::delete),
        )
        .layer(DefaultBodyLimit::max(error::MAX_BODY))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}
