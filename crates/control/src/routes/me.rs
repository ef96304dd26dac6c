//! The signed-in person: who they are, their accounts, switching between
//! them, and their password.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use toolgate_store::ids::{AccountId, UserId};
use toolgate_store::memberships::{self, Role};
use toolgate_store::{sessions, users};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Actor, Change};
use crate::auth::{password, start_session, Auth};
use crate::error::{ApiError, Violations};
use crate::extract::ApiJson;
use crate::inputs;
use crate::routes::auth::SessionOut;
use crate::routes::TAG_AUTH;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me))
        .routes(routes!(switch_account))
        .routes(routes!(change_password))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MembershipOut {
    account_id: AccountId,
    account_name: String,
    account_slug: String,
    role: Role,
    joined_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeOut {
    id: UserId,
    email: String,
    created_at: chrono::DateTime<chrono::Utc>,
    /// The account this token acts for, and the role there.
    account_id: AccountId,
    role: Role,
    /// Every account this person belongs to.
    memberships: Vec<MembershipOut>,
}

/// The signed-in person and the accounts they belong to.
#[utoipa::path(get, path = "/me", tag = TAG_AUTH,
    responses((status = 200, body = MeOut), (status = 401, body = crate::error::Problem),
        (status = 403, description = "An API key: it has no person", body = crate::error::Problem)))]
async fn get_me(State(state): State<AppState>, auth: Auth) -> Result<Json<MeOut>, ApiError> {
    let user_id = signed_in(&auth)?;
    let user = users::get(&state.pool, user_id).await?;
    let memberships = memberships::of_user(&state.pool, user_id).await?;
    Ok(Json(MeOut {
        id: user.id,
        email: user.email,
        created_at: user.created_at,
        account_id: auth.account_id,
        role: auth.role,
        memberships: memberships
            .into_iter()
            .map(|m| MembershipOut {
                account_id: m.account_id,
                account_name: m.account_name,
                account_slug: m.account_slug,
                role: m.role,
                joined_at: m.joined_at,
            })
            .collect(),
    }))
}

fn signed_in(auth: &Auth) -> Result<UserId, ApiError> {
    auth.user_id()
        .ok_or(ApiError::Forbidden("API keys have no person".to_owned()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchIn {
    /// One of the person's accounts.
    account_id: AccountId,
}

/// A session token for another of the person's accounts (this token stays
/// valid for its own account).
#[utoipa::path(post, path = "/me/switch", tag = TAG_AUTH, request_body = SwitchIn,
    responses((status = 200, body = SessionOut),
        (status = 404, description = "Not one of the person's accounts", body = crate::error::Problem)))]
async fn switch_account(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<SwitchIn>,
) -> Result<(Extension<Change>, Json<SessionOut>), ApiError> {
    let user_id = signed_in(&auth)?;
    let role = memberships::role(&state.pool, input.account_id, user_id)
        .await?
        .ok_or(ApiError::NotFound("not found".to_owned()))?;
    let started = start_session(&state, &state.pool, user_id, input.account_id).await?;
    // Recorded in the account switched to: that is where the session acts.
    let change = Change::new(serde_json::json!({ "from_account": auth.account_id }))
        .on(started.id)
        .by(Actor {
            account_id: input.account_id,
            user_id,
            email: auth.label.clone(),
        });
    Ok((
        Extension(change),
        Json(SessionOut {
            token: started.token,
            expires_in: started.expires_in,
            account_id: input.account_id,
            role,
        }),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordIn {
    current_password: String,
    new_password: String,
}

/// Change the password. Every session of the person ends, on every
/// replica; the answer is a new session for this account.
#[utoipa::path(post, path = "/me/password", tag = TAG_AUTH, request_body = PasswordIn,
    responses((status = 200, body = SessionOut),
        (status = 401, description = "The current password is wrong", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
async fn change_password(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<PasswordIn>,
) -> Result<(Extension<Change>, Json<SessionOut>), ApiError> {
    let user_id = signed_in(&auth)?;
    let mut violations = Violations::default();
    violations.check(
        "/new_password",
        inputs::new_password(&input.new_password, &[&auth.label]),
    );
    violations.into_result()?;
    let stored = users::credentials(&state.pool, user_id).await?;
    if !password::verify(input.current_password, Some(stored.password_hash)).await? {
        return Err(ApiError::Unauthorized("the current password is wrong"));
    }
    let hash = password::hash(input.new_password).await?;
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    users::set_password(&mut tx, user_id, &hash).await?;
    let ended = sessions::revoke_all(&mut *tx, user_id).await?;
    let started = start_session(&state, &mut *tx, user_id, auth.account_id).await?;
    tx.commit().await.map_err(ApiError::internal)?;
    Ok((
        Extension(Change::new(serde_json::json!({ "sessions_ended": ended }))),
        Json(SessionOut {
            token: started.token,
            expires_in: started.expires_in,
            account_id: auth.account_id,
            role: auth.role,
        }),
    ))
}
