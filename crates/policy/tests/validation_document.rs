//! Validation errors of the document, its rules and their schemas.

mod common;

use common::{errors, limit, one, with_tools};
use serde_json::{json, Value};
use toolgate_policy::{parse, parse_str, Kind, PolicyError};

#[test]
fn json_syntax_error_is_one_error_at_the_root() {
    let errors = parse_str("{\"version\": \"1\",").err().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].pointer, "");
    assert!(errors[0].message.contains("not valid JSON"));
    assert!(errors[0].message.contains("line 1"));
}

#[test]
fn root_must_be_an_object() {
    one(json!([1]), "", "must be a JSON object");
    one(json!("deny"), "", "not the string \"deny\"");
}

#[test]
fn unknown_top_level_fields() {
    let mut doc = with_tools(json!({}));
    doc["tool"] = json!({});
    one(doc, "/tool", "did you mean `tools`?");
    let mut doc = with_tools(json!({}));
    doc["limits"] = json!([]);
    one(doc, "/limits", "belongs in a rule under `tools`");
    let mut doc = with_tools(json!({}));
    doc["owner"] = json!("me");
    one(
        doc,
        "/owner",
        "allowed fields are `version`, `default`, `hide`, `tools`, `resources`, `prompts` or `extensions`",
    );
    let mut doc = with_tools(json!({}));
    doc["resource"] = json!({});
    one(doc, "/resource", "did you mean `resources`?");
    let mut doc = with_tools(json!({}));
    doc["prompt"] = json!({});
    one(doc, "/prompt", "did you mean `prompts`?");
    let mut doc = with_tools(json!({}));
    doc["resourceTemplates"] = json!({});
    one(doc, "/resourceTemplates", "did you mean `resources`?");
}

#[test]
fn version() {
    one(
        json!({"default": "deny"}),
        "/version",
        "missing required field `version`",
    );
    one(json!({"version": 1}), "/version", "not the number 1");
    one(
        json!({"version": "2"}),
        "/version",
        "unsupported version the string \"2\"",
    );
    one(
        json!({"version": null}),
        "/version",
        "unsupported version null",
    );
}

#[test]
fn default() {
    one(
        json!({"version": "1", "default": "Deny"}),
        "/default",
        "did you mean `deny`?",
    );
    one(
        json!({"version": "1", "default": "block"}),
        "/default",
        "expected one of `allow` or `deny`",
    );
    one(
        json!({"version": "1", "default": false}),
        "/default",
        "not the boolean false",
    );
    assert!(parse(&json!({"version": "1", "default": "allow"})).is_ok());
}

#[test]
fn hide() {
    one(
        json!({"version": "1", "hide": "debug_*"}),
        "/hide",
        "must be an array",
    );
    one(
        json!({"version": "1", "hide": ["ok", ""]}),
        "/hide/1",
        "cannot be empty",
    );
    one(
        json!({"version": "1", "hide": ["ok", 3]}),
        "/hide/1",
        "not the number 3",
    );
}

#[test]
fn tools_shape() {
    one(
        json!({"version": "1", "tools": []}),
        "/tools",
        "must be an object",
    );
    one(with_tools(json!({"": {}})), "/tools/", "cannot be empty");
    one(
        with_tools(json!({"delete_*": "deny"})),
        "/tools/delete_*",
        "{\"action\": \"deny\"}",
    );
    one(
        with_tools(json!({"a/b": 1})),
        "/tools/a~1b",
        "must be an object",
    );
}

#[test]
fn unknown_rule_fields() {
    one(
        with_tools(json!({"t": {"limit": []}})),
        "/tools/t/limit",
        "did you mean `limits`?",
    );
    one(
        with_tools(json!({"t": {"actoin": "deny"}})),
        "/tools/t/actoin",
        "did you mean `action`?",
    );
    one(
        with_tools(json!({"t": {"max": 10}})),
        "/tools/t/max",
        "inside an entry of `limits`",
    );
    one(
        with_tools(json!({"t": {"schema": {}}})),
        "/tools/t/schema",
        "goes in `arguments`",
    );
    one(
        with_tools(json!({"t": {"hidden": true}})),
        "/tools/t/hidden",
        "top-level `hide`",
    );
    one(
        with_tools(json!({"t": {"zzz": 1}})),
        "/tools/t/zzz",
        "allowed fields are",
    );
}

#[test]
fn action() {
    one(
        with_tools(json!({"t": {"action": "block"}})),
        "/tools/t/action",
        "expected one of `allow`, `deny` or `require_approval`",
    );
    one(
        with_tools(json!({"t": {"action": "require-approval"}})),
        "/tools/t/action",
        "did you mean `require_approval`?",
    );
    one(
        with_tools(json!({"t": {"action": 1}})),
        "/tools/t/action",
        "not the number 1",
    );
}

#[test]
fn reason() {
    one(
        with_tools(json!({"t": {"reason": "x"}})),
        "/tools/t/reason",
        "only applies to rules with \"action\": \"deny\"",
    );
    one(
        with_tools(json!({"t": {"action": "require_approval", "reason": "x"}})),
        "/tools/t/reason",
        "only applies",
    );
    one(
        with_tools(json!({"t": {"action": "deny", "reason": " "}})),
        "/tools/t/reason",
        "cannot be empty",
    );
    one(
        with_tools(json!({"t": {"action": "deny", "reason": 5}})),
        "/tools/t/reason",
        "must be a string",
    );
    let long = "x".repeat(501);
    one(
        with_tools(json!({"t": {"action": "deny", "reason": long}})),
        "/tools/t/reason",
        "longer than 500",
    );
}

#[test]
fn approval_timeout() {
    one(
        with_tools(json!({"t": {"approval_timeout": 60}})),
        "/tools/t/approval_timeout",
        "only applies to rules with \"action\": \"require_approval\"",
    );
    let rule =
        |v: Value| with_tools(json!({"t": {"action": "require_approval", "approval_timeout": v}}));
    one(
        rule(json!(0)),
        "/tools/t/approval_timeout",
        "between 1 and 3600",
    );
    one(
        rule(json!(3601)),
        "/tools/t/approval_timeout",
        "between 1 and 3600",
    );
    one(
        rule(json!(-1)),
        "/tools/t/approval_timeout",
        "cannot be negative",
    );
    one(
        rule(json!(1.5)),
        "/tools/t/approval_timeout",
        "whole number of seconds",
    );
    one(
        rule(json!("60")),
        "/tools/t/approval_timeout",
        "without quotes",
    );
}

#[test]
fn approval_hold() {
    const AT: &str = "/tools/t/approval_hold";
    one(
        with_tools(json!({"t": {"approval_hold": 20}})),
        AT,
        "only applies to rules with \"action\": \"require_approval\"",
    );
    let rule =
        |v: Value| with_tools(json!({"t": {"action": "require_approval", "approval_hold": v}}));
    one(rule(json!(0)), AT, "between 1 and 600");
    one(rule(json!(601)), AT, "between 1 and 600");
    one(rule(json!(-1)), AT, "cannot be negative");
    one(rule(json!(2.5)), AT, "whole number of seconds");
    one(rule(json!("20")), AT, "without quotes");
    one(
        with_tools(
            json!({"t": {"action": "require_approval", "approval_timeout": 30, "approval_hold": 45}}),
        ),
        AT,
        "longer than the approval's timeout (30 s)",
    );
    one(
        with_tools(json!({"t": {"hold": 20, "action": "require_approval"}})),
        "/tools/t/hold",
        "did you mean `approval_hold`?",
    );
}

#[test]
fn arguments() {
    one(
        with_tools(json!({"t": {"arguments": "object"}})),
        "/tools/t/arguments",
        "must be a JSON Schema",
    );
    let errors = errors(with_tools(json!({"t": {"arguments": {"type": "strin"}}})));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].pointer, "/tools/t/arguments/type");
    assert!(errors[0].message.starts_with("invalid JSON Schema"));
    let errors = errors_of_schema(json!({"properties": {"n": {"minimum": "5"}}}));
    assert_eq!(errors[0].pointer, "/tools/t/arguments/properties/n/minimum");
    // Remote references are never fetched.
    let errors = errors_of_schema(json!({"$ref": "https://example.com/schema.json"}));
    assert_eq!(errors[0].pointer, "/tools/t/arguments");
    assert!(errors[0].message.starts_with("invalid JSON Schema"));
    // Boolean schemas are schemas.
    assert!(parse(&with_tools(json!({"t": {"arguments": true}}))).is_ok());
}

fn errors_of_schema(schema: Value) -> Vec<PolicyError> {
    let errors = errors(with_tools(json!({"t": {"arguments": schema}})));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors
}

#[test]
fn deny_rules_carry_no_limits_or_arguments() {
    one(
        with_tools(json!({"t": {"action": "deny", "arguments": {}}})),
        "/tools/t/arguments",
        "no effect on a deny rule",
    );
    let limits = json!([limit(json!({}))]);
    one(
        with_tools(json!({"t": {"action": "deny", "limits": limits}})),
        "/tools/t/limits",
        "no effect on a deny rule",
    );
}

#[test]
fn star_rule_only_carries_limits() {
    one(
        with_tools(json!({"*": {"action": "allow"}})),
        "/tools/*/action",
        "top-level `default`",
    );
    one(
        with_tools(json!({"*": {"arguments": {}}})),
        "/tools/*/arguments",
        "tools' own rules",
    );
    one(
        with_tools(json!({"*": {"limts": []}})),
        "/tools/*/limts",
        "did you mean `limits`?",
    );
    one(
        with_tools(json!({"*": {"zzz": []}})),
        "/tools/*/zzz",
        "only carries `limits`",
    );
    one(
        with_tools(json!({"*": []})),
        "/tools/*",
        "must be an object",
    );
}

#[test]
fn every_error_is_reported_at_once() {
    let doc = json!({
        "version": "2",
        "default": "nope",
        "hide": [1],
        "tools": {
            "a": {"action": "allow", "reason": "r", "limits": [{"counter": "", "window": "weeks", "max": 0, "scope": "everyone", "cost": "x"}]},
            "b": {"action": "deny", "approval_timeout": 5},
            "c": {"arguments": {"type": 12}},
        },
        "extra": true
    });
    let errors = errors(doc);
    let mut pointers: Vec<&str> = errors.iter().map(|e| e.pointer.as_str()).collect();
    pointers.sort_unstable();
    assert_eq!(
        pointers,
        [
            "/default",
            "/extra",
            "/hide/0",
            "/tools/a/limits/0/cost",
            "/tools/a/limits/0/counter",
            "/tools/a/limits/0/max",
            "/tools/a/limits/0/scope",
            "/tools/a/limits/0/window",
            "/tools/a/reason",
            "/tools/b/approval_timeout",
            "/tools/c/arguments/type",
            "/version",
        ]
    );
    for error in &errors {
        assert!(!error.message.is_empty());
        assert_eq!(
            error.to_string(),
            format!("{}: {}", error.pointer, error.message)
        );
    }
}

#[test]
fn errors_serialise_with_pointer_and_message() {
    let error = &errors(json!({"version": 1}))[0];
    assert_eq!(
        serde_json::to_value(error).unwrap(),
        json!({"pointer": "/version", "message": error.message})
    );
}

#[test]
fn audit_arguments_is_a_boolean() {
    one(
        with_tools(json!({"t": {"audit_arguments": "yes"}})),
        "/tools/t/audit_arguments",
        "must be true or false, not the string \"yes\"",
    );
    let policy = toolgate_policy::parse(&with_tools(json!({
        "kept": {"audit_arguments": true},
        "plain": {},
        "off": {"audit_arguments": false}
    })))
    .unwrap();
    assert!(policy.audit_arguments_of(Kind::Tool, "kept"));
    for tool in ["plain", "off", "unmatched"] {
        assert!(!policy.audit_arguments_of(Kind::Tool, tool), "{tool}");
    }
    assert_eq!(
        policy.governing_pointer_of(Kind::Tool, "kept"),
        "/tools/kept"
    );
    assert_eq!(
        policy.governing_pointer_of(Kind::Tool, "unmatched"),
        "/default"
    );
}
