//! Reads one entry of a section (`tools`, `resources`, `prompts`): a rule
//! for an exact name (or URI) or a glob, or the `"*"` rule whose limits
//! apply to every allowed call of that section.

use serde_json::{Map, Value};

use crate::document::{
    Action, ActionName, ArgumentSchema, Kind, Limit, Named, Rule, DEFAULT_APPROVAL_TIMEOUT_SECS,
    MAX_APPROVAL_HOLD_SECS, MAX_APPROVAL_TIMEOUT_SECS, MAX_REASON_LEN,
};
use crate::error::{child, describe, index, unknown_fields, Errors};
use crate::limit;
use crate::suggest;

const RULE_FIELDS: &[&str] = &[
    "action",
    "reason",
    "arguments",
    "limits",
    "approval_timeout",
    "approval_hold",
    "audit_arguments",
];

fn rule_misplaced(key: &str) -> Option<&'static str> {
    match key {
        "counter" | "window" | "max" | "scope" | "cost" | "algorithm" | "on_backend_error" => Some(
            "it belongs inside an entry of `limits`, e.g. \"limits\": [{\"counter\": \"calls\", \
             \"window\": \"minute\", \"max\": 10, \"scope\": \"grant\"}]",
        ),
        "hide" | "hidden" => Some("to hide a tool, list it in the top-level `hide` array"),
        "schema" | "input_schema" | "inputSchema" | "params" => {
            Some("the argument schema goes in `arguments`")
        }
        "timeout" => Some("did you mean `approval_timeout`?"),
        "hold" | "hold_secs" | "approval_hold_secs" => Some("did you mean `approval_hold`?"),
        _ => None,
    }
}

/// Reads a rule for an exact name or glob. `None` when it is not an object.
pub(crate) fn read_rule(
    errors: &mut Errors,
    kind: Kind,
    key: &str,
    body: &Value,
    pointer: String,
) -> Option<Rule> {
    let Some(fields) = body.as_object() else {
        let example = match body.as_str() {
            Some(action @ ("allow" | "deny" | "require_approval")) => {
                format!("{{\"action\": \"{action}\"}}")
            }
            _ => "{\"action\": \"deny\", \"reason\": \"...\"}".to_owned(),
        };
        errors.push(
            pointer,
            format!(
                "a {} rule must be an object such as {example}, not {}",
                kind.noun(),
                describe(body)
            ),
        );
        return None;
    };
    unknown_fields(errors, fields, &pointer, RULE_FIELDS, rule_misplaced);
    if kind == Kind::Resource {
        // A read names its resource and nothing else: nothing to check or record.
        for field in ["arguments", "audit_arguments"] {
            if fields.contains_key(field) {
                errors.push(
                    child(&pointer, field),
                    format!(
                        "`{field}` has no effect on a resource rule: resources/read carries \
                         only the URI; match the URI with the rule's key instead"
                    ),
                );
            }
        }
    }

    let action_name = match fields.get("action") {
        None => Some(ActionName::Allow),
        Some(value) => ActionName::parse(value, "action")
            .map_err(|message| errors.push(child(&pointer, "action"), message))
            .ok(),
    };
    let reason = read_reason(errors, kind, fields, &pointer, action_name);
    let timeout_secs = read_approval_timeout(errors, fields, &pointer, action_name);
    let hold_secs = read_approval_hold(errors, fields, &pointer, action_name, timeout_secs);
    let arguments = fields
        .get("arguments")
        .and_then(|schema| read_arguments(errors, schema, child(&pointer, "arguments")));
    let limits = read_limits(errors, kind, fields.get("limits"), &pointer);
    let audit_arguments = match fields.get("audit_arguments") {
        None => false,
        Some(Value::Bool(on)) => *on,
        Some(other) => {
            errors.push(
                child(&pointer, "audit_arguments"),
                format!("must be true or false, not {}", describe(other)),
            );
            false
        }
    };

    if action_name == Some(ActionName::Deny) {
        // A deny rule refuses every call, so anything that shapes a call is dead.
        for field in ["arguments", "limits"] {
            if fields.contains_key(field) {
                errors.push(
                    child(&pointer, field),
                    format!(
                        "`{field}` has no effect on a deny rule, which refuses every call; \
                         remove it or change the action"
                    ),
                );
            }
        }
    }

    let action = match action_name? {
        ActionName::Allow => Action::Allow,
        ActionName::Deny => Action::Deny { reason },
        ActionName::RequireApproval => Action::RequireApproval {
            timeout_secs,
            hold_secs,
        },
    };
    Some(Rule {
        kind,
        key: key.to_owned(),
        pointer,
        action,
        arguments,
        limits,
        audit_arguments,
    })
}

/// Reads the `"*"` rule, which may only carry limits.
pub(crate) fn read_every_call(
    errors: &mut Errors,
    kind: Kind,
    body: &Value,
    pointer: &str,
) -> Vec<Limit> {
    let Some(fields) = body.as_object() else {
        errors.push(
            pointer,
            format!(
                "the \"*\" rule must be an object such as {{\"limits\": [...]}}, not {}",
                describe(body)
            ),
        );
        return Vec::new();
    };
    for key in fields.keys().filter(|k| k.as_str() != "limits") {
        let why = match key.as_str() {
            "action" | "reason" | "approval_timeout" | "approval_hold" => {
                format!(
                    "the \"*\" rule only carries limits that apply to every allowed call; what \
                     happens to {}s no other key matches is set by the top-level `default`",
                    kind.noun()
                )
            }
            "arguments" => format!(
                "the \"*\" rule only carries limits; put argument schemas on the {}s' own rules",
                kind.noun()
            ),
            other => match suggest::closest(other, &["limits"]) {
                Some(near) => format!("unknown field `{other}`; did you mean `{near}`?"),
                None => format!(
                    "unknown field `{other}`; the \"*\" rule only carries `limits`, which apply \
                     to every allowed call"
                ),
            },
        };
        errors.push(child(pointer, key), why);
    }
    read_limits(errors, kind, fields.get("limits"), pointer)
}

fn read_reason(
    errors: &mut Errors,
    kind: Kind,
    fields: &Map<String, Value>,
    pointer: &str,
    action: Option<ActionName>,
) -> Option<String> {
    let value = fields.get("reason")?;
    let pointer = child(pointer, "reason");
    if action.is_some_and(|a| a != ActionName::Deny) {
        errors.push(
            pointer,
            "`reason` only applies to rules with \"action\": \"deny\"; remove it or make the \
             rule a deny rule",
        );
        return None;
    }
    match value {
        Value::String(s) if s.trim().is_empty() => {
            errors.push(
                pointer,
                format!(
                    "reason cannot be empty; say why the {} is denied",
                    kind.noun()
                ),
            );
            None
        }
        Value::String(s) if s.chars().count() > MAX_REASON_LEN => {
            errors.push(
                pointer,
                format!("reason is longer than {MAX_REASON_LEN} characters; shorten it"),
            );
            None
        }
        Value::String(s) => Some(s.clone()),
        other => {
            errors.push(
                pointer,
                format!("reason must be a string, not {}", describe(other)),
            );
            None
        }
    }
}

fn read_approval_timeout(
    errors: &mut Errors,
    fields: &Map<String, Value>,
    pointer: &str,
    action: Option<ActionName>,
) -> u64 {
    let Some(value) = fields.get("approval_timeout") else {
        return DEFAULT_APPROVAL_TIMEOUT_SECS;
    };
    let pointer = child(pointer, "approval_timeout");
    if action.is_some_and(|a| a != ActionName::RequireApproval) {
        errors.push(
            pointer,
            "`approval_timeout` only applies to rules with \"action\": \"require_approval\"; \
             remove it or change the action",
        );
        return DEFAULT_APPROVAL_TIMEOUT_SECS;
    }
    match limit::whole_number(value, "approval_timeout", "seconds") {
        Ok(secs) if (1..=MAX_APPROVAL_TIMEOUT_SECS).contains(&secs) => secs,
        Ok(secs) => {
            errors.push(
                pointer,
                format!(
                    "approval_timeout must be between 1 and {MAX_APPROVAL_TIMEOUT_SECS} seconds, \
                     not {secs}"
                ),
            );
            DEFAULT_APPROVAL_TIMEOUT_SECS
        }
        Err(message) => {
            errors.push(pointer, message);
            DEFAULT_APPROVAL_TIMEOUT_SECS
        }
    }
}

/// `approval_hold`: whole seconds, at most the approval's own timeout (a
/// call is never held past its approval's expiry).
fn read_approval_hold(
    errors: &mut Errors,
    fields: &Map<String, Value>,
    pointer: &str,
    action: Option<ActionName>,
    timeout_secs: u64,
) -> Option<u64> {
    let value = fields.get("approval_hold")?;
    let pointer = child(pointer, "approval_hold");
    if action.is_some_and(|a| a != ActionName::RequireApproval) {
        errors.push(
            pointer,
            "`approval_hold` only applies to rules with \"action\": \"require_approval\"; \
             remove it or change the action",
        );
        return None;
    }
    match limit::whole_number(value, "approval_hold", "seconds") {
        Ok(secs) if !(1..=MAX_APPROVAL_HOLD_SECS).contains(&secs) => {
            errors.push(
                pointer,
                format!(
                    "approval_hold must be between 1 and {MAX_APPROVAL_HOLD_SECS} seconds, not \
                     {secs}; clients give up on a request after about a minute, so keep it \
                     under that"
                ),
            );
            None
        }
        Ok(secs) if secs > timeout_secs => {
            errors.push(
                pointer,
                format!(
                    "approval_hold ({secs} s) is longer than the approval's timeout \
                     ({timeout_secs} s): a call is never held past its approval's expiry; \
                     shorten the hold or lengthen approval_timeout"
                ),
            );
            None
        }
        Ok(secs) => Some(secs),
        Err(message) => {
            errors.push(pointer, message);
            None
        }
    }
}

fn read_arguments(errors: &mut Errors, schema: &Value, pointer: String) -> Option<ArgumentSchema> {
    if !(schema.is_object() || schema.is_boolean()) {
        errors.push(
            pointer,
            format!(
                "arguments must be a JSON Schema (an object such as {{\"type\": \"object\"}}), \
                 not {}",
                describe(schema)
            ),
        );
        return None;
    }
    // Draft 2020-12 regardless of `$schema`; remote `$ref`s cannot be fetched
    // (the crate is built without resolvers), so a schema must be self-contained.
    match jsonschema::draft202012::options().build(schema) {
        Ok(validator) => Some(ArgumentSchema {
            pointer,
            schema: schema.clone(),
            validator,
        }),
        Err(error) => {
            // For a schema that breaks the meta-schema, the instance path is
            // the location inside the schema itself.
            let at = error.instance_path.to_string();
            errors.push(
                format!("{pointer}{at}"),
                format!("invalid JSON Schema (draft 2020-12): {error}"),
            );
            None
        }
    }
}

fn read_limits(
    errors: &mut Errors,
    kind: Kind,
    limits: Option<&Value>,
    pointer: &str,
) -> Vec<Limit> {
    let Some(value) = limits else {
        return Vec::new();
    };
    let pointer = child(pointer, "limits");
    let Some(entries) = value.as_array() else {
        let example = if value.is_object() {
            "; wrap the limit in brackets: \"limits\": [{...}]"
        } else {
            ""
        };
        errors.push(
            pointer,
            format!(
                "limits must be an array of limits, not {}{example}",
                describe(value)
            ),
        );
        return Vec::new();
    };
    let limits: Vec<Limit> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, entry)| limit::read_limit(errors, entry, index(&pointer, i)))
        .collect();
    if kind == Kind::Resource {
        for limit in limits.iter().filter(|limit| limit.cost.is_some()) {
            errors.push(
                child(&limit.pointer, "cost"),
                "a resource read has no arguments to take a cost from; every read costs 1",
            );
        }
    }
    limits
}
