//! The answer to a call handed back while its approval is pending: words a
//! model acts on (wait, then call again with the same arguments), and the
//! same facts for programs in `_meta["dev.toolgate/approval"]`.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use toolgate_mcp::response::{
    result_response, tool_error_message, tool_error_result, MetaKey, AWAITING_APPROVAL_PREFIX,
};
use toolgate_policy::Kind;
use toolgate_store::approvals::Approval;

use super::state::Round;
use super::HeldCall;

/// A modern client's answer while nobody decided: "input required", with no
/// input requests and the gateway's signed state, so that its SDK calls
/// again at once and the call is held again (for at most
/// [`super::MAX_ROUNDS`] rounds).
pub(super) fn input_required(call: &HeldCall, approval: &Approval) -> Bytes {
    let round = Round {
        approval: approval.id,
        target: call.hold.tool.clone(),
        digest: approval.arguments_digest.clone(),
        round: call.round + 1,
        expires: approval.expires_at.timestamp(),
    };
    let state = call
        .state
        .approvals
        .states
        .seal(call.grant, call.server.id, &round);
    let detail = json!({
        "id": approval.id.to_string(),
        "status": "pending",
        "url": call.state.approvals.link(approval),
        "expires_at": approval.expires_at,
        "round": round.round,
    });
    result_response(
        &call.hold.id,
        &json!({
            "resultType": "input_required",
            "requestState": state,
            "_meta": {MetaKey::TOOLGATE_APPROVAL.as_str(): detail},
        }),
    )
}

/// When to suggest calling again: soon enough to notice a quick decision,
/// late enough not to busy the gateway, and never past the expiry.
const RETRY_AFTER: Duration = Duration::from_secs(30);

pub(super) fn answer(call: &HeldCall, approval: &Approval, held: Duration) -> Bytes {
    let link = call.state.approvals.link(approval);
    let left = (approval.expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    let retry_after = RETRY_AFTER.min(left);
    let expires = approval.expires_at.format("%Y-%m-%dT%H:%M:%SZ");
    let noun = match call.hold.kind {
        Kind::Tool => "tool",
        Kind::Resource => "resource",
        Kind::Prompt => "prompt",
    };
    let where_ = match &link {
        Some(link) => format!(" A reviewer decides at {link}."),
        None => String::new(),
    };
    let text = format!(
        "{AWAITING_APPROVAL_PREFIX}this call needs a person's approval and nobody has decided yet \
         (waited {} s). Nothing was done. Approval {} stays open until {expires}.{where_} Call \
         this {noun} again later (in about {} s) with exactly the same arguments: once approved \
         that call is carried out and returns the result; if it was denied, that call says so. \
         Changed arguments need a new approval.",
        held.as_secs(),
        approval.id,
        retry_after.as_secs().max(1),
    );
    let detail = json!({
        "id": approval.id.to_string(),
        "status": "pending",
        "url": link,
        "expires_at": approval.expires_at,
        "retry_after_ms": u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
        "rule": call.hold.pointer,
    });
    let meta = [(MetaKey::TOOLGATE_APPROVAL, detail)];
    match call.hold.kind {
        Kind::Tool => tool_error_result(&call.hold.id, call.era, &text, &meta),
        Kind::Resource | Kind::Prompt => tool_error_message(&call.hold.id, &text, &meta),
    }
}
