//! What the policy judges is what the upstream receives.
//!
//! The gateway judges a `tools/call` by `ToolCall::arguments_value` and
//! forwards the body's original bytes. For arguments written any way at all
//! (repeated keys, odd numbers, escapes, whitespace, nesting), either the
//! peek reports something to refuse, or a strict reader of the forwarded
//! bytes (one that refuses repeated keys and keeps numbers as exact
//! decimals) reads exactly the value the policy judged.

#![allow(clippy::unwrap_used)]

use std::fmt;

use proptest::prelude::*;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;
use toolgate_mcp::{peek, Body};

/// A JSON value as a strict, exact reader sees it.
#[derive(Debug)]
enum Strict {
    Null,
    Bool(bool),
    /// The literal, kept as text: an exact decimal.
    Number(String),
    String(String),
    Array(Vec<Strict>),
    Object(Vec<(String, Strict)>),
}

/// An object's members in order, repeats kept (`serde_json::Map` would
/// silently keep one).
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, &RawValue>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// Reads `raw` strictly: a repeated key anywhere is an error.
fn strict(raw: &RawValue) -> Result<Strict, String> {
    let text = raw.get().trim();
    let parse_err = |e: serde_json::Error| e.to_string();
    Ok(match text.as_bytes().first() {
        Some(b'{') => {
            let Members(members) = serde_json::from_str(text).map_err(parse_err)?;
            let mut read = Vec::with_capacity(members.len());
            for (key, value) in members {
                if read.iter().any(|(k, _)| *k == key) {
                    return Err(format!("repeated key {key:?}"));
                }
                read.push((key, strict(value)?));
            }
            Strict::Object(read)
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text).map_err(parse_err)?;
            Strict::Array(items.into_iter().map(strict).collect::<Result<_, _>>()?)
        }
        Some(b'"') => Strict::String(serde_json::from_str(text).map_err(parse_err)?),
        Some(b't') => Strict::Bool(true),
        Some(b'f') => Strict::Bool(false),
        Some(b'n') => Strict::Null,
        _ => Strict::Number(text.to_owned()),
    })
}

/// A number text as `sign digits e exponent` with no leading or trailing
/// zero, or `0`: equal strings mean equal decimal values.
fn canonical(text: &str) -> String {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().unwrap()),
        None => (text, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let exponent = exponent - i64::try_from(frac.len()).unwrap();
    let trimmed = digits.trim_end_matches('0');
    let exponent = exponent + i64::try_from(digits.len() - trimmed.len()).unwrap();
    let trimmed = trimmed.trim_start_matches('0');
    if trimmed.is_empty() {
        return "0".to_owned();
    }
    format!("{}{trimmed}e{exponent}", if negative { "-" } else { "" })
}

/// Whether an exact reader of `literal` sees the number the policy judged:
/// the same integer, or, for a double, the literal reads back as that very
/// double (std's parser, not serde's) and has the decimal value of a
/// shortest closest form of it (Rust's formatter or `ryu`, as serde_json
/// writes it: they differ only in breaking halfway ties).
fn same_number(literal: &str, judged: &serde_json::Number) -> bool {
    if let Some(u) = judged.as_u64() {
        return canonical(literal) == canonical(&u.to_string());
    }
    if let Some(i) = judged.as_i64() {
        return canonical(literal) == canonical(&i.to_string());
    }
    let f = judged.as_f64().unwrap();
    let reads_back = literal.parse::<f64>().unwrap() == f;
    let shortest = [format!("{f:e}"), serde_json::to_string(&f).unwrap()];
    reads_back && shortest.iter().any(|s| canonical(s) == canonical(literal))
}

fn same(read: &Strict, judged: &Value) -> bool {
    match (read, judged) {
        (Strict::Null, Value::Null) => true,
        (Strict::Bool(a), Value::Bool(b)) => a == b,
        (Strict::Number(literal), Value::Number(n)) => same_number(literal, n),
        (Strict::String(a), Value::String(b)) => a == b,
        (Strict::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Strict::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| same(x, y)))
        }
        _ => false,
    }
}

/// What the gateway does with a body, judged as strictly as any policy
/// would (as if the tool's rule reads argument values).
enum Judgement {
    Refused(String),
    Forwarded(Value),
}

fn judge(body: &str) -> Judgement {
    let parsed = match peek(body.as_bytes()) {
        Ok(Body::Single(message)) => message,
        Ok(Body::Batch(_)) => unreachable!("a single message was sent"),
        Err(err) => return Judgement::Refused(err.to_string()),
    };
    let call = parsed.tool_call().unwrap();
    if let Some(ambiguity) = call.ambiguity() {
        return Judgement::Refused(ambiguity.to_string());
    }
    if let Some(ambiguity) = call.inexact_number() {
        return Judgement::Refused(ambiguity.to_string());
    }
    match call.arguments_value() {
        Ok(value) => Judgement::Forwarded(value),
        Err(err) => Judgement::Refused(err.to_string()),
    }
}

/// The upstream's strict reading of the forwarded body's arguments.
fn upstream_reads(body: &str) -> Result<Strict, String> {
    let envelope: &RawValue = serde_json::from_str(body).unwrap();
    let Strict::Object(members) = strict(envelope)? else {
        panic!("the body is an object")
    };
    let (_, params) = members.into_iter().find(|(k, _)| k == "params").unwrap();
    let Strict::Object(params) = params else {
        panic!("params is an object")
    };
    Ok(params
        .into_iter()
        .find(|(k, _)| k == "arguments")
        .map(|(_, arguments)| arguments)
        .unwrap_or(Strict::Object(Vec::new())))
}

fn body_with(arguments: &str) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t","arguments":{arguments}}}}}"#
    )
}

fn whitespace() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just(""), Just(" "), Just("\n\t "), Just("\r\n")]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,3})",
        "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,22})?([eE][+-]?[0-9]{1,3})?",
        prop_oneof![
            Just("10.0000000000000000001"),
            Just("100000000000000000000001"),
            Just("18446744073709551616"),
            Just("18446744073709551615"),
            Just("-9223372036854775809"),
            Just("1e400"),
            Just("1e-400"),
            Just("-0"),
            Just("0.1"),
            Just("1e2"),
            Just("5e-324"),
            Just("0.30000000000000004"),
            Just("9007199254740993.0"),
            Just("-1493533440848799.2"),
            Just("-1493533440848799.3"),
            Just("-1493533440848799.25"),
        ]
        .prop_map(str::to_owned),
    ]
}

/// Keys chosen to collide often, in several spellings.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(r#""a""#),
        Just(r#""\u0061""#),
        Just(r#""n""#),
        Just(r#""\u006E""#),
        Just(r#""é""#),
        Just(r#""\u00e9""#),
        Just(r#""😀""#),
        Just(r#""\ud83d\ude00""#),
        Just(r#""a/b~""#),
        Just(r#""a\/b~""#),
        Just(r#""""#),
    ]
    .prop_map(str::to_owned)
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        "\"[a-zé✓ ]{0,6}\"",
        Just(r#""\n\"\\\t\u0000""#.to_owned()),
        Just(r#""{\"n\":1,\"n\":2}""#.to_owned()),
    ]
}

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        number(),
        string(),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec((whitespace(), inner.clone()), 0..5).prop_map(|items| {
                let items: Vec<String> = items
                    .into_iter()
                    .map(|(w, v)| format!("{w}{v}{w}"))
                    .collect();
                format!("[{}]", items.join(","))
            }),
            object(inner),
        ]
    })
}

fn object(value: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop::collection::vec((whitespace(), key(), value), 0..6).prop_map(|members| {
        let members: Vec<String> = members
            .into_iter()
            .map(|(w, k, v)| format!("{w}{k}{w}:{w}{v}{w}"))
            .collect();
        format!("{{{}}}", members.join(","))
    })
}

/// Any serde_json value, as an honest client would build it.
fn honest_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,4}", inner, 0..5).prop_map(case_distinct),
        ]
    })
}

/// An object whose keys differ in more than letter case: keys that fold to
/// the same text are one key to a case-insensitive reader, so an honest
/// client does not send both.
fn case_distinct(members: std::collections::BTreeMap<String, Value>) -> Value {
    let fold = |key: &str| -> String {
        key.chars()
            .flat_map(char::to_uppercase)
            .flat_map(char::to_lowercase)
            .collect()
    };
    let mut seen = std::collections::HashSet::new();
    Value::Object(
        members
            .into_iter()
            .filter(|(key, _)| seen.insert(fold(key)))
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_upstream_reads_what_the_policy_judged(arguments in object(json_value())) {
        let body = body_with(&arguments);
        if let Judgement::Forwarded(judged) = judge(&body) {
            let read = upstream_reads(&body);
            prop_assert!(read.is_ok(), "forwarded {body} reads as {read:?}");
            let read = read.unwrap();
            prop_assert!(same(&read, &judged), "forwarded {body}: the policy judged {judged}, the upstream reads {read:?}");
        }
    }

    #[test]
    fn honest_arguments_are_never_refused(
        members in prop::collection::btree_map("\\PC{0,4}", honest_value(), 0..6),
        pretty in any::<bool>(),
    ) {
        let arguments = case_distinct(members);
        let text = if pretty {
            serde_json::to_string_pretty(&arguments).unwrap()
        } else {
            serde_json::to_string(&arguments).unwrap()
        };
        match judge(&body_with(&text)) {
            Judgement::Forwarded(judged) => prop_assert_eq!(judged, arguments),
            Judgement::Refused(why) => prop_assert!(false, "{text} refused: {why}"),
        }
    }
}

#[test]
fn the_attacks_are_refused() {
    for arguments in [
        r#"{"n":100,"n":1}"#,
        r#"{"n":1,"\u006e":100}"#,
        r#"{"list":[{"n":1},{"n":1,"n":100}]}"#,
        r#"{"n":10.0000000000000000001}"#,
        r#"{"n":100000000000000000000001}"#,
        r#"{"n":1e400}"#,
    ] {
        let body = body_with(arguments);
        assert!(matches!(judge(&body), Judgement::Refused(_)), "{body}");
    }
}

#[test]
fn the_oracle_tells_values_apart() {
    assert_eq!(canonical("1e2"), canonical("100.00"));
    assert_eq!(canonical("-0"), canonical("0e5"));
    assert_ne!(canonical("10.0000000000000000001"), canonical("10"));
    let raw: &RawValue = serde_json::from_str(r#"{"a":1,"\u0061":2}"#).unwrap();
    assert!(strict(raw).is_err());
}
