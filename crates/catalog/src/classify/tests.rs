//! The classifier's unit and property tests: one per row of the table
//! (driven by each row's example), the behaviours the issue asks for, and
//! properties that hold for any definition.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::rules::{On, MANY_PARAMETERS, RULES};
use super::*;
use crate::ToolDefinition;

fn tool(value: Value) -> ToolDefinition {
    ToolDefinition::from_wire(&value).expect("a valid tool")
}

fn ids(verdict: &Verdict) -> Vec<&'static str> {
    verdict.reasons.iter().map(|r| r.id).collect()
}

/// The definition a row's example stands for.
fn example_tool(rule: &rules::Rule) -> ToolDefinition {
    match rule.on {
        On::Name | On::Fallback => tool(json!({"name": rule.example})),
        On::Description => tool(json!({"name": "x_tool", "description": rule.example})),
        On::Property => tool(json!({"name": "do_it", "inputSchema": {
            "type": "object", "properties": {rule.example: {"type": "integer"}}}})),
        On::PropertyCount => {
            let count: usize = rule.example.parse().expect("a count");
            let properties: serde_json::Map<String, Value> = (0..count)
                .map(|i| (format!("p{i}"), json!({"type": "string"})))
                .collect();
            tool(
                json!({"name": "get_thing", "inputSchema": {"type": "object", "properties": properties}}),
            )
        }
        // A tool whose name reads, so each hint has something to say.
        On::Annotation => tool(json!({"name": "get_thing", "annotations": {rule.example: true}})),
    }
}

#[test]
fn every_row_fires_on_its_example() {
    for rule in RULES {
        let verdict = classify(&example_tool(rule), Trust::Untrusted);
        assert!(
            ids(&verdict).contains(&rule.id),
            "row {} did not fire on its example {:?}: {verdict:#?}",
            rule.id,
            rule.example
        );
    }
}

#[test]
fn row_ids_are_unique_and_texts_name_their_evidence() {
    let mut seen = std::collections::BTreeSet::new();
    for rule in RULES {
        assert!(seen.insert(rule.id), "duplicate id {}", rule.id);
        assert!(rule.text.contains("{}"), "{} has no evidence slot", rule.id);
    }
    assert_eq!(MANY_PARAMETERS, 15);
}

#[test]
fn verbs_count_anywhere_in_the_name_after_any_prefix() {
    for (name, category) in [
        ("github_delete_file", Category::Destructive),
        ("repo_delete", Category::Destructive),
        ("slack.postMessage", Category::Write),
        ("mcp-server-run-script", Category::Execute),
        ("get_invoice", Category::Read),
        ("list_charges", Category::Read),
        ("create_charge", Category::Financial),
        ("refund_payment", Category::Financial),
        ("transfer_funds", Category::Financial),
        ("get_commit", Category::Read),
        ("list_workflow_runs", Category::Read),
        ("git_commit", Category::Write),
        ("get_and_delete_item", Category::Destructive),
        ("cancel_subscription", Category::Financial),
        ("create_price", Category::Financial),
    ] {
        assert_eq!(
            classify(&tool(json!({"name": name})), Trust::Untrusted).category,
            category,
            "{name}"
        );
    }
}

#[test]
fn a_name_without_a_verb_is_read_by_its_description() {
    let verdict = classify(
        &tool(json!({"name": "brave_web", "description": "Searches the web for pages."})),
        Trust::Untrusted,
    );
    assert_eq!(verdict.category, Category::Read);
    assert_eq!(
        verdict.reasons[0].evidence,
        Evidence::DescriptionPhrase("searches".into())
    );
}

#[test]
fn an_unrecognised_tool_is_never_assumed_harmless() {
    let verdict = classify(&tool(json!({"name": "frobnicate"})), Trust::Untrusted);
    assert_eq!(verdict.category, Category::Write);
    assert_eq!(verdict.risk, Risk::Medium);
    assert_eq!(verdict.flags, vec![Flag::Unrecognised]);
    assert_eq!(ids(&verdict), vec!["fallback.unrecognised"]);
}

#[test]
fn read_only_hint_lowers_only_for_a_trusted_server() {
    let hinted = tool(json!({"name": "frobnicate", "annotations": {"readOnlyHint": true}}));
    let untrusted = classify(&hinted, Trust::Untrusted);
    assert_eq!(
        (untrusted.category, untrusted.risk),
        (Category::Write, Risk::Medium)
    );
    assert!(untrusted.flags.contains(&Flag::Unrecognised));
    let trusted = classify(&hinted, Trust::Trusted);
    assert_eq!(
        (trusted.category, trusted.risk),
        (Category::Read, Risk::Low)
    );
}

#[test]
fn a_contradicting_hint_raises_risk_and_is_flagged() {
    let lying = tool(json!({"name": "delete_repo", "annotations": {"readOnlyHint": true}}));
    for trust in [Trust::Untrusted, Trust::Trusted] {
        let verdict = classify(&lying, trust);
        assert_eq!(verdict.category, Category::Destructive);
        assert_eq!(verdict.risk, Risk::Critical);
        assert!(verdict.flags.contains(&Flag::AnnotationContradicts));
    }
    let destructive_read = classify(
        &tool(json!({"name": "get_thing", "annotations": {"destructiveHint": true}})),
        Trust::Untrusted,
    );
    // Annotations raise risk; the category stays what the name says.
    assert_eq!(destructive_read.category, Category::Read);
    assert_eq!(destructive_read.risk, Risk::High);
    assert!(destructive_read
        .flags
        .contains(&Flag::AnnotationContradicts));
    let writing_read = classify(
        &tool(json!({"name": "get_thing", "annotations": {"readOnlyHint": false}})),
        Trust::Untrusted,
    );
    assert_eq!(
        (writing_read.category, writing_read.risk),
        (Category::Read, Risk::Medium)
    );
    assert!(writing_read.flags.contains(&Flag::AnnotationContradicts));
}

#[test]
fn destructive_and_financial_tools_are_never_low() {
    for name in ["delete_x", "refund_payment", "create_charge", "drop_table"] {
        let verdict = classify(
            &tool(
                json!({"name": name, "annotations": {"readOnlyHint": true, "destructiveHint": false}}),
            ),
            Trust::Trusted,
        );
        assert!(verdict.risk >= Risk::High, "{name}: {verdict:?}");
        assert_ne!(verdict.category, Category::Read, "{name}");
    }
}

#[test]
fn evidence_serialises_as_kind_and_value() {
    let verdict = classify(&tool(json!({"name": "delete_repo"})), Trust::Untrusted);
    let value = serde_json::to_value(&verdict).expect("serialises");
    assert_eq!(value["category"], "destructive");
    assert_eq!(value["risk"], "high");
    assert_eq!(
        value["reasons"][0]["evidence"],
        json!({"kind": "name_token", "value": "delete"})
    );
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arbitrary_tool() -> impl Strategy<Value = ToolDefinition> {
    let words = prop::sample::select(vec![
        "get",
        "delete",
        "create",
        "run",
        "refund",
        "payment",
        "x",
        "_",
        ".",
        "-",
        "Ä",
        "*",
        "readOnlyHint",
        "password",
        "amount",
        "cannot be undone",
    ]);
    (
        prop_oneof![
            ".{1,30}",
            prop::collection::vec(words.clone(), 1..6).prop_map(|w| w.concat())
        ],
        proptest::option::of(prop_oneof![
            ".{0,80}",
            prop::collection::vec(words, 0..12).prop_map(|w| w.join(" "))
        ]),
        proptest::option::of(arbitrary_json()),
        proptest::option::of(prop::collection::btree_map(
            prop::sample::select(vec![
                "readOnlyHint",
                "destructiveHint",
                "openWorldHint",
                "idempotentHint",
                "title",
            ]),
            prop_oneof![any::<bool>().prop_map(Value::Bool), arbitrary_json()],
            0..5,
        )),
        proptest::option::of(prop::collection::btree_map(
            "[a-zA-Z_]{1,12}",
            arbitrary_json(),
            0..20,
        )),
    )
        .prop_map(
            |(name, description, schema, annotations, properties)| ToolDefinition {
                name,
                title: None,
                description,
                input_schema: match (schema, properties) {
                    (_, Some(p)) => Some(json!({"type": "object", "properties": p})),
                    (s, None) => s.filter(|s| s.is_object() || s.is_boolean()),
                },
                output_schema: None,
                annotations: annotations.map(|a| {
                    Value::Object(a.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            },
        )
}

/// The same JSON with every object's keys in reverse order.
fn reversed(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.reverse();
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), reversed(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(reversed).collect()),
        other => other.clone(),
    }
}

proptest! {
    #[test]
    fn never_panics_and_is_deterministic(tool in arbitrary_tool(), trusted in any::<bool>()) {
        let trust = if trusted { Trust::Trusted } else { Trust::Untrusted };
        let first = classify(&tool, trust);
        prop_assert_eq!(&first, &classify(&tool.clone(), trust));
        prop_assert!(!first.reasons.is_empty());
        let mut sorted = first.flags.clone();
        sorted.sort();
        sorted.dedup();
        prop_assert_eq!(&sorted, &first.flags);
        if matches!(first.category, Category::Destructive | Category::Financial) {
            prop_assert!(first.risk >= Risk::High);
        }
        // A trusted server's hints never make a verdict worse than untrusted would.
        if trusted {
            let untrusted = classify(&tool, Trust::Untrusted);
            prop_assert!(first.risk <= untrusted.risk);
        }
    }

    #[test]
    fn key_order_does_not_matter(tool in arbitrary_tool()) {
        let wire = serde_json::to_value(&tool).expect("serialises");
        let text = serde_json::to_string(&reversed(&wire)).expect("serialises");
        let reread = ToolDefinition::from_wire(&serde_json::from_str(&text).expect("parses")).expect("valid");
        prop_assert_eq!(classify(&tool, Trust::Untrusted), classify(&reread, Trust::Untrusted));
    }
}
