//! Explanations: the trace of a decision agrees with the decision, names
//! the deciding key, the keys it outranks and why, the keys that do not
//! match and why, every schema error at its path, and every limit counted.

use serde_json::{json, Value};
use toolgate_policy::{
    parse, CompiledPolicy, Decision, Explanation, Kind, LimitSource, RefusalKind, RuleRole,
    RuleSource, RuleTrace, Scope,
};

fn policy() -> CompiledPolicy {
    parse(&json!({
        "version": "1",
        "default": "deny",
        "hide": ["debug_*", "get_secret"],
        "tools": {
            "get_*": {},
            "get_user*": {"action": "require_approval"},
            "get_user_email": {"action": "deny", "reason": "no emails"},
            "*_user*": {},
            "create_charge": {
                "arguments": {
                    "type": "object",
                    "properties": {
                        "amount": {"type": "integer", "maximum": 50000},
                        "currency": {"enum": ["usd", "eur"]}
                    },
                    "required": ["amount"]
                },
                "limits": [{"counter": "spend", "window": "day", "max": 1000000, "scope": "account", "cost": "/amount"}]
            },
            "debug_ping": {},
            "*": {"limits": [{"counter": "all_calls", "window": 60, "max": 600, "scope": "grant"}]}
        }
    }))
    .expect("valid policy")
}

fn roles(explanation: &Explanation) -> Vec<(&str, RuleSource, RuleRole)> {
    explanation
        .matched
        .iter()
        .map(|t| (t.key.as_str(), t.source, t.role))
        .collect()
}

fn unmatched<'a>(explanation: &'a Explanation, key: &str) -> &'a RuleTrace {
    explanation
        .not_matched
        .iter()
        .find(|t| t.key == key)
        .unwrap_or_else(|| panic!("{key} not in not_matched: {explanation:#?}"))
}

/// Every explanation carries exactly `decide`'s decision.
fn explain(policy: &CompiledPolicy, tool: &str, arguments: Value) -> Explanation {
    let explanation = policy.explain(tool, &arguments);
    assert_eq!(explanation.decision, policy.decide(tool, &arguments));
    assert_eq!(explanation.visible, policy.visible(tool));
    explanation
}

#[test]
fn an_exact_key_beats_every_glob_and_star_adds_its_limits() {
    let e = explain(&policy(), "get_user_email", json!({}));
    assert_eq!(e.decided_by, "/tools/get_user_email");
    assert_eq!(
        roles(&e),
        vec![
            ("get_user_email", RuleSource::Exact, RuleRole::Decides),
            ("get_user*", RuleSource::Glob, RuleRole::Outranked),
            ("*_user*", RuleSource::Glob, RuleRole::Outranked),
            ("get_*", RuleSource::Glob, RuleRole::Outranked),
            // A deny refuses before limits: `"*"` is not applied.
            ("*", RuleSource::EveryCall, RuleRole::NotApplied),
        ]
    );
    assert!(
        e.matched[1].why.contains("exact key beats every glob"),
        "{e:#?}"
    );
    assert!(e.limits.is_empty());
    assert!(matches!(
        e.decision,
        Decision::Refuse {
            kind: RefusalKind::Hidden,
            ..
        }
    ));
}

#[test]
fn the_longest_glob_wins_and_says_why_the_others_lose() {
    let e = explain(&policy(), "get_username", json!({}));
    assert_eq!(e.decided_by, "/tools/get_user*");
    assert_eq!(
        roles(&e),
        vec![
            ("get_user*", RuleSource::Glob, RuleRole::Decides),
            ("*_user*", RuleSource::Glob, RuleRole::Outranked),
            ("get_*", RuleSource::Glob, RuleRole::Outranked),
            ("*", RuleSource::EveryCall, RuleRole::AddsLimits),
        ]
    );
    assert!(
        e.matched[2]
            .why
            .contains("\"get_user*\" is longer (9 characters against 5)"),
        "{}",
        e.matched[2].why
    );
    assert!(
        e.matched[1]
            .why
            .contains("is longer (9 characters against 7)"),
        "{}",
        e.matched[1].why
    );
    assert!(matches!(e.decision, Decision::RequireApproval { .. }));
    let exact = unmatched(&e, "get_user_email");
    assert_eq!(exact.source, RuleSource::Exact);
    assert!(exact.why.contains("not \"get_username\""), "{}", exact.why);
    let charge = unmatched(&e, "create_charge");
    assert_eq!(charge.role, RuleRole::NoMatch);
    // Only the `"*"` limit applies, and it is counted.
    assert_eq!(e.limits.len(), 1);
    assert_eq!(e.limits[0].counter, "all_calls");
    assert_eq!(e.limits[0].from, LimitSource::EveryCall);
    assert!(e.limits[0].counted);
}

#[test]
fn default_decides_when_no_key_matches_and_globs_say_why_not() {
    let e = explain(&policy(), "list_repos", json!({}));
    assert_eq!(e.decided_by, "/default");
    assert_eq!(
        roles(&e),
        vec![
            ("*", RuleSource::EveryCall, RuleRole::NotApplied),
            ("deny", RuleSource::Default, RuleRole::Decides),
        ]
    );
    assert_eq!(
        unmatched(&e, "get_*").why,
        "\"list_repos\" does not start with \"get_\""
    );
    assert!(unmatched(&e, "*_user*")
        .why
        .contains("does not occur, in order"));
    assert_eq!(
        unmatched(&e, "debug_*").source,
        RuleSource::HideGlob,
        "hide entries are traced too"
    );
    assert!(matches!(
        e.decision,
        Decision::Refuse {
            kind: RefusalKind::Unknown,
            ..
        }
    ));
}

#[test]
fn hide_beats_every_rule_even_an_exact_key() {
    let e = explain(&policy(), "debug_ping", json!({}));
    assert!(!e.visible);
    assert_eq!(e.decided_by, "/hide/0");
    assert_eq!(
        roles(&e),
        vec![
            ("debug_*", RuleSource::HideGlob, RuleRole::Decides),
            ("debug_ping", RuleSource::Exact, RuleRole::Outranked),
            ("*", RuleSource::EveryCall, RuleRole::NotApplied),
        ]
    );
    assert!(
        e.matched[1].why.contains("`hide` beats every rule"),
        "{e:#?}"
    );

    let e = explain(&policy(), "get_secret", json!({}));
    assert_eq!(e.decided_by, "/hide/1");
    assert_eq!(e.matched[0].source, RuleSource::HideExact);
    assert_eq!(e.matched[0].role, RuleRole::Decides);
    assert_eq!(e.matched[1].key, "get_*");
    assert_eq!(e.matched[1].role, RuleRole::Outranked);
    assert!(matches!(
        e.decision,
        Decision::Refuse {
            kind: RefusalKind::Hidden,
            ..
        }
    ));
}

#[test]
fn every_schema_error_is_listed_with_its_path() {
    let e = explain(
        &policy(),
        "create_charge",
        json!({"amount": 60000, "currency": "gbp"}),
    );
    assert!(matches!(
        e.decision,
        Decision::Refuse {
            kind: RefusalKind::Denied,
            ..
        }
    ));
    let mut errors: Vec<(&str, &str)> = e
        .schema_errors
        .iter()
        .map(|s| (s.path.as_str(), s.pointer.as_str()))
        .collect();
    errors.sort_unstable();
    assert_eq!(
        errors,
        vec![
            (
                "/amount",
                "/tools/create_charge/arguments/properties/amount/maximum"
            ),
            (
                "/currency",
                "/tools/create_charge/arguments/properties/currency/enum"
            ),
        ]
    );
    assert!(e.schema_errors.iter().any(|s| s.message.contains("60000")));
    // Refused by its arguments: no limit is counted.
    assert!(e.limits.iter().all(|l| !l.counted));

    let missing = explain(&policy(), "create_charge", json!({}));
    assert_eq!(missing.schema_errors.len(), 1);
    assert_eq!(missing.schema_errors[0].path, "");
    assert!(missing.schema_errors[0].message.contains("amount"));

    let fine = explain(&policy(), "create_charge", json!({"amount": 1200}));
    assert!(fine.schema_errors.is_empty());
}

#[test]
fn limits_list_the_rules_own_then_stars_with_each_cost() {
    let e = explain(&policy(), "create_charge", json!({"amount": 1200}));
    assert!(matches!(e.decision, Decision::Allow { .. }));
    let limits: Vec<(&str, LimitSource, Option<u64>, Scope, bool)> = e
        .limits
        .iter()
        .map(|l| (l.counter.as_str(), l.from, l.cost, l.scope, l.counted))
        .collect();
    assert_eq!(
        limits,
        vec![
            ("spend", LimitSource::Rule, Some(1200), Scope::Account, true),
            (
                "all_calls",
                LimitSource::EveryCall,
                Some(1),
                Scope::Grant,
                true
            ),
        ]
    );
    assert_eq!(e.limits[0].pointer, "/tools/create_charge/limits/0");
    assert_eq!(e.limits[1].pointer, "/tools/*/limits/0");
    // The trace's limits are exactly the decision's.
    let Decision::Allow { limits: acquired } = &e.decision else {
        unreachable!()
    };
    assert_eq!(
        acquired
            .iter()
            .map(|l| (&l.pointer, l.cost))
            .collect::<Vec<_>>(),
        e.limits
            .iter()
            .map(|l| (&l.pointer, l.cost.unwrap_or_default()))
            .collect::<Vec<_>>()
    );

    let allow_all = parse(&json!({
        "version": "1", "default": "allow",
        "tools": {"*": {"limits": [{"counter": "c", "window": "minute", "max": 1, "scope": "server", "cost": "/n"}]}}
    }))
    .unwrap();
    let e = explain(&allow_all, "anything", json!({"n": "two"}));
    assert_eq!(e.decided_by, "/default");
    assert_eq!(e.limits.len(), 1);
    assert!(!e.limits[0].counted);
    assert!(
        e.limits[0]
            .problem
            .as_deref()
            .unwrap()
            .contains("not the string \"two\""),
        "{e:#?}"
    );
    let e = explain(&allow_all, "anything", json!({"n": 1}));
    assert!(e.limits[0].counted && e.limits[0].problem.is_none());
}

#[test]
fn resources_and_prompts_are_explained_in_their_own_section() {
    let policy = parse(&json!({
        "version": "1",
        "default": {"tools": "deny", "resources": "allow"},
        "resources": {"file:///secrets/*": {"action": "deny"}}
    }))
    .unwrap();
    let e = policy.explain_of(Kind::Resource, "file:///secrets/key", &json!(null));
    assert_eq!(e.kind, Kind::Resource);
    assert_eq!(e.decided_by, "/resources/file:~1~1~1secrets~1*");
    assert_eq!(e.matched[0].role, RuleRole::Decides);
    let e = policy.explain_of(Kind::Resource, "file:///readme", &json!(null));
    assert_eq!(e.decided_by, "/default/resources");
    assert!(matches!(e.decision, Decision::Allow { .. }));
}

#[test]
fn explanations_serialise_with_snake_case_names() {
    let e = explain(&policy(), "get_username", json!({}));
    let value = serde_json::to_value(&e).unwrap();
    assert_eq!(value["decision"]["decision"], "require_approval");
    assert_eq!(value["matched"][0]["role"], "decides");
    assert_eq!(value["matched"][0]["source"], "glob");
    assert_eq!(value["limits"][0]["from"], "every_call");
    assert_eq!(value["limits"][0]["window"], "minute");
}

#[test]
fn among_globs_of_one_length_fewer_stars_then_byte_order_win() {
    let policy = parse(&json!({
        "version": "1", "default": "deny",
        "tools": {"*et*": {}, "get*": {}, "ge*r": {}}
    }))
    .unwrap();
    let e = explain(&policy, "getter", json!({}));
    assert_eq!(
        roles(&e),
        vec![
            ("ge*r", RuleSource::Glob, RuleRole::Decides),
            ("get*", RuleSource::Glob, RuleRole::Outranked),
            ("*et*", RuleSource::Glob, RuleRole::Outranked),
        ]
    );
    assert!(
        e.matched[1]
            .why
            .contains("has as many `*`, and comes first in byte order"),
        "{}",
        e.matched[1].why
    );
    assert!(
        e.matched[2]
            .why
            .contains("as long and has fewer `*` (1 against 2)"),
        "{}",
        e.matched[2].why
    );
}

#[test]
fn under_default_allow_star_limits_are_the_only_ones() {
    let policy = parse(&json!({
        "version": "1", "default": "allow",
        "tools": {"*": {"limits": [{"counter": "c", "window": "minute", "max": 5, "scope": "grant"}]}}
    }))
    .unwrap();
    let e = explain(&policy, "anything", json!({}));
    assert_eq!(
        roles(&e),
        vec![
            ("*", RuleSource::EveryCall, RuleRole::AddsLimits),
            ("allow", RuleSource::Default, RuleRole::Decides),
        ]
    );
    assert!(e.matched[0].why.contains("only these limits"), "{e:#?}");
    assert_eq!(e.limits.len(), 1);
    assert!(e.limits[0].counted);
}
