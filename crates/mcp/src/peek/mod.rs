//! Classify a POST body (or an upstream message) without re-serialising it.
//!
//! [`peek`] reads a body once, borrowing strings and raw JSON from it, and
//! returns the messages it holds. The proxy forwards the original bytes when
//! the policy allows them, so nothing here ever re-encodes a message.

mod ambiguity;
mod exact_number;
mod key_set;
mod message;
mod wire;

#[cfg(test)]
mod tests;

use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::error_codes;
use crate::id::Id;
use crate::json_text::JsonKind;
pub use ambiguity::{Ambiguity, MAX_DEPTH};
use message::{invalid_request, validate};
pub use message::{
    Message, MessageKind, Meta, Params, ProgressToken, Reference, ToolCall, COMPLETION_COMPLETE,
    INITIALIZE, PROMPTS_GET, PROMPTS_LIST, RESOURCES_LIST, RESOURCES_READ, RESOURCES_SUBSCRIBE,
    RESOURCES_UNSUBSCRIBE, RESOURCE_TEMPLATES_LIST, SERVER_DISCOVER, TOOLS_CALL, TOOLS_LIST,
};
use wire::WireMessage;
pub use wire::{META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION};

/// A body: one message, or a JSON-RPC batch (2025-03-26 and earlier).
// Single messages are the hot path: keep them inline rather than boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Body<'a> {
    /// A single message object.
    Single(Message<'a>),
    /// A non-empty array of messages.
    Batch(Vec<Message<'a>>),
}

impl<'a> Body<'a> {
    /// The messages, in order (one for a single message).
    pub fn messages(&self) -> &[Message<'a>] {
        match self {
            Body::Single(message) => std::slice::from_ref(message),
            Body::Batch(messages) => messages,
        }
    }

    /// Whether the body was a batch array.
    pub fn is_batch(&self) -> bool {
        matches!(self, Body::Batch(_))
    }
}

/// Why a body is not an acceptable JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeekError {
    /// Not JSON at all (`-32700`).
    #[error("Parse error: {detail}")]
    Parse {
        /// What the JSON parser reported.
        detail: String,
    },
    /// JSON, but not a valid JSON-RPC message (`-32600`).
    #[error("Invalid Request: {detail}")]
    InvalidRequest {
        /// What is wrong, naming the member.
        detail: String,
        /// The message's id, when it was readable, to echo in the error.
        id: Option<Id<'static>>,
    },
    /// A valid message whose MCP params are unusable (`-32602`).
    #[error("Invalid params: {detail}")]
    InvalidParams {
        /// What is wrong, naming the member.
        detail: String,
        /// The request's id, to echo in the error.
        id: Option<Id<'static>>,
    },
}

impl PeekError {
    /// The JSON-RPC error code for this error.
    pub fn code(&self) -> i32 {
        match self {
            PeekError::Parse { .. } => error_codes::PARSE_ERROR,
            PeekError::InvalidRequest { .. } => error_codes::INVALID_REQUEST,
            PeekError::InvalidParams { .. } => error_codes::INVALID_PARAMS,
        }
    }

    /// The id to echo in the error response (`None` means `null`).
    pub fn id(&self) -> Option<&Id<'static>> {
        match self {
            PeekError::Parse { .. } => None,
            PeekError::InvalidRequest { id, .. } | PeekError::InvalidParams { id, .. } => {
                id.as_ref()
            }
        }
    }
}

/// Reads a body: one JSON-RPC message or a batch of them.
///
/// Malformed JSON is [`PeekError::Parse`]; a wrong JSON-RPC shape (missing
/// `"jsonrpc": "2.0"`, a bad id type, a non-string method, an empty batch,
/// `initialize` inside a batch, repeated members) is
/// [`PeekError::InvalidRequest`]; a `tools/call` without a usable name or
/// arguments is [`PeekError::InvalidParams`].
pub fn peek(body: &[u8]) -> Result<Body<'_>, PeekError> {
    // serde_json skips ignored strings without checking their encoding; MCP
    // messages are UTF-8, so check the whole body once.
    let body = std::str::from_utf8(body).map_err(|err| PeekError::Parse {
        detail: format!("the body is not valid UTF-8: {err}"),
    })?;
    match first_significant_byte(body.as_bytes()) {
        Some(b'{') => {
            let wire = serde_json::from_str::<WireMessage<'_>>(body)
                .map_err(|err| classify_json_error(body, err))?;
            validate(wire).map(Body::Single)
        }
        Some(b'[') => peek_batch(body),
        _ => {
            match serde_json::from_str::<IgnoredAny>(body) {
                Err(err) => Err(PeekError::Parse {
                    detail: err.to_string(),
                }),
                Ok(_) => {
                    let found = serde_json::from_str::<&RawValue>(body)
                        .map(|raw| JsonKind::of(raw).describe())
                        .unwrap_or("another value");
                    Err(invalid_request(
                    None,
                    format!("a JSON-RPC body must be an object or an array of objects, found {found}"),
                ))
                }
            }
        }
    }
}

fn peek_batch(body: &str) -> Result<Body<'_>, PeekError> {
    let elements: Vec<&RawValue> = serde_json::from_str(body).map_err(|err| PeekError::Parse {
        detail: err.to_string(),
    })?;
    if elements.is_empty() {
        return Err(invalid_request(None, "a batch must not be empty".into()));
    }
    let mut messages = Vec::with_capacity(elements.len());
    for (index, element) in elements.into_iter().enumerate() {
        let kind = JsonKind::of(element);
        if kind != JsonKind::Object {
            let detail = format!(
                "batch element {index} must be an object, found {}",
                kind.describe()
            );
            return Err(invalid_request(None, detail));
        }
        let message = serde_json::from_str::<WireMessage<'_>>(element.get())
            .map_err(|err| invalid_request(None, format!("batch element {index}: {err}")))
            .and_then(validate)
            .map_err(|err| in_batch(err, index))?;
        if message.is_method(INITIALIZE) {
            let detail = format!("batch element {index}: initialize must not be part of a batch");
            return Err(invalid_request(message.id(), detail));
        }
        messages.push(message);
    }
    Ok(Body::Batch(messages))
}

/// Prefixes a batch element's error with its position.
fn in_batch(err: PeekError, index: usize) -> PeekError {
    match err {
        PeekError::InvalidRequest { detail, id } if !detail.starts_with("batch element") => {
            PeekError::InvalidRequest {
                detail: format!("batch element {index}: {detail}"),
                id,
            }
        }
        PeekError::InvalidParams { detail, id } => PeekError::InvalidParams {
            detail: format!("batch element {index}: {detail}"),
            id,
        },
        other => other,
    }
}

/// serde reports a semantic error (a repeated member) as soon as it sees it,
/// even if the JSON breaks later; only well-formed JSON is an Invalid Request.
fn classify_json_error(body: &str, err: serde_json::Error) -> PeekError {
    if err.is_data() && serde_json::from_str::<IgnoredAny>(body).is_ok() {
        invalid_request(None, err.to_string())
    } else {
        PeekError::Parse {
            detail: err.to_string(),
        }
    }
}

fn first_significant_byte(body: &[u8]) -> Option<u8> {
    body.iter()
        .copied()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}
