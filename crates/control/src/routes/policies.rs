//! A server's policy: each PUT validates the document and stores it as a new
//! immutable version.

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use toolgate_store::ids::{ServerId, UserId};
use toolgate_store::policies::{self, PolicyVersion};
use toolgate_store::{servers, Page, PageRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Change;
use crate::auth::Auth;
use crate::error::{ApiError, FieldError};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::routes::{ListParams, TAG_POLICIES};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_policy, get_policy))
        .routes(routes!(list_versions))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PolicyOut {
    /// 1 for the first policy, then one more per change.
    version: i32,
    /// The policy document, as stored.
    #[schema(value_type = Object)]
    policy: serde_json::Value,
    /// The user who stored it (absent when an API key did).
    created_by: Option<UserId>,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<PolicyVersion> for PolicyOut {
    fn from(v: PolicyVersion) -> Self {
        Self {
            version: v.version,
            policy: v.document,
            created_by: v.created_by,
            created_at: v.created_at,
        }
    }
}

/// Replace the server's policy with a new version.
///
/// The document is validated in full; every error is reported with the JSON
/// pointer of the value at fault, and nothing is stored unless it is valid.
#[utoipa::path(put, path = "/servers/{id}/policy", tag = TAG_POLICIES,
    params(("id" = ServerId, Path)),
    request_body(content = Object, description = "A policy document (see docs/policy.md)"),
    responses(
        (status = 200, body = PolicyOut),
        (status = 404, body = crate::error::Problem),
        (status = 422, description = "The document is invalid; `errors` lists every problem", body = crate::error::Problem),
    ))]
async fn put_policy(
    State(state): State<AppState>,
    auth: Auth,
    PathId(server_id): PathId<ServerId>,
    ApiJson(document): ApiJson<serde_json::Value>,
) -> Result<(Extension<Change>, Json<PolicyOut>), ApiError> {
    // 404 before 422: a foreign server id must not learn about validation.
    servers::get(&state.pool, auth.account_id, server_id).await?;
    if let Err(errors) = toolgate_policy::parse(&document) {
        return Err(ApiError::Validation(
            errors
                .into_iter()
                .map(|e| FieldError::new(e.pointer, e.message))
                .collect(),
        ));
    }
    let version = policies::put(
        &state.pool,
        auth.account_id,
        server_id,
        &document,
        auth.user_id(),
    )
    .await?;
    state.changes.publish(auth.account_id).await;
    let change = Change::new(serde_json::json!({ "version": version.version }));
    Ok((Extension(change), Json(version.into())))
}

/// The server's current policy.
#[utoipa::path(get, path = "/servers/{id}/policy", tag = TAG_POLICIES,
    params(("id" = ServerId, Path)),
    responses(
        (status = 200, body = PolicyOut),
        (status = 404, description = "No such server, or it has no policy yet", body = crate::error::Problem),
    ))]
async fn get_policy(
    State(state): State<AppState>,
    auth: Auth,
    PathId(server_id): PathId<ServerId>,
) -> Result<Json<PolicyOut>, ApiError> {
    servers::get(&state.pool, auth.account_id, server_id).await?;
    let current = policies::current(&state.pool, auth.account_id, server_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("server {server_id} has no policy yet")))?;
    Ok(Json(current.into()))
}

/// Every version of the server's policy, newest first.
#[utoipa::path(get, path = "/servers/{id}/policy/versions", tag = TAG_POLICIES,
    params(("id" = ServerId, Path), ListParams),
    responses((status = 200, body = Page<PolicyOut>), (status = 404, body = crate::error::Problem)))]
async fn list_versions(
    State(state): State<AppState>,
    auth: Auth,
    PathId(server_id): PathId<ServerId>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<PolicyOut>>, ApiError> {
    servers::get(&state.pool, auth.account_id, server_id).await?;
    let after = match params.cursor.as_deref() {
        None => None,
        Some(cursor) => Some(cursor.parse::<i32>().map_err(|_| bad_cursor())?),
    };
    let page = PageRequest::new(after, params.limit);
    let versions = policies::list_versions(&state.pool, auth.account_id, server_id, page).await?;
    Ok(Json(versions.map(PolicyOut::from)))
}

fn bad_cursor() -> ApiError {
    ApiError::BadRequest("invalid cursor: pass the next_cursor of a previous page".to_owned())
}
