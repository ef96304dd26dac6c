//! Signing in and out. (Sign-up lives in [`super::signup`]; the signed-in
//! person's own routes in [`super::me`].)

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use toolgate_store::ids::AccountId;
use toolgate_store::memberships::{self, Role};
use toolgate_store::{sessions, users};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Actor, Change};
use crate::auth::client_addr::ClientAddr;
use crate::auth::{password, start_session, Auth};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::inputs;
use crate::routes::TAG_AUTH;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(logout_everywhere))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    email: String,
    password: String,
    /// The account to sign in to (default: the one the person joined
    /// first). A token is for one account; `POST /v1/me/switch` changes it.
    account: Option<AccountId>,
}

/// A new session.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionOut {
    pub token: String,
    pub expires_in: i64,
    /// The account the token acts for.
    pub account_id: AccountId,
    /// The person's role there.
    pub role: Role,
}

const BAD_LOGIN: &str = "wrong email or password";

/// Exchange an email and password for a session token.
///
/// Failed attempts are throttled per email and per client address: past the
/// free ones, each locks the email (or address) for a doubling time, during
/// which every attempt is 429 with `Retry-After`, before any password is
/// checked and whether or not the email has an account.
#[utoipa::path(post, path = "/login", tag = TAG_AUTH, security(()),
    request_body = LoginIn,
    responses(
        (status = 200, body = SessionOut),
        (status = 401, description = "Wrong email or password, or not a member of the account asked for", body = crate::error::Problem),
        (status = 429, description = "Too many failed attempts for this email or from this address; `Retry-After` says when to try again", body = crate::error::Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "The attempt counter cannot be reached; try again shortly", body = crate::error::Problem),
    ))]
async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(input): ApiJson<LoginIn>,
) -> Result<(Extension<Change>, Json<SessionOut>), ApiError> {
    let (change, out) = sign_in(&state, client, input).await?;
    Ok((Extension(change), Json(out)))
}

/// Checks the password (throttled) and starts a session: login's work,
/// shared with the browser's sign-in ([`super::session`]).
pub(crate) async fn sign_in(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    input: LoginIn,
) -> Result<(Change, SessionOut), ApiError> {
    let claim = state.throttle.claim_login(&input.email, client).await?;
    // An unparseable email takes the unknown-user path: same answer, same cost.
    let found = match inputs::email(&input.email) {
        Ok(email) => users::credentials_by_email(&state.pool, &email)
            .await?
            .map(|c| (c, email)),
        Err(_) => None,
    };
    let stored = found.as_ref().map(|(c, _)| c.password_hash.clone());
    if !password::verify(input.password, stored).await? {
        return Err(ApiError::Unauthorized(BAD_LOGIN));
    }
    let (credentials, email) = found.ok_or(ApiError::Unauthorized(BAD_LOGIN))?;
    state.throttle.login_succeeded(claim).await;
    let memberships = memberships::of_user(&state.pool, credentials.id).await?;
    let membership = match input.account {
        Some(account) => memberships.iter().find(|m| m.account_id == account),
        None => memberships.first(),
    }
    // Only someone who knows the password learns which accounts they are in.
    .ok_or(ApiError::Unauthorized(
        "you are not a member of this account (GET /v1/me lists yours)",
    ))?;
    let started = start_session(state, &state.pool, credentials.id, membership.account_id).await?;
    let change = Change::new(serde_json::json!({})).on(started.id).by(Actor {
        account_id: membership.account_id,
        user_id: credentials.id,
        email,
    });
    Ok((
        change,
        SessionOut {
            token: started.token,
            expires_in: started.expires_in,
            account_id: membership.account_id,
            role: membership.role,
        },
    ))
}

/// End this session: its token stops working on every replica at once.
#[utoipa::path(post, path = "/logout", tag = TAG_AUTH,
    responses((status = 204), (status = 401, body = crate::error::Problem)))]
async fn logout(State(state): State<AppState>, auth: Auth) -> Result<StatusCode, ApiError> {
    if let Some(session) = auth.session {
        sessions::revoke(&state.pool, session).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedOutOut {
    /// How many sessions ended, this one included.
    sessions_ended: u64,
}

/// Sign out everywhere: every session of this person, in every account.
#[utoipa::path(post, path = "/logout/everywhere", tag = TAG_AUTH,
    responses((status = 200, body = SignedOutOut), (status = 401, body = crate::error::Problem)))]
async fn logout_everywhere(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<(Extension<Change>, Json<SignedOutOut>), ApiError> {
    let user = auth
        .user_id()
        .ok_or(ApiError::Forbidden("API keys have no sessions".to_owned()))?;
    let ended = sessions::revoke_all(&state.pool, user).await?;
    Ok((
        Extension(Change::new(serde_json::json!({ "sessions_ended": ended }))),
        Json(SignedOutOut {
            sessions_ended: ended,
        }),
    ))
}
