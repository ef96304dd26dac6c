//! Decisions: what the gateway does with one `tools/call`, `resources/read`
//! or `prompts/get`, and whether a tool, resource or prompt is listed.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::compile::{CompiledPolicy, CompiledRule, Match};
use crate::document::{
    Action, Algorithm, ArgumentSchema, DefaultAction, Kind, Limit, OnBackendError, Scope,
};
use crate::error::{child, describe, truncate};
use crate::window::Window;

/// Longest schema-violation message put in a refusal reason, in characters;
/// violation messages quote the offending value, which may be large.
const MAX_VIOLATION_LEN: usize = 300;

/// What to do with one call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Forward the call once every limit is acquired (all or none).
    Allow { limits: Vec<LimitAcquire> },
    /// Do not forward the call. `pointer` locates the part of the policy that
    /// refused it.
    Refuse {
        reason: String,
        pointer: String,
        kind: RefusalKind,
    },
    /// Hold the call until a person approves it, for at most `timeout_secs`;
    /// the limits are acquired as for `Allow`.
    RequireApproval {
        timeout_secs: u64,
        /// The rule's `approval_hold`, if it sets one: how long the call is
        /// held open before it is handed back, still pending.
        #[serde(skip_serializing_if = "Option::is_none")]
        hold_secs: Option<u64>,
        limits: Vec<LimitAcquire>,
        pointer: String,
    },
}

/// Why a call was refused, which decides how the gateway answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// Hidden by `hide`, or denied outright by a `deny` rule: the tool is
    /// absent from `tools/list` and a call is answered as an unknown tool.
    Hidden,
    /// No key matches and `default` is `deny`: answered as an unknown tool.
    Unknown,
    /// The tool is visible but this call is refused (its arguments fail the
    /// schema, or its cost cannot be read or can never fit the limit).
    Denied,
}

/// One limit to acquire for an allowed call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitAcquire {
    pub counter: String,
    pub window: Window,
    pub max: u64,
    pub scope: Scope,
    pub algorithm: Algorithm,
    pub on_backend_error: OnBackendError,
    /// Units this call consumes: 1, or the value its `cost` pointer names.
    pub cost: u64,
    /// The limit's pointer in the policy document.
    pub pointer: String,
}

impl CompiledPolicy {
    /// Whether `tool` appears in `tools/list`: false for hidden tools, tools
    /// denied by a `deny` rule, and unmatched tools under `"default": "deny"`.
    pub fn visible(&self, tool: &str) -> bool {
        self.visible_of(Kind::Tool, tool)
    }

    /// [`CompiledPolicy::visible`] for any kind of target: whether a resource
    /// (by URI) appears in `resources/list`, a prompt in `prompts/list`.
    pub fn visible_of(&self, kind: Kind, name: &str) -> bool {
        let section = self.section(kind);
        match section.resolve(name) {
            Match::Hidden(_) => false,
            Match::Rule(rule) => !matches!(rule.action, Action::Deny { .. }),
            Match::Default => section.default == DefaultAction::Allow,
        }
    }

    /// Decides one call of `tool` with `arguments` (the call's `arguments`
    /// object; `null` is read as `{}`). Pure and cheap; never panics.
    pub fn decide(&self, tool: &str, arguments: &Value) -> Decision {
        self.decide_of(Kind::Tool, tool, arguments)
    }

    /// [`CompiledPolicy::decide`] for any kind of target: a `resources/read`
    /// of a URI (whose `arguments` are always `{}`), a `prompts/get` of a
    /// prompt with its `arguments`.
    pub fn decide_of(&self, kind: Kind, name: &str, arguments: &Value) -> Decision {
        let empty;
        let arguments = if arguments.is_null() {
            empty = Value::Object(Map::new());
            &empty
        } else {
            arguments
        };
        let section = self.section(kind);
        let noun = kind.noun();
        match section.resolve(name) {
            Match::Hidden(pointer) => Decision::Refuse {
                reason: format!("{noun} {name:?} is hidden by the policy"),
                pointer: pointer.to_owned(),
                kind: RefusalKind::Hidden,
            },
            Match::Rule(rule) => decide_rule(rule, arguments),
            Match::Default => match section.default {
                DefaultAction::Deny => Decision::Refuse {
                    reason: format!("no rule allows {noun} {name:?} and the default is deny"),
                    pointer: section.default_pointer.to_string(),
                    kind: RefusalKind::Unknown,
                },
                DefaultAction::Allow => match acquire(&section.every_call, arguments) {
                    Ok(limits) => Decision::Allow { limits },
                    Err(refusal) => refusal,
                },
            },
        }
    }
}

fn decide_rule(rule: &CompiledRule, arguments: &Value) -> Decision {
    let approval = match &rule.action {
        Action::Deny { reason } => {
            return Decision::Refuse {
                reason: reason
                    .clone()
                    .unwrap_or_else(|| "denied by policy".to_owned()),
                pointer: rule.pointer.clone(),
                kind: RefusalKind::Hidden,
            }
        }
        Action::Allow => None,
        Action::RequireApproval {
            timeout_secs,
            hold_secs,
        } => Some((*timeout_secs, *hold_secs)),
    };
    if let Some(schema) = &rule.arguments {
        // `is_valid` is the fast path; the error is only built on failure.
        if !schema.validator.is_valid(arguments) {
            return schema_refusal(schema, arguments);
        }
    }
    let limits = match acquire(&rule.limits, arguments) {
        Ok(limits) => limits,
        Err(refusal) => return refusal,
    };
    match approval {
        None => Decision::Allow { limits },
        Some((timeout_secs, hold_secs)) => Decision::RequireApproval {
            timeout_secs,
            hold_secs,
            limits,
            pointer: rule.pointer.clone(),
        },
    }
}

fn schema_refusal(schema: &ArgumentSchema, arguments: &Value) -> Decision {
    let Err(error) = schema.validator.validate(arguments) else {
        // Unreachable in practice: `is_valid` said no. Refuse anyway.
        return denied(
            "arguments rejected by the schema".to_owned(),
            schema.pointer.clone(),
        );
    };
    let at = error.instance_path.to_string();
    let keyword = error.schema_path.to_string();
    let message = truncate(&error.to_string(), MAX_VIOLATION_LEN);
    let reason = if at.is_empty() {
        format!("arguments rejected: {message}")
    } else {
        format!("arguments rejected at {at}: {message}")
    };
    // Point at the exact keyword when it is literally in the schema (it is
    // not when the path runs through a `$ref`).
    let pointer = if schema.schema.pointer(&keyword).is_some() {
        format!("{}{keyword}", schema.pointer)
    } else {
        schema.pointer.clone()
    };
    denied(reason, pointer)
}

fn denied(reason: String, pointer: String) -> Decision {
    Decision::Refuse {
        reason,
        pointer,
        kind: RefusalKind::Denied,
    }
}

/// The limits with each cost resolved, or the refusal for a bad cost.
fn acquire(limits: &[Limit], arguments: &Value) -> Result<Vec<LimitAcquire>, Decision> {
    limits
        .iter()
        .map(|limit| {
            let cost = match &limit.cost {
                None => 1,
                Some(path) => resolve_cost(limit, path, arguments)?,
            };
            Ok(LimitAcquire {
                counter: limit.counter.clone(),
                window: limit.window,
                max: limit.max,
                scope: limit.scope,
                algorithm: limit.algorithm,
                on_backend_error: limit.on_backend_error,
                cost,
                pointer: limit.pointer.clone(),
            })
        })
        .collect()
}

fn resolve_cost(limit: &Limit, path: &str, arguments: &Value) -> Result<u64, Decision> {
    let refuse = |reason: String| denied(reason, child(&limit.pointer, "cost"));
    let cost = match arguments.pointer(path) {
        None => {
            return Err(refuse(format!(
                "the argument {path} that sets this call's cost for counter {:?} is missing",
                limit.counter
            )))
        }
        Some(value) => value.as_u64().ok_or_else(|| {
            refuse(format!(
                "the argument {path} that sets this call's cost for counter {:?} must be a \
                 non-negative integer, not {}",
                limit.counter,
                describe(value)
            ))
        })?,
    };
    if cost > limit.max {
        // No window will ever have room for it: refuse now rather than retry.
        return Err(denied(
            format!(
                "this call costs {cost} ({path}) but counter {:?} allows at most {} per window",
                limit.counter, limit.max
            ),
            limit.pointer.clone(),
        ));
    }
    Ok(cost)
}
