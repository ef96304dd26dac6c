//! Text Postgres can store, made from text it cannot.
//!
//! Postgres `text` and `jsonb` cannot hold U+0000: a NUL in a `text` value is
//! refused with SQLSTATE 22021, a `\u0000` escape inside a `jsonb` string or
//! object key with 22P05. Everything else a Rust `String` can hold is
//! storable in a UTF-8 database: lone surrogates (`\ud800`), which `jsonb`
//! would refuse too, never reach Rust text — `serde_json` refuses them when
//! it parses and `str` cannot hold them.
//!
//! Text recorded from agents (tool names, argument keys and values, refusal
//! reasons quoting them) passes through here before it is written: each
//! U+0000 becomes U+FFFD, the replacement character, so the record keeps the
//! text's length in characters and shows where something unstorable was.
//! Text without a NUL is returned as it is, without copying.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// What each U+0000 becomes.
pub const REPLACEMENT: char = '\u{FFFD}';

/// `text` with each U+0000 replaced by [`REPLACEMENT`]; borrowed when it
/// holds none.
pub fn storable_str(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// `value` with each U+0000 in its strings and object keys, at any depth,
/// replaced by [`REPLACEMENT`]; borrowed when it holds none.
///
/// An object key that becomes equal to another key of the same object keeps
/// its value apart under a further [`REPLACEMENT`] at its end (`"a\0"` beside
/// `"a\u{FFFD}"` becomes `"a\u{FFFD}\u{FFFD}"`): no value is lost, and keys
/// that needed nothing are kept exactly.
pub fn storable_json(value: &Value) -> Cow<'_, Value> {
    if holds_nul(value) {
        Cow::Owned(replaced(value))
    } else {
        Cow::Borrowed(value)
    }
}

/// Whether any string or key in `value` holds U+0000. Only reads.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, item)| key.contains('\0') || holds_nul(item)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn replaced(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(storable_str(text).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(replaced).collect()),
        Value::Object(map) => Value::Object(replaced_map(map)),
        Value::Null | Value::Bool(_) | Value::Number(_) => value.clone(),
    }
}

fn replaced_map(map: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    // Clean keys first, so that only replaced keys ever move aside.
    for (key, item) in map.iter().filter(|(key, _)| !key.contains('\0')) {
        out.insert(key.clone(), replaced(item));
    }
    for (key, item) in map.iter().filter(|(key, _)| key.contains('\0')) {
        let mut key = storable_str(key).into_owned();
        while out.contains_key(&key) {
            key.push(REPLACEMENT);
        }
        out.insert(key, replaced(item));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn text_without_nul_is_borrowed_unchanged() {
        for text in ["", "echo", "ünïcödé \u{FFFD} \u{1F600}", "\\u0000 as text"] {
            assert!(matches!(storable_str(text), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn each_nul_in_text_becomes_one_replacement_character() {
        let text = "\0de\0lete\0\0";
        let stored = storable_str(text);
        assert_eq!(stored, "\u{FFFD}de\u{FFFD}lete\u{FFFD}\u{FFFD}");
        assert_eq!(stored.chars().count(), text.chars().count());
    }

    #[test]
    fn json_without_nul_is_borrowed_unchanged() {
        let value = json!({"a": [1, "b", {"c": null, "d": true}], "\u{FFFD}": "x"});
        assert!(matches!(storable_json(&value), Cow::Borrowed(v) if *v == value));
    }

    #[test]
    fn nul_in_json_strings_and_keys_is_replaced_at_any_depth() {
        let value = json!({
            "plain": "ok",
            "k\0ey": "v\0alue",
            "nested": {"deep\0": [1, "x\0", {"\0": "\0\0"}], "n": 5},
            "list": ["\0", 2.5, null, false]
        });
        let stored = storable_json(&value).into_owned();
        assert_eq!(
            stored,
            json!({
                "plain": "ok",
                "k\u{FFFD}ey": "v\u{FFFD}alue",
                "nested": {"deep\u{FFFD}": [1, "x\u{FFFD}", {"\u{FFFD}": "\u{FFFD}\u{FFFD}"}], "n": 5},
                "list": ["\u{FFFD}", 2.5, null, false]
            })
        );
        assert!(!stored.to_string().contains("\\u0000"));
    }

    #[test]
    fn a_replaced_key_never_overwrites_another() {
        let value = json!({"a\0": 1, "a\u{FFFD}": 2, "a\0\0": 3, "a\u{FFFD}\u{FFFD}": 4});
        let stored = storable_json(&value).into_owned();
        let map = stored.as_object().unwrap();
        assert_eq!(map.len(), 4, "{stored}");
        // Keys that needed no change keep their values exactly.
        assert_eq!(map["a\u{FFFD}"], 2);
        assert_eq!(map["a\u{FFFD}\u{FFFD}"], 4);
        let mut moved: Vec<i64> = map
            .iter()
            .filter(|(k, _)| k.chars().count() > 3)
            .map(|(_, v)| v.as_i64().unwrap())
            .collect();
        moved.sort_unstable();
        assert_eq!(moved, [1, 3]);
    }

    #[test]
    fn lone_surrogates_never_reach_rust_text() {
        // What an agent can send: JSON escapes. serde_json refuses a lone
        // surrogate, so it cannot become a String or a Value to record.
        for text in [r#""\ud800""#, r#""\udfff""#, r#"{"\ud800": 1}"#] {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
        }
        // A NUL escape parses, and is what this module exists for.
        let parsed: Value = serde_json::from_str(r#"{"\u0000": "\u0000"}"#).unwrap();
        assert_eq!(
            storable_json(&parsed).into_owned(),
            json!({"\u{FFFD}": "\u{FFFD}"})
        );
    }
}
