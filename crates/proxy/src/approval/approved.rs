//! An approved call: spent (by exactly one call), forwarded with the units
//! taken before a person was asked, and its answer relayed onto the held
//! stream.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{header, Method};
use tokio::sync::mpsc;
use toolgate_audit::AuditDecision as Recorded;
use toolgate_mcp::headers::EVENT_STREAM_CONTENT_TYPE;
use toolgate_store::approvals::{self, Approval};

use super::{message_event, refuse, state, HeldCall};
use crate::forward::{forward, Outgoing};
use crate::relay::{ListFilter, RelayContext};
use crate::settle::Settlement;

/// Largest non-SSE answer relayed onto the held stream.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// Spends the approval, forwards the original request (its limits were
/// acquired before the person was asked) and relays the upstream's answer
/// onto the held stream.
pub(super) async fn forward_approved(
    mut call: HeldCall,
    approval: Approval,
    events: mpsc::Sender<Bytes>,
) {
    let desk = &call.state.approvals;
    let digest = approvals::arguments_digest(&call.hold.arguments);
    match approvals::consume(&desk.pool, call.account, approval.id, &digest).await {
        Ok(true) => {}
        Ok(false) => {
            let reason = format!(
                "approval {} was already used by another call with the same arguments, which was \
                 forwarded; this call was not",
                approval.id
            );
            call.spent_elsewhere(reason.clone());
            let answer = refuse(&call, &reason);
            let _ = events.send(message_event(answer)).await;
            return;
        }
        Err(error) => {
            tracing::error!(approval = %approval.id, %error, "cannot spend an approval");
            let reason = "the approval could not be recorded as used; retry the call";
            // Still approved (or spent after all): the units stay taken for
            // the retry that spends it, never counted twice nor not at all.
            call.spent_elsewhere(reason.to_owned());
            let answer = refuse(&call, reason);
            let _ = events.send(message_event(answer)).await;
            return;
        }
    }
    tracing::info!(approval = %approval.id, "approved; forwarding the held call");
    // The units were taken before the person was asked: an approved call
    // never fails on a limit.
    let admitted: Vec<_> = call
        .admission
        .take()
        .map(|admission| (call.hold.id.clone(), admission))
        .into_iter()
        .collect();
    let audit = call
        .audit
        .take()
        .map(|(trail, note)| (trail, note.concluded(Recorded::ApprovalApproved, None)));
    let pending = audit.and_then(|(mut trail, note)| {
        trail.forwarded(note);
        trail.into_pending()
    });
    let ctx = RelayContext {
        request_id: Some(call.hold.id.clone()),
        // The stream's headers are sent already: no session to seal.
        settlement: Settlement::start(call.state.limiter.clone(), call.account, admitted, pending),
        ..RelayContext::new(
            ListFilter::of(&call.server, &call.state.sightings, call.filter, None),
            Some(call.server.timeout),
        )
    };
    // A call resumed with the gateway's request state is forwarded without
    // it: the upstream never sees the gateway's state.
    let body = match state::ours(&call.body).and_then(|_| state::without_ours(&call.body)) {
        Some(stripped) => Bytes::from(stripped),
        None => call.body.clone(),
    };
    let outgoing = Outgoing {
        server: &call.server,
        method: Method::POST,
        headers: &call.headers,
        session: call.session.as_deref(),
        body: Some(body),
    };
    let response = forward(&call.state, outgoing, ctx)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    pipe(response, &events).await;
}

/// Copies a relayed answer onto the held stream: SSE as it comes, JSON as
/// one event.
async fn pipe(response: Response, events: &mpsc::Sender<Bytes>) {
    let is_sse = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(EVENT_STREAM_CONTENT_TYPE));
    let mut body = response.into_body().into_data_stream();
    if is_sse {
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => {
                    if events.send(chunk).await.is_err() {
                        return;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "the upstream's stream broke off");
                    return;
                }
            }
        }
        return;
    }
    let mut answer = Vec::new();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) if answer.len() + chunk.len() <= MAX_ANSWER => {
                answer.extend_from_slice(&chunk)
            }
            Ok(_) => {
                tracing::warn!("the upstream's answer is too large to relay");
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "the upstream's answer broke off");
                return;
            }
        }
    }
    let answer = Bytes::from(answer);
    if !answer.iter().all(u8::is_ascii_whitespace) {
        let _ = events.send(message_event(answer)).await;
    }
}
