//! Grants: the credentials agents present at gateway URLs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use toolgate_store::grants::{self, Grant, NewGrant};
use toolgate_store::ids::{GrantId, ServerId};
use toolgate_store::{Page, PageRequest, StoreError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Change;
use crate::auth::Auth;
use crate::error::{ApiError, Violations};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::inputs;
use crate::routes::{ListParams, TAG_GRANTS};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_grant, list_grants))
        .routes(routes!(get_grant, revoke_grant))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantIn {
    #[schema(example = "support-agent")]
    name: String,
    /// The servers this grant may reach; omit for every server of the account.
    servers: Option<Vec<ServerId>>,
    /// When the grant stops working (RFC 3339); omit for never.
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    Active,
    Expired,
    Revoked,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GrantOut {
    id: GrantId,
    name: String,
    /// The token's first characters, to tell grants apart.
    prefix: String,
    /// `null`: every server of the account.
    servers: Option<Vec<ServerId>>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    status: GrantStatus,
    created_at: DateTime<Utc>,
}

impl From<Grant> for GrantOut {
    fn from(g: Grant) -> Self {
        let status = if g.revoked_at.is_some() {
            GrantStatus::Revoked
        } else if g.expires_at.is_some_and(|at| at <= Utc::now()) {
            GrantStatus::Expired
        } else {
            GrantStatus::Active
        };
        Self {
            id: g.id,
            name: g.name,
            prefix: g.prefix,
            servers: g.servers,
            expires_at: g.expires_at,
            revoked_at: g.revoked_at,
            status,
            created_at: g.created_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NewGrantOut {
    #[serde(flatten)]
    grant: GrantOut,
    /// The agent's bearer token. Shown this once; it is stored only as a hash.
    token: String,
}

/// Create a grant for an agent.
#[utoipa::path(post, path = "/grants", tag = TAG_GRANTS,
    request_body = GrantIn,
    responses(
        (status = 201, body = NewGrantOut),
        (status = 404, description = "A listed server does not exist in this account", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
    ))]
async fn create_grant(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<GrantIn>,
) -> Result<(StatusCode, Extension<Change>, Json<NewGrantOut>), ApiError> {
    let mut violations = Violations::default();
    let name = violations.check("/name", inputs::display_name(&input.name));
    if input.servers.as_ref().is_some_and(Vec::is_empty) {
        violations.add(
            "/servers",
            "must list at least one server, or be omitted for all servers",
        );
    }
    if input.expires_at.is_some_and(|at| at <= Utc::now()) {
        violations.add("/expires_at", "must be in the future");
    }
    violations.into_result()?;
    let name = name.unwrap_or_default();

    let (grant, token) = grants::create(
        &state.pool,
        auth.account_id,
        NewGrant {
            name: &name,
            servers: input.servers.as_deref(),
            expires_at: input.expires_at,
        },
    )
    .await
    .map_err(|err| match err {
        StoreError::NotFound => {
            ApiError::NotFound("a listed server does not exist in this account".to_owned())
        }
        other => other.into(),
    })?;
    state.changes.publish(auth.account_id).await;
    let change = Change::new(serde_json::json!({
        "name": grant.name,
        "servers": input.servers,
        "expires_at": input.expires_at,
    }))
    .on(grant.id);
    Ok((
        StatusCode::CREATED,
        Extension(change),
        Json(NewGrantOut {
            grant: grant.into(),
            token,
        }),
    ))
}

/// List the account's grants, revoked and expired ones included.
#[utoipa::path(get, path = "/grants", tag = TAG_GRANTS, params(ListParams),
    responses((status = 200, body = Page<GrantOut>)))]
async fn list_grants(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<GrantOut>>, ApiError> {
    let page = PageRequest::new(params.cursor_id::<GrantId>()?, params.limit);
    let grants = grants::list(&state.pool, auth.account_id, page).await?;
    Ok(Json(grants.map(GrantOut::from)))
}

/// One grant (never its token).
#[utoipa::path(get, path = "/grants/{id}", tag = TAG_GRANTS,
    params(("id" = GrantId, Path)),
    responses((status = 200, body = GrantOut), (status = 404, body = crate::error::Problem)))]
async fn get_grant(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<GrantId>,
) -> Result<Json<GrantOut>, ApiError> {
    Ok(Json(
        grants::get(&state.pool, auth.account_id, id).await?.into(),
    ))
}

/// Revoke a grant. Idempotent; the grant stays listed as revoked.
#[utoipa::path(delete, path = "/grants/{id}", tag = TAG_GRANTS,
    params(("id" = GrantId, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn revoke_grant(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<GrantId>,
) -> Result<StatusCode, ApiError> {
    grants::revoke(&state.pool, auth.account_id, id).await?;
    state.changes.publish(auth.account_id).await;
    Ok(StatusCode::NO_CONTENT)
}
