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
use axum::routing::post;
use axum::Router;

use crate::cache::SnapshotCache;
use crate::session::SessionSealer;
use crate::upstream::UpstreamClient;

#[derive(Clone)]
pub struct ProxyState {
    pub cache: Arc<SnapshotCache>,
    pub upstream: UpstreamClient,
    pub sealer: Arc<SessionSealer>,
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
