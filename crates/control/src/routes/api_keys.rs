//! Management API keys.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use toolgate_store::api_keys::{self, ApiKey};
use toolgate_store::ids::ApiKeyId;
use toolgate_store::memberships::Role;
use toolgate_store::{Page, PageRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Change;
use crate::auth::Auth;
use crate::error::{ApiError, Violations};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::inputs;
use crate::permissions;
use crate::routes::{ListParams, TAG_API_KEYS};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(delete_key))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyIn {
    #[schema(example = "ci deploy")]
    name: String,
    /// What the key may do; at most its creator's role (default: the
    /// creator's role).
    role: Option<Role>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyOut {
    id: ApiKeyId,
    name: String,
    /// The key's first characters, to tell keys apart.
    prefix: String,
    role: Role,
    created_at: chrono::DateTime<chrono::Utc>,
    last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ApiKey> for ApiKeyOut {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id,
            name: k.name,
            prefix: k.prefix,
            role: k.role,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NewApiKeyOut {
    #[serde(flatten)]
    key: ApiKeyOut,
    /// The key, for `Authorization: Bearer`. Shown this once; store it now.
    secret: String,
}

/// Create a management API key.
#[utoipa::path(post, path = "/api-keys", tag = TAG_API_KEYS,
    request_body = ApiKeyIn,
    responses((status = 201, body = NewApiKeyOut), (status = 422, body = crate::error::Problem)))]
async fn create_key(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<ApiKeyIn>,
) -> Result<(StatusCode, Extension<Change>, Json<NewApiKeyOut>), ApiError> {
    let mut violations = Violations::default();
    let name = violations.check("/name", inputs::display_name(&input.name));
    let role = input.role.unwrap_or(auth.role);
    if !permissions::covers(auth.role, role) {
        violations.add(
            "/role",
            format!(
                "a key cannot be stronger than its creator: {} is beyond your role ({})",
                role.as_str(),
                auth.role.as_str()
            ),
        );
    }
    violations.into_result()?;
    let name = name.unwrap_or_default();
    // A key made by a key answers to that key's creator: demoting them
    // takes both keys' strength away.
    let (key, secret) =
        api_keys::create(&state.pool, auth.account_id, &name, role, auth.person).await?;
    let change = Change::new(serde_json::json!({ "name": key.name, "role": role })).on(key.id);
    Ok((
        StatusCode::CREATED,
        Extension(change),
        Json(NewApiKeyOut {
            key: key.into(),
            secret,
        }),
    ))
}

/// List the account's API keys (never their secrets).
#[utoipa::path(get, path = "/api-keys", tag = TAG_API_KEYS, params(ListParams),
    responses((status = 200, body = Page<ApiKeyOut>)))]
async fn list_keys(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<ApiKeyOut>>, ApiError> {
    let page = PageRequest::new(params.cursor_id::<ApiKeyId>()?, params.limit);
    let keys = api_keys::list(&state.pool, auth.account_id, page).await?;
    Ok(Json(keys.map(ApiKeyOut::from)))
}

/// Delete an API key; it stops working at once.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = TAG_API_KEYS,
    params(("id" = ApiKeyId, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_key(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<ApiKeyId>,
) -> Result<StatusCode, ApiError> {
    api_keys::delete(&state.pool, auth.account_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
