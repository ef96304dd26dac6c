//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::routes::TAG_OPS;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    postgres: Option<&'static str>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = TAG_OPS, security(()), responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        postgres: None,
    })
}

/// The process can serve: Postgres answers.
#[utoipa::path(get, path = "/readyz", tag = TAG_OPS, security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    if toolgate_store::db::ping(&state.pool).await {
        (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                postgres: Some("up"),
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable",
                postgres: Some("down"),
            }),
        )
    }
}
