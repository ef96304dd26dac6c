//! Who is calling: a session JWT or a management API key, resolved once per
//! request (by [`crate::access`]) into the account every handler then
//! scopes its queries by, and the role its permissions come from.

pub mod client_addr;
pub mod cookie;
pub mod jwt;
pub mod password;
pub mod throttle;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use chrono::{Duration, Utc};
use toolgate_mcp::headers::bearer_token;
use toolgate_store::ids::{AccountId, ApiKeyId, SessionId, UserId};
use toolgate_store::memberships::Role;
use toolgate_store::{api_keys, sessions};

use crate::error::ApiError;
use crate::permissions::{self, Permission};
use crate::state::AppState;

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy)]
pub enum Principal {
    User(UserId),
    ApiKey(ApiKeyId),
}

/// An authenticated caller, the account it acts for and its role there.
#[derive(Debug, Clone)]
pub struct Auth {
    pub account_id: AccountId,
    pub principal: Principal,
    pub role: Role,
    /// The session a person signed in with (`None` for an API key).
    pub session: Option<SessionId>,
    /// Who, in words, for the account's trail: the email or the key's name.
    pub label: String,
    /// The person whose role bounds the caller's: the signed-in user, or the
    /// key's creator (`None` for a key made before roles existed). A key
    /// this caller makes answers to the same person.
    pub person: Option<UserId>,
}

impl Auth {
    pub fn user_id(&self) -> Option<UserId> {
        match self.principal {
            Principal::User(id) => Some(id),
            Principal::ApiKey(_) => None,
        }
    }

    /// Whether the caller's role holds `permission`.
    pub fn can(&self, permission: Permission) -> bool {
        permissions::allows(self.role, permission)
    }

    /// 403 unless the caller's role holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.can(permission) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "the {} role does not allow this (it needs the {permission:?} permission)",
                self.role.as_str()
            )))
        }
    }

    /// Proves who the caller is from the `Authorization` header or, without
    /// one, a browser's session cookie (whose CSRF proof [`crate::access`]
    /// checks first: see [`cookie`]).
    pub async fn authenticate(headers: &HeaderMap, state: &AppState) -> Result<Self, ApiError> {
        let from_cookie;
        let token = match headers.get(AUTHORIZATION) {
            Some(header) => header.to_str().ok().and_then(bearer_token),
            None => {
                from_cookie = cookie::session_token(headers)?;
                from_cookie.as_deref()
            }
        }
        .ok_or(ApiError::Unauthorized(MISSING))?;

        if token.starts_with(api_keys::KEY_KIND) && token.as_bytes().get(3) == Some(&b'_') {
            let key = api_keys::authenticate(&state.pool, token)
                .await?
                .ok_or(ApiError::Unauthorized(INVALID))?;
            // A key is never stronger than its creator is now: a creator
            // demoted or gone takes their stronger keys with them.
            let creator_covers = match (key.created_by, key.creator_role) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(_), Some(creator)) => permissions::covers(creator, key.role),
            };
            if !creator_covers {
                return Err(ApiError::Unauthorized(KEY_OUTRANKS_CREATOR));
            }
            return Ok(Auth {
                account_id: key.account_id,
                principal: Principal::ApiKey(key.id),
                role: key.role,
                session: None,
                label: key.name,
                person: key.created_by,
            });
        }
        let claims = state
            .jwt
            .verify(token)
            .ok_or(ApiError::Unauthorized(INVALID))?;
        // A signature proves who the token was issued to, not that the
        // session still stands or that they still belong to the account.
        let (role, email) = sessions::live_role(&state.pool, claims.sid, claims.sub, claims.acc)
            .await?
            .ok_or(ApiError::Unauthorized(INVALID))?;
        Ok(Auth {
            account_id: claims.acc,
            principal: Principal::User(claims.sub),
            role,
            session: Some(claims.sid),
            label: email,
            person: Some(claims.sub),
        })
    }
}

const MISSING: &str = "missing credentials: send Authorization: Bearer <token or API key>";
const INVALID: &str = "invalid or expired credentials";
const KEY_OUTRANKS_CREATOR: &str =
    "this API key's role is stronger than its creator's current role; create a new key";

/// The caller, as [`crate::access`] authenticated it for this route.
impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Auth>().cloned().ok_or_else(|| {
            ApiError::Internal("a handler asked for the caller on a public route".into())
        })
    }
}

/// A new session token, and how long it lives.
pub struct StartedSession {
    pub token: String,
    pub expires_in: i64,
    pub id: SessionId,
}

/// Starts a session of the user in the account: the row every request
/// checks, and the token naming it.
pub async fn start_session(
    state: &AppState,
    executor: impl sqlx::PgExecutor<'_>,
    user: UserId,
    account: AccountId,
) -> Result<StartedSession, ApiError> {
    let expires_in = state.jwt.ttl_secs();
    let expires_at = Utc::now() + Duration::seconds(expires_in);
    let id = sessions::create(executor, user, account, expires_at).await?;
    let token = state
        .jwt
        .issue(user, account, id)
        .map_err(ApiError::internal)?;
    Ok(StartedSession {
        token,
        expires_in,
        id,
    })
}
