//! Helpers shared by the validation tests.
#![allow(dead_code)]

use serde_json::{json, Value};
use toolgate_policy::{parse, PolicyError};

pub fn errors(doc: Value) -> Vec<PolicyError> {
    match parse(&doc) {
        Ok(_) => panic!("expected errors for {doc}"),
        Err(errors) => errors,
    }
}

/// Asserts the document has exactly one error, at `pointer`, whose message
/// contains `needle`.
#[track_caller]
pub fn one(doc: Value, pointer: &str, needle: &str) {
    let errors = errors(doc);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    assert_eq!(errors[0].pointer, pointer, "{errors:#?}");
    assert!(
        errors[0].message.contains(needle),
        "message {:?} lacks {needle:?}",
        errors[0].message
    );
}

pub fn with_tools(tools: Value) -> Value {
    json!({"version": "1", "default": "deny", "tools": tools})
}

pub fn with_limit(limit: Value) -> Value {
    with_tools(json!({"t": {"limits": [limit]}}))
}

pub fn limit(extra: Value) -> Value {
    let mut base = json!({"counter": "c", "window": "minute", "max": 10, "scope": "grant"});
    let fields = base.as_object_mut().expect("a limit is an object");
    for (k, v) in extra.as_object().expect("extra fields are an object") {
        if v.is_null() {
            fields.remove(k);
        } else {
            fields.insert(k.clone(), v.clone());
        }
    }
    base
}
