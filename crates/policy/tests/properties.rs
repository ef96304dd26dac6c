//! Invariants of compiled policies, checked on generated documents.

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use toolgate_policy::{parse, parse_str, Decision, RefusalKind};

/// Tool names and keys from a tiny alphabet, so that globs and names collide.
fn name() -> impl Strategy<Value = String> {
    "[ab_]{1,5}"
}

fn key() -> impl Strategy<Value = String> {
    "[ab_*]{1,5}".prop_filter("\"*\" is the every-call rule", |k| k != "*")
}

fn action() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({})),
        Just(json!({"action": "deny", "reason": "no"})),
        Just(json!({"action": "require_approval", "approval_timeout": 5})),
        Just(json!({"limits": [{"counter": "c", "window": "second", "max": 3, "scope": "grant"}]})),
    ]
}

fn rules() -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::vec((key(), action()), 0..8)
}

fn document(default: &str, hide: &[String], rules: &[(String, Value)]) -> Value {
    let tools: Map<String, Value> = rules.iter().cloned().collect();
    json!({"version": "1", "default": default, "hide": hide, "tools": tools})
}

/// Whether a `*`-only glob matches, written independently of the crate.
fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| glob_matches(rest, &name[i..])),
        Some((c, rest)) => name.first() == Some(c) && glob_matches(rest, &name[1..]),
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![Just("amount".to_owned()), ".{0,6}".prop_map(String::from)],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn under_default_deny_no_unlisted_tool_is_allowed(rules in rules(), tool in name()) {
        let policy = parse(&document("deny", &[], &rules)).unwrap();
        let listed = rules.iter().any(|(key, _)| glob_matches(key.as_bytes(), tool.as_bytes()));
        if !listed {
            prop_assert!(!policy.visible(&tool));
            let decision = policy.decide(&tool, &json!({}));
            prop_assert!(
                matches!(decision, Decision::Refuse { kind: RefusalKind::Unknown, .. }),
                "{:?}", decision
            );
        }
    }

    #[test]
    fn a_hidden_tool_is_never_visible_nor_allowed(
        rules in rules(),
        hide in prop::collection::vec(key(), 1..4),
        default in prop_oneof![Just("allow"), Just("deny")],
        tool in name(),
        arguments in arbitrary_json(),
    ) {
        let policy = parse(&document(default, &hide, &rules)).unwrap();
        if hide.iter().any(|h| glob_matches(h.as_bytes(), tool.as_bytes())) {
            prop_assert!(!policy.visible(&tool));
            let decision = policy.decide(&tool, &arguments);
            prop_assert!(
                matches!(decision, Decision::Refuse { kind: RefusalKind::Hidden, .. }),
                "{:?}", decision
            );
        }
    }

    #[test]
    fn visible_agrees_with_decide(rules in rules(), tool in name()) {
        let policy = parse(&document("allow", &[], &rules)).unwrap();
        let decision = policy.decide(&tool, &json!({}));
        let unknown = matches!(
            decision,
            Decision::Refuse { kind: RefusalKind::Hidden | RefusalKind::Unknown, .. }
        );
        prop_assert_eq!(policy.visible(&tool), !unknown);
    }

    #[test]
    fn decide_never_panics(tool in ".{0,40}", arguments in arbitrary_json()) {
        let policy = parse(&json!({
            "version": "1", "default": "allow", "hide": ["debug_*"],
            "tools": {
                "pay": {"arguments": {"type": "object", "properties": {"amount": {"type": "integer", "maximum": 100}}},
                        "limits": [{"counter": "spend", "window": "day", "max": 50, "scope": "account", "cost": "/amount"}]},
                "*a*": {"action": "require_approval"},
                "*": {"limits": [{"counter": "all", "window": 60, "max": 600, "scope": "grant", "cost": "/n~1m/0"}]}
            }
        })).unwrap();
        for tool in [tool.as_str(), "pay", "debug_x", ""] {
            let decision = policy.decide(tool, &arguments);
            let _ = policy.visible(tool);
            prop_assert!(serde_json::to_string(&decision).is_ok());
        }
    }

    #[test]
    fn precedence_is_independent_of_key_order(
        rules in rules(),
        seed in any::<u64>(),
        tools in prop::collection::vec(name(), 1..10),
    ) {
        // Write the `tools` object by hand so the key order really differs.
        let write = |rules: &[(String, Value)]| {
            let body: Vec<String> = rules.iter().map(|(k, v)| format!("{}:{v}", json!(k))).collect();
            format!(r#"{{"version":"1","default":"deny","tools":{{{}}}}}"#, body.join(","))
        };
        let mut unique: Vec<(String, Value)> = Vec::new();
        for (key, rule) in rules {
            if !unique.iter().any(|(k, _)| *k == key) {
                unique.push((key, rule));
            }
        }
        let mut shuffled = unique.clone();
        let len = shuffled.len();
        if len > 1 {
            shuffled.reverse();
            shuffled.rotate_left(usize::try_from(seed % len as u64).unwrap());
        }
        let a = parse_str(&write(&unique)).unwrap();
        let b = parse_str(&write(&shuffled)).unwrap();
        for tool in &tools {
            prop_assert_eq!(a.decide(tool, &json!({})), b.decide(tool, &json!({})));
            prop_assert_eq!(a.visible(tool), b.visible(tool));
        }
    }
}

#[test]
fn reference_glob_matcher_is_sane() {
    assert!(glob_matches(b"a*b", b"axxb"));
    assert!(!glob_matches(b"a*b", b"axxba"));
    assert!(glob_matches(b"**", b""));
}

proptest! {
    /// An explanation agrees with the decision, names exactly one deciding
    /// entry (the one `decided_by` points at), and accounts for every key:
    /// each rule and hide entry is either matched or not, never both.
    #[test]
    fn explanations_account_for_every_key_and_name_one_decider(
        rules in rules(),
        hide in prop::collection::vec(key(), 0..3),
        allow in any::<bool>(),
        tool in name(),
    ) {
        let default = if allow { "allow" } else { "deny" };
        let policy = parse(&document(default, &hide, &rules)).unwrap();
        let explanation = policy.explain(&tool, &json!({}));
        prop_assert_eq!(&explanation.decision, &policy.decide(&tool, &json!({})));
        let deciders: Vec<&str> = explanation
            .matched
            .iter()
            .filter(|t| t.role == toolgate_policy::RuleRole::Decides)
            .map(|t| t.pointer.as_str())
            .collect();
        prop_assert_eq!(deciders, vec![explanation.decided_by.as_str()]);
        for trace in &explanation.matched {
            let key = trace.key.as_bytes();
            let is_default = trace.source == toolgate_policy::RuleSource::Default;
            prop_assert!(is_default || glob_matches(key, tool.as_bytes()), "{:?}", trace);
        }
        for trace in &explanation.not_matched {
            prop_assert!(!glob_matches(trace.key.as_bytes(), tool.as_bytes()), "{:?}", trace);
        }
        // Every distinct key appears once, "*" aside; every hide glob entry
        // once, and every distinct exact hide name once (the first entry
        // naming a target is the one that hides it).
        let mut keys: Vec<String> = rules.iter().map(|(k, _)| k.clone()).collect();
        keys.sort();
        keys.dedup();
        let traced = explanation.matched.len() + explanation.not_matched.len();
        let every_call_and_default = explanation
            .matched
            .iter()
            .filter(|t| matches!(
                t.source,
                toolgate_policy::RuleSource::EveryCall | toolgate_policy::RuleSource::Default
            ))
            .count();
        let mut exact_hides: Vec<&String> = hide.iter().filter(|h| !h.contains('*')).collect();
        exact_hides.sort();
        exact_hides.dedup();
        let glob_hides = hide.iter().filter(|h| h.contains('*')).count();
        prop_assert_eq!(
            traced - every_call_and_default,
            keys.len() + exact_hides.len() + glob_hides
        );
    }
}
