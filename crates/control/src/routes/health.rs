//! Liveness and readiness probes.

use std::collections::BTreeMap;

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
    /// `ok`; `degraded` when a dependency other than Postgres is down (the
    /// process still serves, e.g. tools without rate limits); `unavailable`
    /// when Postgres is down.
    status: &'static str,
    /// `up` or `down`, per dependency: `postgres`, and `counters` where the
    /// gateway runs in this process.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    dependencies: BTreeMap<&'static str, &'static str>,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = TAG_OPS, security(()), responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        dependencies: BTreeMap::new(),
    })
}

/// The process can serve: Postgres answers. Other dependencies being down
/// makes it `degraded`, still 200: it keeps serving what it can.
#[utoipa::path(get, path = "/readyz", tag = TAG_OPS, security(()),
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let up = |ok: bool| if ok { "up" } else { "down" };
    let postgres = toolgate_store::db::ping(&state.pool).await;
    let mut dependencies = BTreeMap::from([("postgres", up(postgres))]);
    let mut degraded = false;
    for (name, probe) in &state.probes {
        let ok = probe().await;
        degraded |= !ok;
        dependencies.insert(name, up(ok));
    }
    let (status, text) = match (postgres, degraded) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, true) => (StatusCode::OK, "degraded"),
        (true, false) => (StatusCode::OK, "ok"),
    };
    (
        status,
        Json(Health {
            status: text,
            dependencies,
        }),
    )
}
