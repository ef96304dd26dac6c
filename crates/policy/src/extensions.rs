//! `extensions`: the JSON-RPC methods outside MCP that the gateway forwards
//! for this server.
//!
//! The gateway refuses every method the MCP revision in use does not define
//! (`-32601`), so an upstream's own methods stay unreachable unless the
//! account names them here, exactly. A listed method is forwarded as sent:
//! the policy knows nothing of its parameters, so naming it is trusting it.

use std::collections::HashSet;

use serde_json::Value;

use crate::error::{describe, index, Errors};

/// Longest extension method name, in bytes.
pub(crate) const MAX_EXTENSION_LEN: usize = 256;

/// Reads `extensions`: absent is none; otherwise an array of distinct,
/// non-empty method names that MCP does not define itself.
pub(crate) fn read_extensions(errors: &mut Errors, value: Option<&Value>) -> Vec<String> {
    let Some(value) = value else {
        return Vec::new();
    };
    let Some(entries) = value.as_array() else {
        errors.push(
            "/extensions",
            format!(
                "extensions must be an array of method names such as [\"x-vendor/do-thing\"], not {}",
                describe(value)
            ),
        );
        return Vec::new();
    };
    let mut seen = HashSet::new();
    let mut methods = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let pointer = index("/extensions", i);
        let Some(method) = entry.as_str() else {
            errors.push(
                pointer,
                format!(
                    "an extension must be a method name (a string), not {}",
                    describe(entry)
                ),
            );
            continue;
        };
        if let Some(problem) = problem(method) {
            errors.push(pointer, problem);
        } else if !seen.insert(method) {
            errors.push(pointer, format!("extension {method:?} is listed twice"));
        } else {
            methods.push(method.to_owned());
        }
    }
    methods
}

fn problem(method: &str) -> Option<String> {
    if method.is_empty() {
        return Some("an extension method name must not be empty".into());
    }
    if method.len() > MAX_EXTENSION_LEN {
        return Some(format!(
            "an extension method name must be at most {MAX_EXTENSION_LEN} bytes"
        ));
    }
    // A NUL is reported for the whole document by `strictjson`; other
    // control characters have no place in a method name either.
    if method.chars().any(|c| c.is_control() && c != '\0') {
        return Some("an extension method name must not contain control characters".into());
    }
    if method.starts_with("rpc.") {
        return Some(format!(
            "{method:?} is reserved: JSON-RPC keeps methods starting with `rpc.` for itself"
        ));
    }
    if toolgate_mcp::methods::is_mcp_method(method) {
        return Some(format!(
            "{method:?} is an MCP method: the gateway judges it by the revision in use; \
             list only methods MCP does not define"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::PolicyError;

    fn errors(extensions: serde_json::Value) -> Vec<PolicyError> {
        crate::parse(&json!({"version": "1", "extensions": extensions}))
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn absent_or_listed_extensions_compile() {
        let none = crate::parse(&json!({"version": "1"})).unwrap();
        assert!(!none.is_extension("x-vendor/do-thing"));
        let policy = crate::parse(
            &json!({"version": "1", "extensions": ["x-vendor/do-thing", "debug/dump"]}),
        )
        .unwrap();
        assert!(policy.is_extension("x-vendor/do-thing"));
        assert!(policy.is_extension("debug/dump"));
        assert!(!policy.is_extension("x-vendor/do-thin"));
        assert!(!policy.is_extension("X-vendor/do-thing"));
        assert!(!policy.is_extension("x-vendor/*"));
        assert!(!policy.is_extension("debug"));
        assert!(!policy.is_extension("debug/dump "));
        assert!(errors(json!([])).is_empty());
    }

    #[test]
    fn bad_entries_are_reported_at_their_pointer() {
        let found = errors(json!([
            "",
            "tools/call",
            "x",
            "x",
            3,
            "rpc.discover",
            "sampling/createMessage",
            "a\u{7}b"
        ]));
        let at: Vec<(&str, &str)> = found
            .iter()
            .map(|e| (e.pointer.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(at.len(), 7, "{at:?}");
        assert_eq!(
            at[0],
            (
                "/extensions/0",
                "an extension method name must not be empty"
            )
        );
        assert_eq!(at[1].0, "/extensions/1");
        assert!(
            at[1].1.contains("\"tools/call\" is an MCP method"),
            "{}",
            at[1].1
        );
        assert_eq!(at[2], ("/extensions/3", "extension \"x\" is listed twice"));
        assert_eq!(at[3].0, "/extensions/4");
        assert!(at[3].1.contains("the number 3"), "{}", at[3].1);
        assert_eq!(at[4].0, "/extensions/5");
        assert!(at[4].1.contains("reserved"));
        assert_eq!(at[5].0, "/extensions/6");
        assert!(at[5].1.contains("is an MCP method"));
        assert_eq!(at[6].0, "/extensions/7");
        assert!(at[6].1.contains("control characters"));
    }

    #[test]
    fn the_field_must_be_an_array() {
        let found = errors(json!("x-vendor/do-thing"));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].pointer, "/extensions");
        assert!(found[0].message.starts_with("extensions must be an array"));
    }

    #[test]
    fn a_nul_is_refused_once() {
        let found = errors(json!(["x\u{0}y"]));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pointer, "/extensions/0");
    }

    #[test]
    fn overlong_names_are_refused() {
        let long = "x".repeat(super::MAX_EXTENSION_LEN + 1);
        let found = errors(json!([long]));
        assert_eq!(found[0].pointer, "/extensions/0");
        assert!(found[0].message.contains("at most 256 bytes"));
    }
}
