use proptest::prelude::*;

use super::*;

fn single(body: &str) -> Message<'_> {
    match peek(body.as_bytes()) {
        Ok(Body::Single(message)) => message,
        other => panic!("{body}: {other:?}"),
    }
}

fn error(body: &str) -> PeekError {
    peek(body.as_bytes()).expect_err(body)
}

fn assert_invalid_request(body: &str, needle: &str) {
    let err = error(body);
    assert_eq!(err.code(), -32600, "{body}: {err}");
    assert!(err.to_string().contains(needle), "{body}: {err}");
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_weather",
 "arguments":{"location":"New York"},"_meta":{"progressToken":"abc123"}}}"#;

#[test]
fn tools_call_is_read_in_full() {
    let m = single(CALL);
    assert_eq!(m.kind(), MessageKind::Request);
    assert_eq!(m.id().unwrap().as_json(), "2");
    assert_eq!(m.method(), Some("tools/call"));
    let call = m.tool_call().unwrap();
    assert_eq!(call.name(), "get_weather");
    assert_eq!(
        call.arguments().unwrap().get(),
        r#"{"location":"New York"}"#
    );
    assert_eq!(call.arguments_value().unwrap()["location"], "New York");
    let meta = m.meta().unwrap();
    assert_eq!(meta.progress_token().unwrap().as_json(), "\"abc123\"");
    assert_eq!(meta.protocol_version(), None);
    assert!(!meta.has_client_capabilities());
}

#[test]
fn tool_call_without_arguments_has_empty_object_value() {
    for body in [
        r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"echo"}}"#,
        r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"echo","arguments":null}}"#,
    ] {
        let m = single(body);
        let call = m.tool_call().unwrap();
        assert!(call.arguments().is_none());
        assert_eq!(call.arguments_value().unwrap(), serde_json::json!({}));
        assert!(m.meta().is_none());
    }
}

#[test]
fn ids_are_kept_verbatim() {
    for id in [
        "0",
        "-1",
        "12345678901234567890123",
        "1.5",
        "\"x\"",
        r#""\u00e9\n""#,
        "1e2",
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","id": {id} ,"method":"ping"}}"#);
        let message = single(&body);
        assert_eq!(message.id().unwrap().as_json(), id);
    }
}

#[test]
fn modern_meta_is_read() {
    let m = single(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{
        "io.modelcontextprotocol/protocolVersion":"2026-07-28",
        "io.modelcontextprotocol/clientCapabilities":{}}}}"#,
    );
    let meta = m.meta().unwrap();
    assert_eq!(meta.protocol_version(), Some("2026-07-28"));
    assert!(meta.has_client_capabilities());
    assert!(meta.progress_token().is_none());
    assert!(m.tool_call().is_none());
}

#[test]
fn notification_response_and_error_response() {
    let n = single(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    assert_eq!(n.kind(), MessageKind::Notification);
    assert!(n.id().is_none() && n.params().is_none());

    let r = single(r#"{"jsonrpc":"2.0","id":"s1","result":{"tools":[]}}"#);
    assert_eq!(r.kind(), MessageKind::Response);
    assert_eq!(r.result().unwrap().get(), r#"{"tools":[]}"#);
    assert!(r.method().is_none() && r.error().is_none());

    let e = single(r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"nope"}}"#);
    assert_eq!(e.kind(), MessageKind::ErrorResponse);
    assert_eq!(e.id().unwrap().as_json(), "3");
    assert!(e.error().unwrap().get().contains("-32601"));

    let null_id = single(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#);
    assert!(null_id.id().is_none());
}

#[test]
fn params_name_uri_and_version_are_read() {
    let read = single(
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}}"#,
    );
    assert_eq!(read.params().unwrap().uri(), Some("file:///a"));
    let get = single(r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}"#);
    assert_eq!(get.params().unwrap().name(), Some("p"));
    let init = single(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}"#,
    );
    assert_eq!(
        init.params().unwrap().protocol_version(),
        Some("2025-11-25")
    );
    let by_position = single(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#);
    assert!(by_position.params().unwrap().is_array());
    let odd_name = single(r#"{"jsonrpc":"2.0","id":1,"method":"x/y","params":{"name":5}}"#);
    assert_eq!(odd_name.params().unwrap().name(), None);
}

#[test]
fn escaped_method_and_name_are_decoded() {
    let m = single(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"n\u0061me":"get\u002denv"}}"#,
    );
    assert_eq!(m.method(), Some("tools/call"));
    assert_eq!(m.tool_call().unwrap().name(), "get-env");
}

#[test]
fn whitespace_around_the_body_is_fine() {
    let m = single(" \r\n\t{\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n ");
    assert_eq!(m.method(), Some("x"));
}

#[test]
fn malformed_json_is_a_parse_error() {
    for body in [
        "",
        " ",
        "{",
        "{\"jsonrpc\":",
        "[",
        "[{}",
        "nul",
        "{\"a\":1,}",
        "\u{feff}{}",
        "{} {}",
        "{}x",
        "'x'",
    ] {
        let err = error(body);
        assert_eq!(err.code(), -32700, "{body:?}: {err}");
        assert!(err.id().is_none());
        assert!(err.to_string().starts_with("Parse error: "));
    }
    assert_eq!(peek(b"{\"a\":\"\xff\"}").unwrap_err().code(), -32700);
}

#[test]
fn a_repeated_member_in_broken_json_is_still_a_parse_error() {
    assert_eq!(error(r#"{"id":1,"id":2,"#).code(), -32700);
}

#[test]
fn non_object_bodies_are_invalid_requests() {
    assert_invalid_request("1", "found a number");
    assert_invalid_request("\"x\"", "found a string");
    assert_invalid_request("null", "found null");
    assert_invalid_request("true", "found a boolean");
}

#[test]
fn jsonrpc_version_is_required() {
    assert_invalid_request(r#"{"id":1,"method":"x"}"#, r#"missing "jsonrpc""#);
    assert_invalid_request(
        r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
        r#""jsonrpc" must be "2.0", found "1.0""#,
    );
    assert_invalid_request(r#"{"jsonrpc":2.0,"id":1,"method":"x"}"#, "found 2.0");
    // The id is still echoed when it was valid.
    let err = error(r#"{"jsonrpc":"1.0","id":"k","method":"x"}"#);
    assert_eq!(err.id().unwrap().as_json(), "\"k\"");
    // An escaped "2.0" is "2.0".
    single(r#"{"jsonrpc":"2\u002e0","method":"x"}"#);
}

#[test]
fn bad_id_types_are_invalid_requests() {
    for (id, found) in [
        ("{}", "an object"),
        ("[1]", "an array"),
        ("true", "a boolean"),
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"x"}}"#);
        let err = error(&body);
        assert_eq!(err.code(), -32600);
        assert!(err.to_string().contains(&format!(
            "\"id\" must be a string or a number, found {found}"
        )));
        assert!(err.id().is_none());
    }
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#,
        "\"id\" must not be null",
    );
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","id":null,"result":{}}"#,
        "must not be null in a successful response",
    );
}

#[test]
fn method_must_be_a_string() {
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
        "\"method\" must be a string, found a number",
    );
    assert_invalid_request(r#"{"jsonrpc":"2.0","id":1,"method":null}"#, "found null");
    let err = error(r#"{"jsonrpc":"2.0","id":9,"method":["x"]}"#);
    assert_eq!(err.id().unwrap().as_json(), "9");
}

#[test]
fn request_and_response_members_do_not_mix() {
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","id":1,"method":"x","result":{}}"#,
        "must not carry \"result\" or \"error\"",
    );
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#,
        "both \"result\" and \"error\"",
    );
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","id":1}"#,
        "no \"method\", \"result\" or \"error\"",
    );
    assert_invalid_request(r#"{"jsonrpc":"2.0","result":{}}"#, "must carry an \"id\"");
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","id":1,"error":"bad"}"#,
        "\"error\" must be an object, found a string",
    );
}

#[test]
fn params_must_be_structured() {
    for (params, found) in [
        ("\"s\"", "a string"),
        ("1", "a number"),
        ("null", "null"),
        ("false", "a boolean"),
    ] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"x","params":{params}}}"#);
        assert_invalid_request(
            &body,
            &format!("\"params\" must be an object or an array, found {found}"),
        );
    }
}

#[test]
fn repeated_members_are_invalid_requests() {
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"x"}"#,
        "duplicate member `id`",
    );
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"get-env"}}"#,
        "duplicate member `name`",
    );
    // A case-insensitive reader (Go's encoding/json) takes the last of these.
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","METHOD":"tools/call","params":{"name":"get-env"}}"#,
        "duplicate member `METHOD`",
    );
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","Name":"get-env"}}"#,
        "duplicate member `Name`",
    );
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","_meta":{"progressToken":1,"PROGRESSTOKEN":2}}}"#,
        "duplicate member `PROGRESSTOKEN`",
    );
}

#[test]
fn tools_call_params_are_checked() {
    let cases = [
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            "\"params\" to be an object",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["echo"]}"#,
            "\"params\" to be an object",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#,
            "\"params.name\" to be a string",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}"#,
            "\"params.name\" to be a string",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","arguments":[1]}}"#,
            "\"params.arguments\" must be an object, found an array",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","_meta":"x"}}"#,
            "\"params._meta\" must be an object, found a string",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"e","_meta":{"progressToken":{}}}}"#,
            "progressToken\" must be a string or a number, found an object",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":1}}}"#,
            "protocolVersion\" must be a string",
        ),
    ];
    for (body, needle) in cases {
        let err = error(body);
        assert_eq!(err.code(), -32602, "{body}: {err}");
        assert!(err.to_string().contains(needle), "{body}: {err}");
        assert_eq!(err.id().unwrap().as_json(), "1");
    }
}

#[test]
fn tools_call_notification_is_refused() {
    assert_invalid_request(
        r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo"}}"#,
        "tools/call must be a request",
    );
}

#[test]
fn batches_are_read_in_order() {
    let body = format!(
        r#"[{CALL}, {{"jsonrpc":"2.0","method":"notifications/x"}}, {{"jsonrpc":"2.0","id":5,"result":{{}}}}]"#
    );
    let parsed = peek(body.as_bytes()).unwrap();
    assert!(parsed.is_batch());
    let kinds: Vec<_> = parsed.messages().iter().map(Message::kind).collect();
    assert_eq!(
        kinds,
        [
            MessageKind::Request,
            MessageKind::Notification,
            MessageKind::Response
        ]
    );
    assert_eq!(
        parsed.messages()[0].tool_call().unwrap().name(),
        "get_weather"
    );
    assert!(!peek(CALL.as_bytes()).unwrap().is_batch());
    assert_eq!(peek(CALL.as_bytes()).unwrap().messages().len(), 1);
}

#[test]
fn bad_batches_are_invalid_requests() {
    assert_invalid_request("[]", "a batch must not be empty");
    assert_invalid_request(" [ ] ", "a batch must not be empty");
    assert_invalid_request("[1]", "batch element 0 must be an object, found a number");
    assert_invalid_request(
        r#"[{"jsonrpc":"2.0","method":"x"},[]]"#,
        "batch element 1 must be an object, found an array",
    );
    assert_invalid_request(
        r#"[{"jsonrpc":"2.0","method":"x"},{"method":"y"}]"#,
        "batch element 1: missing \"jsonrpc\"",
    );
    assert_invalid_request(
        r#"[{"jsonrpc":"2.0","id":1,"id":1,"method":"y"}]"#,
        "batch element 0: duplicate member `id`",
    );
    let err = error(r#"[{"jsonrpc":"2.0","id":4,"method":"initialize","params":{}}]"#);
    assert_eq!(err.code(), -32600);
    assert!(err
        .to_string()
        .contains("batch element 0: initialize must not be part of a batch"));
    assert_eq!(err.id().unwrap().as_json(), "4");
    let err = error(r#"[{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{}}]"#);
    assert_eq!(err.code(), -32602);
    assert!(err
        .to_string()
        .contains("batch element 0: tools/call requires"));
}

#[test]
fn a_single_initialize_is_fine() {
    let m = single(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#);
    assert!(m.is_method(INITIALIZE));
}

proptest! {
    #[test]
    fn peek_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = peek(&bytes);
    }

    #[test]
    fn peek_never_panics_on_json_like_text(text in r#"[\[\]{}":,0-9a-z\\ .\-]{0,80}"#) {
        let _ = peek(text.as_bytes());
    }

    #[test]
    fn any_tools_call_round_trips_name_and_id(name in "\\PC{1,20}", id in any::<i64>()) {
        let body = serde_json::json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":{}}});
        let text = body.to_string();
        let parsed = peek(text.as_bytes()).unwrap();
        let message = &parsed.messages()[0];
        prop_assert_eq!(message.tool_call().unwrap().name(), name.as_str());
        prop_assert_eq!(message.id().unwrap().as_i64(), Some(id));
    }
}

#[test]
fn resource_and_prompt_requests_must_name_their_target() {
    let cases = [
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read"}"#,
            "resources/read requires \"params\" to be an object",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{}}"#,
            "resources/read requires \"params.uri\" to be a string",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":["demo://a"]}}"#,
            "\"params.uri\" to be a string",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":7}}"#,
            "resources/subscribe requires \"params.uri\"",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/unsubscribe","params":{"name":"x"}}"#,
            "resources/unsubscribe requires \"params.uri\"",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"uri":"x"}}"#,
            "prompts/get requires \"params.name\" to be a string",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p","arguments":"city=Paris"}}"#,
            "\"params.arguments\" must be an object, found a string",
        ),
    ];
    for (body, needle) in cases {
        let err = error(body);
        assert_eq!(err.code(), -32602, "{body}: {err}");
        assert!(err.to_string().contains(needle), "{body}: {err}");
        assert_eq!(err.id().unwrap().as_json(), "1");
    }
    for (body, needle) in [
        (
            r#"{"jsonrpc":"2.0","method":"resources/read","params":{"uri":"a"}}"#,
            "resources/read must be a request",
        ),
        (
            r#"{"jsonrpc":"2.0","method":"prompts/get","params":{"name":"p"}}"#,
            "prompts/get must be a request",
        ),
    ] {
        assert_invalid_request(body, needle);
    }
    // Duplicated keys cannot say one thing to the policy and another upstream.
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"demo://ok","uri":"demo://secret"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"ok","n\u0061me":"secret"}}"#,
    ] {
        assert_invalid_request(body, "duplicate member");
    }
    let read = single(
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"demo://a","arguments":[1]}}"#,
    );
    assert_eq!(read.params().and_then(Params::uri), Some("demo://a"));
}
