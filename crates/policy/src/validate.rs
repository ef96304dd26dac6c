//! Reads a policy document into a [`Document`], collecting every error.

use std::collections::HashMap;

use serde_json::Value;

use crate::document::{Document, Kind, Limit, Section};
use crate::error::{child, describe, unknown_fields, Errors, PolicyError};
use crate::extensions::read_extensions;
use crate::section::{read_default, read_hide, read_section, slot};

const TOP_FIELDS: &[&str] = &[
    "version",
    "default",
    "hide",
    "tools",
    "resources",
    "prompts",
    "extensions",
];

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
        return Err(errors.into_vec());
    };

    unknown_fields(&mut errors, top, "", TOP_FIELDS, top_level_misplaced);
    check_version(&mut errors, top.get("version"));
    let defaults = read_default(&mut errors, top.get("default"));
    let mut hides = read_hide(&mut errors, top.get("hide"));
    let [tools, resources, prompts] = Kind::ALL.map(|kind| {
        let (default, default_pointer) = defaults[slot(kind)].clone();
        let (rules, every_call) = read_section(&mut errors, kind, top.get(kind.section()));
        Section {
            default,
            default_pointer,
            hide: std::mem::take(&mut hides[slot(kind)]),
            rules,
            every_call,
        }
    });
    check_counters(&mut errors, &[&tools, &resources, &prompts]);
    let extensions = read_extensions(&mut errors, top.get("extensions"));

    errors.into_result(Document {
        tools,
        resources,
        prompts,
        extensions,
    })
}

fn top_level_misplaced(key: &str) -> Option<&'static str> {
    match key {
        "action" | "reason" | "arguments" | "limits" | "approval_timeout" => {
            Some("it belongs in a rule under `tools`, e.g. \"tools\": {\"my_tool\": {...}}")
        }
        "hidden" | "hidden_tools" => Some("did you mean `hide`?"),
        "resource_templates" | "resourceTemplates" | "templates" => {
            Some("resource templates follow the rules of `resources`, matched on `uriTemplate`")
        }
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

/// Counters are shared by name, across sections too, so every use must agree
/// on what the counter is (window, scope, algorithm), and no call may count
/// on one counter twice.
fn check_counters(errors: &mut Errors, sections: &[&Section]) {
    let mut first_use: HashMap<&str, &Limit> = HashMap::new();
    let all = sections.iter().flat_map(|section| {
        section
            .every_call
            .iter()
            .chain(section.rules.iter().flat_map(|rule| rule.limits.iter()))
    });
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
    for section in sections {
        check_counted_once(errors, section);
    }
}

/// No call of the section counts twice on one counter: not twice in its
/// rule, nor in its rule and in the section's `"*"`, nor twice in `"*"`.
fn check_counted_once(errors: &mut Errors, section: &Section) {
    let every_call = &section.every_call;
    for rule in &section.rules {
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
                        "counter {counter:?} is already counted for this {} at {earlier}, so \
                         every call would count twice; use another counter name",
                        rule.kind.noun()
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
