//! A policy document from the control plane, then a call at the gateway.
//!
//! Input: `DOCUMENT \0 TOOL NAME \0 ARGUMENTS`. The document is parsed and
//! validated; if it is valid it is compiled and asked about the tool and
//! the arguments (not JSON: `null`, as the gateway reads absent arguments).
//! Validation must report errors, never panic; a decision must never panic
//! and must agree with `tools/list` and point into the document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use toolgate_fuzz::sections;
use toolgate_policy::{parse, parse_str, Decision, Kind, RefusalKind};

fuzz_target!(|data: &[u8]| {
    let [doc, tool, arguments] = sections::<3>(data);
    let Ok(doc) = std::str::from_utf8(doc.unwrap_or_default()) else {
        return;
    };
    let tool = String::from_utf8_lossy(tool.unwrap_or_default());
    let arguments: Value = arguments
        .and_then(|a| serde_json::from_slice(a).ok())
        .unwrap_or(Value::Null);

    let policy = match parse_str(doc) {
        Err(errors) => {
            assert!(!errors.is_empty());
            for error in &errors {
                assert!(
                    error.pointer.is_empty() || error.pointer.starts_with('/'),
                    "{error}"
                );
                assert!(!error.message.is_empty());
            }
            return;
        }
        Ok(policy) => policy,
    };
    let value: Value = serde_json::from_str(doc).expect("a valid policy is JSON");
    assert!(parse(&value).is_ok(), "text and value disagree");
    // `/default` may name the member's implicit value ("deny" when absent).
    let points_into = |pointer: &str| {
        assert!(
            value.pointer(pointer).is_some() || pointer == "/default",
            "{pointer:?} is not in the document"
        )
    };

    let _ = (policy.counters(), policy.rule_count(), policy.hide_count());
    let _ = policy.default_action();
    let _ = policy.audit_arguments_of(Kind::Tool, &tool);
    points_into(policy.governing_pointer_of(Kind::Tool, &tool));

    let decision = policy.decide(&tool, &arguments);
    assert_eq!(decision, policy.decide(&tool, &arguments), "not pure");
    // Hidden and unknown tools are exactly those absent from tools/list.
    let unknown = matches!(
        decision,
        Decision::Refuse {
            kind: RefusalKind::Hidden | RefusalKind::Unknown,
            ..
        }
    );
    assert_eq!(policy.visible(&tool), !unknown, "{tool:?}: {decision:?}");
    let limits = match &decision {
        Decision::Refuse {
            reason, pointer, ..
        } => {
            assert!(!reason.is_empty());
            points_into(pointer);
            &[][..]
        }
        Decision::RequireApproval {
            timeout_secs,
            hold_secs,
            limits,
            pointer,
        } => {
            assert!(*timeout_secs > 0);
            // A hold never outlasts the approval it waits for.
            assert!(hold_secs.is_none_or(|hold| hold > 0 && hold <= *timeout_secs));
            points_into(pointer);
            limits
        }
        Decision::Allow { limits } => limits,
    };
    for limit in limits {
        assert!(limit.cost <= limit.max, "{limit:?}");
        assert!(limit.window.secs() > 0);
        points_into(&limit.pointer);
    }
    serde_json::to_string(&decision).expect("a decision serialises");
});
