//! One POST through the gateway, stage by stage: plan every message (pure),
//! acquire the limits of the calls that have them, then either hold a call
//! for a person, answer everything here, or forward the rest through the
//! shared tail (send, relay, settle).

use std::time::Instant;

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, Method, StatusCode};
use serde_json::value::RawValue;
use toolgate_mcp::headers::{Era, ProtocolVersion};
use toolgate_mcp::tools_list::FilterOptions;
use toolgate_mcp::{Body, Id};

use crate::admit::{admit, Admitting};
use crate::approval::{self, HeldCall};
use crate::audit::Trail;
use crate::auth::Authorized;
use crate::error::GatewayError;
use crate::forward::{forward, Outgoing};
use crate::limiting::Caller;
use crate::outcome::{RequestDecision, RequestOutcome};
use crate::pins::PinCheck;
use crate::plan::{plan, Judge};
use crate::relay::{ListFilter, RelayContext};
use crate::session::SessionBinding;
use crate::settle::Settlement;
use crate::ProxyState;

/// A POST the gateway has read and checked: its body peeked, its protocol
/// revision known, its legacy session opened.
pub struct Incoming<'r> {
    pub headers: &'r HeaderMap,
    /// The body as the agent sent it.
    pub bytes: &'r Bytes,
    pub body: &'r Body<'r>,
    pub version: ProtocolVersion,
    /// The upstream's legacy session id.
    pub session: Option<&'r str>,
    /// When the gateway received the request.
    pub started: Instant,
}

impl Incoming<'_> {
    /// The id of a single request, to answer failures in-band.
    fn single_id(&self) -> Option<Id<'static>> {
        match self.body {
            Body::Single(message) => message.id().map(|id| id.clone().into_owned()),
            Body::Batch(_) => None,
        }
    }

    fn filter(&self) -> FilterOptions {
        FilterOptions {
            // A list filtered per grant must not be shared across
            // authorization contexts (2026-07-28).
            private_cache_scope: self.version.era() == Era::Modern,
        }
    }
}

pub async fn serve(
    state: &ProxyState,
    auth: &Authorized,
    request: Incoming<'_>,
    outcome: &mut RequestOutcome,
) -> Result<Response, GatewayError> {
    let server = &auth.server;
    let era = request.version.era();
    let pins = server.pins.as_ref().map(|pins| PinCheck {
        server: server.id,
        pins,
        sightings: &state.sightings,
    });
    let planned = plan(
        request.body,
        Judge {
            policy: &server.policy,
            shadow: server.shadow.as_deref(),
            pins,
            version: request.version,
            audit: state.audit.is_enabled(),
        },
    );
    let lists = planned.lists;
    let caller = Caller {
        account: auth.account,
        server: server.id,
        grant: auth.grant,
        session: request.session,
    };
    let mut trail = Trail::new(
        &state.audit,
        request.started,
        &caller,
        server.policy_version,
    );
    let admitted = admit(
        planned,
        Admitting {
            limiter: &state.limiter,
            caller: &caller,
            era,
            batch: request.body.is_batch(),
        },
        &mut trail,
    )
    .await;
    outcome.raise(admitted.decision);

    if let Some(held) = admitted.hold {
        return Ok(approval::hold(HeldCall {
            state: state.clone(),
            account: auth.account,
            server: server.clone(),
            grant: auth.grant,
            session: request.session.map(str::to_owned),
            headers: request.headers.clone(),
            body: request.bytes.clone(),
            era,
            filter: request.filter(),
            hold: *held.hold,
            admission: held.admission,
            audit: held.note.map(|note| (trail, note)),
        })
        .await);
    }
    if admitted.forward.is_empty() {
        return Ok(answered_here(&request, &admitted.local, admitted.decision));
    }
    let body = if admitted.forward.len() == request.body.messages().len() {
        request.bytes.clone()
    } else {
        subset(request.bytes, &admitted.forward)?
    };
    let witness = lists.then(|| trail.witness()).flatten();
    let settlement = Settlement::start(
        state.limiter.clone(),
        auth.account,
        admitted.admissions,
        trail.into_pending(),
    );
    let ctx = RelayContext {
        lists_tools: lists,
        local: admitted.local,
        batch: request.body.is_batch(),
        request_id: request.single_id(),
        session: Some(binding(state, auth)),
        settlement,
        ..RelayContext::new(
            ListFilter::of(server, &state.sightings, request.filter(), witness),
            Some(server.timeout),
        )
    };
    forward(
        state,
        Outgoing {
            server,
            method: Method::POST,
            headers: request.headers,
            session: request.session,
            body: Some(body),
        },
        ctx,
    )
    .await
}

/// Seals upstream session ids for this grant and server.
pub fn binding(state: &ProxyState, auth: &Authorized) -> SessionBinding {
    SessionBinding {
        sealer: state.sealer.clone(),
        grant: auth.grant,
        server: auth.server.id,
    }
}

/// The answer when nothing is forwarded.
fn answered_here(request: &Incoming<'_>, local: &[Bytes], decision: RequestDecision) -> Response {
    if local.is_empty() {
        // Only notifications, all dropped: what a server answers a
        // notification it accepts.
        return StatusCode::ACCEPTED.into_response();
    }
    // 2026-07-28 answers a method the server does not implement with 404
    // and the `-32601` body; its bodies are single messages, so an unknown
    // method is the whole request. Legacy revisions say 200.
    let status =
        if request.version.era() == Era::Modern && decision == RequestDecision::UnknownMethod {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::OK
        };
    let answer = if request.body.is_batch() {
        let parts: Vec<&[u8]> = local.iter().map(|b| &b[..]).collect();
        Bytes::from([&b"["[..], &parts.join(&b","[..]), &b"]"[..]].concat())
    } else {
        local.first().cloned().unwrap_or_default()
    };
    (status, [(header::CONTENT_TYPE, "application/json")], answer).into_response()
}

/// A batch of the messages at `indices`, as their original text.
fn subset(body: &[u8], indices: &[usize]) -> Result<Bytes, GatewayError> {
    let messages: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
        GatewayError::Peek(toolgate_mcp::PeekError::Parse {
            detail: e.to_string(),
        })
    })?;
    let picked: Vec<&str> = indices
        .iter()
        .filter_map(|&i| messages.get(i))
        .map(|m| m.get())
        .collect();
    Ok(Bytes::from(format!("[{}]", picked.join(","))))
}
