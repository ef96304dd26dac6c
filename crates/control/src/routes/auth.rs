//! Login. (Sign-up lives in [`super::signup`].)

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use toolgate_store::users;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::password;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::inputs;
use crate::routes::TAG_AUTH;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    email: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LoginOut {
    token: String,
    expires_in: i64,
}

const BAD_LOGIN: &str = "wrong email or password";

/// Exchange an email and password for a session token.
#[utoipa::path(post, path = "/login", tag = TAG_AUTH, security(()),
    request_body = LoginIn,
    responses(
        (status = 200, body = LoginOut),
        (status = 401, description = "Wrong email or password", body = crate::error::Problem),
    ))]
async fn login(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<LoginIn>,
) -> Result<Json<LoginOut>, ApiError> {
    let token = session_for(&state, &input.email, input.password).await?;
    Ok(Json(LoginOut {
        token,
        expires_in: state.jwt.ttl_secs(),
    }))
}

/// A session token for this email and password (also the browser's, in
/// [`super::session`]).
pub(crate) async fn session_for(
    state: &AppState,
    email: &str,
    given_password: String,
) -> Result<String, ApiError> {
    // An unparseable email takes the unknown-user path: same answer, same cost.
    let found = match inputs::email(email) {
        Ok(email) => users::credentials_by_email(&state.pool, &email).await?,
        Err(_) => None,
    };
    let stored = found.as_ref().map(|c| c.password_hash.clone());
    if !password::verify(given_password, stored).await? {
        return Err(ApiError::Unauthorized(BAD_LOGIN));
    }
    let credentials = found.ok_or(ApiError::Unauthorized(BAD_LOGIN))?;
    state
        .jwt
        .issue(credentials.id, credentials.account_id)
        .map_err(ApiError::internal)
}
