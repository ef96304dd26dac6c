//! The JSON-RPC answers the gateway writes itself: errors, its own results
//! and policy refusals, for any id, code, text, data and `_meta` key.
//!
//! Input: `ID \0 CODE \0 TEXT \0 DATA \0 META KEY`. ID is the id's JSON text
//! as a client sent it; CODE a decimal i32; DATA a JSON value. Every answer
//! must be one valid JSON-RPC response that echoes the id and says exactly
//! what it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use toolgate_fuzz::{sections, text};
use toolgate_mcp::error_codes::default_message;
use toolgate_mcp::headers::Era;
use toolgate_mcp::response::{
    error_response, error_response_with_data, refusal_response, result_response,
    unknown_tool_response, MetaKey, REFUSAL_PREFIX,
};
use toolgate_mcp::{peek, Body, Id, MessageKind};

fuzz_target!(|data: &[u8]| {
    let [id, code, message, value, key] = sections::<5>(data);
    let message = String::from_utf8_lossy(message.unwrap_or_default());
    let code: i32 = text(code)
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(-32603);
    let value: Value = value
        .and_then(|v| serde_json::from_slice(v).ok())
        .unwrap_or(Value::Null);
    assert!(!default_message(code).is_empty());

    let meta = text(key).and_then(|key| match MetaKey::parse(key) {
        Ok(parsed) => {
            assert_eq!(parsed.as_str(), key);
            assert!(key.contains('/'), "{key:?} has no prefix");
            Some(parsed)
        }
        Err(err) => {
            assert!(!err.to_string().is_empty());
            None
        }
    });

    // The string and number ids the gateway makes itself.
    let made = Id::string(&message);
    assert_eq!(made.as_str().as_deref(), Some(&*message));
    let number = i64::from(code);
    assert_eq!(Id::number(number).as_i64(), Some(number));

    // Ids arrive as string or number JSON; otherwise check the one made here
    // (also for numbers serde_json cannot hold as a Value, like `1e999`,
    // which the answers echo as sent but this target cannot compare).
    match text(id).and_then(Id::parse) {
        Some(id) if serde_json::from_str::<Value>(id.as_json()).is_ok() => {
            check_answers(&id, code, &message, &value, meta)
        }
        _ => check_answers(&made, code, &message, &value, meta),
    }
});

fn check_answers(id: &Id<'_>, code: i32, message: &str, data: &Value, meta: Option<MetaKey>) {
    let error = read(
        &error_response(Some(id), code, message),
        id,
        MessageKind::ErrorResponse,
    );
    assert_eq!(error["error"], json!({"code": code, "message": message}));
    let anonymous = error_response(None, code, message);
    let anonymous: Value = serde_json::from_slice(&anonymous).expect("JSON");
    assert_eq!(anonymous["id"], Value::Null);

    let with_data = error_response_with_data(Some(id), code, message, data);
    let with_data = read(&with_data, id, MessageKind::ErrorResponse);
    assert_eq!(with_data["error"]["data"], *data);

    let unknown = read(
        &unknown_tool_response(id, message),
        id,
        MessageKind::ErrorResponse,
    );
    assert_eq!(
        unknown["error"]["message"],
        format!("Unknown tool: {message}")
    );

    let result = read(&result_response(id, data), id, MessageKind::Response);
    assert_eq!(result["result"], *data);

    let meta: Vec<(MetaKey, Value)> = meta.into_iter().map(|k| (k, data.clone())).collect();
    for era in [Era::Legacy, Era::Modern] {
        let refusal = read(
            &refusal_response(id, era, message, &meta),
            id,
            MessageKind::Response,
        );
        let result = &refusal["result"];
        assert_eq!(result["isError"], true);
        assert_eq!(
            result["content"][0]["text"],
            format!("{REFUSAL_PREFIX}{message}")
        );
        assert_eq!(result.get("resultType").is_some(), era == Era::Modern);
        for (key, value) in &meta {
            assert_eq!(result["_meta"][key.as_str()], *value);
        }
    }
}

/// The answer is one message of `kind` with the id, as a client would read it.
fn read(bytes: &[u8], id: &Id<'_>, kind: MessageKind) -> Value {
    match peek(bytes) {
        Ok(Body::Single(message)) => {
            assert_eq!(message.kind(), kind);
            assert_eq!(message.id(), Some(id));
        }
        other => panic!(
            "{:?} is not one message: {other:?}",
            String::from_utf8_lossy(bytes)
        ),
    }
    serde_json::from_slice(bytes).expect("an answer is JSON")
}
