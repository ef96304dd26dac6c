//! `decide` on a 1,000-tool policy: exact names, globs, hide globs, a `"*"`
//! limit, and an argument schema on some tools; and `explain`, for scale.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Map, Value};
use toolgate_policy::{parse, CompiledPolicy, Decision};

fn policy() -> CompiledPolicy {
    let mut tools = Map::new();
    let schema = json!({
        "type": "object",
        "properties": {
            "repo": {"type": "string", "pattern": "^[a-z0-9_.-]+/[a-z0-9_.-]+$"},
            "title": {"type": "string", "maxLength": 256},
            "amount": {"type": "integer", "minimum": 1, "maximum": 50000},
            "labels": {"type": "array", "items": {"type": "string"}, "maxItems": 10}
        },
        "required": ["repo", "amount"],
        "additionalProperties": false
    });
    for i in 0..850 {
        let mut rule = json!({"limits": [{
            "counter": format!("tool_{i}_rate"), "window": "minute", "max": 10, "scope": "grant"
        }]});
        if i % 10 == 0 {
            rule["arguments"] = schema.clone();
            rule["limits"][0]["cost"] = json!("/amount");
            rule["limits"][0]["max"] = json!(1_000_000);
        }
        tools.insert(format!("tool_{i}"), rule);
    }
    for i in 0..100 {
        tools.insert(format!("svc{i}_*"), json!({}));
    }
    for i in 0..49 {
        tools.insert(
            format!("*_danger{i}"),
            json!({"action": "deny", "reason": "no"}),
        );
    }
    tools.insert(
        "*".to_owned(),
        json!({"limits": [{"counter": "all_calls", "window": 60, "max": 600, "scope": "grant"}]}),
    );
    let hide: Vec<String> = (0..10).map(|i| format!("debug{i}_*")).collect();
    let doc = json!({"version": "1", "default": "deny", "hide": hide, "tools": tools});
    match parse(&doc) {
        Ok(policy) => policy,
        Err(errors) => panic!("benchmark policy is invalid: {errors:?}"),
    }
}

fn decide(c: &mut Criterion) {
    let policy = policy();
    assert_eq!(policy.rule_count(), 999);
    let empty = json!({});
    let args =
        json!({"repo": "acme/widgets", "title": "Fix it", "amount": 1200, "labels": ["a", "b"]});
    let bad_args = json!({"repo": "acme/widgets", "amount": 60000});
    assert!(matches!(
        policy.decide("tool_10", &args),
        Decision::Allow { .. }
    ));
    assert!(matches!(
        policy.decide("svc42_list", &empty),
        Decision::Allow { .. }
    ));

    let mut group = c.benchmark_group("decide");
    let cases: [(&str, &str, &Value); 6] = [
        ("exact_no_schema", "tool_421", &empty),
        ("glob_no_schema", "svc42_list_things", &empty),
        ("unmatched_default_deny", "nothing_matches_this", &empty),
        ("hidden", "debug7_dump", &empty),
        ("exact_with_schema", "tool_420", &args),
        ("schema_violation", "tool_420", &bad_args),
    ];
    for (name, tool, arguments) in cases {
        group.bench_function(name, |b| {
            b.iter(|| policy.decide(black_box(tool), black_box(arguments)))
        });
    }
    group.bench_function("visible_glob", |b| {
        b.iter(|| policy.visible(black_box("svc42_list_things")))
    });
    group.finish();

    // Explaining walks every key of the section: for people, not calls.
    let mut group = c.benchmark_group("explain");
    group.bench_function("glob_no_schema", |b| {
        b.iter(|| policy.explain(black_box("svc42_list_things"), black_box(&empty)))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = decide
}
criterion_main!(benches);
