use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

fn filter(message: &str, keep: impl Fn(&str) -> bool) -> FilteredToolsList {
    filter_tools_list(message.as_bytes(), keep).unwrap()
}

fn value(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

const LIST: &str = r#"{"jsonrpc":"2.0","id":"l1","result":{"tools":[
  {"name":"echo","description":"Echoes","inputSchema":{"type":"object"},"x-extra":[1,2]},
  {"name":"get-env","inputSchema":{"type":"object"}},
  {"name":"get-sum","annotations":{"readOnlyHint":true}}
 ],"nextCursor":"c2","_meta":{"com.example/k":1},"ttlMs":300000,"cacheScope":"public","unknown":{"a":null}},"extra":true}"#;

#[test]
fn removes_refused_tools_and_keeps_everything_else() {
    let out = filter(LIST, |name| name != "get-env");
    assert_eq!((out.kept, out.removed), (2, 1));
    let mut expected: Value = serde_json::from_str(LIST).unwrap();
    expected["result"]["tools"]
        .as_array_mut()
        .unwrap()
        .remove(1);
    assert_eq!(value(&out.body), expected);
    // Kept tools are copied as their original text.
    let text = std::str::from_utf8(&out.body).unwrap();
    assert!(text.contains(
        r#"{"name":"echo","description":"Echoes","inputSchema":{"type":"object"},"x-extra":[1,2]}"#
    ));
    // Member order is preserved.
    let order = [
        "\"jsonrpc\"",
        "\"id\"",
        "\"result\"",
        "\"tools\"",
        "\"nextCursor\"",
        "\"_meta\"",
        "\"ttlMs\"",
        "\"cacheScope\"",
        "\"unknown\"",
        "\"extra\"",
    ];
    let positions: Vec<usize> = order.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn nothing_removed_returns_the_original_bytes() {
    let out = filter(LIST, |_| true);
    assert_eq!(&out.body[..], LIST.as_bytes());
    assert_eq!((out.kept, out.removed), (3, 0));
}

#[test]
fn everything_removed_leaves_an_empty_page() {
    let out = filter(LIST, |_| false);
    assert_eq!(value(&out.body)["result"]["tools"], json!([]));
    assert_eq!(value(&out.body)["result"]["nextCursor"], "c2");
    assert_eq!(out.removed, 3);
}

#[test]
fn private_cache_scope_option() {
    let options = FilterOptions {
        private_cache_scope: true,
    };
    let out = filter_tools_list_with(LIST.as_bytes(), |_| true, options).unwrap();
    assert_eq!(value(&out.body)["result"]["cacheScope"], "private");
    assert_eq!(out.removed, 0);
    let already = LIST.replace("\"public\"", "\"private\"");
    let out = filter_tools_list_with(already.as_bytes(), |_| true, options).unwrap();
    assert_eq!(&out.body[..], already.as_bytes());
    // Legacy results have no cacheScope; none is added.
    let legacy = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}"#;
    let out = filter_tools_list_with(legacy.as_bytes(), |_| false, options).unwrap();
    assert_eq!(
        value(&out.body),
        json!({"jsonrpc":"2.0","id":1,"result":{"tools":[]}})
    );
}

#[test]
fn nameless_or_non_object_tools_are_removed() {
    let message = r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"title":"x"},{"name":7},"b",null]}}"#;
    let out = filter(message, |_| true);
    assert_eq!((out.kept, out.removed), (1, 4));
    assert_eq!(value(&out.body)["result"]["tools"], json!([{"name":"a"}]));
}

#[test]
fn escaped_names_and_keys_are_decoded() {
    let message = r#"{"jsonrpc":"2.0","id":1,"r\u0065sult":{"t\u006fols":[{"n\u0061me":"get\u002denv"},{"name":"echo"}]}}"#;
    let out = filter(message, |name| name != "get-env");
    assert_eq!(out.removed, 1);
    assert_eq!(
        value(&out.body),
        json!({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"}]}})
    );
}

#[test]
fn error_responses_and_other_results_pass_unchanged() {
    for message in [
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"x"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"result":{"prompts":[]}}"#,
    ] {
        let out = filter(message, |_| false);
        assert_eq!(&out.body[..], message.as_bytes());
        assert_eq!((out.kept, out.removed), (0, 0));
    }
}

#[test]
fn malformed_messages_are_errors() {
    let err = |m: &str| filter_tools_list(m.as_bytes(), |_| true).unwrap_err();
    assert!(matches!(err("{"), ToolsListError::Json(_)));
    assert!(matches!(err(""), ToolsListError::Json(_)));
    assert_eq!(err("[{}]"), ToolsListError::Batch);
    assert_eq!(err("1"), ToolsListError::NotAnObject);
    assert_eq!(err(r#"{"result":[]}"#), ToolsListError::ResultNotAnObject);
    assert_eq!(
        err(r#"{"result":{"tools":{}}}"#),
        ToolsListError::NotAnArray("tools")
    );
    assert!(matches!(
        filter_tools_list(b"{\"a\":\"\xff\"}", |_| true),
        Err(ToolsListError::Json(_))
    ));
}

#[test]
fn repeated_members_are_errors() {
    for message in [
        r#"{"result":{"tools":[]},"result":{"tools":[{"name":"get-env"}]}}"#,
        r#"{"result":{"tools":[],"tools":[{"name":"get-env"}]}}"#,
        r#"{"result":{"tools":[{"name":"echo","name":"get-env"}]}}"#,
    ] {
        let err = filter_tools_list(message.as_bytes(), |_| true).unwrap_err();
        assert!(
            err.to_string().contains("duplicate member"),
            "{message}: {err}"
        );
    }
}

fn tool() -> impl Strategy<Value = Value> {
    (
        "[a-z_.-]{1,12}",
        proptest::option::of("\\PC{0,20}"),
        proptest::collection::btree_map("[a-zA-Z]{1,6}", any::<i32>(), 0..3),
    )
        .prop_map(|(name, description, extra)| {
            let mut tool = json!({"name": name, "inputSchema": {"type": "object"}});
            if let Some(description) = description {
                tool["description"] = json!(description);
            }
            for (k, v) in extra {
                if k != "name" {
                    tool[format!("x{k}")] = json!(v);
                }
            }
            tool
        })
}

prop_compose! {
    fn list_message()(
        tools in proptest::collection::vec(tool(), 0..8),
        cursor in proptest::option::of("[a-zA-Z0-9=]{1,10}"),
        meta in proptest::option::of(any::<u16>()),
        id in any::<i64>(),
    ) -> Value {
        let mut result = json!({"tools": tools});
        if let Some(cursor) = cursor { result["nextCursor"] = json!(cursor); }
        if let Some(meta) = meta { result["_meta"] = json!({"com.example/n": meta}); }
        json!({"jsonrpc": "2.0", "id": id, "result": result, "zz": [1, {"k": "v"}]})
    }
}

proptest! {
    #[test]
    fn always_true_keeps_every_tool_and_field(message in list_message(), pretty in any::<bool>()) {
        let text = if pretty { serde_json::to_string_pretty(&message).unwrap() } else { message.to_string() };
        let out = filter_tools_list(text.as_bytes(), |_| true).unwrap();
        prop_assert_eq!(out.removed, 0);
        prop_assert_eq!(&out.body[..], text.as_bytes());
        let options = FilterOptions { private_cache_scope: true };
        let out = filter_tools_list_with(text.as_bytes(), |_| true, options).unwrap();
        prop_assert_eq!(value(&out.body), message);
    }

    #[test]
    fn filtering_removes_exactly_the_refused_tools(message in list_message(), refuse in "[a-z]{1}") {
        let text = message.to_string();
        let keep = |name: &str| !name.starts_with(refuse.as_str());
        let out = filter_tools_list(text.as_bytes(), keep).unwrap();
        let mut expected = message.clone();
        expected["result"]["tools"].as_array_mut().unwrap().retain(|t| keep(t["name"].as_str().unwrap()));
        let kept = expected["result"]["tools"].as_array().unwrap().len();
        prop_assert_eq!(value(&out.body), expected);
        prop_assert_eq!(out.kept, kept);
        prop_assert_eq!(out.kept + out.removed, message["result"]["tools"].as_array().unwrap().len());
    }
}

#[test]
fn resources_templates_and_prompts_are_filtered_by_their_keys() {
    let resources = r#"{"jsonrpc":"2.0","id":1,"result":{"resources":[{"uri":"demo://a","name":"a"},{"uri":"demo://secret","name":"s"},{"name":"no uri"}],"nextCursor":"n"}}"#;
    let out = filter_list_with(
        resources.as_bytes(),
        ListKind::RESOURCES,
        |uri| uri != "demo://secret",
        FilterOptions::default(),
    )
    .unwrap();
    assert_eq!((out.kept, out.removed), (1, 2));
    assert_eq!(
        value(&out.body)["result"],
        json!({"resources": [{"uri": "demo://a", "name": "a"}], "nextCursor": "n"})
    );

    let templates = r#"{"jsonrpc":"2.0","id":1,"result":{"resourceTemplates":[{"uriTemplate":"demo://t/{id}","name":"t"},{"uriTemplate":"demo://u/{id}","name":"u"}]}}"#;
    let out = filter_list_with(
        templates.as_bytes(),
        ListKind::RESOURCE_TEMPLATES,
        |t| t.starts_with("demo://t/"),
        FilterOptions::default(),
    )
    .unwrap();
    assert_eq!(
        value(&out.body)["result"]["resourceTemplates"],
        json!([{"uriTemplate": "demo://t/{id}", "name": "t"}])
    );

    let prompts = r#"{"jsonrpc":"2.0","id":1,"result":{"prompts":[{"name":"simple-prompt"},{"name":"args-prompt","arguments":[{"name":"city"}]}]}}"#;
    let out = filter_list_with(
        prompts.as_bytes(),
        ListKind::PROMPTS,
        |name| name == "args-prompt",
        FilterOptions::default(),
    )
    .unwrap();
    // The nested `name` of an argument is not the prompt's name.
    assert_eq!(
        value(&out.body)["result"]["prompts"],
        json!([{"name": "args-prompt", "arguments": [{"name": "city"}]}])
    );
    // A list of another kind is left alone.
    let out = filter_list_with(
        prompts.as_bytes(),
        ListKind::RESOURCES,
        |_| false,
        FilterOptions::default(),
    )
    .unwrap();
    assert_eq!(&out.body[..], prompts.as_bytes());
}

#[test]
fn a_repeated_key_in_an_entry_is_refused_whatever_the_list() {
    for (list, text) in [
        (
            ListKind::RESOURCES,
            r#"{"jsonrpc":"2.0","id":1,"result":{"resources":[{"uri":"a","uri":"b"}]}}"#,
        ),
        (
            ListKind::PROMPTS,
            r#"{"jsonrpc":"2.0","id":1,"result":{"prompts":[{"name":"a","name":"b"}]}}"#,
        ),
        (
            ListKind::RESOURCES,
            r#"{"jsonrpc":"2.0","id":1,"result":{"resources":[],"resources":[{"uri":"b"}]}}"#,
        ),
    ] {
        let err = filter_list_with(text.as_bytes(), list, |_| true, FilterOptions::default())
            .unwrap_err();
        assert!(
            err.to_string().contains("duplicate member"),
            "{text}: {err}"
        );
    }
    let err = filter_list_with(
        br#"{"jsonrpc":"2.0","id":1,"result":{"prompts":{}}}"#,
        ListKind::PROMPTS,
        |_| true,
        FilterOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err, ToolsListError::NotAnArray("prompts"));
}
