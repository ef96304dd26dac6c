//! The policy applied to one POST body: which messages go to the upstream and
//! which the gateway answers itself.

use bytes::Bytes;
use serde_json::json;
use toolgate_mcp::headers::Era;
use toolgate_mcp::peek::TOOLS_LIST;
use toolgate_mcp::response::{error_response, refusal_response, unknown_tool_response, MetaKey};
use toolgate_mcp::{error_codes, Body, Id, Message};
use toolgate_policy::{CompiledPolicy, Decision, LimitAcquire, RefusalKind};

use crate::audit::CallNote;
use crate::outcome::RequestDecision;

/// What to do with one message.
#[derive(Debug)]
pub enum Action {
    /// Send it to the upstream as it is.
    Forward,
    /// The gateway's own answer; the upstream never sees the message.
    Answer(Bytes),
    /// A call the policy allows once these limits are acquired.
    Limited {
        id: Id<'static>,
        limits: Vec<LimitAcquire>,
    },
    /// A call to hold until a person approves it.
    Approval(Box<Hold>),
}

/// What holding a `require_approval` call needs.
#[derive(Debug)]
pub struct Hold {
    pub id: Id<'static>,
    pub tool: String,
    pub arguments: serde_json::Value,
    pub timeout_secs: u64,
    /// Acquired only once approved.
    pub limits: Vec<LimitAcquire>,
    pub pointer: String,
    /// `_meta.progressToken`: the agent wants `notifications/progress`.
    pub progress_token: Option<Id<'static>>,
}

/// The policy's verdict on a body: one action per message, in order.
#[derive(Debug)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Whether a `tools/list` request goes upstream, whose answer must be
    /// filtered.
    pub lists_tools: bool,
    /// For each `tools/call`, what the audit trail records about it (when
    /// audited); `None` for every other message.
    pub notes: Vec<Option<CallNote>>,
    /// The most restrictive decision among the messages, for metrics.
    pub decision: RequestDecision,
}

pub fn plan(body: &Body<'_>, policy: &CompiledPolicy, era: Era) -> Plan {
    plan_audited(body, policy, era, false)
}

/// [`plan`], noting each `tools/call` decision for the audit trail when
/// `audit` is on.
pub fn plan_audited(body: &Body<'_>, policy: &CompiledPolicy, era: Era, audit: bool) -> Plan {
    let mut lists_tools = false;
    let mut request = RequestDecision::Forwarded;
    let (actions, notes) = body
        .messages()
        .iter()
        .map(|message| {
            let (action, note, decision) = decide(message, policy, era, audit);
            lists_tools |= matches!(action, Action::Forward) && message.is_method(TOOLS_LIST);
            request = request.max(decision);
            (action, note)
        })
        .unzip();
    Plan {
        actions,
        lists_tools,
        notes,
        decision: request,
    }
}

fn decide(
    message: &Message<'_>,
    policy: &CompiledPolicy,
    era: Era,
    audit: bool,
) -> (Action, Option<CallNote>, RequestDecision) {
    let Some(call) = message.tool_call() else {
        return (Action::Forward, None, RequestDecision::Forwarded);
    };
    // `peek` accepts tools/call only as a request, so there is an id.
    let Some(id) = message.id() else {
        return (Action::Forward, None, RequestDecision::Forwarded);
    };
    let arguments = match call.arguments_value() {
        Ok(arguments) => arguments,
        Err(err) => {
            let reason = format!("Invalid params: arguments are not valid JSON: {err}");
            let answer = error_response(Some(id), error_codes::INVALID_PARAMS, &reason);
            let note = audit.then(|| CallNote::malformed(call.name(), reason));
            return (Action::Answer(answer), note, RequestDecision::Invalid);
        }
    };
    let decision = policy.decide(call.name(), &arguments);
    let note = audit.then(|| CallNote::new(call.name(), &arguments, policy, &decision));
    // A limited call counts as forwarded until a limit refuses it.
    let action = match decision {
        Decision::Allow { limits } if limits.is_empty() => {
            (Action::Forward, RequestDecision::Forwarded)
        }
        Decision::Allow { limits } => (
            Action::Limited {
                id: id.clone().into_owned(),
                limits,
            },
            RequestDecision::Forwarded,
        ),
        Decision::RequireApproval {
            timeout_secs,
            limits,
            pointer,
        } => (
            Action::Approval(Box::new(Hold {
                id: id.clone().into_owned(),
                tool: call.name().to_owned(),
                arguments,
                timeout_secs,
                limits,
                pointer,
                progress_token: message
                    .params()
                    .and_then(|p| p.meta())
                    .and_then(|m| m.progress_token())
                    .map(|t| t.clone().into_owned()),
            })),
            RequestDecision::Approval,
        ),
        Decision::Refuse {
            kind: RefusalKind::Denied,
            reason,
            pointer,
        } => (
            Action::Answer(refusal(era, id, &reason, &pointer, None)),
            RequestDecision::Refused,
        ),
        Decision::Refuse { .. } => (
            Action::Answer(unknown_tool_response(id, call.name())),
            RequestDecision::UnknownTool,
        ),
    };
    (action.0, note, action.1)
}

/// A refused call's `isError` result; `retry_after_ms` for limits.
pub fn refusal(
    era: Era,
    id: &Id<'_>,
    reason: &str,
    pointer: &str,
    retry_after_ms: Option<u64>,
) -> Bytes {
    let mut detail = json!({ "rule": pointer });
    if let Some(ms) = retry_after_ms {
        detail["retry_after_ms"] = json!(ms);
    }
    refusal_response(id, era, reason, &[(MetaKey::TOOLGATE_REFUSAL, detail)])
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

    fn plan_of(body: &str) -> Plan {
        plan(
            &toolgate_mcp::peek(body.as_bytes()).unwrap(),
            &policy(),
            Era::Legacy,
        )
    }

    fn answer(plan: &Plan, i: usize) -> Value {
        match &plan.actions[i] {
            Action::Answer(bytes) => serde_json::from_slice(bytes).unwrap(),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn allowed_calls_and_other_methods_are_forwarded() {
        for body in [
            call(1, "echo", json!({"message": "hi"})),
            call(1, "add", json!({"a": 1})),
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/list"}"#.to_owned(),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
        ] {
            let plan = plan_of(&body);
            assert!(matches!(plan.actions[..], [Action::Forward]), "{body}");
            assert!(!plan.lists_tools);
        }
        assert!(plan_of(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#).lists_tools);
    }

    #[test]
    fn the_plan_carries_the_most_restrictive_decision_for_metrics() {
        let decision = |body: String| plan_of(&body).decision;
        let batch = |calls: &[String]| format!("[{}]", calls.join(","));
        assert_eq!(
            decision(call(1, "echo", json!({"message": "hi"}))),
            RequestDecision::Forwarded
        );
        // A limited call counts as forwarded until a limit refuses it.
        assert_eq!(
            decision(call(1, "limited", json!({}))),
            RequestDecision::Forwarded
        );
        assert_eq!(
            decision(call(1, "nope", json!({}))),
            RequestDecision::UnknownTool
        );
        assert_eq!(
            decision(call(1, "echo", json!({"message": "far too long"}))),
            RequestDecision::Refused
        );
        assert_eq!(
            decision(call(1, "pay", json!({}))),
            RequestDecision::Approval
        );
        assert_eq!(
            decision(batch(&[
                call(1, "echo", json!({"message": "hi"})),
                call(2, "echo", json!({"message": "far too long"})),
                call(3, "wipe", json!({})),
            ])),
            RequestDecision::Refused
        );
    }

    #[test]
    fn hidden_denied_and_unknown_tools_are_unknown() {
        for name in ["get-env", "wipe", "nope"] {
            let answer = answer(&plan_of(&call(9, name, json!({}))), 0);
            assert_eq!(answer["id"], 9);
            assert_eq!(answer["error"]["code"], -32602);
            assert_eq!(answer["error"]["message"], format!("Unknown tool: {name}"));
        }
    }

    #[test]
    fn refused_visible_calls_get_an_is_error_result() {
        let answer = answer(
            &plan_of(&call(3, "echo", json!({"message": "far too long"}))),
            0,
        );
        assert_eq!(answer["result"]["isError"], true);
        let text = answer["result"]["content"][0]["text"].as_str().unwrap();
        assert!(
            text.starts_with("Denied by policy: ") && text.contains("/message"),
            "{text}"
        );
        let rule = &answer["result"]["_meta"]["dev.toolgate/refusal"]["rule"];
        assert!(rule.as_str().unwrap().starts_with("/tools/echo"));
    }

    #[test]
    fn limited_calls_wait_for_their_limits_and_approvals_are_held() {
        let plan = plan_of(&call(4, "limited", json!({})));
        let Action::Limited { limits, .. } = &plan.actions[0] else {
            panic!("expected limits, got {:?}", plan.actions[0]);
        };
        assert_eq!(limits[0].counter, "c");
        let plan = plan_of(&call(5, "pay", json!({"amount": 3})));
        let Action::Approval(hold) = &plan.actions[0] else {
            panic!("expected a hold, got {:?}", plan.actions[0]);
        };
        assert_eq!((hold.tool.as_str(), hold.timeout_secs), ("pay", 300));
        assert_eq!(hold.arguments, json!({"amount": 3}));
    }

    #[test]
    fn a_batch_cannot_smuggle_a_refused_call() {
        let body = format!(
            "[{},{},{}]",
            call(1, "add", json!({})),
            call(2, "get-env", json!({})),
            r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#
        );
        let plan = plan_of(&body);
        assert!(matches!(
            plan.actions[..],
            [Action::Forward, Action::Answer(_), Action::Forward]
        ));
        assert!(plan.lists_tools);
        assert_eq!(answer(&plan, 1)["id"], 2);
    }

    #[test]
    fn refusals_carry_the_retry_time() {
        let bytes = refusal(
            Era::Modern,
            &Id::number(1),
            "slow down",
            "/tools/x/limits/0",
            Some(1500),
        );
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            value["result"]["_meta"]["dev.toolgate/refusal"],
            json!({"rule": "/tools/x/limits/0", "retry_after_ms": 1500})
        );
        assert_eq!(value["result"]["resultType"], "complete");
    }
}
