//! Validation errors, the JSON pointers that locate them, and what every
//! reader of the document shares to report them: the [`Errors`] it pushes
//! to and the check for [`unknown_fields`].

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::suggest;

/// One problem found in a policy document.
///
/// `pointer` is an RFC 6901 JSON pointer into the document (`""` is the whole
/// document, e.g. for a JSON syntax error); `message` says what to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyError {
    pub pointer: String,
    pub message: String,
}

impl PolicyError {
    pub(crate) fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The empty pointer is the whole document; print something a person can see.
        let pointer = if self.pointer.is_empty() {
            "(root)"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {}", self.message)
    }
}

impl std::error::Error for PolicyError {}

/// Collects errors as validation walks the document.
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<PolicyError>);

impl Errors {
    pub(crate) fn push(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.0.push(PolicyError::new(pointer, message));
    }

    /// `value` when nothing was reported, else every error in the order found.
    pub(crate) fn into_result<T>(self, value: T) -> Result<T, Vec<PolicyError>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }

    pub(crate) fn into_vec(self) -> Vec<PolicyError> {
        self.0
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

/// Appends `key` to `pointer`, escaping `~` and `/` as RFC 6901 requires.
pub(crate) fn child(pointer: &str, key: &str) -> String {
    let mut out = String::with_capacity(pointer.len() + key.len() + 1);
    out.push_str(pointer);
    out.push('/');
    for c in key.chars() {
        match c {
            '~' => out.push_str("~0"),
            '/' => out.push_str("~1"),
            c => out.push(c),
        }
    }
    out
}

/// Appends an array index to `pointer`.
pub(crate) fn index(pointer: &str, i: usize) -> String {
    format!("{pointer}/{i}")
}

/// Describes a JSON value for messages: its type and, for scalars, the value.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {}", Value::String(truncate(s, 60))),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// Shortens `s` to at most `max` characters, marking the cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}…", &s[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn child_escapes_tilde_and_slash() {
        assert_eq!(child("/tools", "a/b~c"), "/tools/a~1b~0c");
        assert_eq!(child("", "tools"), "/tools");
        assert_eq!(index("/hide", 3), "/hide/3");
    }

    #[test]
    fn display_names_the_root_when_pointer_is_empty() {
        assert_eq!(
            PolicyError::new("", "bad").to_string(),
            "(root): bad".to_owned()
        );
        assert_eq!(
            PolicyError::new("/version", "bad").to_string(),
            "/version: bad"
        );
    }

    #[test]
    fn describe_and_truncate() {
        assert_eq!(describe(&json!("10")), "the string \"10\"");
        assert_eq!(describe(&json!(-1)), "the number -1");
        assert_eq!(describe(&json!([1])), "an array");
        assert_eq!(truncate("abcdef", 3), "abc…");
        assert_eq!(truncate("héé", 3), "héé");
    }
}
