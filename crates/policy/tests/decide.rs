//! Decisions and visibility for every field of a rule.

use serde_json::{json, Value};
use toolgate_policy::{
    parse, parse_str, Algorithm, CompiledPolicy, Decision, DefaultAction, Kind, LimitAcquire,
    OnBackendError, RefusalKind, Scope,
};

const SEED: &str = r#"{"version":"1","default":"deny","tools":{"start_dicom_import_job":{"limits":[{"counter":"start_dicom_import_job_rate","window":"minute","max":10,"scope":"grant"}]}}}"#;

fn architecture_example() -> CompiledPolicy {
    parse(&json!({
        "version": "1",
        "default": "deny",
        "hide": ["debug_*"],
        "tools": {
            "start_dicom_import_job": {
                "limits": [{ "counter": "start_dicom_import_job_rate", "window": "minute", "max": 10, "scope": "grant" }]
            },
            "delete_*": { "action": "deny", "reason": "Deletion is not permitted for agents" },
            "create_charge": {
                "action": "require_approval",
                "arguments": { "type": "object", "properties": { "amount": { "type": "integer", "maximum": 50000 } } },
                "limits": [{ "counter": "spend", "window": "day", "max": 1000000, "scope": "account", "cost": "/amount" }]
            },
            "*": { "limits": [{ "counter": "all_calls", "window": 60, "max": 600, "scope": "grant" }] }
        }
    }))
    .expect("the architecture example is valid")
}

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

/// The limits an allowed or held call acquires.
fn limits(decision: &Decision) -> &[LimitAcquire] {
    match decision {
        Decision::Allow { limits } | Decision::RequireApproval { limits, .. } => limits,
        Decision::Refuse { .. } => panic!("expected limits to acquire, got {decision:?}"),
    }
}

fn counters(limits: &[LimitAcquire]) -> Vec<(&str, u64)> {
    limits
        .iter()
        .map(|l| (l.counter.as_str(), l.cost))
        .collect()
}

#[test]
fn the_seed_parses_unchanged_and_decides() {
    let policy = parse_str(SEED).unwrap();
    assert_eq!(policy.default_action(), DefaultAction::Deny);
    assert!(policy.visible("start_dicom_import_job"));
    assert!(!policy.visible("anything_else"));
    let decision = policy.decide("start_dicom_import_job", &json!({}));
    let window = limits(&decision)[0].window;
    assert_eq!((window.secs(), window.unit_name()), (60, Some("minute")));
    assert_eq!(
        decision,
        Decision::Allow {
            limits: vec![LimitAcquire {
                counter: "start_dicom_import_job_rate".into(),
                window,
                max: 10,
                scope: Scope::Grant,
                algorithm: Algorithm::Fixed,
                on_backend_error: OnBackendError::Closed,
                cost: 1,
                pointer: "/tools/start_dicom_import_job/limits/0".into(),
            }]
        }
    );
    let (_, pointer, kind) = refusal(policy.decide("anything_else", &json!({})));
    assert_eq!((pointer.as_str(), kind), ("/default", RefusalKind::Unknown));
}

#[test]
fn decision_json_is_tagged() {
    let policy = parse_str(SEED).unwrap();
    let allow = serde_json::to_value(policy.decide("start_dicom_import_job", &json!({}))).unwrap();
    assert_eq!(
        allow,
        json!({"decision": "allow", "limits": [{
            "counter": "start_dicom_import_job_rate", "window": "minute", "max": 10,
            "scope": "grant", "algorithm": "fixed", "on_backend_error": "closed",
            "cost": 1, "pointer": "/tools/start_dicom_import_job/limits/0"
        }]})
    );
    let refuse = serde_json::to_value(policy.decide("x", &json!({}))).unwrap();
    assert_eq!(refuse["decision"], "refuse");
    assert_eq!(refuse["kind"], "unknown");
    assert_eq!(refuse["pointer"], "/default");
}

#[test]
fn hide_beats_every_rule() {
    let policy = parse(&json!({
        "version": "1", "default": "allow",
        "hide": ["debug_*", "secret"],
        "tools": {"debug_dump": {}, "secret": {}}
    }))
    .unwrap();
    for tool in ["debug_dump", "debug_", "secret"] {
        assert!(!policy.visible(tool), "{tool}");
        let (_, _, kind) = refusal(policy.decide(tool, &json!({})));
        assert_eq!(kind, RefusalKind::Hidden);
    }
    assert_eq!(refusal(policy.decide("secret", &json!({}))).1, "/hide/1");
    assert_eq!(refusal(policy.decide("debug_x", &json!({}))).1, "/hide/0");
    assert!(policy.visible("debug"));
    assert_eq!(policy.hide_count(), 2);
}

#[test]
fn deny_rules_hide_the_tool_and_give_their_reason() {
    let policy = architecture_example();
    assert!(!policy.visible("delete_repo"));
    let (reason, pointer, kind) = refusal(policy.decide("delete_repo", &json!({})));
    assert_eq!(reason, "Deletion is not permitted for agents");
    assert_eq!(pointer, "/tools/delete_*");
    assert_eq!(kind, RefusalKind::Hidden);
    let bare = parse(&json!({"version": "1", "tools": {"t": {"action": "deny"}}})).unwrap();
    assert_eq!(refusal(bare.decide("t", &json!({}))).0, "denied by policy");
}

#[test]
fn exact_beats_glob_and_longest_glob_wins() {
    let policy = parse(&json!({
        "version": "1", "default": "deny",
        "tools": {
            "get_*": {},
            "get_secret_*": {"action": "deny"},
            "get_secret_ok": {},
            "*_secret_*": {"action": "require_approval"}
        }
    }))
    .unwrap();
    assert!(matches!(
        policy.decide("get_issue", &json!({})),
        Decision::Allow { .. }
    ));
    assert!(!policy.visible("get_secret_key"));
    assert!(matches!(
        policy.decide("get_secret_ok", &json!({})),
        Decision::Allow { .. }
    ));
    assert!(matches!(
        policy.decide("put_secret_key", &json!({})),
        Decision::RequireApproval { pointer, .. } if pointer == "/tools/*_secret_*"
    ));
    assert_eq!(policy.rule_count(), 4);
}

#[test]
fn star_limits_apply_after_the_tools_own_on_every_allowed_call() {
    let policy = architecture_example();
    let decision = policy.decide("start_dicom_import_job", &json!({}));
    assert_eq!(
        counters(limits(&decision)),
        [("start_dicom_import_job_rate", 1), ("all_calls", 1)]
    );
    assert_eq!(limits(&decision)[1].pointer, "/tools/*/limits/0");
    assert_eq!(limits(&decision)[1].window.secs(), 60);
    // "*" does not list a tool: under default deny an unmatched tool is refused.
    assert!(!policy.visible("list_studies"));
    let open = parse(&json!({"version": "1", "default": "allow",
        "tools": {"*": {"limits": [{"counter": "all", "window": 1, "max": 5, "scope": "server"}]}}}))
    .unwrap();
    assert!(open.visible("list_studies"));
    let decision = open.decide("list_studies", &json!({}));
    assert_eq!(counters(limits(&decision)), [("all", 1)]);
}

#[test]
fn require_approval_validates_arguments_and_resolves_cost() {
    let policy = architecture_example();
    assert!(policy.visible("create_charge"));
    let decision = policy.decide("create_charge", &json!({"amount": 1200}));
    let Decision::RequireApproval {
        timeout_secs,
        hold_secs,
        limits,
        pointer,
    } = decision
    else {
        panic!("expected approval, got {decision:?}");
    };
    assert_eq!(timeout_secs, 300);
    assert_eq!(
        hold_secs, None,
        "no approval_hold: the deployment's default"
    );
    assert_eq!(pointer, "/tools/create_charge");
    assert_eq!(counters(&limits), [("spend", 1200), ("all_calls", 1)]);
    assert_eq!(limits[0].scope, Scope::Account);

    let (reason, pointer, kind) =
        refusal(policy.decide("create_charge", &json!({"amount": 60000})));
    assert_eq!(kind, RefusalKind::Denied);
    assert!(
        reason.starts_with("arguments rejected at /amount:"),
        "{reason}"
    );
    assert!(reason.contains("50000"), "{reason}");
    assert_eq!(
        pointer,
        "/tools/create_charge/arguments/properties/amount/maximum"
    );

    let (reason, _, _) = refusal(policy.decide("create_charge", &json!("not an object")));
    assert!(reason.starts_with("arguments rejected:"), "{reason}");
}

#[test]
fn approval_timeout_is_used() {
    let policy = parse(&json!({"version": "1",
        "tools": {"t": {"action": "require_approval", "approval_timeout": 45}}}))
    .unwrap();
    assert!(matches!(
        policy.decide("t", &json!({})),
        Decision::RequireApproval {
            timeout_secs: 45,
            ..
        }
    ));
}

#[test]
fn approval_hold_is_used() {
    let policy = parse(&json!({"version": "1",
        "tools": {"t": {"action": "require_approval", "approval_timeout": 45, "approval_hold": 20}}}))
    .unwrap();
    assert!(matches!(
        policy.decide("t", &json!({})),
        Decision::RequireApproval {
            timeout_secs: 45,
            hold_secs: Some(20),
            ..
        }
    ));
}

#[test]
fn bad_costs_are_refusals_not_panics() {
    let policy = parse(&json!({"version": "1", "tools": {"pay": {"limits": [
        {"counter": "spend", "window": "day", "max": 1000, "scope": "account", "cost": "/payment/amount"}
    ]}}}))
    .unwrap();
    let ok = policy.decide("pay", &json!({"payment": {"amount": 250}}));
    assert_eq!(counters(limits(&ok)), [("spend", 250)]);
    let zero = policy.decide("pay", &json!({"payment": {"amount": 0}}));
    assert_eq!(counters(limits(&zero)), [("spend", 0)]);
    for (args, needle) in [
        (json!({}), "is missing"),
        (Value::Null, "is missing"),
        (
            json!({"payment": {"amount": -3}}),
            "non-negative integer, not the number -3",
        ),
        (json!({"payment": {"amount": 2.5}}), "non-negative integer"),
        (
            json!({"payment": {"amount": "250"}}),
            "not the string \"250\"",
        ),
        (json!({"payment": {"amount": 1001}}), "costs 1001"),
    ] {
        let (reason, pointer, kind) = refusal(policy.decide("pay", &args));
        assert_eq!(kind, RefusalKind::Denied);
        assert!(reason.contains(needle), "{reason} lacks {needle}");
        assert!(pointer.starts_with("/tools/pay/limits/0"), "{pointer}");
    }
}

#[test]
fn null_arguments_read_as_an_empty_object() {
    let policy = parse(&json!({"version": "1", "tools": {"t": {"arguments": {"type": "object", "required": ["q"]}}}})).unwrap();
    let (reason, pointer, _) = refusal(policy.decide("t", &Value::Null));
    assert!(reason.contains("\"q\" is a required property"), "{reason}");
    assert_eq!(pointer, "/tools/t/arguments/required");
    assert!(matches!(
        policy.decide("t", &json!({"q": 1})),
        Decision::Allow { .. }
    ));
}

#[test]
fn every_limit_field_reaches_the_decision() {
    let policy = parse(&json!({"version": "1", "tools": {"t": {"limits": [{
        "counter": "c", "window": 90, "max": 7, "scope": "session",
        "algorithm": "sliding", "on_backend_error": "open"
    }]}}}))
    .unwrap();
    let decision = policy.decide("t", &json!({}));
    let limit = &limits(&decision)[0];
    assert_eq!(limit.window.secs(), 90);
    assert_eq!((limit.max, limit.scope), (7, Scope::Session));
    assert_eq!(limit.algorithm, Algorithm::Sliding);
    assert_eq!(limit.on_backend_error, OnBackendError::Open);
    assert_eq!(policy.counters().len(), 1);
    assert_eq!(policy.counters()[0].name, "c");
}

#[test]
fn shared_counters_are_listed_once() {
    let limit = json!({"counter": "writes", "window": "minute", "max": 10, "scope": "grant"});
    let policy = parse(
        &json!({"version": "1", "tools": {"a": {"limits": [limit]}, "b": {"limits": [limit]}}}),
    )
    .unwrap();
    assert_eq!(policy.counters().len(), 1);
    assert_eq!(limits(&policy.decide("b", &json!({})))[0].counter, "writes");
}

#[test]
fn compiled_policy_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledPolicy>();
    let policy = std::sync::Arc::new(architecture_example());
    let other = std::sync::Arc::clone(&policy);
    let handle = std::thread::spawn(move || other.visible("create_charge"));
    assert!(handle.join().unwrap());
}

#[test]
fn the_closed_policy_shows_and_allows_nothing() {
    let closed = toolgate_policy::CompiledPolicy::closed();
    assert!(!closed.visible("echo"));
    let (_, pointer, kind) = refusal(closed.decide("echo", &json!({})));
    assert_eq!((pointer.as_str(), kind), ("/default", RefusalKind::Unknown));
}

#[test]
fn a_tool_reads_its_arguments_when_a_schema_cost_approval_or_audit_needs_them() {
    let policy = parse(&json!({
        "version": "1",
        "default": "allow",
        "hide": ["secret"],
        "tools": {
            "plain": {},
            "limited": {"limits": [{"counter": "c", "window": "minute", "max": 5, "scope": "grant"}]},
            "schema": {"arguments": {"type": "object"}},
            "costly": {"limits": [{"counter": "s", "window": "day", "max": 100, "scope": "account", "cost": "/n"}]},
            "held": {"action": "require_approval"},
            "recorded": {"audit_arguments": true},
            "gone": {"action": "deny"}
        }
    }))
    .unwrap();
    for tool in ["schema", "costly", "held", "recorded"] {
        assert!(policy.reads_arguments_of(Kind::Tool, tool), "{tool}");
    }
    for tool in ["plain", "limited", "secret", "gone", "unlisted"] {
        assert!(!policy.reads_arguments_of(Kind::Tool, tool), "{tool}");
    }

    // A cost in "*" reaches every allowed tool, listed or not.
    let star = parse(&json!({
        "version": "1",
        "default": "allow",
        "tools": {
            "plain": {},
            "*": {"limits": [{"counter": "s", "window": "day", "max": 100, "scope": "account", "cost": "/n"}]}
        }
    }))
    .unwrap();
    for tool in ["plain", "unlisted"] {
        assert!(star.reads_arguments_of(Kind::Tool, tool), "{tool}");
    }
    assert!(!CompiledPolicy::closed().reads_arguments_of(Kind::Tool, "anything"));
}
