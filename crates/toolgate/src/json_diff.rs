//! A readable difference between two JSON values: one line per changed
//! value, at its JSON pointer.

use serde_json::Value;

/// One difference.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    Added { at: String, value: Value },
    Removed { at: String, value: Value },
    Changed { at: String, from: Value, to: Value },
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Added { at, value } => write!(f, "+ {}: {value}", shown(at)),
            Change::Removed { at, value } => write!(f, "- {}: {value}", shown(at)),
            Change::Changed { at, from, to } => write!(f, "~ {}: {from} -> {to}", shown(at)),
        }
    }
}

fn shown(at: &str) -> &str {
    if at.is_empty() {
        "(document)"
    } else {
        at
    }
}

/// What turns `from` into `to`, objects key by key (sorted), arrays index
/// by index; empty when they are equal.
pub fn diff(from: &Value, to: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    walk(from, to, &mut String::new(), &mut changes);
    changes
}

fn walk(from: &Value, to: &Value, at: &mut String, changes: &mut Vec<Change>) {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let len = at.len();
                toolgate_strictjson::push_segment(at, key);
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => walk(x, y, at, changes),
                    (Some(x), None) => changes.push(Change::Removed {
                        at: at.clone(),
                        value: x.clone(),
                    }),
                    (None, Some(y)) => changes.push(Change::Added {
                        at: at.clone(),
                        value: y.clone(),
                    }),
                    (None, None) => {}
                }
                at.truncate(len);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let len = at.len();
                at.push('/');
                at.push_str(&i.to_string());
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => walk(x, y, at, changes),
                    (Some(x), None) => changes.push(Change::Removed {
                        at: at.clone(),
                        value: x.clone(),
                    }),
                    (None, Some(y)) => changes.push(Change::Added {
                        at: at.clone(),
                        value: y.clone(),
                    }),
                    (None, None) => {}
                }
                at.truncate(len);
            }
        }
        (a, b) if same(a, b) => {}
        (a, b) => changes.push(Change::Changed {
            at: at.clone(),
            from: a.clone(),
            to: b.clone(),
        }),
    }
}

/// Equal values, reading `1` and `1.0` as one number (Postgres `jsonb`
/// may hand back either spelling).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_each_change_at_its_pointer() {
        let from = json!({"default": "allow", "hide": ["a", "b"], "tools": {"x": {}, "a/b": 1}});
        let to = json!({"default": "deny", "hide": ["a"], "tools": {"x": {}, "y": {"action": "deny"}, "a/b": 1.0}});
        let lines: Vec<String> = diff(&from, &to).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "~ /default: \"allow\" -> \"deny\"",
                "- /hide/1: \"b\"",
                "+ /tools/y: {\"action\":\"deny\"}",
            ]
        );
        assert!(diff(&to, &to).is_empty());
    }
}
