//! A tool's reviewed (pinned) definition, for comparing it with the
//! current one before pinning a change (the dashboard's diff).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use toolgate_store::catalog;
use toolgate_store::ids::ServerId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::routes::TAG_CATALOG;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(pinned_definition))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PinnedDefinitionOut {
    /// The pinned definition's hash.
    hash: String,
    /// `{name, title?, description?, inputSchema?, outputSchema?,
    /// annotations?}` as the upstream sent it when it was pinned (text from
    /// the upstream: show it as text).
    #[schema(value_type = Object)]
    definition: serde_json::Value,
}

/// The definition a person last pinned for the tool, to compare with its
/// current `definition` (`GET /v1/servers/{id}/tools`) before pinning a
/// change. 404 when the tool was never pinned.
#[utoipa::path(get, path = "/servers/{id}/tools/{name}/pinned", tag = TAG_CATALOG,
    params(("id" = ServerId, Path), ("name" = String, Path, description = "The tool's name")),
    responses(
        (status = 200, body = PinnedDefinitionOut),
        (status = 404, description = "No such server or tool, or the tool was never pinned", body = crate::error::Problem),
    ))]
async fn pinned_definition(
    State(state): State<AppState>,
    auth: Auth,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<PinnedDefinitionOut>, ApiError> {
    let not_found = || ApiError::NotFound("not found".to_owned());
    let Path((id, name)) = path.map_err(|_| not_found())?;
    let id = id.parse::<ServerId>().map_err(|_| not_found())?;
    // No tool is named with a NUL (stored names have it replaced).
    if name.contains('\0') {
        return Err(not_found());
    }
    let (hash, definition) = catalog::pinned_definition(&state.pool, auth.account_id, id, &name)
        .await?
        .ok_or_else(|| ApiError::NotFound("the tool was never pinned".to_owned()))?;
    Ok(Json(PinnedDefinitionOut { hash, definition }))
}
