//! Sign-up and login.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use toolgate_store::{accounts, users};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::password;
use crate::error::{ApiError, Violations};
use crate::extract::ApiJson;
use crate::inputs;
use crate::routes::account::AccountOut;
use crate::routes::TAG_AUTH;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupIn {
    #[schema(example = "ada@example.com")]
    email: String,
    /// At least 10 characters.
    password: String,
    /// The account's display name; its slug (in gateway URLs) derives from it.
    #[schema(example = "Acme Corp")]
    account: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserOut {
    id: toolgate_store::ids::UserId,
    email: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignupOut {
    /// A session token (JWT) for `Authorization: Bearer`.
    token: String,
    expires_in: i64,
    account: AccountOut,
    user: UserOut,
}

/// Create an account and its first user.
#[utoipa::path(post, path = "/signup", tag = TAG_AUTH, security(()),
    request_body = SignupIn,
    responses(
        (status = 201, body = SignupOut),
        (status = 409, description = "The email is already registered", body = crate::error::Problem),
        (status = 422, description = "Invalid email, password or account name", body = crate::error::Problem),
    ))]
async fn signup(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SignupIn>,
) -> Result<(StatusCode, Json<SignupOut>), ApiError> {
    let mut violations = Violations::default();
    let email = violations.check("/email", inputs::email(&input.email));
    violations.check("/password", inputs::password(&input.password));
    let name = violations.check("/account", inputs::display_name(&input.account));
    violations.into_result()?;
    let (Some(email), Some(name)) = (email, name) else {
        return Err(ApiError::validation("", "invalid sign-up"));
    };

    let password_hash = password::hash(input.password).await?;
    let (account, user) = accounts::create_with_owner(
        &state.pool,
        accounts::NewAccount {
            name: &name,
            slug_base: &inputs::slugify(&name),
            email: &email,
            password_hash: &password_hash,
        },
    )
    .await
    .map_err(|err| match err {
        toolgate_store::StoreError::Conflict(_) => ApiError::Conflict(
            "an account with this email already exists; log in instead".to_owned(),
        ),
        other => other.into(),
    })?;
    let token = state
        .jwt
        .issue(user.id, account.id)
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(SignupOut {
            token,
            expires_in: state.jwt.ttl_secs(),
            account: AccountOut::new(&state, account),
            user: UserOut {
                id: user.id,
                email: user.email,
                created_at: user.created_at,
            },
        }),
    ))
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
    // An unparseable email takes the unknown-user path: same answer, same cost.
    let found = match inputs::email(&input.email) {
        Ok(email) => users::credentials_by_email(&state.pool, &email).await?,
        Err(_) => None,
    };
    let stored = found.as_ref().map(|c| c.password_hash.clone());
    if !password::verify(input.password, stored).await? {
        return Err(ApiError::Unauthorized(BAD_LOGIN));
    }
    let credentials = found.ok_or(ApiError::Unauthorized(BAD_LOGIN))?;
    let token = state
        .jwt
        .issue(credentials.id, credentials.account_id)
        .map_err(ApiError::internal)?;
    Ok(Json(LoginOut {
        token,
        expires_in: state.jwt.ttl_secs(),
    }))
}
