//! The plan of one POST body (a pure stage: no I/O): for each message, what
//! to do with it — forward it, answer it here, drop it, acquire its limits
//! first, or hold it for a person — and what the audit trail records of it.
//!
//! The policy judges `tools/call`, `resources/read` and `prompts/get` (by
//! name or URI, with their arguments); `resources/subscribe`,
//! `resources/unsubscribe` and `completion/complete` only by whether the
//! resource, template or prompt they name is visible. Lists
//! are filtered on the way back (see `relay`).
//!
//! Before any of that, a method must exist: only the requests and
//! notifications the revision in use defines for a client (see
//! [`toolgate_mcp::methods`]), and the policy's `extensions`, reach the
//! upstream. An upstream may serve more (debug or admin methods, methods of
//! a newer revision) than anyone judged; the agent gets `-32601`, as from a
//! server without them.

use std::borrow::Cow;

use bytes::Bytes;
use serde_json::json;
use serde_json::value::RawValue;
use toolgate_mcp::headers::{Era, ProtocolVersion};
use toolgate_mcp::methods::{client_defines, method_not_found_message, Call};
use toolgate_mcp::peek::{
    Params, Reference, COMPLETION_COMPLETE, PROMPTS_GET, PROMPTS_LIST, RESOURCES_LIST,
    RESOURCES_READ, RESOURCES_SUBSCRIBE, RESOURCES_UNSUBSCRIBE, RESOURCE_TEMPLATES_LIST,
    TOOLS_CALL, TOOLS_LIST,
};
use toolgate_mcp::response::error_response;
use toolgate_mcp::{error_codes, Ambiguity, Body, Id, Message};
use toolgate_policy::{CompiledPolicy, Decision, Kind, LimitAcquire, RefusalKind};

use toolgate_audit::AuditDecision as Recorded;

use crate::audit::CallNote;
use crate::outcome::RequestDecision;
use crate::pins::{PinCheck, Standing};
use crate::refusal::{not_found, refusal, refused};

/// What to do with one message.
#[derive(Debug)]
pub enum Step {
    /// Send it to the upstream as it is.
    Forward,
    /// The gateway's own answer; the upstream never sees the message.
    Answer(Bytes),
    /// A notification the gateway refuses: the upstream never sees it, and
    /// a notification gets no answer.
    Drop,
    /// A call the policy allows once these limits are acquired.
    Limited {
        id: Id<'static>,
        /// What is called, which shapes a refusal.
        kind: Kind,
        limits: Vec<LimitAcquire>,
    },
    /// A call to hold until a person approves it.
    Hold(Box<Hold>),
}

/// One message, planned.
#[derive(Debug)]
pub struct Planned {
    pub step: Step,
    /// What the audit trail records of a judged call (when audited).
    pub note: Option<CallNote>,
}

/// What holding a `require_approval` call needs.
#[derive(Debug)]
pub struct Hold {
    pub id: Id<'static>,
    pub kind: Kind,
    /// The tool's or prompt's name, or the resource's URI.
    pub tool: String,
    pub arguments: serde_json::Value,
    pub timeout_secs: u64,
    /// Acquired before a person is asked; given back unless approved.
    pub limits: Vec<LimitAcquire>,
    pub pointer: String,
    /// `_meta.progressToken`: the agent wants `notifications/progress`.
    pub progress_token: Option<Id<'static>>,
}

/// The plan of a body: one [`Planned`] per message, in order.
#[derive(Debug)]
pub struct Plan {
    pub messages: Vec<Planned>,
    /// Whether a list request (`tools/list`, `resources/list`,
    /// `resources/templates/list`, `prompts/list`) goes upstream, whose
    /// answer must be filtered.
    pub lists: bool,
    /// The most restrictive decision among the messages, for metrics.
    pub decision: RequestDecision,
}

/// What the policy needs to plan a body.
#[derive(Clone, Copy)]
pub struct Judge<'a> {
    pub policy: &'a CompiledPolicy,
    /// The server's shadow policy: what it decides is noted for the audit
    /// trail beside the live decision, and nothing else.
    pub shadow: Option<&'a CompiledPolicy>,
    /// The server's pinned tool definitions, once its catalog is known.
    pub pins: Option<PinCheck<'a>>,
    pub version: ProtocolVersion,
    /// Whether to note each judged call for the audit trail.
    pub audit: bool,
}

pub fn plan(body: &Body<'_>, judge: Judge<'_>) -> Plan {
    let mut lists = false;
    let mut request = RequestDecision::Forwarded;
    let messages = body
        .messages()
        .iter()
        .map(|message| {
            let (step, note, decision) = match unknown_method(message, judge.policy, judge.version)
            {
                Some(step) => (step, None, RequestDecision::UnknownMethod),
                None => decide(message, judge),
            };
            lists |= matches!(step, Step::Forward) && is_list(message);
            request = request.max(decision);
            Planned { step, note }
        })
        .collect();
    Plan {
        messages,
        lists,
        decision: request,
    }
}

/// The refusal of a request or notification whose method `version` does not
/// define for a client and the policy does not list in `extensions`; `None`
/// for every other message (responses carry no method and pass: they answer
/// the upstream's own requests).
fn unknown_method(
    message: &Message<'_>,
    policy: &CompiledPolicy,
    version: ProtocolVersion,
) -> Option<Step> {
    let method = message.method()?;
    let call = Call::of(message.kind())?;
    if client_defines(version, call, method) || policy.is_extension(method) {
        return None;
    }
    Some(match message.id() {
        Some(id) => Step::Answer(error_response(
            Some(id),
            error_codes::METHOD_NOT_FOUND,
            &method_not_found_message(method),
        )),
        None => Step::Drop,
    })
}

fn is_list(message: &Message<'_>) -> bool {
    [
        TOOLS_LIST,
        RESOURCES_LIST,
        RESOURCE_TEMPLATES_LIST,
        PROMPTS_LIST,
    ]
    .iter()
    .any(|method| message.is_method(method))
}

/// What a request asks the policy about.
struct Target<'m> {
    kind: Kind,
    /// The tool's or prompt's name, or the resource's URI.
    name: &'m str,
    arguments: Option<&'m RawValue>,
    /// Subscriptions read nothing: they only need the resource visible.
    visibility_only: bool,
    params: &'m Params<'m>,
}

/// The target of a judged request; `peek` has checked that it names one.
fn target<'m>(message: &'m Message<'_>) -> Option<Target<'m>> {
    let params = message.params()?;
    let (kind, name, visibility_only) = match message.method()? {
        TOOLS_CALL => (Kind::Tool, params.name()?, false),
        PROMPTS_GET => (Kind::Prompt, params.name()?, false),
        RESOURCES_READ => (Kind::Resource, params.uri()?, false),
        RESOURCES_SUBSCRIBE | RESOURCES_UNSUBSCRIBE => (Kind::Resource, params.uri()?, true),
        // Completing an argument tells about the prompt or template: only
        // for one the agent can see.
        COMPLETION_COMPLETE => match params.reference()? {
            Reference::Prompt(name) => (Kind::Prompt, name.as_str(), true),
            Reference::Resource(uri) => (Kind::Resource, uri.as_str(), true),
        },
        _ => return None,
    };
    Some(Target {
        kind,
        name,
        // A read carries no arguments the upstream acts on.
        arguments: params.arguments().filter(|_| kind != Kind::Resource),
        visibility_only,
        params,
    })
}

fn decide(message: &Message<'_>, judge: Judge<'_>) -> (Step, Option<CallNote>, RequestDecision) {
    let Judge {
        policy,
        shadow,
        pins,
        version,
        audit,
    } = judge;
    let era = version.era();
    let Some(target) = target(message) else {
        return (Step::Forward, None, RequestDecision::Forwarded);
    };
    // `peek` accepts judged methods only as requests, so there is an id.
    let Some(id) = message.id() else {
        return (Step::Forward, None, RequestDecision::Forwarded);
    };
    let (kind, name) = (target.kind, target.name);
    if target.visibility_only {
        return if policy.visible_of(kind, name) {
            (Step::Forward, None, RequestDecision::Forwarded)
        } else {
            let answer = Step::Answer(not_found(era, kind, id, name));
            (answer, None, RequestDecision::UnknownTool)
        };
    }
    // What the upstream does not list, or no longer lists as reviewed, is
    // not called, whatever the policy says of its name. A hidden tool stays
    // unknown either way.
    if let Some(pins) = pins.filter(|_| kind == Kind::Tool && policy.visible_of(kind, name)) {
        match pins.standing(name) {
            Standing::Callable => {}
            Standing::NotAdvertised => {
                let reason = format!("the upstream does not list a tool named {name:?}");
                let note = audit
                    .then(|| CallNote::unjudged(id, kind, name, Recorded::UnknownTool, reason));
                let answer = Step::Answer(not_found(era, kind, id, name));
                return (answer, note, RequestDecision::UnknownTool);
            }
            Standing::Unreviewed(reason) => {
                let detail = json!({"problem": "definition_unreviewed", "tool": name});
                let answer = Step::Answer(refused(era, kind, id, &reason, detail));
                let note =
                    audit.then(|| CallNote::unjudged(id, kind, name, Recorded::Unreviewed, reason));
                return (answer, note, RequestDecision::Refused);
            }
        }
    }
    if let Some(ambiguity) = ambiguity(&target, policy) {
        let reason = ambiguity.to_string();
        let pointer = policy.governing_pointer_of(kind, name);
        let answer = ambiguity_refusal(era, kind, id, &ambiguity, pointer);
        let note = audit.then(|| CallNote::ambiguous(id, kind, name, policy, reason));
        return (Step::Answer(answer), note, RequestDecision::Refused);
    }
    let arguments = match target.arguments.map(|raw| serde_json::from_str(raw.get())) {
        None => serde_json::Value::Object(serde_json::Map::new()),
        Some(Ok(arguments)) => arguments,
        Some(Err(err)) => {
            let reason = format!("Invalid params: arguments are not valid JSON: {err}");
            let answer = error_response(Some(id), error_codes::INVALID_PARAMS, &reason);
            let note = audit.then(|| CallNote::unjudged(id, kind, name, Recorded::Refused, reason));
            return (Step::Answer(answer), note, RequestDecision::Invalid);
        }
    };
    let decision = policy.decide_of(kind, name, &arguments);
    // The shadow is pure and only recorded: judged only when audited.
    let note = audit.then(|| {
        CallNote::new(id, kind, name, &arguments, policy, &decision)
            .shadowed(shadow, kind, name, &arguments)
    });
    // A limited call counts as forwarded until a limit refuses it.
    let action = match decision {
        Decision::Allow { limits } if limits.is_empty() => {
            (Step::Forward, RequestDecision::Forwarded)
        }
        Decision::Allow { limits } => (
            Step::Limited {
                id: id.clone().into_owned(),
                kind,
                limits,
            },
            RequestDecision::Forwarded,
        ),
        Decision::RequireApproval {
            timeout_secs,
            limits,
            pointer,
        } => (
            Step::Hold(Box::new(Hold {
                id: id.clone().into_owned(),
                kind,
                tool: name.to_owned(),
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
            Step::Answer(refusal(era, kind, id, &reason, &pointer, None)),
            RequestDecision::Refused,
        ),
        Decision::Refuse { .. } => (
            Step::Answer(not_found(era, kind, id, name)),
            RequestDecision::UnknownTool,
        ),
    };
    (action.0, note, action.1)
}

/// Why the upstream could read the call's arguments as other values than the
/// policy judges, when that matters: a repeated key always (the policy and
/// the upstream may each keep a different one), a number the policy cannot
/// read exactly only when the policy reads values (schema, cost, approval,
/// recorded arguments). A target the agent cannot see stays unknown,
/// whatever its arguments, so nothing is said about it here; a resource
/// read carries no arguments the upstream acts on.
fn ambiguity<'m>(target: &Target<'m>, policy: &CompiledPolicy) -> Option<Cow<'m, Ambiguity>> {
    let (kind, name) = (target.kind, target.name);
    if kind == Kind::Resource {
        return None;
    }
    let found = match target.params.arguments_ambiguity() {
        Some(ambiguity) => Cow::Borrowed(ambiguity),
        None if target.params.arguments_have_unsettled_numbers()
            && policy.reads_arguments_of(kind, name) =>
        {
            Cow::Owned(target.params.arguments_inexact_number()?)
        }
        None => return None,
    };
    policy.visible_of(kind, name).then_some(found)
}

/// The refusal of ambiguous arguments: `Denied by policy: …` naming the key
/// or number and its pointer, with the same detail for programs (in `_meta`
/// for a tool, in the error's `data` for a prompt).
fn ambiguity_refusal(
    era: Era,
    kind: Kind,
    id: &Id<'_>,
    ambiguity: &Ambiguity,
    rule: &str,
) -> Bytes {
    let mut detail = json!({
        "rule": rule,
        "problem": ambiguity.code(),
        "argument": ambiguity.pointer(),
    });
    match ambiguity {
        Ambiguity::DuplicateKey { key, .. } => detail["key"] = json!(key),
        Ambiguity::InexactNumber { literal, .. } => detail["literal"] = json!(literal),
        Ambiguity::TooDeep { .. } => {}
    }
    let reason = ambiguity.to_string();
    refused(era, kind, id, &reason, detail)
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

    fn judge(policy: &CompiledPolicy, version: ProtocolVersion) -> Judge<'_> {
        Judge {
            policy,
            shadow: None,
            pins: None,
            version,
            audit: false,
        }
    }

    fn steps(plan: &Plan) -> Vec<&Step> {
        plan.messages.iter().map(|m| &m.step).collect()
    }

    fn call(id: u32, name: &str, arguments: Value) -> String {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": arguments}}).to_string()
    }

    fn plan_of(body: &str) -> Plan {
        plan(
            &toolgate_mcp::peek(body.as_bytes()).unwrap(),
            judge(&policy(), ProtocolVersion::V2025_03_26),
        )
    }

    fn answer(plan: &Plan, i: usize) -> Value {
        match &plan.messages[i].step {
            Step::Answer(bytes) => serde_json::from_slice(bytes).unwrap(),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    #[test]
    fn allowed_calls_and_other_methods_are_forwarded() {
        for body in [
            call(1, "echo", json!({"message": "hi"})),
            call(1, "add", json!({"a": 1})),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
        ] {
            let plan = plan_of(&body);
            assert!(matches!(steps(&plan)[..], [Step::Forward]), "{body}");
            assert!(!plan.lists);
        }
        for method in [
            "tools/list",
            "resources/list",
            "resources/templates/list",
            "prompts/list",
        ] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":2,"method":"{method}"}}"#);
            let plan = plan_of(&body);
            assert!(matches!(steps(&plan)[..], [Step::Forward]), "{body}");
            assert!(plan.lists, "{method} answers are filtered");
        }
    }

    #[test]
    fn methods_the_revision_does_not_define_are_refused_or_dropped() {
        let plan = plan_of(
            r#"[{"jsonrpc":"2.0","id":1,"method":"debug/dump"},
                {"jsonrpc":"2.0","method":"notifications/debug"},
                {"jsonrpc":"2.0","id":2,"method":"tasks/list"},
                {"jsonrpc":"2.0","id":3,"method":"ping"},
                {"jsonrpc":"2.0","id":4,"result":{}}]"#,
        );
        assert!(matches!(
            steps(&plan)[..],
            [
                Step::Answer(_),
                Step::Drop,
                Step::Answer(_),
                Step::Forward,
                Step::Forward
            ]
        ));
        assert_eq!(plan.decision, RequestDecision::UnknownMethod);
        let refused = answer(&plan, 0);
        assert_eq!(refused["id"], 1);
        assert_eq!(refused["error"]["code"], -32601);
        assert_eq!(refused["error"]["message"], "Method not found: debug/dump");
        assert_eq!(
            answer(&plan, 2)["error"]["message"],
            "Method not found: tasks/list"
        );
        // The same method in the revision that defines it.
        let tasks = r#"{"jsonrpc":"2.0","id":2,"method":"tasks/list"}"#;
        let in_2025_11_25 = super::plan(
            &toolgate_mcp::peek(tasks.as_bytes()).unwrap(),
            judge(&policy(), ProtocolVersion::V2025_11_25),
        );
        assert!(matches!(steps(&in_2025_11_25)[..], [Step::Forward]));
        assert_eq!(in_2025_11_25.decision, RequestDecision::Forwarded);
    }

    #[test]
    fn listed_extensions_are_forwarded_unjudged() {
        let policy = toolgate_policy::parse(&json!({
            "version": "1",
            "default": "deny",
            "extensions": ["x-vendor/do-thing"]
        }))
        .unwrap();
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"x-vendor/do-thing","params":{"name":"get-env"}}"#,
            r#"{"jsonrpc":"2.0","method":"x-vendor/do-thing"}"#,
        ] {
            let plan = plan(
                &toolgate_mcp::peek(body.as_bytes()).unwrap(),
                judge(&policy, ProtocolVersion::V2025_06_18),
            );
            assert!(matches!(steps(&plan)[..], [Step::Forward]), "{body}");
            assert_eq!(plan.decision, RequestDecision::Forwarded);
        }
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
        let Step::Limited { limits, .. } = &plan.messages[0].step else {
            panic!("expected limits, got {:?}", plan.messages[0].step);
        };
        assert_eq!(limits[0].counter, "c");
        let plan = plan_of(&call(5, "pay", json!({"amount": 3})));
        let Step::Hold(hold) = &plan.messages[0].step else {
            panic!("expected a hold, got {:?}", plan.messages[0].step);
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
            steps(&plan)[..],
            [Step::Forward, Step::Answer(_), Step::Forward]
        ));
        assert!(plan.lists);
        assert_eq!(answer(&plan, 1)["id"], 2);
    }

    fn raw_call(id: u32, name: &str, arguments: &str) -> String {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{name}","arguments":{arguments}}}}}"#
        )
    }

    #[test]
    fn repeated_argument_keys_are_refused_at_any_depth_and_audited() {
        for (tool, arguments, pointer, key) in [
            ("add", r#"{"n":100,"n":1}"#, "/n", "n"),
            (
                "add",
                r#"{"items":[{"id":1},{"id":2,"\u0069d":3}]}"#,
                "/items/1/id",
                "id",
            ),
            (
                "echo",
                r#"{"message":"hi","message":"far too long"}"#,
                "/message",
                "message",
            ),
        ] {
            let body = raw_call(6, tool, arguments);
            let plan = plan(
                &toolgate_mcp::peek(body.as_bytes()).unwrap(),
                Judge {
                    pins: None,
                    audit: true,
                    ..judge(&policy(), ProtocolVersion::V2025_03_26)
                },
            );
            assert_eq!(plan.decision, RequestDecision::Refused, "{body}");
            let note = plan.messages[0].note.as_ref().unwrap();
            assert_eq!(note.decision(), toolgate_audit::AuditDecision::Refused);
            let answer = answer(&plan, 0);
            assert_eq!(answer["id"], 6);
            assert_eq!(answer["result"]["isError"], true, "{body}");
            let text = answer["result"]["content"][0]["text"].as_str().unwrap();
            assert!(text.starts_with("Denied by policy: "), "{text}");
            assert!(
                text.contains(&format!("{key:?}")) && text.contains(pointer),
                "{text}"
            );
            assert_eq!(
                answer["result"]["_meta"]["dev.toolgate/refusal"],
                json!({"rule": format!("/tools/{tool}"), "problem": "duplicate_key", "argument": pointer, "key": key}),
                "{body}"
            );
        }
    }

    #[test]
    fn the_shadow_is_noted_beside_the_live_decision_and_never_acted_on() {
        let shadow = toolgate_policy::parse(&json!({
            "version": "1",
            "default": "deny",
            "tools": {
                "add": {"action": "deny"},
                "echo": {"limits": [{"counter": "shadow_echo", "window": "minute", "max": 1, "scope": "grant"}]}
            }
        }))
        .unwrap();
        let live = policy();
        let judged = |body: &str, audit: bool| {
            plan(
                &toolgate_mcp::peek(body.as_bytes()).unwrap(),
                Judge {
                    shadow: Some(&shadow),
                    audit,
                    ..judge(&live, ProtocolVersion::V2025_03_26)
                },
            )
        };
        let add = judged(&call(1, "add", json!({"a": 1})), true);
        assert!(
            matches!(steps(&add)[..], [Step::Forward]),
            "the live policy acts"
        );
        let note = add.messages[0].note.as_ref().unwrap();
        assert_eq!(note.decision(), toolgate_audit::AuditDecision::Allowed);
        let verdict = note.shadow().unwrap();
        assert_eq!(verdict.decision, toolgate_audit::AuditDecision::UnknownTool);
        assert_eq!(verdict.rule.as_deref(), Some("/tools/add"));
        // Shadow limits are named, never acquired: the live step has none.
        let echo = judged(&call(2, "echo", json!({"message": "hi"})), true);
        assert!(matches!(steps(&echo)[..], [Step::Forward]));
        let verdict = echo.messages[0].note.as_ref().unwrap().shadow().unwrap();
        assert_eq!(verdict.decision, toolgate_audit::AuditDecision::Allowed);
        assert_eq!(verdict.counters, vec!["shadow_echo".to_owned()]);
        // Unaudited: nothing to record, so the shadow is not judged.
        assert!(judged(&call(3, "add", json!({})), false).messages[0]
            .note
            .is_none());
    }

    #[test]
    fn hidden_tools_stay_unknown_whatever_their_arguments() {
        for arguments in [r#"{"n":1,"n":2}"#, r#"{"n":10.0000000000000000001}"#] {
            for name in ["get-env", "wipe", "nope"] {
                let answer = answer(&plan_of(&raw_call(9, name, arguments)), 0);
                assert_eq!(answer["error"]["message"], format!("Unknown tool: {name}"));
            }
        }
    }

    #[test]
    fn numbers_the_policy_cannot_read_exactly_are_refused_where_it_reads_them() {
        // `echo` has a schema: the policy judges values.
        for (arguments, pointer, literal) in [
            (
                r#"{"message":"hi","n":10.0000000000000000001}"#,
                "/n",
                "10.0000000000000000001",
            ),
            (
                r#"{"message":"hi","n":[1,100000000000000000000001]}"#,
                "/n/1",
                "100000000000000000000001",
            ),
            (r#"{"n":{"m":1e400}}"#, "/n/m", "1e400"),
        ] {
            let plan = plan_of(&raw_call(2, "echo", arguments));
            assert_eq!(plan.decision, RequestDecision::Refused, "{arguments}");
            let answer = answer(&plan, 0);
            let text = answer["result"]["content"][0]["text"].as_str().unwrap();
            assert!(text.starts_with("Denied by policy: the number "), "{text}");
            assert_eq!(
                answer["result"]["_meta"]["dev.toolgate/refusal"],
                json!({"rule": "/tools/echo", "problem": "inexact_number", "argument": pointer, "literal": literal})
            );
        }
        // Exact numbers in any spelling pass.
        let exact = raw_call(2, "echo", r#"{"message":"hi","n":[0.1,1e2,-0,100,2.5E-3]}"#);
        assert!(matches!(steps(&plan_of(&exact))[..], [Step::Forward]));
        // `add` has no schema, cost, approval or recorded arguments: the
        // value is never judged, so it goes through as sent.
        let unjudged = raw_call(2, "add", r#"{"n":10.0000000000000000001}"#);
        assert!(matches!(steps(&plan_of(&unjudged))[..], [Step::Forward]));
    }

    #[test]
    fn refusals_carry_the_retry_time() {
        let bytes = refusal(
            Era::Modern,
            Kind::Tool,
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

    #[test]
    fn with_a_known_catalog_only_listed_and_pinned_tools_are_called() {
        use crate::pins::{PinCheck, ServerPins, Sightings};
        use toolgate_store::catalog::ToolPin;
        use toolgate_store::ids::ServerId;
        let pin = |name: &str, hash: &str, pinned: Option<&str>| ToolPin {
            name: name.to_owned(),
            hash: hash.to_owned(),
            pinned_hash: pinned.map(str::to_owned),
        };
        let pins = ServerPins::new(vec![
            pin("echo", "sha256:a", Some("sha256:a")),
            pin("add", "sha256:b2", Some("sha256:b1")),
            pin("get-env", "sha256:c", Some("sha256:c")),
        ]);
        let sightings = Sightings::default();
        let check = PinCheck {
            server: ServerId::new(),
            pins: &pins,
            sightings: &sightings,
        };
        let judge = |body: String| {
            plan(
                &toolgate_mcp::peek(body.as_bytes()).unwrap(),
                Judge {
                    pins: Some(check),
                    audit: true,
                    ..judge(&policy(), ProtocolVersion::V2025_03_26)
                },
            )
        };
        // Listed and pinned: the policy decides as ever.
        let plan = judge(call(1, "echo", json!({"message": "hi"})));
        assert!(matches!(plan.messages[0].step, Step::Forward));
        // Allowed by the policy, but the upstream lists no such tool.
        let plan = judge(call(2, "wipe-all", json!({})));
        assert_eq!(plan.decision, RequestDecision::UnknownTool);
        assert_eq!(answer(&plan, 0)["error"]["code"], -32602);
        let note = plan.messages[0].note.as_ref().unwrap();
        assert_eq!(note.decision(), toolgate_audit::AuditDecision::UnknownTool);
        // Listed, but defined otherwise than pinned.
        let plan = judge(call(3, "add", json!({"a": 1})));
        assert_eq!(plan.decision, RequestDecision::Refused);
        let refused = answer(&plan, 0);
        assert_eq!(refused["result"]["isError"], true, "{refused}");
        assert_eq!(
            refused["result"]["_meta"]["dev.toolgate/refusal"]["problem"], "definition_unreviewed",
            "{refused}"
        );
        assert_eq!(
            plan.messages[0].note.as_ref().unwrap().decision(),
            toolgate_audit::AuditDecision::Unreviewed
        );
        // Hidden by the policy: unknown, whatever the catalog says.
        let plan = judge(call(4, "get-env", json!({})));
        assert_eq!(plan.decision, RequestDecision::UnknownTool);
        assert!(
            plan.messages[0].note.is_none()
                || plan.messages[0].note.as_ref().unwrap().decision()
                    == toolgate_audit::AuditDecision::UnknownTool
        );
    }
}
