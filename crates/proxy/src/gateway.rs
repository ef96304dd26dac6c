//! The gateway routes: `POST`, `GET` and `DELETE` on
//! `/mcp/{account}/{server}`, for both protocol eras. HTTP concerns only —
//! the body's type and size, the protocol revision, the legacy session —
//! then the request goes down the [`pipeline`](crate::pipeline).

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{header, HeaderMap, Method, StatusCode};
use toolgate_mcp::headers::{
    self, check_post, media_type, Era, McpHeaders, ProtocolVersion, JSON_CONTENT_TYPE,
    MCP_SESSION_ID,
};
use toolgate_mcp::tools_list::FilterOptions;
use toolgate_mcp::{peek, Body};
use tracing::Instrument;

use crate::auth::Authorized;
use crate::error::GatewayError;
use crate::forward::{forward, Outgoing};
use crate::outcome::RequestOutcome;
use crate::pipeline::{self, binding, Incoming};
use crate::relay::{ListFilter, RelayContext};
use crate::ProxyState;

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The upstream session behind the agent's session id, if it sent one.
fn open_session<'h>(
    state: &ProxyState,
    auth: &Authorized,
    headers: &'h HeaderMap,
) -> Result<Option<&'h str>, GatewayError> {
    match headers.get(MCP_SESSION_ID) {
        None => Ok(None),
        Some(value) => {
            let sealed = value.to_str().map_err(|_| GatewayError::SessionNotFound)?;
            state
                .sealer
                .open(auth.grant, auth.server.id, sealed)
                .map(Some)
                .ok_or(GatewayError::SessionNotFound)
        }
    }
}

/// When the request arrived: the first extractor of a handler, so that the
/// time spent authenticating (a cold account's snapshot) counts.
pub struct Received(Instant);

impl<S: Send + Sync> FromRequestParts<S> for Received {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(_: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(Instant::now()))
    }
}

pub async fn post(
    Received(started): Received,
    State(state): State<ProxyState>,
    Path((account, server)): Path<(String, String)>,
    auth: Result<Authorized, GatewayError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Never the token or the arguments: these fields leave the process in
    // logs and OTLP spans.
    let span = tracing::info_span!(
        "gateway",
        %account,
        %server,
        request_id = header_str(&headers, REQUEST_ID).unwrap_or_default(),
        method = tracing::field::Empty,
        tool = tracing::field::Empty,
        decision = tracing::field::Empty,
    );
    let mut outcome = RequestOutcome::default();
    let result = handle_post(state, auth, headers, body, started, &mut outcome)
        .instrument(span.clone())
        .await;
    outcome.finish(&span, result.as_ref().err(), started);
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Set by the router's request-id layer when the client sent none.
const REQUEST_ID: &str = "x-request-id";

async fn handle_post(
    state: ProxyState,
    auth: Result<Authorized, GatewayError>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    started: Instant,
    outcome: &mut RequestOutcome,
) -> Result<Response, GatewayError> {
    let auth = auth?;
    outcome.resolved(auth.account, auth.server.id);
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            GatewayError::TooLarge
        } else {
            GatewayError::Unavailable
        }
    })?;
    let is_json = header_str(&headers, header::CONTENT_TYPE.as_str())
        .is_some_and(|value| media_type(value) == JSON_CONTENT_TYPE);
    if !is_json {
        return Err(GatewayError::UnsupportedMediaType);
    }
    let body = peek(&bytes).map_err(GatewayError::Peek)?;
    let mcp_headers = McpHeaders {
        protocol_version: header_str(&headers, headers::MCP_PROTOCOL_VERSION),
        method: header_str(&headers, headers::MCP_METHOD),
        name: header_str(&headers, headers::MCP_NAME),
    };
    let version = check_post(&mcp_headers, &body).map_err(|error| GatewayError::Protocol {
        error,
        id: match &body {
            Body::Single(message) => message.id().map(|id| id.clone().into_owned()),
            Body::Batch(_) => None,
        },
    })?;
    if let Body::Single(message) = &body {
        let span = tracing::Span::current();
        span.record("method", message.method().unwrap_or("(response)"));
        if let Some(call) = message.tool_call() {
            span.record("tool", call.name());
        }
    }
    // The 2026-07-28 revision has no sessions: the header is ignored there.
    let session = match version.era() {
        Era::Legacy => open_session(&state, &auth, &headers)?,
        Era::Modern => None,
    };
    let request = Incoming {
        headers: &headers,
        bytes: &bytes,
        body: &body,
        version,
        session,
        started,
    };
    pipeline::serve(&state, &auth, request, outcome).await
}

/// GET opens the legacy listening stream.
pub async fn get(
    State(state): State<ProxyState>,
    auth: Result<Authorized, GatewayError>,
    headers: HeaderMap,
) -> Response {
    legacy_stream(state, auth, headers, Method::GET)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// DELETE ends a legacy session.
pub async fn delete(
    State(state): State<ProxyState>,
    auth: Result<Authorized, GatewayError>,
    headers: HeaderMap,
) -> Response {
    legacy_stream(state, auth, headers, Method::DELETE)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn legacy_stream(
    state: ProxyState,
    auth: Result<Authorized, GatewayError>,
    headers: HeaderMap,
    method: Method,
) -> Result<Response, GatewayError> {
    let auth = auth?;
    let modern = header_str(&headers, headers::MCP_PROTOCOL_VERSION)
        .and_then(ProtocolVersion::parse)
        .is_some_and(|v| v.era() == Era::Modern);
    if modern {
        return Err(GatewayError::MethodNotAllowed(
            "the 2026-07-28 revision has no GET or DELETE; use POST",
        ));
    }
    let session = open_session(&state, &auth, &headers)?;
    if method == Method::DELETE && session.is_none() {
        return Err(GatewayError::SessionRequired);
    }
    let lists = ListFilter::of(
        &auth.server,
        &state.sightings,
        FilterOptions::default(),
        None,
    );
    // A listening stream may be quiet for as long as the agent waits.
    let idle_timeout = (method != Method::GET).then_some(auth.server.timeout);
    let ctx = RelayContext {
        session: Some(binding(&state, &auth)),
        ..RelayContext::new(lists, idle_timeout)
    };
    let outgoing = Outgoing {
        server: &auth.server,
        method,
        headers: &headers,
        session,
        body: None,
    };
    forward(&state, outgoing, ctx).await
}
