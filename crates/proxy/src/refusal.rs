//! The gateway's own answers to a call it does not forward: a refusal of a
//! visible target (an `isError` result for a tool, a `Denied by policy:`
//! error for a resource or prompt), and the answer for a target the agent
//! cannot see (as if it did not exist).

use bytes::Bytes;
use serde_json::json;
use toolgate_mcp::headers::Era;
use toolgate_mcp::response::{
    refusal_error_response, refusal_response, resource_not_found_response, unknown_prompt_response,
    unknown_tool_response, MetaKey,
};
use toolgate_mcp::Id;
use toolgate_policy::Kind;

/// What a hidden, denied-outright or unmatched target gets: the answer for
/// one that does not exist.
pub fn not_found(era: Era, kind: Kind, id: &Id<'_>, name: &str) -> Bytes {
    match kind {
        Kind::Tool => unknown_tool_response(id, name),
        Kind::Resource => resource_not_found_response(id, era, name),
        Kind::Prompt => unknown_prompt_response(id, name),
    }
}

/// A refused call of a visible target; `retry_after_ms` for limits. A tool
/// gets an `isError` result; a resource read or prompt get, which has no
/// such result, a `Denied by policy:` JSON-RPC error with the same detail
/// in `data`.
pub fn refusal(
    era: Era,
    kind: Kind,
    id: &Id<'_>,
    reason: &str,
    pointer: &str,
    retry_after_ms: Option<u64>,
) -> Bytes {
    let mut detail = json!({ "rule": pointer });
    if let Some(ms) = retry_after_ms {
        detail["retry_after_ms"] = json!(ms);
    }
    refused(era, kind, id, reason, detail)
}

pub fn refused(
    era: Era,
    kind: Kind,
    id: &Id<'_>,
    reason: &str,
    detail: serde_json::Value,
) -> Bytes {
    let meta = [(MetaKey::TOOLGATE_REFUSAL, detail)];
    match kind {
        Kind::Tool => refusal_response(id, era, reason, &meta),
        Kind::Resource | Kind::Prompt => refusal_error_response(id, reason, &meta),
    }
}
