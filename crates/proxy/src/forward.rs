//! The tail every forwarded request shares — a direct call, an approved
//! call, a legacy listening stream: send to the upstream, then relay its
//! answer (filtering lists, merging the gateway's own answers, settling
//! limits and audit events as answers pass). An upstream that fails settles
//! every call still pending as failed.

use std::sync::Arc;

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, Method};

use crate::error::GatewayError;
use crate::relay::{relay, RelayContext};
use crate::snapshot::ServerConfig;
use crate::ProxyState;

/// What goes to the upstream.
pub struct Outgoing<'a> {
    pub server: &'a Arc<ServerConfig>,
    pub method: Method,
    /// The agent's headers (only an allowlist is forwarded).
    pub headers: &'a HeaderMap,
    /// The upstream's legacy session id.
    pub session: Option<&'a str>,
    pub body: Option<Bytes>,
}

pub async fn forward(
    state: &ProxyState,
    outgoing: Outgoing<'_>,
    mut ctx: RelayContext,
) -> Result<Response, GatewayError> {
    let sent = state
        .upstream
        .send(
            outgoing.server,
            outgoing.method,
            outgoing.headers,
            outgoing.session,
            outgoing.body,
        )
        .await;
    match sent {
        Ok(upstream) => relay(upstream, ctx).await,
        Err(error) => {
            if let Some(settlement) = ctx.settlement.take() {
                settlement.fail();
            }
            Err(GatewayError::Upstream {
                error,
                id: ctx.request_id.take(),
            })
        }
    }
}
