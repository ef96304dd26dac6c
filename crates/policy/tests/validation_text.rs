//! Text that cannot be stored (NUL anywhere, a key given twice) is a
//! validation error at its pointer; every other character is accepted.

mod common;

use common::{errors, with_tools};
use serde_json::{json, Value};
use toolgate_policy::{parse, parse_str};

fn pointers(doc: Value) -> Vec<String> {
    errors(doc).into_iter().map(|e| e.pointer).collect()
}

#[track_caller]
fn refuses_nul_at(doc: Value, pointer: &str) {
    let found = errors(doc);
    assert!(
        found
            .iter()
            .any(|e| e.pointer == pointer && e.message.contains("NUL")),
        "no NUL error at {pointer:?}: {found:#?}"
    );
}

#[test]
fn nul_is_refused_wherever_it_is() {
    refuses_nul_at(with_tools(json!({"get\u{0}x": {}})), "/tools/get\u{0}x");
    refuses_nul_at(
        json!({"version": "1", "hide": ["debug_*", "a\u{0}"], "tools": {}}),
        "/hide/1",
    );
    refuses_nul_at(
        with_tools(json!({"t": {"action": "deny", "reason": "no\u{0}"}})),
        "/tools/t/reason",
    );
    refuses_nul_at(
        with_tools(
            json!({"t": {"limits": [{"counter": "c\u{0}", "window": "minute", "max": 1, "scope": "grant"}]}}),
        ),
        "/tools/t/limits/0/counter",
    );
    refuses_nul_at(
        with_tools(json!({"t": {"arguments": {"type": "object", "properties": {"a\u{0}/b": {}}}}})),
        "/tools/t/arguments/properties/a\u{0}~1b",
    );
    refuses_nul_at(
        with_tools(json!({"t": {"arguments": {"enum": ["ok", "x\u{0}"]}}})),
        "/tools/t/arguments/enum/1",
    );
    refuses_nul_at(json!({"version": "1\u{0}"}), "/version");
}

#[test]
fn nul_is_refused_in_sections_the_validator_does_not_know() {
    // Whatever a document holds is stored; the walk does not depend on the
    // sections this version understands.
    let mut doc = with_tools(json!({}));
    doc["later"] = json!({"x": [{"y\u{0}": "z"}]});
    let found = pointers(doc);
    assert!(found.contains(&"/later/x/0/y\u{0}".to_owned()), "{found:?}");
}

#[test]
fn nul_errors_come_with_the_others() {
    let found = pointers(json!({"version": "2", "hide": ["\u{0}"], "tools": []}));
    assert_eq!(found, ["/hide/0", "/version", "/tools"]);
}

#[test]
fn other_characters_are_accepted_as_written() {
    let odd = "a\u{1}\u{1f}\u{7f}\u{85}\u{202e}e\u{301}😀\u{feff}\u{ffff}";
    let doc = json!({
        "version": "1",
        "hide": [odd],
        "tools": {
            odd: {"action": "deny", "reason": odd},
            "t": {"arguments": {"type": "object", "properties": {odd: {"description": odd}}}}
        }
    });
    let policy = parse(&doc).expect("storable characters are accepted");
    assert!(!policy.visible(odd));
}

#[test]
fn a_key_given_twice_is_refused_at_its_pointer() {
    let text = r#"{"version": "1", "default": "deny",
        "tools": {"a": {"action": "deny"}, "a": {},
                  "b": {"arguments": {"properties": {"x": {}, "x": {"type": "string"}}}}}}"#;
    let found = parse_str(text).expect_err("duplicates refused");
    let at: Vec<&str> = found.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(at, ["/tools/a", "/tools/b/arguments/properties/x"]);
    assert!(found[0].message.contains("more than once"), "{found:?}");
}

#[test]
fn duplicates_are_reported_with_every_other_error() {
    let found =
        parse_str(r#"{"version": "1", "default": "deny", "default": "maybe", "tools": {}}"#)
            .expect_err("refused");
    let at: Vec<&str> = found.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(at, ["/default", "/default"]);
}

#[test]
fn text_that_is_not_unicode_is_malformed_where_it_stands() {
    let found = parse_str(r#"{"version": "1", "tools": {"t": {"reason": "\ud800"}}}"#)
        .expect_err("refused");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].pointer, "/tools/t/reason");
    assert!(found[0].message.starts_with("not valid JSON"), "{found:?}");
}
