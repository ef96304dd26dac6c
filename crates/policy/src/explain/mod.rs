//! Why a policy decides a call the way it does: every key that could apply
//! to the target, in precedence order, the one that decides, the ones that
//! do not match and why, each argument-schema error at its path, and each
//! limit the call would count.
//!
//! The decision in an [`Explanation`] is [`CompiledPolicy::decide_of`]'s own
//! and the deciding key is [`CompiledSection::resolve`]'s, so an explanation
//! can never disagree with the gateway. The trace is built beside them, off
//! the hot path: `decide` pays nothing for it.

mod limits;
mod trace;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::compile::{CompiledPolicy, Match};
use crate::decide::Decision;
use crate::document::{Action, Algorithm, DefaultAction, Kind, OnBackendError, Scope};
use crate::error::child;
use crate::window::Window;

use self::limits::{limit_traces, schema_errors};
use self::trace::Trace;

/// A decision with its trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub kind: Kind,
    /// The tool or prompt name, or the resource URI.
    pub name: String,
    /// Exactly what [`CompiledPolicy::decide_of`] answers.
    pub decision: Decision,
    /// Whether the target appears in its list (`tools/list`, ...).
    pub visible: bool,
    /// The pointer of the part of the policy that decides: a `hide` entry,
    /// a rule, or `default`.
    pub decided_by: String,
    /// Every key that matches the target, highest precedence first: `hide`
    /// entries, the exact key, globs (longest first), the `"*"` rule, and
    /// `default` when no key matches.
    pub matched: Vec<RuleTrace>,
    /// Every other key of the section, in document order, with why it does
    /// not match.
    pub not_matched: Vec<RuleTrace>,
    /// Every way the arguments fail the deciding rule's schema (empty when
    /// they pass, or when no schema is consulted).
    pub schema_errors: Vec<SchemaError>,
    /// The limits of the deciding rule (its own, then `"*"`'s), with each
    /// call's cost; `counted` says whether the decision would count them.
    pub limits: Vec<LimitTrace>,
}

/// One key of the policy and what it does to this target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleTrace {
    /// Where the key is in the document.
    pub pointer: String,
    /// The key as written: a name, a glob, `"*"`; the entry of `hide`; or
    /// `allow`/`deny` for `default`.
    pub key: String,
    pub source: RuleSource,
    pub role: RuleRole,
    /// A sentence a person can act on.
    pub why: String,
}

/// Which part of the document a [`RuleTrace`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSource {
    /// An exact name in `hide`.
    HideExact,
    /// A glob in `hide`.
    HideGlob,
    /// An exact key of the section.
    Exact,
    /// A glob key of the section.
    Glob,
    /// The `"*"` rule, whose limits apply to every allowed call.
    EveryCall,
    /// The section's `default`.
    Default,
}

/// What a key does to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleRole {
    /// It governs the call.
    Decides,
    /// It matches, but a key of higher precedence decides.
    Outranked,
    /// The `"*"` rule: its limits are counted after the deciding rule's own.
    AddsLimits,
    /// The `"*"` rule, when the call is refused before limits are counted
    /// (or `default` allows it and `"*"` has no limits).
    NotApplied,
    /// It does not match the target.
    NoMatch,
}

/// One way the arguments fail a rule's `arguments` schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaError {
    /// JSON pointer into the call's arguments (`""` for the whole object).
    pub path: String,
    /// JSON pointer of the failing keyword in the policy document (the
    /// schema's own pointer when the keyword is reached through a `$ref`).
    pub pointer: String,
    pub message: String,
}

/// One limit of the deciding rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitTrace {
    pub counter: String,
    pub window: Window,
    pub max: u64,
    pub scope: Scope,
    pub algorithm: Algorithm,
    pub on_backend_error: OnBackendError,
    /// The limit's pointer in the document.
    pub pointer: String,
    /// `rule` for the deciding rule's own limits, `every_call` for `"*"`'s.
    pub from: LimitSource,
    /// Units this call would consume (`None` when its `cost` argument is
    /// missing or not a non-negative integer).
    pub cost: Option<u64>,
    /// Whether the decision counts this limit: true exactly for the limits
    /// of an `allow` or `require_approval` decision.
    pub counted: bool,
    /// Why the cost cannot be read, or can never fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Where a limit of a [`LimitTrace`] is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    Rule,
    EveryCall,
}

impl CompiledPolicy {
    /// [`CompiledPolicy::decide`] with its trace.
    pub fn explain(&self, tool: &str, arguments: &Value) -> Explanation {
        self.explain_of(Kind::Tool, tool, arguments)
    }

    /// [`CompiledPolicy::decide_of`] with its trace. Slower than deciding
    /// (it visits every key of the section); meant for people, not calls.
    pub fn explain_of(&self, kind: Kind, name: &str, arguments: &Value) -> Explanation {
        let empty;
        let arguments = if arguments.is_null() {
            empty = Value::Object(Map::new());
            &empty
        } else {
            arguments
        };
        let decision = self.decide_of(kind, name, arguments);
        let section = self.section(kind);
        let every_call_pointer = child(&child("", kind.section()), "*");
        let mut trace = Trace::new(kind, name);
        let governing = section.resolve(name);

        trace.hides(section, name);
        trace.keys(section, name, &governing);
        let limits_counted = matches!(
            decision,
            Decision::Allow { .. } | Decision::RequireApproval { .. }
        );
        let by_default = matches!(governing, Match::Default);
        trace.every_call(section, &every_call_pointer, limits_counted, by_default);
        if matches!(governing, Match::Default) {
            let key = match section.default {
                DefaultAction::Allow => "allow",
                DefaultAction::Deny => "deny",
            };
            trace.matched.push(RuleTrace {
                pointer: section.default_pointer.to_string(),
                key: key.to_owned(),
                source: RuleSource::Default,
                role: RuleRole::Decides,
                why: format!(
                    "no key matches {}, so `default` ({key}) decides",
                    trace.target
                ),
            });
        }
        let decided_by = self.governing_pointer_of(kind, name).to_owned();
        // The deciding entry first among the matched hide entries and keys:
        // resolve's order, which `keys` and `hides` already follow.
        let (schema_errors, limits) = match governing {
            Match::Rule(rule) if !matches!(rule.action, Action::Deny { .. }) => {
                let errors = rule
                    .arguments
                    .as_deref()
                    .map(|schema| schema_errors(schema, arguments))
                    .unwrap_or_default();
                let counted = limits_counted && errors.is_empty();
                (
                    errors,
                    limit_traces(&rule.limits, arguments, &every_call_pointer, counted),
                )
            }
            Match::Default if section.default == DefaultAction::Allow => (
                Vec::new(),
                limit_traces(
                    &section.every_call,
                    arguments,
                    &every_call_pointer,
                    limits_counted,
                ),
            ),
            _ => (Vec::new(), Vec::new()),
        };
        Explanation {
            kind,
            name: name.to_owned(),
            visible: self.visible_of(kind, name),
            decision,
            decided_by,
            matched: trace.matched,
            not_matched: trace.not_matched,
            schema_errors,
            limits,
        }
    }
}
