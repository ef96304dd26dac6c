//! What a policy does to a target whatever the call's arguments: the
//! summary a person reads beside a tool ("limited to 10 a minute", "held
//! for approval", "hidden by /hide/0"), where [`CompiledPolicy::decide_of`]
//! answers for one call.

use serde::Serialize;

use crate::compile::{CompiledPolicy, Match};
use crate::document::{Action, DefaultAction, Kind, Limit, Scope};
use crate::window::Window;

/// The policy's treatment of one tool, resource or prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Treatment {
    pub action: TreatmentAction,
    /// Listed in `tools/list` (`resources/list`, `prompts/list`).
    pub visible: bool,
    /// The part of the policy that governs it: a `hide` entry, a rule, or
    /// the `default`.
    pub pointer: String,
    /// Why it is refused, for `hidden` and `denied`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Calls are checked against the rule's `arguments` schema.
    pub arguments_validated: bool,
    /// Seconds a held call waits for a person, for `require_approval`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_timeout_secs: Option<u64>,
    /// Every limit a call acquires (the target's own, then `"*"`'s).
    pub limits: Vec<LimitSummary>,
}

/// What happens to calls, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TreatmentAction {
    /// Removed from lists by `hide`, and refused as unknown.
    Hidden,
    /// Refused: a `deny` rule, or no rule under `"default": "deny"`.
    Denied,
    /// Forwarded (within its limits, if it has any).
    Allowed,
    /// Held until a person approves.
    RequireApproval,
}

/// One limit, as the document states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitSummary {
    pub counter: String,
    pub window: Window,
    pub max: u64,
    pub scope: Scope,
    /// The argument that sets a call's cost, if not one unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<String>,
    pub pointer: String,
}

impl LimitSummary {
    fn of(limit: &Limit) -> Self {
        Self {
            counter: limit.counter.clone(),
            window: limit.window,
            max: limit.max,
            scope: limit.scope,
            cost: limit.cost.clone(),
            pointer: limit.pointer.clone(),
        }
    }
}

impl CompiledPolicy {
    /// How the policy treats `name` of `kind`, whatever the arguments.
    pub fn treatment_of(&self, kind: Kind, name: &str) -> Treatment {
        let section = self.section(kind);
        let refused = |action, pointer: &str, reason: String| Treatment {
            action,
            visible: false,
            pointer: pointer.to_owned(),
            reason: Some(reason),
            arguments_validated: false,
            approval_timeout_secs: None,
            limits: Vec::new(),
        };
        let noun = kind.noun();
        match section.resolve(name) {
            Match::Hidden(pointer) => refused(
                TreatmentAction::Hidden,
                pointer,
                format!("{noun} {name:?} is hidden by the policy"),
            ),
            Match::Rule(rule) => {
                let approval_timeout_secs = match &rule.action {
                    Action::Deny { reason } => {
                        return refused(
                            TreatmentAction::Denied,
                            &rule.pointer,
                            reason
                                .clone()
                                .unwrap_or_else(|| "denied by policy".to_owned()),
                        )
                    }
                    Action::Allow => None,
                    Action::RequireApproval { timeout_secs, .. } => Some(*timeout_secs),
                };
                Treatment {
                    action: match approval_timeout_secs {
                        Some(_) => TreatmentAction::RequireApproval,
                        None => TreatmentAction::Allowed,
                    },
                    visible: true,
                    pointer: rule.pointer.clone(),
                    reason: None,
                    arguments_validated: rule.arguments.is_some(),
                    approval_timeout_secs,
                    limits: rule.limits.iter().map(LimitSummary::of).collect(),
                }
            }
            Match::Default => match section.default {
                DefaultAction::Deny => refused(
                    TreatmentAction::Denied,
                    &section.default_pointer,
                    format!("no rule allows {noun} {name:?} and the default is deny"),
                ),
                DefaultAction::Allow => Treatment {
                    action: TreatmentAction::Allowed,
                    visible: true,
                    pointer: section.default_pointer.to_string(),
                    reason: None,
                    arguments_validated: false,
                    approval_timeout_secs: None,
                    limits: section.every_call.iter().map(LimitSummary::of).collect(),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_kind_of_rule_is_summarised() {
        let policy = crate::parse(&json!({
            "version": "1",
            "default": "deny",
            "hide": ["debug_*"],
            "tools": {
                "get_*": {"limits": [{"counter": "reads", "window": "minute", "max": 10, "scope": "grant"}]},
                "pay": {"action": "require_approval", "approval_timeout": 60,
                        "arguments": {"type": "object"}},
                "drop": {"action": "deny", "reason": "never"}
            }
        }))
        .unwrap();
        let get = policy.treatment_of(Kind::Tool, "get_issue");
        assert_eq!(get.action, TreatmentAction::Allowed);
        assert_eq!(get.pointer, "/tools/get_*");
        assert_eq!(get.limits[0].counter, "reads");
        assert!(!get.arguments_validated);

        let pay = policy.treatment_of(Kind::Tool, "pay");
        assert_eq!(pay.action, TreatmentAction::RequireApproval);
        assert_eq!(pay.approval_timeout_secs, Some(60));
        assert!(pay.arguments_validated && pay.visible);

        let drop = policy.treatment_of(Kind::Tool, "drop");
        assert_eq!(drop.action, TreatmentAction::Denied);
        assert_eq!(drop.reason.as_deref(), Some("never"));
        assert!(!drop.visible);

        let debug = policy.treatment_of(Kind::Tool, "debug_dump");
        assert_eq!(debug.action, TreatmentAction::Hidden);
        assert_eq!(debug.pointer, "/hide/0");

        let other = policy.treatment_of(Kind::Tool, "other");
        assert_eq!(other.action, TreatmentAction::Denied);
        assert_eq!(other.pointer, "/default");
        // Agrees with the gateway's view.
        for name in ["get_issue", "pay", "drop", "debug_dump", "other"] {
            assert_eq!(
                policy.treatment_of(Kind::Tool, name).visible,
                policy.visible(name)
            );
        }
    }
}
