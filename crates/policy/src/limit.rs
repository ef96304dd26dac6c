//! Reads one entry of a rule's `limits`.

use serde_json::Value;

use crate::document::{
    Algorithm, Limit, Named, OnBackendError, Scope, MAX_COUNTER_NAME_LEN, MAX_LIMIT_MAX,
    MAX_SLIDING_MAX,
};
use crate::error::{child, describe, unknown_fields, Errors};
use crate::window::Window;

const LIMIT_FIELDS: &[&str] = &[
    "counter",
    "window",
    "max",
    "scope",
    "cost",
    "algorithm",
    "on_backend_error",
];

fn limit_misplaced(key: &str) -> Option<&'static str> {
    match key {
        "action" | "reason" | "arguments" | "approval_timeout" => {
            Some("it belongs on the rule, next to `limits`, not inside a limit")
        }
        "name" | "id" | "key" => Some("did you mean `counter`?"),
        "period" | "interval" | "per" | "duration" => Some("did you mean `window`?"),
        "limit" | "count" | "rate" | "maximum" => Some("did you mean `max`?"),
        "weight" | "units" => Some("did you mean `cost`?"),
        _ => None,
    }
}

/// Reads a limit; `None` (with errors recorded) when any part is invalid.
pub(crate) fn read_limit(errors: &mut Errors, entry: &Value, pointer: String) -> Option<Limit> {
    let Some(fields) = entry.as_object() else {
        errors.push(
            pointer,
            format!(
                "a limit must be an object such as {{\"counter\": \"calls\", \"window\": \
                 \"minute\", \"max\": 10, \"scope\": \"grant\"}}, not {}",
                describe(entry)
            ),
        );
        return None;
    };
    unknown_fields(errors, fields, &pointer, LIMIT_FIELDS, limit_misplaced);

    let mut required = |field: &str| {
        let value = fields.get(field);
        if value.is_none() {
            errors.push(
                child(&pointer, field),
                format!("missing required field `{field}` in this limit"),
            );
        }
        value
    };
    let counter = required("counter");
    let window = required("window");
    let max = required("max");
    let scope = required("scope");

    let counter = counter.and_then(|v| field(errors, &pointer, "counter", counter_name(v)));
    let window = window.and_then(|v| field(errors, &pointer, "window", Window::parse(v)));
    let max = max.and_then(|v| field(errors, &pointer, "max", read_max(v)));
    let scope = scope.and_then(|v| field(errors, &pointer, "scope", Scope::parse(v, "scope")));
    let cost = match fields.get("cost") {
        None => Some(None),
        Some(v) => field(errors, &pointer, "cost", cost_pointer(v)).map(Some),
    };
    let algorithm = match fields.get("algorithm") {
        None => Some(Algorithm::default()),
        Some(v) => field(
            errors,
            &pointer,
            "algorithm",
            Algorithm::parse(v, "algorithm"),
        ),
    };
    let on_backend_error = match fields.get("on_backend_error") {
        None => Some(OnBackendError::default()),
        Some(v) => field(
            errors,
            &pointer,
            "on_backend_error",
            OnBackendError::parse(v, "on_backend_error"),
        ),
    };

    if let (Some(Algorithm::Sliding), Some(max)) = (algorithm, max) {
        if max > MAX_SLIDING_MAX {
            errors.push(
                child(&pointer, "max"),
                format!(
                    "a sliding window keeps every unit it counts, so its max is at most \
                     {MAX_SLIDING_MAX}; lower max or use \"algorithm\": \"fixed\""
                ),
            );
            return None;
        }
    }

    Some(Limit {
        counter: counter?,
        window: window?,
        max: max?,
        scope: scope?,
        cost: cost?,
        algorithm: algorithm?,
        on_backend_error: on_backend_error?,
        pointer,
    })
}

/// The value of a field, or `None` with its error recorded at its pointer.
fn field<T>(
    errors: &mut Errors,
    pointer: &str,
    name: &str,
    result: Result<T, String>,
) -> Option<T> {
    result
        .map_err(|message| errors.push(child(pointer, name), message))
        .ok()
}

/// A non-negative integer; messages name `field` and `unit`.
pub(crate) fn whole_number(value: &Value, field: &str, unit: &str) -> Result<u64, String> {
    match value {
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(v), _) => Ok(v),
            (None, Some(v)) => Err(format!("{field} cannot be negative ({v})")),
            (None, None) => Err(format!("{field} must be a whole number of {unit}, not {n}")),
        },
        Value::String(s) if s.trim().parse::<u64>().is_ok() => Err(format!(
            "{field} must be a number, not a string; write {} without quotes",
            s.trim()
        )),
        other => Err(format!(
            "{field} must be a whole number of {unit}, not {}",
            describe(other)
        )),
    }
}

fn read_max(value: &Value) -> Result<u64, String> {
    match whole_number(value, "max", "units")? {
        0 => {
            Err("max must be at least 1; to refuse every call use \"action\": \"deny\"".to_owned())
        }
        max if max > MAX_LIMIT_MAX => Err(format!("max cannot exceed {MAX_LIMIT_MAX} (2^53 - 1)")),
        max => Ok(max),
    }
}

/// Counter names become part of counter-store keys, so they are kept to a
/// plain alphabet: letters, digits, `_`, `-` and `.`.
fn counter_name(value: &Value) -> Result<String, String> {
    let Value::String(name) = value else {
        return Err(format!(
            "counter must be a name string such as \"calls\", not {}",
            describe(value)
        ));
    };
    if name.is_empty() {
        return Err("counter cannot be empty; name it, e.g. \"calls\"".to_owned());
    }
    if name.len() > MAX_COUNTER_NAME_LEN {
        return Err(format!(
            "counter name is longer than {MAX_COUNTER_NAME_LEN} characters"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "counter {name:?} contains {bad:?}; use only letters, digits, `_`, `-` and `.`"
        ));
    }
    Ok(name.clone())
}

/// A JSON pointer (RFC 6901) into the call's arguments.
fn cost_pointer(value: &Value) -> Result<String, String> {
    let Value::String(pointer) = value else {
        return Err(format!(
            "cost must be a JSON pointer string into the arguments such as \"/amount\", not {}",
            describe(value)
        ));
    };
    if pointer.is_empty() {
        return Err(
            "cost must point at a field of the arguments, such as \"/amount\", not the whole \
             arguments object"
                .to_owned(),
        );
    }
    if !pointer.starts_with('/') {
        return Err(format!(
            "cost must be a JSON pointer that starts with '/'; did you mean \"/{pointer}\"?"
        ));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!(
                "cost {pointer:?} has a '~' that is not an escape; write '~0' for '~' and '~1' \
                 for '/' inside a field name"
            ));
        }
    }
    Ok(pointer.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn whole_numbers() {
        assert_eq!(whole_number(&json!(5), "max", "units"), Ok(5));
        assert!(whole_number(&json!(-5), "max", "units")
            .unwrap_err()
            .contains("negative"));
        assert!(whole_number(&json!(2.5), "max", "units")
            .unwrap_err()
            .contains("whole number"));
        assert!(whole_number(&json!("7"), "max", "units")
            .unwrap_err()
            .contains("without quotes"));
        assert!(whole_number(&json!(null), "max", "units")
            .unwrap_err()
            .contains("not null"));
    }

    #[test]
    fn max_bounds() {
        assert!(read_max(&json!(0)).unwrap_err().contains("at least 1"));
        assert_eq!(read_max(&json!(MAX_LIMIT_MAX)), Ok(MAX_LIMIT_MAX));
        assert!(read_max(&json!(MAX_LIMIT_MAX + 1))
            .unwrap_err()
            .contains("cannot exceed"));
    }

    #[test]
    fn counter_names() {
        assert_eq!(counter_name(&json!("a.b-c_1")), Ok("a.b-c_1".to_owned()));
        assert!(counter_name(&json!("")).unwrap_err().contains("empty"));
        assert!(counter_name(&json!("a{b}")).unwrap_err().contains("'{'"));
        assert!(counter_name(&json!("a:b")).unwrap_err().contains("':'"));
        assert!(counter_name(&json!("x".repeat(129)))
            .unwrap_err()
            .contains("longer"));
        assert!(counter_name(&json!(1)).unwrap_err().contains("name string"));
    }

    #[test]
    fn cost_pointers() {
        assert_eq!(cost_pointer(&json!("/amount")), Ok("/amount".to_owned()));
        assert_eq!(cost_pointer(&json!("/a~1b/0")), Ok("/a~1b/0".to_owned()));
        assert!(cost_pointer(&json!("amount"))
            .unwrap_err()
            .contains("did you mean \"/amount\"?"));
        assert!(cost_pointer(&json!(""))
            .unwrap_err()
            .contains("whole arguments"));
        assert!(cost_pointer(&json!("/a~2")).unwrap_err().contains("escape"));
        assert!(cost_pointer(&json!("/a~")).unwrap_err().contains("escape"));
        assert!(cost_pointer(&json!(3))
            .unwrap_err()
            .contains("JSON pointer"));
    }
}
