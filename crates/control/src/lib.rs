//! The Toolgate control plane: the REST API through which an account manages
//! its upstream servers, agent grants and policies.
//!
//! [`app`] builds the router so tests can drive it without a socket.

#![forbid(unsafe_code)]

pub mod access;
pub mod auth;
pub mod catalog;
pub mod error;
pub mod extract;
pub mod inputs;
pub mod mail;
pub mod openapi;
pub mod permissions;
mod rejections;
pub mod replay;
pub mod routes;
pub mod state;
pub mod web;
pub mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

pub use error::ApiError;
pub use state::{AppState, Settings, SignupMode};

/// The `/v1` resources.
pub(crate) fn v1_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(routes::auth::router())
        .merge(routes::signup::router())
        .merge(routes::me::router())
        .merge(routes::password_reset::router())
        .merge(routes::account::router())
        .merge(routes::account_events::router())
        .merge(routes::members::router())
        .merge(routes::invitations::router())
        .merge(routes::api_keys::router())
        .merge(routes::servers::router())
        .merge(routes::grants::router())
        .merge(routes::policies::router())
        .merge(routes::rollout::router())
        .merge(routes::explain::router())
        .merge(routes::audit::router())
        .merge(routes::approvals::router())
        .merge(routes::catalog::router())
        .merge(routes::session::router())
        .merge(routes::usage::router())
        .merge(routes::reviewed::router())
}

/// The control plane's router, with its state applied.
pub fn app(state: AppState) -> Router {
    let (router, _) = openapi::api_router().split_for_parts();
    router
        // Every route, before the fallbacks: nothing is served unguarded.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::gate,
        ))
        // The dashboard: public files, outside the gate.
        .merge(web::router())
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(extract::BODY_LIMIT))
        .layer(axum::middleware::map_response(rejections::as_problem))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::Internal(
                "handler panicked".into(),
            ))
        }))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// One span per request, at `info` so it is exported: the path (never the
/// query) and the request id the response echoes.
fn request_span(request: &http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        request_id,
    )
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute(format!("{method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
