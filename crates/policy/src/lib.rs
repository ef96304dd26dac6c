//! Toolgate policy documents: parse, validate, compile and decide.
//!
//! A policy (format version "1", see `docs/policy.md`) says which tools of an
//! MCP server an agent may see and call, with which arguments, how often, and
//! which calls need a person's approval. This crate does no I/O: the control
//! plane validates documents with [`parse`], the gateway keeps the
//! [`CompiledPolicy`] and asks it [`CompiledPolicy::visible`] for `tools/list`
//! and [`CompiledPolicy::decide`] for every `tools/call`.
//!
//! ```
//! let policy = toolgate_policy::parse_str(r#"{
//!     "version": "1",
//!     "default": "deny",
//!     "tools": {"get_*": {}, "delete_repo": {"action": "deny", "reason": "no"}}
//! }"#).unwrap();
//! assert!(policy.visible("get_issue"));
//! assert!(!policy.visible("delete_repo"));
//! let decision = policy.decide("get_issue", &serde_json::json!({}));
//! assert!(matches!(decision, toolgate_policy::Decision::Allow { .. }));
//! ```
#![forbid(unsafe_code)]

mod compile;
mod decide;
mod document;
mod error;
mod extensions;
mod glob;
mod glob_set;
mod limit;
mod rule;
mod section;
mod suggest;
mod treatment;
mod validate;
mod values;
mod window;

pub use compile::{CompiledPolicy, CounterSpec};
pub use decide::{Decision, LimitAcquire, RefusalKind};
pub use document::{Algorithm, DefaultAction, Kind, OnBackendError, Scope};
pub use error::PolicyError;
pub use treatment::{LimitSummary, Treatment, TreatmentAction};
pub use window::Window;

/// Validates and compiles a policy document, reporting every error at once.
pub fn parse(doc: &serde_json::Value) -> Result<CompiledPolicy, Vec<PolicyError>> {
    validate::validate(doc).map(compile::compile)
}

/// Like [`parse`], from JSON text. Malformed JSON is one error, at the
/// pointer of the value where reading stopped (`""` for the document). A key
/// given twice in one object is an error at its pointer: which of the two a
/// reader keeps is not what the author can be assumed to have meant.
pub fn parse_str(s: &str) -> Result<CompiledPolicy, Vec<PolicyError>> {
    use toolgate_strictjson::{Refusal, DUPLICATE_KEY};
    let duplicates = match toolgate_strictjson::check(s.as_bytes()) {
        Ok(()) => Vec::new(),
        // serde_json's message already says where: "... at line 3 column 5".
        Err(Refusal::Malformed { pointer, message }) => {
            return Err(vec![PolicyError::new(
                pointer,
                format!("not valid JSON: {message}"),
            )])
        }
        // NUL is reported by `parse` itself, which sees parsed documents too.
        Err(Refusal::Flawed(flaws)) => flaws
            .into_iter()
            .filter(|flaw| flaw.message == DUPLICATE_KEY)
            .map(|flaw| PolicyError::new(flaw.pointer, flaw.message))
            .collect(),
    };
    let doc: serde_json::Value = serde_json::from_str(s)
        .map_err(|error| vec![PolicyError::new("", format!("not valid JSON: {error}"))])?;
    match (parse(&doc), duplicates.is_empty()) {
        (Ok(policy), true) => Ok(policy),
        (Ok(_), false) => Err(duplicates),
        (Err(errors), _) => Err(duplicates.into_iter().chain(errors).collect()),
    }
}
