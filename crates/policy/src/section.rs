//! Reads what the document says per [`Kind`] of target: `default` and `hide`
//! (a value for every kind, or an object with one per kind) and the
//! sections `tools`, `resources` and `prompts`.

use serde_json::{Map, Value};

use crate::document::{DefaultAction, Kind, Limit, Named, Rule};
use crate::error::{child, describe, index, unknown_fields, Errors};
use crate::rule;

/// The keys of the object forms of `default` and `hide`.
const KIND_FIELDS: &[&str] = &["tools", "resources", "prompts"];

/// One value per [`Kind`], in the order of [`Kind::ALL`].
pub(crate) type PerKind<T> = [T; 3];

pub(crate) fn slot(kind: Kind) -> usize {
    match kind {
        Kind::Tool => 0,
        Kind::Resource => 1,
        Kind::Prompt => 2,
    }
}

fn kind_misplaced(key: &str) -> Option<&'static str> {
    match key {
        "tool" => Some("did you mean `tools`?"),
        "resource" | "resource_templates" | "templates" => {
            Some("did you mean `resources`? resource templates follow the `resources` section")
        }
        "prompt" => Some("did you mean `prompts`?"),
        _ => None,
    }
}

/// `default`: absent means deny for every kind (a gateway that fails closed
/// is the safe reading); a string applies to every kind; an object gives
/// one per kind, and a kind it leaves out is `deny`.
pub(crate) fn read_default(
    errors: &mut Errors,
    default: Option<&Value>,
) -> PerKind<(DefaultAction, String)> {
    let deny = || (DefaultAction::Deny, "/default".to_owned());
    let Some(value) = default else {
        return [deny(), deny(), deny()];
    };
    let Some(fields) = value.as_object() else {
        let action = DefaultAction::parse(value, "default").unwrap_or_else(|message| {
            errors.push("/default", message);
            DefaultAction::Deny
        });
        let both = || (action, "/default".to_owned());
        return [both(), both(), both()];
    };
    unknown_fields(errors, fields, "/default", KIND_FIELDS, kind_misplaced);
    Kind::ALL.map(|kind| {
        let pointer = child("/default", kind.section());
        match fields.get(kind.section()) {
            None => deny(),
            Some(value) => match DefaultAction::parse(value, "default") {
                Ok(action) => (action, pointer),
                Err(message) => {
                    errors.push(pointer.clone(), message);
                    (DefaultAction::Deny, pointer)
                }
            },
        }
    })
}

/// `hide`: an array applies to every kind (tool names, resource URIs and
/// prompt names alike); an object gives one array per kind.
pub(crate) fn read_hide(
    errors: &mut Errors,
    hide: Option<&Value>,
) -> PerKind<Vec<(String, String)>> {
    let Some(value) = hide else {
        return Default::default();
    };
    match value {
        Value::Array(entries) => {
            let every = read_hide_entries(errors, entries, "/hide");
            [every.clone(), every.clone(), every]
        }
        Value::Object(fields) => {
            unknown_fields(errors, fields, "/hide", KIND_FIELDS, kind_misplaced);
            Kind::ALL.map(|kind| {
                let pointer = child("/hide", kind.section());
                match fields.get(kind.section()) {
                    None => Vec::new(),
                    Some(Value::Array(entries)) => read_hide_entries(errors, entries, &pointer),
                    Some(other) => {
                        errors.push(
                            pointer,
                            format!(
                                "must be an array of {}s or globs, not {}",
                                kind.key_noun(),
                                describe(other)
                            ),
                        );
                        Vec::new()
                    }
                }
            })
        }
        other => {
            errors.push(
                "/hide",
                format!(
                    "hide must be an array of tool names or globs, e.g. [\"debug_*\"] (or an \
                     object with one such array per section, e.g. {{\"resources\": \
                     [\"file:///secrets/*\"]}}), not {}",
                    describe(other)
                ),
            );
            Default::default()
        }
    }
}

fn read_hide_entries(
    errors: &mut Errors,
    entries: &[Value],
    pointer: &str,
) -> Vec<(String, String)> {
    let mut hide = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let pointer = index(pointer, i);
        match entry {
            Value::String(pattern) if !pattern.is_empty() => {
                hide.push((pattern.clone(), pointer));
            }
            Value::String(_) => errors.push(
                pointer,
                "a hide entry cannot be empty; give a name, a URI or a glob such as \"debug_*\"",
            ),
            other => errors.push(
                pointer,
                format!(
                    "a hide entry must be a name, URI or glob string, not {}",
                    describe(other)
                ),
            ),
        }
    }
    hide
}

/// A section (`tools`, `resources` or `prompts`): its rules, and the
/// limits of its `"*"` rule.
pub(crate) fn read_section(
    errors: &mut Errors,
    kind: Kind,
    section: Option<&Value>,
) -> (Vec<Rule>, Vec<Limit>) {
    let Some(value) = section else {
        return (Vec::new(), Vec::new());
    };
    let pointer = child("", kind.section());
    let Some(entries) = value.as_object() else {
        errors.push(
            pointer,
            format!(
                "{} must be an object mapping {}s or globs to rules, not {}",
                kind.section(),
                kind.key_noun(),
                describe(value)
            ),
        );
        return (Vec::new(), Vec::new());
    };
    read_rules(errors, kind, entries, &pointer)
}

fn read_rules(
    errors: &mut Errors,
    kind: Kind,
    entries: &Map<String, Value>,
    section: &str,
) -> (Vec<Rule>, Vec<Limit>) {
    let mut rules = Vec::with_capacity(entries.len());
    let mut every_call = Vec::new();
    for (key, body) in entries {
        let pointer = child(section, key);
        if key.is_empty() {
            errors.push(pointer, format!("a {} cannot be empty", kind.key_noun()));
            continue;
        }
        if key == "*" {
            every_call = rule::read_every_call(errors, kind, body, &pointer);
        } else if let Some(rule) = rule::read_rule(errors, kind, key, body, pointer) {
            rules.push(rule);
        }
    }
    (rules, every_call)
}
