//! Browser sessions: sign in with a cookie instead of a token in the body
//! (the dashboard's way), and sign out. The cookies and the CSRF proof are
//! described in [`crate::auth::cookie`]; the Bearer API is unchanged.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use toolgate_store::ids::AccountId;
use toolgate_store::memberships::{self, Role};
use toolgate_store::sessions;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Actor, Change};
use crate::auth::client_addr::ClientAddr;
use crate::auth::{cookie, start_session, Auth};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::auth::{sign_in, LoginIn};
use crate::routes::TAG_AUTH;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(browser_sign_in, browser_sign_out))
        .routes(routes!(browser_switch))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BrowserSessionOut {
    /// The value of the `toolgate_csrf` cookie: state-changing requests made
    /// with the session cookie repeat it in an `X-CSRF-Token` header.
    csrf_token: String,
    expires_in: i64,
    account_id: AccountId,
    role: Role,
}

/// Sign in a browser: as `POST /v1/login`, but the session goes in an
/// `HttpOnly`, `SameSite=Strict` cookie (`toolgate_session`, `Secure` over
/// https), never in the body.
///
/// Requests then authenticate with the cookie alone (when they have no
/// `Authorization` header); every one that can change state (any method but
/// GET, HEAD, OPTIONS) must also carry the `toolgate_csrf` cookie's value in
/// `X-CSRF-Token`, or gets 403.
#[utoipa::path(post, path = "/session", tag = TAG_AUTH, security(()),
    request_body = LoginIn,
    responses(
        (status = 200, description = "Signed in: `Set-Cookie` carries the session and its CSRF proof", body = BrowserSessionOut),
        (status = 401, description = "Wrong email or password, or not a member of the account asked for", body = crate::error::Problem),
        (status = 429, description = "Too many failed attempts (as `POST /v1/login`); `Retry-After` says when to try again", body = crate::error::Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The attempt counter cannot be reached; try again shortly", body = crate::error::Problem),
    ))]
async fn browser_sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(input): ApiJson<LoginIn>,
) -> Result<Response, ApiError> {
    let (change, session) = sign_in(&state, client, input).await?;
    let mut headers = HeaderMap::new();
    for value in cookie::start(&session.token, session.expires_in, secure(&state)) {
        headers.append(SET_COOKIE, value);
    }
    let body = BrowserSessionOut {
        csrf_token: cookie::csrf_token(&session.token),
        expires_in: session.expires_in,
        account_id: session.account_id,
        role: session.role,
    };
    Ok((headers, Extension(change), Json(body)).into_response())
}

/// Sign a browser out: the session ends (as `POST /v1/logout`) and both
/// cookies are cleared. Made with the session cookie, it needs the CSRF
/// proof like any other state change.
#[utoipa::path(delete, path = "/session", tag = TAG_AUTH,
    responses(
        (status = 204, description = "Signed out: `Set-Cookie` clears the cookies"),
        (status = 401, description = "No live session", body = crate::error::Problem),
        (status = 403, description = "The session cookie came without its CSRF proof", body = crate::error::Problem),
    ))]
async fn browser_sign_out(State(state): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    if let Some(session) = auth.session {
        sessions::revoke(&state.pool, session).await?;
    }
    let mut headers = HeaderMap::new();
    for value in cookie::end(secure(&state)) {
        headers.append(SET_COOKIE, value);
    }
    Ok((StatusCode::NO_CONTENT, headers).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrowserSwitchIn {
    /// One of the person's accounts.
    account_id: AccountId,
}

/// Switch a browser to another of the person's accounts: as
/// `POST /v1/me/switch`, but the new session replaces the cookies, and the
/// one it replaces ends.
#[utoipa::path(post, path = "/session/switch", tag = TAG_AUTH,
    request_body = BrowserSwitchIn,
    responses(
        (status = 200, description = "Switched: `Set-Cookie` carries the new session and its CSRF proof", body = BrowserSessionOut),
        (status = 403, description = "Not a browser session, or no CSRF proof", body = crate::error::Problem),
        (status = 404, description = "Not one of the person's accounts", body = crate::error::Problem),
    ))]
async fn browser_switch(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<BrowserSwitchIn>,
) -> Result<Response, ApiError> {
    let (Some(user_id), Some(old)) = (auth.user_id(), auth.session) else {
        return Err(ApiError::Forbidden("API keys have no sessions".to_owned()));
    };
    let role = memberships::role(&state.pool, input.account_id, user_id)
        .await?
        .ok_or(ApiError::NotFound("not found".to_owned()))?;
    let started = start_session(&state, &state.pool, user_id, input.account_id).await?;
    sessions::revoke(&state.pool, old).await?;
    // Recorded in the account switched to: that is where the session acts.
    let change = Change::new(serde_json::json!({ "from_account": auth.account_id }))
        .on(started.id)
        .by(Actor {
            account_id: input.account_id,
            user_id,
            email: auth.label.clone(),
        });
    let mut headers = HeaderMap::new();
    for value in cookie::start(&started.token, started.expires_in, secure(&state)) {
        headers.append(SET_COOKIE, value);
    }
    let body = BrowserSessionOut {
        csrf_token: cookie::csrf_token(&started.token),
        expires_in: started.expires_in,
        account_id: input.account_id,
        role,
    };
    Ok((headers, Extension(change), Json(body)).into_response())
}

fn secure(state: &AppState) -> bool {
    state.settings.public_url.starts_with("https://")
}
