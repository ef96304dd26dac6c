//! Browser sessions: sign in with a cookie instead of a token in the body
//! (the dashboard's way), and sign out. The cookies and the CSRF proof are
//! described in [`crate::auth::cookie`]; the Bearer API is unchanged.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{cookie, Auth};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::auth::session_for;
use crate::routes::TAG_AUTH;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(sign_in, sign_out))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionIn {
    email: String,
    password: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionOut {
    /// The value of the `toolgate_csrf` cookie: state-changing requests made
    /// with the session cookie repeat it in an `X-CSRF-Token` header.
    csrf_token: String,
    expires_in: i64,
}

/// Sign in a browser: the session goes in an `HttpOnly`, `SameSite=Strict`
/// cookie (`toolgate_session`, `Secure` over https), never in the body.
///
/// Requests then authenticate with the cookie alone; every one that can
/// change state (any method but GET, HEAD, OPTIONS) must also carry the
/// `toolgate_csrf` cookie's value in `X-CSRF-Token`, or gets 403.
#[utoipa::path(post, path = "/session", tag = TAG_AUTH, security(()),
    request_body = SessionIn,
    responses(
        (status = 200, description = "Signed in: `Set-Cookie` carries the session and its CSRF proof", body = SessionOut),
        (status = 401, description = "Wrong email or password", body = crate::error::Problem),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SessionIn>,
) -> Result<Response, ApiError> {
    let token = session_for(&state, &input.email, input.password).await?;
    let ttl = state.jwt.ttl_secs();
    let mut headers = HeaderMap::new();
    for value in cookie::start(&token, ttl, secure(&state)) {
        headers.append(SET_COOKIE, value);
    }
    let body = SessionOut {
        csrf_token: cookie::csrf_token(&token),
        expires_in: ttl,
    };
    Ok((headers, Json(body)).into_response())
}

/// Sign a browser out: both cookies are cleared. Made with the session
/// cookie, it needs the CSRF proof like any other state change.
#[utoipa::path(delete, path = "/session", tag = TAG_AUTH, security(()),
    responses(
        (status = 204, description = "Signed out: `Set-Cookie` clears the cookies"),
        (status = 403, description = "The session cookie came without its CSRF proof", body = crate::error::Problem),
    ))]
async fn sign_out(
    State(state): State<AppState>,
    auth: Result<Auth, ApiError>,
) -> Result<Response, ApiError> {
    // An expired or unknown session still gets its cookies cleared; a
    // missing CSRF proof does not.
    if let Err(err) = auth {
        if err.status() != StatusCode::UNAUTHORIZED {
            return Err(err);
        }
    }
    let mut headers = HeaderMap::new();
    for value in cookie::end(secure(&state)) {
        headers.append(SET_COOKIE, value);
    }
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

fn secure(state: &AppState) -> bool {
    state.settings.public_url.starts_with("https://")
}
