//! Why a policy decides a call the way it does: every key that could apply
//! to the target, in precedence order, the one that decides, the ones that
//! do not match and why, each argument-schema error at its path, and each
//! limit the call would count.
//!
//! The decision in an [`Explanation`] is [`CompiledPolicy::decide_of`]'s own
//! and the deciding key is [`CompiledSection::resolve`]'s, so an explanation
//! can never disagree with the gateway. The trace is built beside them, off
//! the hot path: `decide` pays nothing for it.

use std::cmp::Ordering;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::compile::{CompiledPolicy, CompiledSection, Match};
use crate::decide::Decision;
use crate::document::{
    Action, Algorithm, ArgumentSchema, DefaultAction, Kind, Limit, OnBackendError, Scope,
};
use crate::error::{child, describe, truncate};
use crate::glob::Glob;
use crate::window::Window;

/// Longest schema-error message in a trace, in characters.
const MAX_MESSAGE_LEN: usize = 300;

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

struct Trace {
    /// `tool "x"`, for messages.
    target: String,
    name: String,
    matched: Vec<RuleTrace>,
    not_matched: Vec<RuleTrace>,
    /// Whether a `hide` entry already decides.
    hidden: bool,
}

impl Trace {
    fn new(kind: Kind, name: &str) -> Self {
        Self {
            target: format!("{} {name:?}", kind.noun()),
            name: name.to_owned(),
            matched: Vec::new(),
            not_matched: Vec::new(),
            hidden: false,
        }
    }

    /// `hide` entries: an exact entry first, then globs by precedence; the
    /// first that matches hides the target whatever the rules say.
    fn hides(&mut self, section: &CompiledSection, name: &str) {
        let mut exact: Vec<(&String, &String)> = section.hide_exact.iter().collect();
        exact.sort_by(|a, b| a.1.cmp(b.1));
        for (entry, pointer) in exact {
            if entry == name {
                self.matched.push(RuleTrace {
                    pointer: pointer.clone(),
                    key: entry.clone(),
                    source: RuleSource::HideExact,
                    role: RuleRole::Decides,
                    why: format!(
                        "`hide` names {}: it is hidden, whatever the rules say",
                        self.target
                    ),
                });
                self.hidden = true;
            } else {
                self.not_matched.push(RuleTrace {
                    pointer: pointer.clone(),
                    key: entry.clone(),
                    source: RuleSource::HideExact,
                    role: RuleRole::NoMatch,
                    why: format!("this `hide` entry names {entry:?}, not {:?}", self.name),
                });
            }
        }
        let mut globs: Vec<&(Glob, String)> = section.hide_globs.entries().collect();
        globs.sort_by(|a, b| a.0.precedence(&b.0));
        let mut unmatched = Vec::new();
        for (glob, pointer) in globs {
            if glob.matches(name) {
                let (role, why) = if self.hidden {
                    (
                        RuleRole::Outranked,
                        "matches too, but an earlier `hide` entry already hides it".to_owned(),
                    )
                } else {
                    self.hidden = true;
                    (
                        RuleRole::Decides,
                        format!(
                            "the `hide` glob {:?} matches {}: it is hidden, whatever the rules say",
                            glob.pattern(),
                            self.target
                        ),
                    )
                };
                self.matched.push(RuleTrace {
                    pointer: pointer.clone(),
                    key: glob.pattern().to_owned(),
                    source: RuleSource::HideGlob,
                    role,
                    why,
                });
            } else {
                unmatched.push(RuleTrace {
                    pointer: pointer.clone(),
                    key: glob.pattern().to_owned(),
                    source: RuleSource::HideGlob,
                    role: RuleRole::NoMatch,
                    why: mismatch(glob, name),
                });
            }
        }
        unmatched.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        self.not_matched.extend(unmatched);
    }

    /// The section's keys: the exact key, then globs in precedence order.
    fn keys(&mut self, section: &CompiledSection, name: &str, governing: &Match<'_>) {
        let decider = match governing {
            Match::Rule(rule) => Some(rule.pointer.as_str()),
            _ => None,
        };
        // (precedence class, glob, index): exact keys sort before every glob.
        let mut matching: Vec<(Option<&Glob>, usize)> = Vec::new();
        let mut unmatched: Vec<(usize, RuleTrace)> = Vec::new();
        for (key, &index) in &section.exact {
            if key == name {
                matching.push((None, index));
            } else {
                unmatched.push((
                    index,
                    RuleTrace {
                        pointer: pointer_of(section, index),
                        key: key.clone(),
                        source: RuleSource::Exact,
                        role: RuleRole::NoMatch,
                        why: format!("an exact key for {key:?}, not {:?}", self.name),
                    },
                ));
            }
        }
        for (glob, index) in section.globs.entries() {
            if glob.matches(name) {
                matching.push((Some(glob), *index));
            } else {
                unmatched.push((
                    *index,
                    RuleTrace {
                        pointer: pointer_of(section, *index),
                        key: glob.pattern().to_owned(),
                        source: RuleSource::Glob,
                        role: RuleRole::NoMatch,
                        why: mismatch(glob, name),
                    },
                ));
            }
        }
        matching.sort_by(|a, b| match (a.0, b.0) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(a), Some(b)) => a.precedence(b),
        });
        let winner = matching.first().copied();
        for &(glob, index) in &matching {
            let pointer = pointer_of(section, index);
            let decides = !self.hidden && decider == Some(pointer.as_str());
            let (role, why) = if decides {
                let what = match glob {
                    None => format!("the exact key for {}", self.target),
                    Some(glob) if matching.len() == 1 => format!(
                        "the only key matching {} (glob {:?})",
                        self.target,
                        glob.pattern()
                    ),
                    Some(glob) => format!(
                        "the highest-precedence glob matching {} ({:?}: among globs the longest \
                         pattern wins, then the one with fewer `*`, then the first in byte order)",
                        self.target,
                        glob.pattern()
                    ),
                };
                (RuleRole::Decides, format!("{what} decides"))
            } else if self.hidden {
                (
                    RuleRole::Outranked,
                    format!(
                        "matches, but {} is hidden: `hide` beats every rule",
                        self.target
                    ),
                )
            } else {
                let why = match (winner, glob) {
                    (Some((None, _)), _) => {
                        "matches, but the exact key beats every glob".to_owned()
                    }
                    (Some((Some(best), _)), Some(glob)) => outranked_by(glob, best),
                    _ => "matches, but another key decides".to_owned(),
                };
                (RuleRole::Outranked, why)
            };
            self.matched.push(RuleTrace {
                pointer,
                key: glob.map_or_else(|| self.name.clone(), |g| g.pattern().to_owned()),
                source: if glob.is_some() {
                    RuleSource::Glob
                } else {
                    RuleSource::Exact
                },
                role,
                why,
            });
        }
        unmatched.sort_by_key(|(index, _)| *index);
        self.not_matched
            .extend(unmatched.into_iter().map(|(_, trace)| trace));
    }

    /// The `"*"` rule, when the section has one with limits.
    fn every_call(
        &mut self,
        section: &CompiledSection,
        pointer: &str,
        counted: bool,
        by_default: bool,
    ) {
        if section.every_call.is_empty() {
            return;
        }
        let (role, why) = if counted && by_default {
            (
                RuleRole::AddsLimits,
                "`\"*\"` matches every call; `default` allows this one, so only these limits \
                 are counted"
                    .to_owned(),
            )
        } else if counted {
            (
                RuleRole::AddsLimits,
                "`\"*\"` matches every call; its limits are counted after the deciding rule's own"
                    .to_owned(),
            )
        } else {
            (
                RuleRole::NotApplied,
                "`\"*\"` matches every call, but its limits are not counted: this call is \
                 refused before limits"
                    .to_owned(),
            )
        };
        self.matched.push(RuleTrace {
            pointer: pointer.to_owned(),
            key: "*".to_owned(),
            source: RuleSource::EveryCall,
            role,
            why,
        });
    }
}

fn pointer_of(section: &CompiledSection, index: usize) -> String {
    section
        .rules
        .get(index)
        .map(|rule| rule.pointer.clone())
        .unwrap_or_default()
}

/// Why `glob`, which matches, loses to `best`.
fn outranked_by(glob: &Glob, best: &Glob) -> String {
    let len = |g: &Glob| g.pattern().chars().count();
    let stars = |g: &Glob| g.pattern().matches('*').count();
    let because = if len(best) > len(glob) {
        format!(
            "{:?} is longer ({} characters against {})",
            best.pattern(),
            len(best),
            len(glob)
        )
    } else if stars(best) < stars(glob) {
        format!(
            "{:?} is as long and has fewer `*` ({} against {})",
            best.pattern(),
            stars(best),
            stars(glob)
        )
    } else {
        format!(
            "{:?} is as long, has as many `*`, and comes first in byte order",
            best.pattern()
        )
    };
    format!("matches, but the glob {because}, so it wins")
}

/// Why `glob` does not match `name`.
fn mismatch(glob: &Glob, name: &str) -> String {
    let (prefix, suffix) = (glob.prefix(), glob.suffix());
    if !name.starts_with(prefix) {
        format!("{name:?} does not start with {prefix:?}")
    } else if !name.ends_with(suffix) {
        format!("{name:?} does not end with {suffix:?}")
    } else if name.len() < prefix.len() + suffix.len() {
        format!(
            "{name:?} is too short to hold both {prefix:?} and {suffix:?} of {:?}",
            glob.pattern()
        )
    } else {
        format!(
            "the literal text between the `*` of {:?} does not occur, in order, in {name:?}",
            glob.pattern()
        )
    }
}

fn schema_errors(schema: &ArgumentSchema, arguments: &Value) -> Vec<SchemaError> {
    let Err(errors) = schema.validator.validate(arguments).map_err(|first| {
        // `validate` stops at the first error; `iter_errors` finds them all.
        let mut all: Vec<_> = schema.validator.iter_errors(arguments).collect();
        if all.is_empty() {
            all.push(first);
        }
        all
    }) else {
        return Vec::new();
    };
    errors
        .into_iter()
        .map(|error| {
            let keyword = error.schema_path.to_string();
            let pointer = if schema.schema.pointer(&keyword).is_some() {
                format!("{}{keyword}", schema.pointer)
            } else {
                schema.pointer.clone()
            };
            SchemaError {
                path: error.instance_path.to_string(),
                pointer,
                message: truncate(&error.to_string(), MAX_MESSAGE_LEN),
            }
        })
        .collect()
}

fn limit_traces(
    limits: &[Limit],
    arguments: &Value,
    every_call_pointer: &str,
    counted: bool,
) -> Vec<LimitTrace> {
    let every_call_prefix = format!("{every_call_pointer}/");
    let mut traces: Vec<LimitTrace> = limits
        .iter()
        .map(|limit| {
            let (cost, problem) = match &limit.cost {
                None => (Some(1), None),
                Some(path) => match arguments.pointer(path) {
                    None => (
                        None,
                        Some(format!("the argument {path} that sets the cost is missing")),
                    ),
                    Some(value) => match value.as_u64() {
                        None => (
                            None,
                            Some(format!(
                                "the argument {path} that sets the cost must be a non-negative \
                                 integer, not {}",
                                describe(value)
                            )),
                        ),
                        Some(cost) if cost > limit.max => (
                            Some(cost),
                            Some(format!(
                                "this call costs {cost} but the counter allows at most {} per \
                                 window",
                                limit.max
                            )),
                        ),
                        Some(cost) => (Some(cost), None),
                    },
                },
            };
            LimitTrace {
                counter: limit.counter.clone(),
                window: limit.window,
                max: limit.max,
                scope: limit.scope,
                algorithm: limit.algorithm,
                on_backend_error: limit.on_backend_error,
                pointer: limit.pointer.clone(),
                from: if limit.pointer.starts_with(&every_call_prefix) {
                    LimitSource::EveryCall
                } else {
                    LimitSource::Rule
                },
                cost,
                counted,
                problem,
            }
        })
        .collect();
    // A bad cost refuses the call: then nothing is counted.
    if traces.iter().any(|t| t.problem.is_some()) {
        for trace in &mut traces {
            trace.counted = false;
        }
    }
    traces
}
