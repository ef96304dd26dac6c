//! Validation errors of limits and counters.

mod common;

use common::{errors, limit, one, with_limit, with_tools};
use serde_json::json;
use toolgate_policy::parse;

#[test]
fn limits_shape() {
    one(
        with_tools(json!({"t": {"limits": limit(json!({}))}})),
        "/tools/t/limits",
        "wrap the limit in brackets",
    );
    one(
        with_tools(json!({"t": {"limits": ["c"]}})),
        "/tools/t/limits/0",
        "a limit must be an object",
    );
}

#[test]
fn unknown_limit_fields() {
    one(
        with_limit(limit(json!({"scopes": "grant"}))),
        "/tools/t/limits/0/scopes",
        "did you mean `scope`?",
    );
    one(
        with_limit(limit(json!({"period": 60}))),
        "/tools/t/limits/0/period",
        "did you mean `window`?",
    );
    one(
        with_limit(limit(json!({"action": "deny"}))),
        "/tools/t/limits/0/action",
        "belongs on the rule",
    );
}

#[test]
fn missing_limit_fields() {
    for field in ["counter", "window", "max", "scope"] {
        let pointer = format!("/tools/t/limits/0/{field}");
        one(
            with_limit(limit(json!({field: null}))),
            &pointer,
            "missing required field",
        );
    }
}

#[test]
fn counter() {
    let p = "/tools/t/limits/0/counter";
    one(
        with_limit(limit(json!({"counter": ""}))),
        p,
        "cannot be empty",
    );
    one(
        with_limit(limit(json!({"counter": "a b"}))),
        p,
        "contains ' '",
    );
    one(with_limit(limit(json!({"counter": 7}))), p, "name string");
    one(
        with_limit(limit(json!({"counter": "x".repeat(200)}))),
        p,
        "longer than 128",
    );
}

#[test]
fn window() {
    let p = "/tools/t/limits/0/window";
    one(
        with_limit(limit(json!({"window": "minutes"}))),
        p,
        "did you mean `minute`?",
    );
    one(
        with_limit(limit(json!({"window": "1m"}))),
        p,
        "whole seconds",
    );
    one(
        with_limit(limit(json!({"window": 0}))),
        p,
        "at least 1 second",
    );
    one(with_limit(limit(json!({"window": -60}))), p, "positive");
    one(
        with_limit(limit(json!({"window": 1.5}))),
        p,
        "whole seconds",
    );
    one(
        with_limit(limit(json!({"window": "60"}))),
        p,
        "as a number: 60",
    );
    one(
        // 31 days and a second.
        with_limit(limit(json!({"window": 31 * 86_400 + 1}))),
        p,
        "maximum",
    );
}

#[test]
fn max() {
    let p = "/tools/t/limits/0/max";
    one(with_limit(limit(json!({"max": 0}))), p, "at least 1");
    one(
        with_limit(limit(json!({"max": -1}))),
        p,
        "cannot be negative",
    );
    one(with_limit(limit(json!({"max": 2.5}))), p, "whole number");
    one(with_limit(limit(json!({"max": "10"}))), p, "without quotes");
    one(
        // 2^53: counters stay exact in stores that hold IEEE doubles.
        with_limit(limit(json!({"max": 1_u64 << 53}))),
        p,
        "cannot exceed",
    );
}

#[test]
fn scope_algorithm_and_backend_error() {
    one(
        with_limit(limit(json!({"scope": "user"}))),
        "/tools/t/limits/0/scope",
        "expected one of `grant`, `session`, `account` or `server`",
    );
    one(
        with_limit(limit(json!({"algorithm": "slide"}))),
        "/tools/t/limits/0/algorithm",
        "did you mean `sliding`?",
    );
    one(
        with_limit(limit(json!({"on_backend_error": "fail_open"}))),
        "/tools/t/limits/0/on_backend_error",
        "`closed` or `open`",
    );
}

#[test]
fn cost() {
    let p = "/tools/t/limits/0/cost";
    one(
        with_limit(limit(json!({"cost": "amount"}))),
        p,
        "did you mean \"/amount\"?",
    );
    one(
        with_limit(limit(json!({"cost": ""}))),
        p,
        "not the whole arguments",
    );
    one(
        with_limit(limit(json!({"cost": "/a~x"}))),
        p,
        "not an escape",
    );
    one(
        with_limit(limit(json!({"cost": 1}))),
        p,
        "JSON pointer string",
    );
}

#[test]
fn sliding_window_max_is_bounded() {
    let ok = limit(json!({"algorithm": "sliding", "max": 10_000}));
    assert!(parse(&with_limit(ok)).is_ok());
    let big = limit(json!({"algorithm": "sliding", "max": 10_001}));
    one(with_limit(big), "/tools/t/limits/0/max", "at most 10000");
}

#[test]
fn shared_counters_must_agree() {
    let doc = with_tools(json!({
        "a": {"limits": [limit(json!({}))]},
        "b": {"limits": [limit(json!({"window": "hour", "scope": "account", "algorithm": "sliding"}))]},
        "c": {"limits": [limit(json!({"window": 60, "max": 99}))]},
    }));
    let errors = errors(doc);
    let pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/tools/b/limits/0/window",
            "/tools/b/limits/0/scope",
            "/tools/b/limits/0/algorithm"
        ],
        "\"minute\" and 60 are the same window and max may differ"
    );
    assert!(errors[0].message.contains("also used at /tools/a/limits/0"));
}

#[test]
fn a_call_never_counts_twice_on_one_counter() {
    let twice = with_tools(json!({"t": {"limits": [limit(json!({})), limit(json!({"max": 5}))]}}));
    one(
        twice,
        "/tools/t/limits/1/counter",
        "already counted for this tool at /tools/t/limits/0",
    );
    let with_star = with_tools(
        json!({"t": {"limits": [limit(json!({}))]}, "*": {"limits": [limit(json!({}))]}}),
    );
    one(
        with_star,
        "/tools/t/limits/0/counter",
        "at /tools/*/limits/0",
    );
    let star_twice = with_tools(json!({"*": {"limits": [limit(json!({})), limit(json!({}))]}}));
    one(
        star_twice,
        "/tools/*/limits/1/counter",
        "already counted at /tools/*/limits/0",
    );
}
