//! Which decisions read argument values (not just argument names): what a
//! replay of recorded calls can judge only when the values were recorded.

use crate::compile::{CompiledPolicy, Match};
use crate::document::{Action, DefaultAction, Kind, Limit};

impl CompiledPolicy {
    /// The pointer of the part of the policy that makes the decision on a
    /// call of the target of `kind` named `name` depend on its argument
    /// values: the rule's `arguments` schema, or a limit's `cost`. `None`
    /// when the decision reads no value: hidden or denied targets, rules
    /// without a schema or cost (an approval reads values, but only a person
    /// does, after the decision).
    pub fn value_reader_of(&self, kind: Kind, name: &str) -> Option<String> {
        let cost = |limits: &[Limit]| {
            limits
                .iter()
                .find(|limit| limit.cost.is_some())
                .map(|limit| format!("{}/cost", limit.pointer))
        };
        let section = self.section(kind);
        match section.resolve(name) {
            Match::Hidden(_) => None,
            Match::Rule(rule) => match rule.action {
                Action::Deny { .. } => None,
                Action::Allow | Action::RequireApproval { .. } => match &rule.arguments {
                    Some(schema) => Some(schema.pointer.clone()),
                    None => cost(&rule.limits),
                },
            },
            Match::Default if section.default == DefaultAction::Allow => cost(&section.every_call),
            Match::Default => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::Kind;

    #[test]
    fn schemas_and_costs_read_values_and_nothing_else_does() {
        let policy = crate::parse(&json!({
            "version": "1",
            "default": "allow",
            "hide": ["secret"],
            "tools": {
                "echo": {"arguments": {"type": "object"}},
                "pay": {"limits": [{"counter": "spend", "window": "day", "max": 100, "scope": "account", "cost": "/amount"}]},
                "plain": {},
                "wipe": {"action": "deny"},
                "hold": {"action": "require_approval"}
            }
        }))
        .unwrap();
        let reader = |name| policy.value_reader_of(Kind::Tool, name);
        assert_eq!(reader("echo").as_deref(), Some("/tools/echo/arguments"));
        assert_eq!(reader("pay").as_deref(), Some("/tools/pay/limits/0/cost"));
        for name in ["plain", "wipe", "hold", "secret", "other"] {
            assert_eq!(reader(name), None, "{name}");
        }
    }
}
