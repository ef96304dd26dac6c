//! A POST body as the gateway reads it: `peek`, then the header and era
//! checks, then the error answer for whatever was refused.
//!
//! Input: `BODY \0 MCP-Protocol-Version \0 Mcp-Method \0 Mcp-Name`; absent
//! sections are absent headers.
//!
//! Besides "never panics", it checks that the gateway and the upstream read
//! the same thing: whatever `peek` accepts, a plain JSON parser must see the
//! same method, id, tool name and arguments (a disagreement would let an
//! agent show the policy one tool and call another).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use toolgate_fuzz::{sections, text};
use toolgate_mcp::headers::{check_post, mirrored_name, McpHeaders};
use toolgate_mcp::peek::INITIALIZE;
use toolgate_mcp::response::{peek_error_response, protocol_error_response};
use toolgate_mcp::{peek, Body, Message, MessageKind};

fuzz_target!(|data: &[u8]| {
    let [body, version, method, name] = sections::<4>(data);
    let body = body.unwrap_or_default();
    let headers = McpHeaders {
        protocol_version: text(version),
        method: text(method),
        name: text(name),
    };
    match peek(body) {
        Err(err) => {
            assert!(matches!(err.code(), -32700 | -32600 | -32602), "{err:?}");
            let answer = peek_error_response(&err);
            let answer = expect_message(&answer);
            assert_eq!(answer.kind(), MessageKind::ErrorResponse);
            assert_eq!(answer.id(), err.id());
        }
        Ok(parsed) => {
            let plain: Option<Value> = serde_json::from_slice(body).ok();
            match (&parsed, &plain) {
                (Body::Single(message), Some(value)) => agrees(message, value),
                (Body::Batch(messages), Some(Value::Array(values))) => {
                    assert_eq!(messages.len(), values.len());
                    for (message, value) in messages.iter().zip(values) {
                        agrees(message, value);
                    }
                }
                (_, Some(other)) => panic!("peek read {parsed:?} from {other}"),
                // Numbers serde_json cannot hold (`1e999`): nothing to compare.
                (_, None) => {}
            }
            for message in parsed.messages() {
                exercise(message);
            }
            if let Body::Single(message) = &parsed {
                as_batch_of_one(body, message);
            }
            match check_post(&headers, &parsed) {
                Ok(version) => {
                    let _ = version.era();
                }
                Err(err) => {
                    assert_eq!(err.http_status(), 400);
                    let id = match &parsed {
                        Body::Single(message) => message.id(),
                        Body::Batch(_) => None,
                    };
                    let answer = protocol_error_response(id, &err);
                    let answer = expect_message(&answer);
                    assert_eq!(answer.kind(), MessageKind::ErrorResponse);
                }
            }
        }
    }
});

/// The gateway's answer must itself be one valid JSON-RPC message.
fn expect_message(bytes: &[u8]) -> Message<'_> {
    match peek(bytes) {
        Ok(Body::Single(message)) => message,
        other => panic!(
            "answer {:?} is not one message: {other:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

/// `peek`'s reading of a message agrees with a plain JSON parser's.
fn agrees(message: &Message<'_>, value: &Value) {
    assert_eq!(
        message.method(),
        value.get("method").and_then(Value::as_str)
    );
    match message.id() {
        Some(id) => {
            let id: Value = serde_json::from_str(id.as_json()).expect("an id is JSON");
            assert_eq!(Some(&id), value.get("id"));
        }
        None => assert!(value.get("id").is_none_or(Value::is_null)),
    }
    if let Some(call) = message.tool_call() {
        let params = &value["params"];
        assert_eq!(Some(call.name()), params["name"].as_str());
        match call.arguments_value() {
            Ok(arguments) if params["arguments"].is_null() => {
                assert_eq!(arguments, Value::Object(Default::default()));
            }
            Ok(arguments) => assert_eq!(arguments, params["arguments"]),
            Err(err) => panic!("arguments the body held do not parse: {err}"),
        }
    }
}

/// Every accessor the gateway uses, with the invariants the kinds promise.
fn exercise(message: &Message<'_>) {
    match message.kind() {
        MessageKind::Request => assert!(message.id().is_some() && message.method().is_some()),
        MessageKind::Notification => {
            assert!(message.id().is_none() && message.method().is_some())
        }
        MessageKind::Response => assert!(message.result().is_some()),
        MessageKind::ErrorResponse => assert!(message.error().is_some()),
    }
    if let Some(call) = message.tool_call() {
        assert_eq!(message.method(), Some("tools/call"));
        let _ = call.arguments();
    }
    let _ = mirrored_name(message);
    if let Some(params) = message.params() {
        let _ = (params.is_array(), params.name(), params.uri());
        let _ = (params.arguments(), params.protocol_version());
    }
    if let Some(meta) = message.meta() {
        let _ = (meta.progress_token(), meta.protocol_version());
        let _ = meta.has_client_capabilities();
    }
    for id in [
        message.id(),
        message.meta().and_then(|m| m.progress_token()),
    ]
    .into_iter()
    .flatten()
    {
        let _ = (id.as_str(), id.as_i64(), id.is_string());
    }
}

/// A message that is valid alone is valid as a batch of one (except
/// `initialize`, which must not be batched), read the same way.
fn as_batch_of_one(body: &[u8], message: &Message<'_>) {
    let mut batch = b"[".to_vec();
    batch.extend_from_slice(body);
    batch.push(b']');
    match peek(&batch) {
        Ok(Body::Batch(messages)) => {
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0].kind(), message.kind());
            assert_eq!(messages[0].method(), message.method());
            assert_eq!(messages[0].id(), message.id());
        }
        Err(_) if message.is_method(INITIALIZE) => {}
        other => panic!("a valid message is refused in a batch: {other:?}"),
    }
}
