//! The gateway routes: `POST`, `GET` and `DELETE` on
//! `/mcp/{account}/{server}`, for both protocol eras.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{header, HeaderMap, Method, StatusCode};
use serde_json::value::RawValue;
use toolgate_audit::Decision as Recorded;
use toolgate_mcp::headers::{self, check_post, Era, McpHeaders, ProtocolVersion, MCP_SESSION_ID};
use toolgate_mcp::tools_list::FilterOptions;
use toolgate_mcp::{peek, Body, Id};
use toolgate_store::ids::{AccountId, GrantId};
use tracing::Instrument;

use crate::approval;
use crate::audit;
use crate::enforce::{self, Action};
use crate::error::GatewayError;
use crate::limiting::{Caller, Settlement, Verdict};
use crate::outcome::{RequestDecision, RequestOutcome};
use crate::pins::PinCheck;
use crate::relay::{relay, ListFilter, ListingPins, RelayContext};
use crate::session::SessionBinding;
use crate::snapshot::{GrantRefusal, ServerConfig};
use crate::ProxyState;

/// Who is calling which server.
struct Target {
    account: AccountId,
    server: Arc<ServerConfig>,
    grant: GrantId,
}

async fn target(
    state: &ProxyState,
    account: &str,
    server: &str,
    headers: &HeaderMap,
) -> Result<Target, GatewayError> {
    let snapshot = state
        .cache
        .get(account)
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "loading an account snapshot failed");
            GatewayError::Unavailable
        })?
        .ok_or(GatewayError::NoSuchServer)?;
    let token = bearer(headers)?;
    let grant = snapshot.grant(token).ok_or(GatewayError::Unauthorized(
        "the grant token is unknown or revoked",
    ))?;
    let server = snapshot.server(server).ok_or(GatewayError::NoSuchServer)?;
    grant
        .check(server.id, chrono::Utc::now())
        .map_err(|refusal| match refusal {
            GrantRefusal::Expired => GatewayError::Unauthorized("the grant has expired"),
            GrantRefusal::Invalid => {
                GatewayError::Unauthorized("the grant token is unknown or revoked")
            }
            GrantRefusal::OtherServer => GatewayError::WrongServer,
        })?;
    Ok(Target {
        account: snapshot.id,
        server: server.clone(),
        grant: grant.id,
    })
}

fn bearer(headers: &HeaderMap) -> Result<&str, GatewayError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(GatewayError::Unauthorized(
            "send the grant token as Authorization: Bearer <token>",
        ))
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The upstream session behind the agent's session id, if it sent one.
fn open_session<'h>(
    state: &ProxyState,
    target: &Target,
    headers: &'h HeaderMap,
) -> Result<Option<&'h str>, GatewayError> {
    match headers.get(MCP_SESSION_ID) {
        None => Ok(None),
        Some(value) => {
            let sealed = value.to_str().map_err(|_| GatewayError::SessionNotFound)?;
            state
                .sealer
                .open(target.grant, target.server.id, sealed)
                .map(Some)
                .ok_or(GatewayError::SessionNotFound)
        }
    }
}

fn binding(state: &ProxyState, target: &Target) -> SessionBinding {
    SessionBinding {
        sealer: state.sealer.clone(),
        grant: target.grant,
        server: target.server.id,
    }
}

pub async fn post(
    State(state): State<ProxyState>,
    Path((account, server)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
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
    let result = handle_post(state, account, server, headers, body, &mut outcome)
        .instrument(span.clone())
        .await;
    outcome.finish(&span, result.as_ref().err(), started);
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Set by the router's request-id layer when the client sent none.
const REQUEST_ID: &str = "x-request-id";

async fn handle_post(
    state: ProxyState,
    account: String,
    server: String,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    outcome: &mut RequestOutcome,
) -> Result<Response, GatewayError> {
    let started = Instant::now();
    let target = target(&state, &account, &server, &headers).await?;
    outcome.resolved(target.account, target.server.id);
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            GatewayError::TooLarge
        } else {
            GatewayError::Unavailable
        }
    })?;
    if !is_json(&headers) {
        return Err(GatewayError::UnsupportedMediaType);
    }
    let parsed = peek(&body).map_err(GatewayError::Peek)?;
    let single_id = match &parsed {
        Body::Single(message) => message.id().map(|id| id.clone().into_owned()),
        Body::Batch(_) => None,
    };
    let mcp_headers = McpHeaders {
        protocol_version: header_str(&headers, headers::MCP_PROTOCOL_VERSION),
        method: header_str(&headers, headers::MCP_METHOD),
        name: header_str(&headers, headers::MCP_NAME),
    };
    let version = check_post(&mcp_headers, &parsed).map_err(|error| GatewayError::Protocol {
        error,
        id: single_id.clone(),
    })?;
    if let Body::Single(message) = &parsed {
        let span = tracing::Span::current();
        span.record("method", message.method().unwrap_or("(response)"));
        if let Some(call) = message.tool_call() {
            span.record("tool", call.name());
        }
    }
    // The 2026-07-28 revision has no sessions: the header is ignored there.
    let session = match version.era() {
        Era::Legacy => open_session(&state, &target, &headers)?,
        Era::Modern => None,
    };

    let pins = target.server.pins.as_ref().map(|pins| PinCheck {
        server: target.server.id,
        pins,
        sightings: &state.sightings,
    });
    let plan = enforce::plan_audited(
        &parsed,
        &target.server.policy,
        pins,
        version,
        state.audit.is_enabled(),
    );
    let mut notes = plan.notes;
    outcome.raise(plan.decision);
    let mut trail = audit::Trail::new(
        &state.audit,
        started,
        audit::Caller {
            account: target.account,
            server: target.server.id,
            grant: target.grant,
            session,
            policy_version: target.server.policy_version,
        },
    );
    let caller = Caller {
        account: target.account,
        server: target.server.id,
        grant: target.grant,
        session,
    };
    let mut local = Vec::new();
    let mut forward = Vec::new();
    let mut admitted = Vec::new();
    for (index, action) in plan.actions.into_iter().enumerate() {
        match action {
            Action::Forward => {
                forward.push(index);
                let id = parsed.messages().get(index).and_then(|m| m.id());
                if let (Some(note), Some(id)) = (notes.get_mut(index).and_then(Option::take), id) {
                    trail.forwarded(id.clone().into_owned(), note);
                }
            }
            Action::Answer(answer) => {
                local.push(answer);
                if let Some(note) = notes.get_mut(index).and_then(Option::take) {
                    trail.answered_locally(note);
                }
            }
            Action::Drop => {}
            Action::Limited { id, kind, limits } => {
                // Boxed: the limiter's future is the largest this function
                // awaits; inline, it doubled every request's future.
                let (verdict, limit_note) =
                    Box::pin(
                        state
                            .limiter
                            .check_noted(&caller, &id, version.era(), kind, &limits),
                    )
                    .await;
                let note = notes
                    .get_mut(index)
                    .and_then(Option::take)
                    .map(|note| note.limited(limit_note));
                match verdict {
                    Verdict::Admitted(admission) => {
                        forward.push(index);
                        if let Some(note) = note {
                            trail.forwarded(id.clone(), note);
                        }
                        if let Some(admission) = admission {
                            admitted.push((id, admission));
                        }
                    }
                    Verdict::Refused(answer) => {
                        outcome.raise(RequestDecision::Limited);
                        local.push(answer);
                        if let Some(note) = note {
                            trail.answered_locally(note);
                        }
                    }
                }
            }
            Action::Approval(hold) if parsed.is_batch() => {
                let reason =
                    "this call needs a person's approval; send it on its own, not in a batch";
                outcome.raise(RequestDecision::Refused);
                if let Some(note) = notes.get_mut(index).and_then(Option::take) {
                    trail.answered_locally(
                        note.concluded(Recorded::ApprovalRequired, Some(reason.to_owned())),
                    );
                }
                local.push(enforce::refusal(
                    version.era(),
                    hold.kind,
                    &hold.id,
                    reason,
                    &hold.pointer,
                    None,
                ));
            }
            Action::Approval(hold) => {
                let audit = notes
                    .get_mut(index)
                    .and_then(Option::take)
                    .map(|note| (trail, note));
                return Ok(approval::hold(approval::HeldCall {
                    state: state.clone(),
                    account: target.account,
                    server: target.server.clone(),
                    grant: target.grant,
                    session: session.map(str::to_owned),
                    headers: headers.clone(),
                    body: body.clone(),
                    era: version.era(),
                    filter: FilterOptions {
                        private_cache_scope: version.era() == Era::Modern,
                    },
                    hold: *hold,
                    audit,
                })
                .await);
            }
        }
    }
    if forward.is_empty() {
        if local.is_empty() {
            // Only notifications, all dropped: what a server answers a
            // notification it accepts.
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        // 2026-07-28 answers a method the server does not implement with
        // 404 and the `-32601` body; its bodies are single messages, so an
        // unknown method is the whole request. Legacy revisions say 200.
        let status =
            if version.era() == Era::Modern && plan.decision == RequestDecision::UnknownMethod {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::OK
            };
        let answer = join_local(&parsed, &local);
        return Ok((status, [(header::CONTENT_TYPE, "application/json")], answer).into_response());
    }
    let forward_body = if forward.len() == parsed.messages().len() {
        body.clone()
    } else {
        subset(&body, &forward)?
    };
    let lists = ListFilter {
        policy: target.server.policy.clone(),
        options: FilterOptions {
            private_cache_scope: version.era() == Era::Modern,
        },
        pins: (plan.lists_tools && target.server.pins.is_some()).then(|| ListingPins {
            server: target.server.clone(),
            sightings: state.sightings.clone(),
            witness: trail.witness(),
        }),
    };
    let settlement = Settlement::with_audit(
        state.limiter.clone(),
        target.account,
        admitted,
        trail.into_pending(),
    );
    let sent = state
        .upstream
        .send(
            &target.server,
            Method::POST,
            &headers,
            session,
            Some(forward_body),
        )
        .await;
    let upstream = match sent {
        Ok(upstream) => upstream,
        Err(error) => {
            if let Some(settlement) = settlement {
                settlement.fail();
            }
            return Err(GatewayError::Upstream {
                error,
                id: single_id,
            });
        }
    };
    relay(
        upstream,
        RelayContext {
            lists,
            lists_tools: plan.lists_tools,
            local,
            batch: parsed.is_batch(),
            idle_timeout: Some(target.server.timeout),
            request_id: single_id,
            session: Some(binding(&state, &target)),
            settlement,
        },
    )
    .await
}

fn is_json(headers: &HeaderMap) -> bool {
    header_str(headers, header::CONTENT_TYPE.as_str())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/json")
        })
        .unwrap_or(false)
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

fn join_local(parsed: &Body<'_>, local: &[Bytes]) -> Bytes {
    if parsed.is_batch() {
        let parts: Vec<&[u8]> = local.iter().map(|b| &b[..]).collect();
        Bytes::from([&b"["[..], &parts.join(&b","[..]), &b"]"[..]].concat())
    } else {
        local.first().cloned().unwrap_or_default()
    }
}

/// GET opens the legacy listening stream.
pub async fn get(
    State(state): State<ProxyState>,
    Path((account, server)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    legacy_stream(state, account, server, headers, Method::GET)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// DELETE ends a legacy session.
pub async fn delete(
    State(state): State<ProxyState>,
    Path((account, server)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    legacy_stream(state, account, server, headers, Method::DELETE)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn legacy_stream(
    state: ProxyState,
    account: String,
    server: String,
    headers: HeaderMap,
    method: Method,
) -> Result<Response, GatewayError> {
    let target = target(&state, &account, &server, &headers).await?;
    let modern = header_str(&headers, headers::MCP_PROTOCOL_VERSION)
        .and_then(ProtocolVersion::parse)
        .is_some_and(|v| v.era() == Era::Modern);
    if modern {
        return Err(GatewayError::MethodNotAllowed(
            "the 2026-07-28 revision has no GET or DELETE; use POST",
        ));
    }
    let session = open_session(&state, &target, &headers)?;
    if method == Method::DELETE && session.is_none() {
        return Err(GatewayError::SessionRequired);
    }
    let upstream = state
        .upstream
        .send(&target.server, method.clone(), &headers, session, None)
        .await
        .map_err(|error| GatewayError::Upstream { error, id: None })?;
    relay(
        upstream,
        RelayContext {
            lists: ListFilter {
                policy: target.server.policy.clone(),
                options: FilterOptions::default(),
                pins: target.server.pins.is_some().then(|| ListingPins {
                    server: target.server.clone(),
                    sightings: state.sightings.clone(),
                    witness: None,
                }),
            },
            lists_tools: false,
            local: Vec::new(),
            batch: false,
            // A listening stream may be quiet for as long as the agent waits.
            idle_timeout: (method != Method::GET).then_some(target.server.timeout),
            request_id: None::<Id<'static>>,
            session: Some(binding(&state, &target)),
            settlement: None,
        },
    )
    .await
}
