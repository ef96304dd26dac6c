//! JSON-RPC on the wire: the requests discovery sends, and their answers
//! read from a JSON body or an SSE stream within the byte budget.

use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};
use toolgate_mcp::headers::{EVENT_STREAM_CONTENT_TYPE, JSON_CONTENT_TYPE};
use toolgate_mcp::sse::SseParser;

use crate::failure::{Failure, Status};
use crate::limits::Budget;

/// The newest revision, spoken when the upstream supports it.
pub const MODERN_VERSION: &str = "2026-07-28";
/// The legacy revision asked for in `initialize`; the server may answer
/// with an older one, which is then used.
pub const LEGACY_VERSION: &str = "2025-11-25";

const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";

/// How Toolgate names itself to upstreams.
pub fn client_info() -> Value {
    json!({"name": "toolgate-discovery", "version": env!("CARGO_PKG_VERSION")})
}

/// A JSON-RPC request.
pub fn request(id: u64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// A JSON-RPC notification.
pub fn notification(method: &str) -> Value {
    json!({"jsonrpc": "2.0", "method": method})
}

/// The client capabilities discovery declares: every one a client can
/// have, since servers list some tools only to clients that can use them
/// (server-everything lists `trigger-elicitation-request` only to a client
/// with `elicitation`), and the catalog must know every tool an agent may
/// be offered. Discovery only lists, so it is never asked to use them.
fn client_capabilities() -> Value {
    json!({"roots": {"listChanged": false}, "sampling": {}, "elicitation": {}})
}

/// `params` with the `_meta` every 2026-07-28 request carries.
pub fn with_modern_meta(mut params: Value) -> Value {
    if let Some(object) = params.as_object_mut() {
        object.insert(
            "_meta".to_owned(),
            json!({
                META_PROTOCOL_VERSION: MODERN_VERSION,
                META_CLIENT_CAPABILITIES: client_capabilities(),
                META_CLIENT_INFO: client_info(),
            }),
        );
    }
    params
}

/// The `initialize` params of the legacy handshake.
pub fn initialize_params() -> Value {
    json!({
        "protocolVersion": LEGACY_VERSION,
        "capabilities": client_capabilities(),
        "clientInfo": client_info(),
    })
}

/// A JSON-RPC error the upstream answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

/// The answer to one request: its `result`, or its `error`.
pub type Answer = Result<Value, RpcError>;

/// What kind of body a response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    EventStream,
    /// Anything else: an HTML page, plain text, no type at all.
    Other,
}

pub fn body_kind(response: &reqwest::Response) -> BodyKind {
    let essence = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match essence.as_str() {
        JSON_CONTENT_TYPE => BodyKind::Json,
        EVENT_STREAM_CONTENT_TYPE => BodyKind::EventStream,
        _ => BodyKind::Other,
    }
}

/// Reads the answer to request `id` from a successful response: the whole
/// JSON body, or SSE events until the one that answers `id` (the stream is
/// not read further; notifications before it are skipped).
pub async fn read_answer(
    mut response: reqwest::Response,
    id: u64,
    budget: &mut Budget,
) -> Result<Answer, Failure> {
    match body_kind(&response) {
        BodyKind::Json => {
            let body = read_body(&mut response, budget).await?;
            let message: Value = serde_json::from_slice(&body).map_err(|e| {
                Failure::new(
                    Status::NotMcp,
                    format!("the upstream's JSON answer does not parse: {e}"),
                )
            })?;
            answer_of(&message, id).ok_or_else(|| {
                Failure::new(
                    Status::NotMcp,
                    "the upstream's answer is not a JSON-RPC response to the request",
                )
            })
        }
        BodyKind::EventStream => read_event_stream(&mut response, id, budget).await,
        BodyKind::Other => Err(not_mcp_type(&response)),
    }
}

/// The failure for a body that is neither JSON nor SSE.
pub fn not_mcp_type(response: &reqwest::Response) -> Failure {
    let shown = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.chars().take(80).collect::<String>())
        .unwrap_or_else(|| "no Content-Type".to_owned());
    Failure::new(
        Status::NotMcp,
        format!(
            "the upstream answered HTTP {} with {shown:?}, not JSON or an SSE stream: is the URL its MCP endpoint?",
            response.status().as_u16()
        ),
    )
}

/// The whole body, within the budget.
pub async fn read_body(
    response: &mut reqwest::Response,
    budget: &mut Budget,
) -> Result<Vec<u8>, Failure> {
    // A declared length past the budget is refused before reading it.
    if let Some(length) = response.content_length() {
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        if length > budget.remaining() {
            // Fails: the length is past what remains.
            budget.spend(length)?;
        }
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::from_transport(&e))?
    {
        budget.spend(chunk.len())?;
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn read_event_stream(
    response: &mut reqwest::Response,
    id: u64,
    budget: &mut Budget,
) -> Result<Answer, Failure> {
    let mut parser = SseParser::with_max_event_size(budget.remaining().max(1));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::from_transport(&e))?
    {
        budget.spend(chunk.len())?;
        parser.push(&chunk);
        while let Some(event) = parser
            .next_event()
            .map_err(|e| Failure::new(Status::TooLarge, format!("the upstream's stream: {e}")))?
        {
            let Some(data) = event.data() else { continue };
            // Notifications, server requests and keep-alives are skipped.
            let Ok(message) = serde_json::from_slice::<Value>(data) else {
                continue;
            };
            if let Some(answer) = answer_of(&message, id) {
                return Ok(answer);
            }
        }
    }
    Err(Failure::new(
        Status::NotMcp,
        "the upstream's SSE stream ended without answering the request",
    ))
}

/// `message` as the answer to request `id`, if it is one.
pub fn answer_of(message: &Value, id: u64) -> Option<Answer> {
    let object = message.as_object()?;
    if object.get("id").and_then(Value::as_u64) != Some(id) {
        return None;
    }
    if let Some(result) = object.get("result") {
        return Some(Ok(result.clone()));
    }
    let error = object.get("error")?;
    Some(Err(RpcError {
        code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect(),
    }))
}

/// The JSON-RPC error in a body, if it holds one (any id: an HTTP error may
/// answer with `"id": null`).
pub fn error_in(body: &[u8]) -> Option<RpcError> {
    let message: Value = serde_json::from_slice(body).ok()?;
    let error = message.get("error")?;
    Some(RpcError {
        code: error.get("code").and_then(Value::as_i64)?,
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_matches_its_request_id_only() {
        let ok = json!({"jsonrpc": "2.0", "id": 3, "result": {"tools": []}});
        assert_eq!(answer_of(&ok, 3), Some(Ok(json!({"tools": []}))));
        assert_eq!(answer_of(&ok, 4), None);
        let notification = json!({"jsonrpc": "2.0", "method": "notifications/message"});
        assert_eq!(answer_of(&notification, 3), None);
        let error =
            json!({"jsonrpc": "2.0", "id": 3, "error": {"code": -32601, "message": "nope"}});
        assert_eq!(
            answer_of(&error, 3),
            Some(Err(RpcError {
                code: -32601,
                message: "nope".into()
            }))
        );
    }

    #[test]
    fn modern_requests_carry_the_meta_the_revision_requires() {
        let params = with_modern_meta(json!({"cursor": "c"}));
        assert_eq!(params["cursor"], "c");
        assert_eq!(params["_meta"][META_PROTOCOL_VERSION], MODERN_VERSION);
        assert!(params["_meta"][META_CLIENT_CAPABILITIES].is_object());
    }
}
