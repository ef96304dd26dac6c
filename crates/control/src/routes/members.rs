//! The account's team: its members and their roles, handing the account
//! over, and reset links an admin hands to a member.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use toolgate_store::ids::UserId;
use toolgate_store::memberships::{self, Member, MembershipError, Role};
use toolgate_store::password_resets;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Change;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::{ApiJson, PathId};
use crate::routes::TAG_MEMBERS;
use crate::state::AppState;

/// How long a reset link an admin issues works.
pub const RESET_TTL_HOURS: i64 = 24;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members))
        .routes(routes!(change_role, remove_member))
        .routes(routes!(issue_password_reset))
        .routes(routes!(hand_over))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MemberOut {
    user_id: UserId,
    email: String,
    role: Role,
    joined_at: chrono::DateTime<chrono::Utc>,
}

impl From<Member> for MemberOut {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user_id,
            email: m.email,
            role: m.role,
            joined_at: m.joined_at,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MembersOut {
    items: Vec<MemberOut>,
}

/// The account's members.
#[utoipa::path(get, path = "/members", tag = TAG_MEMBERS,
    responses((status = 200, body = MembersOut), (status = 403, body = crate::error::Problem)))]
async fn list_members(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<MembersOut>, ApiError> {
    let members = memberships::list(&state.pool, auth.account_id).await?;
    Ok(Json(MembersOut {
        items: members.into_iter().map(MemberOut::from).collect(),
    }))
}

fn last_admin(error: MembershipError) -> ApiError {
    match error {
        MembershipError::LastAdmin => ApiError::Conflict(error.to_string()),
        MembershipError::Store(store) => store.into(),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleIn {
    role: Role,
}

/// Change a member's role. The last admin cannot be demoted (409).
#[utoipa::path(patch, path = "/members/{id}", tag = TAG_MEMBERS,
    params(("id" = UserId, Path)), request_body = RoleIn,
    responses((status = 200, body = MemberOut), (status = 404, body = crate::error::Problem),
        (status = 409, description = "It would leave the account without an admin", body = crate::error::Problem)))]
async fn change_role(
    State(state): State<AppState>,
    auth: Auth,
    PathId(user_id): PathId<UserId>,
    ApiJson(input): ApiJson<RoleIn>,
) -> Result<(Extension<Change>, Json<MemberOut>), ApiError> {
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    let before = memberships::set_role(&mut tx, auth.account_id, user_id, input.role)
        .await
        .map_err(last_admin)?;
    tx.commit().await.map_err(ApiError::internal)?;
    let member = memberships::get(&state.pool, auth.account_id, user_id).await?;
    let change = Change::new(serde_json::json!({
        "email": member.email, "from": before, "to": input.role,
    }));
    Ok((Extension(change), Json(member.into())))
}

/// Remove a member: their sessions in this account end at once. The last
/// admin cannot be removed (409).
#[utoipa::path(delete, path = "/members/{id}", tag = TAG_MEMBERS,
    params(("id" = UserId, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem),
        (status = 409, description = "It would leave the account without an admin", body = crate::error::Problem)))]
async fn remove_member(
    State(state): State<AppState>,
    auth: Auth,
    PathId(user_id): PathId<UserId>,
) -> Result<(StatusCode, Extension<Change>), ApiError> {
    let member = memberships::get(&state.pool, auth.account_id, user_id).await?;
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    let role = memberships::remove(&mut tx, auth.account_id, user_id)
        .await
        .map_err(last_admin)?;
    tx.commit().await.map_err(ApiError::internal)?;
    let change = Change::new(serde_json::json!({ "email": member.email, "role": role }));
    Ok((StatusCode::NO_CONTENT, Extension(change)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ResetLinkOut {
    /// Hand this link to the member; it works once, until `expires_at`.
    link: String,
    /// The token in the link, for `POST /v1/password-reset/confirm`.
    /// Shown this once.
    token: String,
    expires_at: chrono::DateTime<chrono::Utc>,
}

/// Issue a password-reset link for a member, to hand over when no mail is
/// configured. Only for a member who belongs to no other account: an admin
/// of one account must not take over a person's access to another (409).
#[utoipa::path(post, path = "/members/{id}/password-reset", tag = TAG_MEMBERS,
    params(("id" = UserId, Path)),
    responses((status = 201, body = ResetLinkOut), (status = 404, body = crate::error::Problem),
        (status = 409, description = "The member belongs to other accounts too", body = crate::error::Problem)))]
async fn issue_password_reset(
    State(state): State<AppState>,
    auth: Auth,
    PathId(user_id): PathId<UserId>,
) -> Result<(StatusCode, Extension<Change>, Json<ResetLinkOut>), ApiError> {
    let member = memberships::get(&state.pool, auth.account_id, user_id).await?;
    let accounts = memberships::of_user(&state.pool, user_id).await?;
    if accounts.iter().any(|m| m.account_id != auth.account_id) {
        return Err(ApiError::Conflict(
            "this member belongs to other accounts too; they can reset their own password \
             by mail (POST /v1/password-reset)"
                .to_owned(),
        ));
    }
    let expires_at = Utc::now() + Duration::hours(RESET_TTL_HOURS);
    let token = password_resets::create(&state.pool, user_id, expires_at).await?;
    let change = Change::new(serde_json::json!({ "email": member.email }));
    Ok((
        StatusCode::CREATED,
        Extension(change),
        Json(ResetLinkOut {
            link: reset_link(&state, &token),
            token,
            expires_at,
        }),
    ))
}

/// Where a person sets a new password with a reset token (a dashboard page).
pub fn reset_link(state: &AppState, token: &str) -> String {
    format!("{}/reset-password#token={token}", state.settings.public_url)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOverIn {
    /// The member who becomes admin.
    to: UserId,
    /// The caller's role afterwards (default `viewer`).
    then: Option<Role>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HandOverOut {
    admin: MemberOut,
    you: MemberOut,
}

/// Hand the account over: another member becomes admin and the caller takes
/// the role given (default `viewer`), in one step.
#[utoipa::path(post, path = "/account/handover", tag = TAG_MEMBERS, request_body = HandOverIn,
    responses((status = 200, body = HandOverOut), (status = 404, body = crate::error::Problem),
        (status = 403, description = "API keys cannot hand an account over", body = crate::error::Problem)))]
async fn hand_over(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<HandOverIn>,
) -> Result<(Extension<Change>, Json<HandOverOut>), ApiError> {
    let me = auth.user_id().ok_or(ApiError::Forbidden(
        "an account is handed over by a person, not an API key".to_owned(),
    ))?;
    if input.to == me {
        return Err(ApiError::validation("/to", "must be another member"));
    }
    let then = input.then.unwrap_or(Role::Viewer);
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    memberships::set_role(&mut tx, auth.account_id, input.to, Role::Admin)
        .await
        .map_err(last_admin)?;
    memberships::set_role(&mut tx, auth.account_id, me, then)
        .await
        .map_err(last_admin)?;
    tx.commit().await.map_err(ApiError::internal)?;
    let admin = memberships::get(&state.pool, auth.account_id, input.to).await?;
    let you = memberships::get(&state.pool, auth.account_id, me).await?;
    let change = Change::new(serde_json::json!({ "to": admin.email, "then": then }));
    Ok((
        Extension(change),
        Json(HandOverOut {
            admin: admin.into(),
            you: you.into(),
        }),
    ))
}
