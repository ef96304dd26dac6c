//! Reads a policy document into a [`Document`], collecting every error.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::document::{DefaultAction, Document, Limit, Named, Rule};
use crate::error::{child, describe, index, PolicyError};
use crate::{rule, suggest};

const TOP_FIELDS: &[&str] = &["version", "default", "hide", "tools"];

/// Collects errors as validation walks the document.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<PolicyError>);

impl Errors {
    pub(crate) fn push(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.0.push(PolicyError::new(pointer, message));
    }
}

/// Validates the whole document; every problem is reported, not just the first.
pub(crate) fn validate(doc: &Value) -> Result<Document, Vec<PolicyError>> {
    let mut errors = Errors::default();
    // Anywhere in the document, whatever section: what cannot be stored is
    // refused here, so `policy check` agrees with the API.
    for flaw in toolgate_strictjson::flaws(doc) {
        errors.push(flaw.pointer, flaw.message);
    }
    let Some(top) = doc.as_object() else {
        errors.push(
            "",
            format!(
                "a policy must be a JSON object such as {{\"version\": \"1\", \"default\": \"deny\", \"tools\": {{}}}}, not {}",
                describe(doc)
            ),
        );
        return Err(errors.0);
    };

    unknown_fields(&mut errors, top, "", TOP_FIELDS, top_level_misplaced);
    check_version(&mut errors, top.get("version"));
    let default = read_default(&mut errors, top.get("default"));
    let hide = read_hide(&mut errors, top.get("hide"));
    let (rules, every_call) = read_tools(&mut errors, top.get("tools"));
    check_counters(&mut errors, &rules, &every_call);

    if errors.0.is_empty() {
        Ok(Document {
            default,
            hide,
            rules,
            every_call,
        })
    } else {
        Err(errors.0)
    }
}

/// Reports fields outside `allowed`, with a "did you mean" or a hint from
/// `misplaced` for fields that belong at another level of the document.
pub(crate) fn unknown_fields(
    errors: &mut Errors,
    object: &Map<String, Value>,
    pointer: &str,
    allowed: &[&str],
    misplaced: fn(&str) -> Option<&'static str>,
) {
    for key in object.keys().filter(|k| !allowed.contains(&k.as_str())) {
        let advice = match (suggest::closest(key, allowed), misplaced(key)) {
            (Some(near), _) => format!("; did you mean `{near}`?"),
            (None, Some(hint)) => format!("; {hint}"),
            (None, None) => format!("; allowed fields are {}", suggest::list(allowed)),
        };
        errors.push(
            child(pointer, key),
            format!("unknown field `{key}`{advice}"),
        );
    }
}

fn top_level_misplaced(key: &str) -> Option<&'static str> {
    match key {
        "action" | "reason" | "arguments" | "limits" | "approval_timeout" => {
            Some("it belongs in a rule under `tools`, e.g. \"tools\": {\"my_tool\": {...}}")
        }
        "hidden" | "hidden_tools" => Some("did you mean `hide`?"),
        _ => None,
    }
}

fn check_version(errors: &mut Errors, version: Option<&Value>) {
    match version {
        Some(Value::String(v)) if v == "1" => {}
        None => errors.push(
            "/version",
            "missing required field `version`; add \"version\": \"1\"",
        ),
        Some(Value::Number(n)) if n.as_u64() == Some(1) => errors.push(
            "/version",
            "version must be the string \"1\", not the number 1; write \"version\": \"1\"",
        ),
        Some(other) => errors.push(
            "/version",
            format!(
                "unsupported version {}; this gateway understands version \"1\"",
                describe(other)
            ),
        ),
    }
}

fn read_default(errors: &mut Errors, default: Option<&Value>) -> DefaultAction {
    // Absent means deny: a gateway that fails closed is the safe reading.
    let Some(value) = default else {
        return DefaultAction::Deny;
    };
    DefaultAction::parse(value, "default").unwrap_or_else(|message| {
        errors.push("/default", message);
        DefaultAction::Deny
    })
}

fn read_hide(errors: &mut Errors, hide: Option<&Value>) -> Vec<(String, String)> {
    let Some(value) = hide else {
        return Vec::new();
    };
    let Some(entries) = value.as_array() else {
        errors.push(
            "/hide",
            format!(
                "hide must be an array of tool names or globs, e.g. [\"debug_*\"], not {}",
                describe(value)
            ),
        );
        return Vec::new();
    };
    let mut hide = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let pointer = index("/hide", i);
        match entry {
            Value::String(pattern) if !pattern.is_empty() => {
                hide.push((pattern.clone(), pointer));
            }
            Value::String(_) => errors.push(
                pointer,
                "a hide entry cannot be empty; give a tool name or a glob such as \"debug_*\"",
            ),
            other => errors.push(
                pointer,
                format!(
                    "a hide entry must be a tool name or glob string, not {}",
                    describe(other)
                ),
            ),
        }
    }
    hide
}

fn read_tools(errors: &mut Errors, tools: Option<&Value>) -> (Vec<Rule>, Vec<Limit>) {
    let Some(value) = tools else {
        return (Vec::new(), Vec::new());
    };
    let Some(tools) = value.as_object() else {
        errors.push(
            "/tools",
            format!(
                "tools must be an object mapping tool names or globs to rules, not {}",
                describe(value)
            ),
        );
        return (Vec::new(), Vec::new());
    };
    let mut rules = Vec::with_capacity(tools.len());
    let mut every_call = Vec::new();
    for (key, body) in tools {
        let pointer = child("/tools", key);
        if key.is_empty() {
            errors.push(pointer, "a tool name cannot be empty");
            continue;
        }
        if key == "*" {
            every_call = rule::read_every_call(errors, body, &pointer);
        } else if let Some(rule) = rule::read_rule(errors, key, body, pointer) {
            rules.push(rule);
        }
    }
    (rules, every_call)
}

/// Counters are shared by name, so every use must agree on what the counter
/// is (window, scope, algorithm), and no call may count on one counter twice.
fn check_counters(errors: &mut Errors, rules: &[Rule], every_call: &[Limit]) {
    let mut first_use: HashMap<&str, &Limit> = HashMap::new();
    let all = every_call
        .iter()
        .chain(rules.iter().flat_map(|rule| rule.limits.iter()));
    for limit in all {
        let Some(first) = first_use.get(limit.counter.as_str()) else {
            first_use.insert(&limit.counter, limit);
            continue;
        };
        let mismatches = [
            ("window", first.window != limit.window),
            ("scope", first.scope != limit.scope),
            ("algorithm", first.algorithm != limit.algorithm),
        ];
        for (field, differs) in mismatches {
            if differs {
                errors.push(
                    child(&limit.pointer, field),
                    format!(
                        "counter {:?} is also used at {} with a different {field}; limits naming \
                         the same counter share it, so they must agree on window, scope and \
                         algorithm (or use another counter name)",
                        limit.counter, first.pointer
                    ),
                );
            }
        }
    }

    for rule in rules {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for limit in &rule.limits {
            let counter = limit.counter.as_str();
            let earlier = seen.get(counter).copied().or_else(|| {
                every_call
                    .iter()
                    .find(|l| l.counter == counter)
                    .map(|l| l.pointer.as_str())
            });
            if let Some(earlier) = earlier {
                errors.push(
                    child(&limit.pointer, "counter"),
                    format!(
                        "counter {counter:?} is already counted for this tool at {earlier}, so \
                         every call would count twice; use another counter name"
                    ),
                );
            }
            seen.insert(counter, &limit.pointer);
        }
    }
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for limit in every_call {
        if let Some(earlier) = seen.insert(&limit.counter, &limit.pointer) {
            errors.push(
                child(&limit.pointer, "counter"),
                format!(
                    "counter {:?} is already counted at {earlier}, so every call would count \
                     twice; use another counter name",
                    limit.counter
                ),
            );
        }
    }
}
