//! Password reset by a single-use, expiring token: mailed on request when
//! the deployment sends mail, or issued by an admin
//! (`POST /v1/members/{id}/password-reset`) to hand over.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use toolgate_store::memberships;
use toolgate_store::{password_resets, sessions, users};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Actor, Change};
use crate::auth::password;
use crate::error::{ApiError, Violations};
use crate::extract::ApiJson;
use crate::inputs;
use crate::mail::{messages, Mailbox};
use crate::routes::members::{reset_link, RESET_TTL_HOURS};
use crate::routes::TAG_AUTH;
use crate::state::{AppState, SignupMode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequestIn {
    email: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ResetRequestOut {
    detail: &'static str,
}

const REQUESTED: ResetRequestOut = ResetRequestOut {
    detail: "if the address has a Toolgate login and this deployment sends mail, a reset link is on its way",
};

/// Ask for a reset link by mail. The answer is the same whether or not the
/// address has a login (and whether or not mail is configured: without it,
/// an admin issues the link).
#[utoipa::path(post, path = "/password-reset", tag = TAG_AUTH, security(()),
    request_body = ResetRequestIn,
    responses((status = 202, body = ResetRequestOut)))]
async fn request_reset(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ResetRequestIn>,
) -> Result<(StatusCode, Json<ResetRequestOut>), ApiError> {
    if let (SignupMode::Verify(outbox), Ok(email)) =
        (&state.settings.signup, inputs::email(&input.email))
    {
        if let (Some(user), Ok(to)) = (
            users::credentials_by_email(&state.pool, &email).await?,
            email.parse::<Mailbox>(),
        ) {
            let expires_at = Utc::now() + Duration::hours(RESET_TTL_HOURS);
            let token = password_resets::create(&state.pool, user.id, expires_at).await?;
            let message = messages::password_reset(
                outbox.from(),
                to,
                &reset_link(&state, &token),
                RESET_TTL_HOURS,
            )
            .map_err(ApiError::internal)?;
            if let Err(error) = outbox.queue(messages::PASSWORD_RESET, &message) {
                tracing::warn!(%error, "could not queue a password-reset mail");
            }
        }
    }
    Ok((StatusCode::ACCEPTED, Json(REQUESTED)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmIn {
    /// The token from the reset link (`tgr_…`).
    token: String,
    password: String,
}

/// Set a new password with a reset token. The token works once; every
/// session of the person ends. Then sign in with the new password.
#[utoipa::path(post, path = "/password-reset/confirm", tag = TAG_AUTH, security(()),
    request_body = ResetConfirmIn,
    responses((status = 204),
        (status = 400, description = "The token is unknown, used or expired", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
async fn confirm_reset(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ResetConfirmIn>,
) -> Result<(StatusCode, Extension<Change>), ApiError> {
    let mut violations = Violations::default();
    violations.check("/password", inputs::new_password(&input.password, &[]));
    violations.into_result()?;
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    // The token first: a guess costs no password hash.
    let user_id = password_resets::spend(&mut tx, input.token.trim())
        .await?
        .ok_or(ApiError::BadRequest(
            "this reset link cannot be used: it is unknown, used or expired".to_owned(),
        ))?;
    let hash = password::hash(input.password).await?;
    users::set_password(&mut tx, user_id, &hash).await?;
    let ended = sessions::revoke_all(&mut *tx, user_id).await?;
    tx.commit().await.map_err(ApiError::internal)?;
    let user = users::get(&state.pool, user_id).await?;
    // Recorded in the person's first account: a reset is theirs, not an account's.
    let mut change = Change::new(serde_json::json!({ "sessions_ended": ended })).on(user_id);
    if let Some(first) = memberships::of_user(&state.pool, user_id).await?.first() {
        change = change.by(Actor {
            account_id: first.account_id,
            user_id,
            email: user.email,
        });
    }
    Ok((StatusCode::NO_CONTENT, Extension(change)))
}
