//! JSON-RPC responses the gateway writes itself: errors, its own results, and
//! the policy refusal of a `tools/call`.
//!
//! Every builder writes compact JSON directly; the id is spliced in as the
//! exact text the client sent.

mod meta_key;

use bytes::Bytes;
use serde_json::{Map, Value};

use crate::error_codes;
use crate::headers::Era;
use crate::headers::ProtocolError;
use crate::id::Id;
use crate::json_text::write_string;
use crate::peek::PeekError;
pub use meta_key::{MetaKey, MetaKeyError};

/// The text every refusal starts with.
pub const REFUSAL_PREFIX: &str = "Denied by policy: ";
/// How the text of a call handed back while its approval is pending starts.
pub const AWAITING_APPROVAL_PREFIX: &str = "Awaiting approval: ";

/// `{"jsonrpc":"2.0","id":…,"error":{"code":…,"message":…}}`; the id is
/// `null` when unknown.
pub fn error_response(id: Option<&Id<'_>>, code: i32, message: &str) -> Bytes {
    error_message(id, code, message, None)
}

/// An error response with `error.data`.
pub fn error_response_with_data(
    id: Option<&Id<'_>>,
    code: i32,
    message: &str,
    data: &Value,
) -> Bytes {
    error_message(id, code, message, Some(data))
}

/// The error response for a body [`crate::peek()`] refused (`-32700`,
/// `-32600` or `-32602`), echoing the id when it was readable.
pub fn peek_error_response(err: &PeekError) -> Bytes {
    error_response(err.id(), err.code(), &err.to_string())
}

/// The error response for a header or era violation (send with
/// [`ProtocolError::http_status`]).
pub fn protocol_error_response(id: Option<&Id<'_>>, err: &ProtocolError) -> Bytes {
    error_message(id, err.code(), &err.to_string(), err.data().as_ref())
}

/// `-32602 "Unknown tool: NAME"`: what a hidden or denied-outright tool gets,
/// the same answer as a tool that does not exist.
pub fn unknown_tool_response(id: &Id<'_>, name: &str) -> Bytes {
    let message = format!("Unknown tool: {name}");
    error_response(Some(id), error_codes::INVALID_PARAMS, &message)
}

/// What a hidden or denied-outright resource gets, the same answer as a
/// resource that does not exist: `-32002 "Resource not found"` with
/// `data: {"uri": …}` up to 2025-11-25; `-32602` from 2026-07-28, which
/// folded resource-not-found into invalid params.
pub fn resource_not_found_response(id: &Id<'_>, era: Era, uri: &str) -> Bytes {
    let code = match era {
        Era::Legacy => error_codes::LEGACY_RESOURCE_NOT_FOUND,
        Era::Modern => error_codes::INVALID_PARAMS,
    };
    let data = serde_json::json!({ "uri": uri });
    error_message(
        Some(id),
        code,
        &format!("Resource not found: {uri}"),
        Some(&data),
    )
}

/// `-32602 "Unknown prompt: NAME"`: what a hidden or denied-outright prompt
/// gets, the same answer as a prompt that does not exist.
pub fn unknown_prompt_response(id: &Id<'_>, name: &str) -> Bytes {
    let message = format!("Unknown prompt: {name}");
    error_response(Some(id), error_codes::INVALID_PARAMS, &message)
}

/// The refusal of a visible resource read or prompt get, which has no
/// `isError` result: JSON-RPC error [`error_codes::POLICY_REFUSED`] whose
/// message is `Denied by policy: REASON` and whose `data` holds `meta` as a
/// refused `tools/call` result's `_meta` would.
pub fn refusal_error_response(id: &Id<'_>, reason: &str, meta: &[(MetaKey, Value)]) -> Bytes {
    tool_error_message(id, &format!("{REFUSAL_PREFIX}{reason}"), meta)
}

/// The JSON-RPC error ([`error_codes::POLICY_REFUSED`]) for a resource read
/// or prompt get the gateway answers itself; `message` is the whole text.
pub fn tool_error_message(id: &Id<'_>, message: &str, meta: &[(MetaKey, Value)]) -> Bytes {
    let data: Map<String, Value> = meta
        .iter()
        .map(|(key, value)| (key.as_str().to_owned(), value.clone()))
        .collect();
    error_message(
        Some(id),
        error_codes::POLICY_REFUSED,
        message,
        Some(&Value::Object(data)),
    )
}

/// `{"jsonrpc":"2.0","id":…,"result":…}` for a result the gateway produces
/// itself (e.g. `server/discover`).
pub fn result_response(id: &Id<'_>, result: &Value) -> Bytes {
    let mut out = open_message(Some(id), 64);
    out.extend_from_slice(b",\"result\":");
    out.extend_from_slice(result.to_string().as_bytes());
    out.push(b'}');
    Bytes::from(out)
}

/// The `tools/call` result of a refused call:
/// `{"content":[{"type":"text","text":"Denied by policy: REASON"}],"isError":true,"_meta":{…}}`.
///
/// `meta` is the machine-readable detail (rule pointer, `retry_after_ms`),
/// usually a single [`MetaKey::TOOLGATE_REFUSAL`] entry; a repeated key keeps
/// its last value and `_meta` is omitted when empty. No `structuredContent`:
/// clients skip output-schema checks on `isError` results only when it is
/// absent. A 2026-07-28 result also says `"resultType":"complete"`, which
/// that revision's clients require.
pub fn refusal_response(id: &Id<'_>, era: Era, reason: &str, meta: &[(MetaKey, Value)]) -> Bytes {
    tool_error_result(id, era, &format!("{REFUSAL_PREFIX}{reason}"), meta)
}

/// A `tools/call` result with `isError: true`, one text block (`text`, the
/// whole of it) and `_meta`, as [`refusal_response`] builds it.
pub fn tool_error_result(id: &Id<'_>, era: Era, text: &str, meta: &[(MetaKey, Value)]) -> Bytes {
    let mut out = open_message(Some(id), text.len() + 128);
    out.extend_from_slice(b",\"result\":{");
    if era == Era::Modern {
        out.extend_from_slice(b"\"resultType\":\"complete\",");
    }
    out.extend_from_slice(b"\"content\":[{\"type\":\"text\",\"text\":");
    write_string(&mut out, text);
    out.extend_from_slice(b"}],\"isError\":true");
    if !meta.is_empty() {
        let object: Map<String, Value> = meta
            .iter()
            .map(|(key, value)| (key.as_str().to_owned(), value.clone()))
            .collect();
        out.extend_from_slice(b",\"_meta\":");
        out.extend_from_slice(Value::Object(object).to_string().as_bytes());
    }
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

fn error_message(id: Option<&Id<'_>>, code: i32, message: &str, data: Option<&Value>) -> Bytes {
    let mut out = open_message(id, message.len() + 64);
    out.extend_from_slice(b",\"error\":{\"code\":");
    out.extend_from_slice(code.to_string().as_bytes());
    out.extend_from_slice(b",\"message\":");
    write_string(&mut out, message);
    if let Some(data) = data {
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(data.to_string().as_bytes());
    }
    out.extend_from_slice(b"}}");
    Bytes::from(out)
}

/// `{"jsonrpc":"2.0","id":ID` (no closing brace).
fn open_message(id: Option<&Id<'_>>, extra: usize) -> Vec<u8> {
    let id = id.map_or("null", Id::as_json);
    let mut out = Vec::with_capacity(32 + id.len() + extra);
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::peek::{peek, MessageKind};

    fn parse(bytes: &Bytes) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn error_response_echoes_the_raw_id() {
        let id = Id::parse("1.50").unwrap();
        let bytes = error_response(Some(&id), -32601, "Method not found");
        assert_eq!(
            &bytes[..],
            br#"{"jsonrpc":"2.0","id":1.50,"error":{"code":-32601,"message":"Method not found"}}"#
        );
        let string_id = Id::parse(r#""a\u0062""#).unwrap();
        let bytes = error_response(Some(&string_id), -32603, "x");
        assert!(std::str::from_utf8(&bytes)
            .unwrap()
            .contains(r#""id":"a\u0062""#));
    }

    #[test]
    fn unknown_id_is_null() {
        let value = parse(&error_response(None, -32700, "Parse error: \"bad\"\n"));
        assert_eq!(
            value,
            json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: \"bad\"\n"}})
        );
    }

    #[test]
    fn data_is_included() {
        let value = parse(&error_response_with_data(
            Some(&Id::number(3)),
            -32022,
            "m",
            &json!({"a":[1]}),
        ));
        assert_eq!(value["error"]["data"], json!({"a":[1]}));
        assert_eq!(value["id"], 3);
    }

    #[test]
    fn peek_errors_become_responses() {
        let err = peek(b"{").unwrap_err();
        let value = parse(&peek_error_response(&err));
        assert_eq!(value["error"]["code"], -32700);
        assert_eq!(value["id"], Value::Null);
        let err = peek(br#"{"jsonrpc":"1.0","id":"q","method":"x"}"#).unwrap_err();
        let value = parse(&peek_error_response(&err));
        assert_eq!(value["error"]["code"], -32600);
        assert_eq!(value["id"], "q");
        assert!(value["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid Request: "));
    }

    #[test]
    fn protocol_errors_carry_their_data() {
        let err = ProtocolError::UnsupportedVersion {
            requested: "2099-01-01".into(),
        };
        let value = parse(&protocol_error_response(Some(&Id::number(1)), &err));
        assert_eq!(value["error"]["code"], -32022);
        assert_eq!(value["error"]["data"]["requested"], "2099-01-01");
        let err = ProtocolError::HeaderMismatch { detail: "d".into() };
        let value = parse(&protocol_error_response(None, &err));
        assert_eq!(value["error"]["code"], -32020);
        assert!(value["error"].get("data").is_none());
    }

    #[test]
    fn unknown_tool_matches_the_documented_shape() {
        let value = parse(&unknown_tool_response(&Id::string("r1"), "get-env"));
        assert_eq!(
            value,
            json!({"jsonrpc":"2.0","id":"r1","error":{"code":-32602,"message":"Unknown tool: get-env"}})
        );
    }

    #[test]
    fn resource_and_prompt_refusals() {
        let legacy = parse(&resource_not_found_response(
            &Id::number(1),
            Era::Legacy,
            "demo://x",
        ));
        assert_eq!(
            legacy["error"],
            json!({"code": -32002, "message": "Resource not found: demo://x", "data": {"uri": "demo://x"}})
        );
        let modern = parse(&resource_not_found_response(
            &Id::number(1),
            Era::Modern,
            "demo://x",
        ));
        assert_eq!(modern["error"]["code"], -32602);
        assert_eq!(
            parse(&unknown_prompt_response(&Id::string("p"), "secret")),
            json!({"jsonrpc":"2.0","id":"p","error":{"code":-32602,"message":"Unknown prompt: secret"}})
        );
        let meta = [(
            MetaKey::TOOLGATE_REFUSAL,
            json!({"rule": "/prompts/p/limits/0", "retry_after_ms": 900}),
        )];
        assert_eq!(
            parse(&refusal_error_response(
                &Id::number(4),
                "limit \"p\" reached",
                &meta
            )),
            json!({"jsonrpc":"2.0","id":4,"error":{"code":-31010,"message":"Denied by policy: limit \"p\" reached",
                "data":{"dev.toolgate/refusal":{"rule":"/prompts/p/limits/0","retry_after_ms":900}}}})
        );
    }

    #[test]
    fn result_response_wraps_the_value() {
        let value = parse(&result_response(
            &Id::number(9),
            &json!({"resultType":"complete"}),
        ));
        assert_eq!(
            value,
            json!({"jsonrpc":"2.0","id":9,"result":{"resultType":"complete"}})
        );
    }

    #[test]
    fn refusal_is_an_is_error_result_with_meta() {
        let meta = [(
            MetaKey::TOOLGATE_REFUSAL,
            json!({"rule":"/tools/create_charge/limits/0","retry_after_ms":1200}),
        )];
        let bytes = refusal_response(
            &Id::number(2),
            Era::Legacy,
            "limit \"spend\" reached; retry in 1.2 s",
            &meta,
        );
        let value = parse(&bytes);
        assert_eq!(
            value,
            json!({"jsonrpc":"2.0","id":2,"result":{
                "content":[{"type":"text","text":"Denied by policy: limit \"spend\" reached; retry in 1.2 s"}],
                "isError":true,
                "_meta":{"dev.toolgate/refusal":{"rule":"/tools/create_charge/limits/0","retry_after_ms":1200}}}})
        );
        // The proxy can read its own refusal back as a response.
        let body = peek(&bytes).unwrap();
        assert_eq!(body.messages()[0].kind(), MessageKind::Response);
    }

    #[test]
    fn modern_refusals_say_their_result_type() {
        let value = parse(&refusal_response(&Id::number(1), Era::Modern, "no", &[]));
        assert_eq!(value["result"]["resultType"], "complete");
        assert_eq!(value["result"]["isError"], true);
        let legacy = parse(&refusal_response(&Id::number(1), Era::Legacy, "no", &[]));
        assert!(legacy["result"].get("resultType").is_none());
    }

    #[test]
    fn refusal_without_meta_omits_it_and_repeated_keys_keep_the_last() {
        let value = parse(&refusal_response(&Id::number(1), Era::Legacy, "no", &[]));
        assert!(value["result"].get("_meta").is_none());
        assert!(value["result"].get("structuredContent").is_none());
        let key = MetaKey::parse("com.example/a").unwrap();
        let value = parse(&refusal_response(
            &Id::number(1),
            Era::Legacy,
            "no",
            &[(key.clone(), json!(1)), (key, json!(2))],
        ));
        assert_eq!(value["result"]["_meta"], json!({"com.example/a":2}));
    }
}
