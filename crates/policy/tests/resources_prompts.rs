//! Resources (by URI) and prompts (by name): their sections, what a document
//! without them means, precedence, and their validation errors.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use common::{errors, one};
use serde_json::{json, Value};
use toolgate_policy::{parse, Decision, Kind, RefusalKind};

fn refusal(decision: Decision) -> (String, String, RefusalKind) {
    match decision {
        Decision::Refuse {
            reason,
            pointer,
            kind,
        } => (reason, pointer, kind),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

const RESOURCE: Kind = Kind::Resource;
const PROMPT: Kind = Kind::Prompt;

#[test]
fn without_sections_resources_and_prompts_follow_default_and_hide() {
    // Default deny: nothing new opens up.
    let deny = parse(&json!({"version": "1", "default": "deny", "tools": {"echo": {}}})).unwrap();
    for (kind, name, noun) in [
        (RESOURCE, "demo://resource/static/document/a.md", "resource"),
        (PROMPT, "simple-prompt", "prompt"),
    ] {
        assert!(!deny.visible_of(kind, name));
        let (reason, pointer, refusal_kind) = refusal(deny.decide_of(kind, name, &json!({})));
        assert_eq!(
            (pointer.as_str(), refusal_kind),
            ("/default", RefusalKind::Unknown)
        );
        assert!(reason.contains(noun), "{reason}");
    }
    // An absent default is deny for every kind.
    let absent = parse(&json!({"version": "1"})).unwrap();
    assert!(!absent.visible_of(RESOURCE, "test://static/resource/1"));
    assert!(!absent.visible_of(PROMPT, "p"));

    // Default allow keeps working as before, and `hide` applies to every kind.
    let allow =
        parse(&json!({"version": "1", "default": "allow", "hide": ["debug_*", "*secret*"]}))
            .unwrap();
    assert!(allow.visible_of(RESOURCE, "demo://resource/static/document/a.md"));
    assert!(matches!(
        allow.decide_of(PROMPT, "simple-prompt", &json!({})),
        Decision::Allow { .. }
    ));
    assert!(!allow.visible_of(PROMPT, "debug_prompt"));
    let (_, pointer, kind) = refusal(allow.decide_of(RESOURCE, "file:///secret/key", &json!({})));
    assert_eq!((pointer.as_str(), kind), ("/hide/1", RefusalKind::Hidden));
}

#[test]
fn object_forms_of_default_and_hide_set_each_kind() {
    let policy = parse(&json!({
        "version": "1",
        "default": {"tools": "deny", "resources": "allow"},
        "hide": {"tools": ["get-env"], "resources": ["demo://private/*"], "prompts": []}
    }))
    .unwrap();
    assert!(!policy.visible("echo"));
    assert!(policy.visible_of(RESOURCE, "demo://resource/1"));
    // A kind the object leaves out is deny.
    let (_, pointer, _) = refusal(policy.decide_of(PROMPT, "p", &json!({})));
    assert_eq!(pointer, "/default");
    let (_, pointer, _) = refusal(policy.decide("nope", &json!({})));
    assert_eq!(pointer, "/default/tools");
    let (_, pointer, kind) = refusal(policy.decide_of(RESOURCE, "demo://private/x", &json!({})));
    assert_eq!(
        (pointer.as_str(), kind),
        ("/hide/resources/0", RefusalKind::Hidden)
    );
    // Per-kind hide entries do not leak into other kinds.
    let allow =
        parse(&json!({"version": "1", "default": "allow", "hide": {"tools": ["x"]}})).unwrap();
    assert!(!allow.visible("x"));
    assert!(allow.visible_of(PROMPT, "x"));
    assert!(allow.visible_of(RESOURCE, "x"));
}

fn resources_policy() -> toolgate_policy::CompiledPolicy {
    parse(&json!({
        "version": "1",
        "default": "deny",
        "hide": {"resources": ["demo://resource/static/document/secret*"]},
        "tools": {"echo": {}},
        "resources": {
            "demo://resource/static/document/*": {},
            "demo://resource/static/document/architecture.md": {
                "limits": [{"counter": "arch", "window": "minute", "max": 2, "scope": "grant"}]
            },
            "demo://resource/static/document/ex*": {"action": "deny", "reason": "not for agents"},
            "demo://resource/static/document/extension.md": {"action": "require_approval", "approval_timeout": 60},
            "demo://resource/dynamic/*": {},
            "*": {"limits": [{"counter": "reads", "window": "minute", "max": 100, "scope": "grant"}]}
        },
        "prompts": {
            "simple-prompt": {},
            "args-prompt": {
                "arguments": {"type": "object", "properties": {"city": {"enum": ["Paris", "Rome"]}}, "required": ["city"]},
                "audit_arguments": true
            },
            "resource-*": {"action": "require_approval"},
            "debug-*": {"action": "deny"}
        }
    }))
    .unwrap()
}

#[test]
fn uri_precedence_is_that_of_tools() {
    let policy = resources_policy();
    let decide = |uri: &str| policy.decide_of(RESOURCE, uri, &Value::Null);
    // The glob allows, with the section's "*" limits.
    let Decision::Allow { limits } = decide("demo://resource/static/document/readme.md") else {
        panic!("expected allow");
    };
    let counters: Vec<&str> = limits.iter().map(|l| l.counter.as_str()).collect();
    assert_eq!(counters, ["reads"]);
    // The exact URI beats the glob; its own limits come first.
    let Decision::Allow { limits } = decide("demo://resource/static/document/architecture.md")
    else {
        panic!("expected allow");
    };
    let counters: Vec<&str> = limits.iter().map(|l| l.counter.as_str()).collect();
    assert_eq!(counters, ["arch", "reads"]);
    assert_eq!(
        limits[0].pointer,
        "/resources/demo:~1~1resource~1static~1document~1architecture.md/limits/0"
    );
    // The longest glob wins: `…/ex*` denies, and hides.
    let (reason, pointer, kind) = refusal(decide("demo://resource/static/document/example.md"));
    assert_eq!(reason, "not for agents");
    assert_eq!(
        pointer,
        "/resources/demo:~1~1resource~1static~1document~1ex*"
    );
    assert_eq!(kind, RefusalKind::Hidden);
    assert!(!policy.visible_of(RESOURCE, "demo://resource/static/document/example.md"));
    // …but an exact key beats it.
    let Decision::RequireApproval { timeout_secs, .. } =
        decide("demo://resource/static/document/extension.md")
    else {
        panic!("expected an approval");
    };
    assert_eq!(timeout_secs, 60);
    // Hide beats every rule.
    let (_, pointer, kind) = refusal(decide("demo://resource/static/document/secret.md"));
    assert_eq!(
        (pointer.as_str(), kind),
        ("/hide/resources/0", RefusalKind::Hidden)
    );
    // Unmatched: the default.
    let (_, pointer, kind) = refusal(decide("test://static/resource/1"));
    assert_eq!((pointer.as_str(), kind), ("/default", RefusalKind::Unknown));
    // Tool rules never govern resources, nor the other way round.
    assert!(!policy.visible_of(RESOURCE, "echo"));
    assert!(!policy.visible("demo://resource/dynamic/x"));
    assert_eq!(
        policy.governing_pointer_of(RESOURCE, "demo://resource/dynamic/x"),
        "/resources/demo:~1~1resource~1dynamic~1*"
    );
    assert!(matches!(
        policy.decide_of(PROMPT, "resource-prompt", &json!({})),
        Decision::RequireApproval {
            timeout_secs: 300,
            ..
        }
    ));
    assert_eq!(policy.rule_count(), 1 + 5 + 4);
}

#[test]
fn prompt_arguments_are_checked_like_tool_arguments() {
    let policy = resources_policy();
    assert!(matches!(
        policy.decide_of(PROMPT, "simple-prompt", &Value::Null),
        Decision::Allow { .. }
    ));
    assert!(matches!(
        policy.decide_of(PROMPT, "args-prompt", &json!({"city": "Rome"})),
        Decision::Allow { .. }
    ));
    let (reason, pointer, kind) =
        refusal(policy.decide_of(PROMPT, "args-prompt", &json!({"city": "Oslo"})));
    assert_eq!(kind, RefusalKind::Denied);
    assert!(
        reason.starts_with("arguments rejected at /city"),
        "{reason}"
    );
    assert_eq!(
        pointer,
        "/prompts/args-prompt/arguments/properties/city/enum"
    );
    assert!(policy.audit_arguments_of(PROMPT, "args-prompt"));
    assert!(!policy.audit_arguments_of(Kind::Tool, "args-prompt"));
    assert!(matches!(
        policy.decide_of(PROMPT, "resource-prompt", &json!({})),
        Decision::RequireApproval { .. }
    ));
    assert!(!policy.visible_of(PROMPT, "debug-dump"));
    let (reason, pointer, kind) = refusal(policy.decide_of(PROMPT, "complex_prompt", &json!({})));
    assert_eq!((pointer.as_str(), kind), ("/default", RefusalKind::Unknown));
    assert_eq!(
        reason,
        "no rule allows prompt \"complex_prompt\" and the default is deny"
    );
}

#[test]
fn counters_are_shared_across_sections() {
    let policy = parse(&json!({
        "version": "1",
        "tools": {"t": {"limits": [{"counter": "all", "window": "minute", "max": 5, "scope": "grant"}]}},
        "resources": {"r://*": {"limits": [{"counter": "all", "window": "minute", "max": 9, "scope": "grant"}]}}
    }))
    .unwrap();
    assert_eq!(policy.counters().len(), 1);
    one(
        json!({
            "version": "1",
            "tools": {"t": {"limits": [{"counter": "all", "window": "minute", "max": 5, "scope": "grant"}]}},
            "prompts": {"p": {"limits": [{"counter": "all", "window": "hour", "max": 5, "scope": "grant"}]}}
        }),
        "/prompts/p/limits/0/window",
        "counter \"all\" is also used at /tools/t/limits/0 with a different window",
    );
    // Each section's "*" applies to that section's calls only.
    one(
        json!({
            "version": "1",
            "prompts": {
                "p": {"limits": [{"counter": "c", "window": "minute", "max": 5, "scope": "grant"}]},
                "*": {"limits": [{"counter": "c", "window": "minute", "max": 5, "scope": "grant"}]}
            }
        }),
        "/prompts/p/limits/0/counter",
        "already counted for this prompt at /prompts/*/limits/0",
    );
    assert!(parse(&json!({
        "version": "1",
        "tools": {"t": {"limits": [{"counter": "c", "window": "minute", "max": 5, "scope": "grant"}]}},
        "prompts": {"*": {"limits": [{"counter": "c", "window": "minute", "max": 5, "scope": "grant"}]}}
    }))
    .is_ok());
}

#[test]
fn resource_rules_have_no_arguments() {
    let doc = |rule: Value| json!({"version": "1", "resources": {"r://x": rule}});
    one(
        doc(json!({"arguments": {"type": "object"}})),
        "/resources/r:~1~1x/arguments",
        "resources/read carries only the URI",
    );
    one(
        doc(json!({"audit_arguments": true})),
        "/resources/r:~1~1x/audit_arguments",
        "has no effect on a resource rule",
    );
    one(
        doc(
            json!({"limits": [{"counter": "c", "window": "minute", "max": 5, "scope": "grant", "cost": "/n"}]}),
        ),
        "/resources/r:~1~1x/limits/0/cost",
        "every read costs 1",
    );
    one(
        json!({"version": "1", "resources": {"*": {"arguments": {}}}}),
        "/resources/*/arguments",
        "put argument schemas on the resources' own rules",
    );
    one(
        json!({"version": "1", "prompts": {"*": {"action": "deny"}}}),
        "/prompts/*/action",
        "what happens to prompts no other key matches is set by the top-level `default`",
    );
}

#[test]
fn section_and_kind_errors_carry_pointers() {
    one(
        json!({"version": "1", "resources": []}),
        "/resources",
        "resources must be an object mapping resource URIs or globs to rules",
    );
    one(
        json!({"version": "1", "prompts": "all"}),
        "/prompts",
        "prompts must be an object mapping prompt names or globs to rules",
    );
    one(
        json!({"version": "1", "resources": {"": {}}}),
        "/resources/",
        "a resource URI cannot be empty",
    );
    one(
        json!({"version": "1", "prompts": {"p": "deny"}}),
        "/prompts/p",
        "a prompt rule must be an object such as {\"action\": \"deny\"}",
    );
    one(
        json!({"version": "1", "prompts": {"p": {"action": "deny", "reason": ""}}}),
        "/prompts/p/reason",
        "say why the prompt is denied",
    );
    one(
        json!({"version": "1", "prompts": {"p": {"acton": "deny"}}}),
        "/prompts/p/acton",
        "did you mean `action`?",
    );
    one(
        json!({"version": "1", "default": {"resources": "Allow"}}),
        "/default/resources",
        "unknown default \"Allow\"; did you mean `allow`?",
    );
    one(
        json!({"version": "1", "default": {"resource": "allow"}}),
        "/default/resource",
        "did you mean `resources`?",
    );
    one(
        json!({"version": "1", "default": {"tools": "deny", "other": "deny"}}),
        "/default/other",
        "allowed fields are `tools`, `resources` or `prompts`",
    );
    one(
        json!({"version": "1", "default": 1}),
        "/default",
        "default must be one of `allow` or `deny`, not the number 1",
    );
    one(
        json!({"version": "1", "hide": {"prompts": "x"}}),
        "/hide/prompts",
        "must be an array of prompt names or globs",
    );
    one(
        json!({"version": "1", "hide": {"resources": ["ok", ""]}}),
        "/hide/resources/1",
        "a hide entry cannot be empty",
    );
    one(
        json!({"version": "1", "hide": {"tool": []}}),
        "/hide/tool",
        "did you mean `tools`?",
    );
    one(
        json!({"version": "1", "hide": "x"}),
        "/hide",
        "or an object with one such array per section",
    );
    // Every error at once, across sections.
    let all = errors(json!({
        "version": "1",
        "default": {"prompts": "maybe"},
        "resources": {"r://*": {"action": "nope"}},
        "prompts": {"p": {"limits": {}}}
    }));
    let pointers: Vec<&str> = all.iter().map(|e| e.pointer.as_str()).collect();
    assert_eq!(
        pointers,
        [
            "/default/prompts",
            "/resources/r:~1~1*/action",
            "/prompts/p/limits"
        ]
    );
}
