//! The policy applied to one POST body: which messages go to the upstream and
//! which the gateway answers itself.

use bytes::Bytes;
use serde_json::json;
use toolgate_mcp::headers::Era;
use toolgate_mcp::peek::TOOLS_LIST;
use toolgate_mcp::response::{error_response, refusal_response, unknown_tool_response, MetaKey};
use toolgate_mcp::{error_codes, Body, Message};
use toolgate_policy::{CompiledPolicy, Decision, RefusalKind};

/// What to do with a body.
#[derive(Debug, Default)]
pub struct Plan {
    /// Answers the gateway gives itself, in message order.
    pub local: Vec<Bytes>,
    /// Which messages go upstream, by index; all of them when none was answered.
    pub forward: Vec<usize>,
    /// Whether a forwarded message is a `tools/list` request, whose answer
    /// must be filtered.
    pub lists_tools: bool,
}

impl Plan {
    pub fn forwards_everything(&self, body: &Body<'_>) -> bool {
        self.forward.len() == body.messages().len()
    }
}

pub fn plan(body: &Body<'_>, policy: &CompiledPolicy, era: Era) -> Plan {
    let mut plan = Plan::default();
    for (index, message) in body.messages().iter().enumerate() {
        match answer(message, policy, era) {
            Some(local) => plan.local.push(local),
            None => {
                plan.lists_tools |= message.is_method(TOOLS_LIST);
                plan.forward.push(index);
            }
        }
    }
    plan
}

/// The gateway's own answer to a message, or `None` to forward it.
fn answer(message: &Message<'_>, policy: &CompiledPolicy, era: Era) -> Option<Bytes> {
    let call = message.tool_call()?;
    // `peek` accepts tools/call only as a request, so there is an id.
    let id = message.id()?;
    let arguments = match call.arguments_value() {
        Ok(arguments) => arguments,
        Err(err) => {
            return Some(error_response(
                Some(id),
                error_codes::INVALID_PARAMS,
                &format!("Invalid params: arguments are not valid JSON: {err}"),
            ))
        }
    };
    match policy.decide(call.name(), &arguments) {
        Decision::Allow { limits } if limits.is_empty() => None,
        Decision::Allow { limits } => {
            let counters: Vec<&str> = limits.iter().map(|l| l.counter.as_str()).collect();
            Some(refusal(
                era,
                id,
                &format!(
                    "this call is rate-limited (counter {}), and this gateway does not enforce rate limits yet, so it refuses the call rather than run it unlimited",
                    counters.join(", ")
                ),
                limits.first().map_or("", |l| l.pointer.as_str()),
            ))
        }
        Decision::RequireApproval { pointer, .. } => Some(refusal(
            era,
            id,
            "this call requires a person's approval, which this gateway cannot request yet",
            &pointer,
        )),
        Decision::Refuse {
            kind: RefusalKind::Denied,
            reason,
            pointer,
        } => Some(refusal(era, id, &reason, &pointer)),
        Decision::Refuse { .. } => Some(unknown_tool_response(id, call.name())),
    }
}

fn refusal(era: Era, id: &toolgate_mcp::Id<'_>, reason: &str, pointer: &str) -> Bytes {
    refusal_response(
        id,
        era,
        reason,
        &[(MetaKey::TOOLGATE_REFUSAL, json!({ "rule": pointer }))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn policy() -> CompiledPolicy {
        toolgate_policy::parse(&json!({
            "version": "1",
            "default": "deny",
            "hide": ["get-env"],
            "tools": {
                "echo": {"arguments": {"type": "object", "properties": {"message": {"type": "string", "maxLength": 5}}}},
                "add": {},
                "wipe": {"action": "deny", "reason": "no wiping"},
                "limited": {"limits": [{"counter": "c", "window": "minute", "max": 5, "scope": "grant"}]},
                "pay": {"action": "require_approval"}
            }
        }))
        .unwrap()
    }

    fn call(id: u32, name: &str, arguments: Value) -> String {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}}).to_string()
    }

    fn local(plan: &Plan, i: usize) -> Value {
        serde_json::from_slice(&plan.local[i]).unwrap()
    }

    #[test]
    fn allowed_calls_and_other_methods_are_forwarded() {
        let policy = policy();
        for body in [
            call(1, "echo", json!({"message": "hi"})),
            call(1, "add", json!({"a": 1})),
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/list"}"#.to_owned(),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
        ] {
            let parsed = toolgate_mcp::peek(body.as_bytes()).unwrap();
            let plan = plan(&parsed, &policy, Era::Legacy);
            assert!(
                plan.local.is_empty() && plan.forwards_everything(&parsed),
                "{body}"
            );
            assert!(!plan.lists_tools);
        }
        let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
        assert!(
            plan(
                &toolgate_mcp::peek(list.as_bytes()).unwrap(),
                &policy,
                Era::Legacy
            )
            .lists_tools
        );
    }

    #[test]
    fn hidden_denied_and_unknown_tools_are_unknown() {
        let policy = policy();
        for name in ["get-env", "wipe", "nope"] {
            let body = call(9, name, json!({}));
            let plan = plan(
                &toolgate_mcp::peek(body.as_bytes()).unwrap(),
                &policy,
                Era::Legacy,
            );
            assert!(plan.forward.is_empty());
            let answer = local(&plan, 0);
            assert_eq!(answer["id"], 9);
            assert_eq!(answer["error"]["code"], -32602);
            assert_eq!(answer["error"]["message"], format!("Unknown tool: {name}"));
        }
    }

    #[test]
    fn refused_visible_calls_get_an_is_error_result() {
        let policy = policy();
        let body = call(3, "echo", json!({"message": "far too long"}));
        let plan = plan(
            &toolgate_mcp::peek(body.as_bytes()).unwrap(),
            &policy,
            Era::Legacy,
        );
        let answer = local(&plan, 0);
        assert_eq!(answer["result"]["isError"], true);
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert!(
            text.starts_with("Denied by policy: ") && text.contains("/message"),
            "{text}"
        );
        assert!(answer["result"]["_meta"]["dev.toolgate/refusal"]["rule"]
            .as_str()
            .unwrap()
            .starts_with("/tools/echo"));
    }

    #[test]
    fn limits_and_approvals_are_refused_until_enforced() {
        let policy = policy();
        for name in ["limited", "pay"] {
            let body = call(4, name, json!({}));
            let plan = plan(
                &toolgate_mcp::peek(body.as_bytes()).unwrap(),
                &policy,
                Era::Legacy,
            );
            assert!(
                plan.forward.is_empty(),
                "{name} must not reach the upstream"
            );
            assert_eq!(local(&plan, 0)["result"]["isError"], true);
        }
    }

    #[test]
    fn a_batch_cannot_smuggle_a_refused_call() {
        let policy = policy();
        let body = format!(
            "[{},{},{}]",
            call(1, "add", json!({})),
            call(2, "get-env", json!({})),
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#
        );
        let parsed = toolgate_mcp::peek(body.as_bytes()).unwrap();
        let plan = plan(&parsed, &policy, Era::Legacy);
        assert_eq!(plan.forward, vec![0, 2]);
        assert!(plan.lists_tools);
        assert_eq!(local(&plan, 0)["id"], 2);
        assert!(!plan.forwards_everything(&parsed));
    }
}
