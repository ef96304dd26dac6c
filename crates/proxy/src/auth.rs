//! The first stage: which account and server the URL names, and whether the
//! grant token presented opens it. An extractor, so every gateway route
//! authenticates the same way.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path};
use chrono::Utc;
use http::header;
use http::request::Parts;
use toolgate_mcp::headers::bearer_token;
use toolgate_store::ids::{AccountId, GrantId};

use crate::error::GatewayError;
use crate::snapshot::{GrantRefusal, ServerConfig};
use crate::ProxyState;

/// A grant that opens the server the URL names.
pub struct Authorized {
    pub account: AccountId,
    pub server: Arc<ServerConfig>,
    pub grant: GrantId,
}

impl FromRequestParts<ProxyState> for Authorized {
    type Rejection = GatewayError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ProxyState,
    ) -> Result<Self, Self::Rejection> {
        let Path((account, server)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| GatewayError::NoSuchServer)?;
        let snapshot = state
            .cache
            .get(&account)
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "loading an account snapshot failed");
                GatewayError::Unavailable
            })?
            .ok_or(GatewayError::NoSuchServer)?;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .ok_or(GatewayError::Unauthorized(
                "send the grant token as Authorization: Bearer <token>",
            ))?;
        let invalid = GatewayError::Unauthorized("the grant token is unknown or revoked");
        let grant = snapshot.grant(token).ok_or(invalid)?;
        let server = snapshot.server(&server).ok_or(GatewayError::NoSuchServer)?;
        grant
            .check(server.id, Utc::now())
            .map_err(|refusal| match refusal {
                GrantRefusal::Expired => GatewayError::Unauthorized("the grant has expired"),
                GrantRefusal::Invalid => {
                    GatewayError::Unauthorized("the grant token is unknown or revoked")
                }
                GrantRefusal::OtherServer => GatewayError::WrongServer,
            })?;
        Ok(Self {
            account: snapshot.id,
            server: server.clone(),
            grant: grant.id,
        })
    }
}
