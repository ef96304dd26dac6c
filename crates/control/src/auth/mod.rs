//! Who is calling: a session JWT or a management API key, resolved once per
//! request into the account every handler then scopes its queries by.

pub mod cookie;
pub mod jwt;
pub mod password;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use toolgate_mcp::headers::bearer_token;
use toolgate_store::ids::{AccountId, ApiKeyId, UserId};
use toolgate_store::{api_keys, users};

use crate::error::ApiError;
use crate::state::AppState;

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy)]
pub enum Principal {
    User(UserId),
    ApiKey(ApiKeyId),
}

/// An authenticated caller and the account it acts for.
#[derive(Debug, Clone, Copy)]
pub struct Auth {
    pub account_id: AccountId,
    pub principal: Principal,
}

impl Auth {
    pub fn user_id(&self) -> Option<UserId> {
        match self.principal {
            Principal::User(id) => Some(id),
            Principal::ApiKey(_) => None,
        }
    }
}

const MISSING: &str = "missing credentials: send Authorization: Bearer <token or API key>";
const INVALID: &str = "invalid or expired credentials";

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Without an Authorization header, a browser's session cookie (whose
        // state changes must carry its CSRF proof: see `cookie`).
        let from_cookie;
        let token = match parts.headers.get(AUTHORIZATION) {
            Some(header) => header.to_str().ok().and_then(bearer_token),
            None => {
                from_cookie = cookie::session_token(parts)?;
                from_cookie.as_deref()
            }
        }
        .ok_or(ApiError::Unauthorized(MISSING))?;

        if token.starts_with(api_keys::KEY_KIND) && token.as_bytes().get(3) == Some(&b'_') {
            let (account_id, key_id) = api_keys::authenticate(&state.pool, token)
                .await?
                .ok_or(ApiError::Unauthorized(INVALID))?;
            return Ok(Auth {
                account_id,
                principal: Principal::ApiKey(key_id),
            });
        }
        let claims = state
            .jwt
            .verify(token)
            .ok_or(ApiError::Unauthorized(INVALID))?;
        // A signature proves who the token was issued to, not that they are
        // still there: a removed user's tokens end with the user.
        if !users::exists(&state.pool, claims.acc, claims.sub).await? {
            return Err(ApiError::Unauthorized(INVALID));
        }
        Ok(Auth {
            account_id: claims.acc,
            principal: Principal::User(claims.sub),
        })
    }
}
