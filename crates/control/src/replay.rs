//! Replaying a server's recorded calls through policies, in time order, with
//! limits counted in memory at the recorded times: what a candidate policy
//! would have decided about real traffic (simulation), and what a shadow
//! policy decided beside the live one (the shadow report).
//!
//! Pure: the caller streams the events in (see `routes::rollout`), and the
//! bounds are the caller's too. Memory grows with the distinct tools, rules
//! and live counters seen, never with the number of events.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use toolgate_limits::{Algorithm, LimitRequest, MemoryCounters, Outcome};
use toolgate_mcp::Ambiguity;
use toolgate_policy::{CompiledPolicy, Decision, Kind, LimitAcquire, RefusalKind, Scope};
use toolgate_store::audit::{AuditDecision, UpstreamOutcome};
use toolgate_store::audit_replay::RecordedCall;
use toolgate_store::ids::EventId;
use toolgate_store::target_kind::TargetKind;

/// Examples kept per group of changed decisions.
pub const MAX_EXAMPLES: usize = 3;

/// The account every simulated counter lives under: a simulation has its
/// own store, so the name only has to be valid.
const SIMULATED_ACCOUNT: &str = "simulation";

/// One event cited as an example.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Example {
    pub event_id: EventId,
    pub at: DateTime<Utc>,
}

/// Calls whose decision changes the same way under the same rule.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Change {
    /// The tool's name (the resource's URI, the prompt's name).
    pub tool: String,
    pub kind: TargetKind,
    /// The decision of the policy compared against (the live one).
    pub from: AuditDecision,
    /// The decision of the policy under study (the candidate, the shadow).
    pub to: AuditDecision,
    /// JSON pointer of the part of the policy under study that decides.
    pub rule: Option<String>,
    pub count: u64,
    /// The first calls of the group, oldest first (at most 3).
    pub examples: Vec<Example>,
}

/// Calls that could not be judged, by tool and reason.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Unjudged {
    pub tool: String,
    pub reason: String,
    pub count: u64,
}

/// What one policy decided about the replayed calls.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Totals {
    /// Calls per decision (`allowed`, `refused`, `unknown_tool`, `limited`,
    /// `approval_required`).
    pub totals: BTreeMap<&'static str, u64>,
    /// The same per tool.
    pub by_tool: BTreeMap<String, BTreeMap<&'static str, u64>>,
}

impl Totals {
    pub fn add(&mut self, tool: &str, decision: AuditDecision) {
        *self.totals.entry(decision.as_str()).or_default() += 1;
        let per_tool = match self.by_tool.get_mut(tool) {
            Some(per_tool) => per_tool,
            None => self.by_tool.entry(tool.to_owned()).or_default(),
        };
        *per_tool.entry(decision.as_str()).or_default() += 1;
    }
}

/// What a policy said about one recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Decided {
        decision: AuditDecision,
        /// The pointer of the part of the policy that decided.
        rule: String,
    },
    /// Judging would mean guessing; the reason says why.
    Unjudged(String),
}

/// Why the gateway refused a recorded call before any policy judged it, or
/// `None` when a policy judged it. Such calls are refused whatever the
/// policy says, so no replay judges them.
pub fn refused_before_policy(call: &RecordedCall) -> Option<&'static str> {
    // Refused for arguments the upstream could read otherwise than the
    // policy (a repeated key, an inexact number): judging them again would
    // judge other values than the agent sent.
    if call.decision == AuditDecision::Refused
        && call.reason.as_deref().is_some_and(Ambiguity::is_reason)
    {
        return Some(
            "refused before the policy judged it: the arguments were ambiguous (a repeated \
             key, an inexact number, too deep)",
        );
    }
    if call.rule.is_some() && call.decision != AuditDecision::Unreviewed {
        return None;
    }
    Some(match call.decision {
        AuditDecision::Unreviewed => {
            "refused before the policy judged it: the tool's definition was not the pinned one"
        }
        AuditDecision::UnknownTool => {
            "refused before the policy judged it: the upstream did not list the tool"
        }
        AuditDecision::Refused => {
            "refused before the policy judged it: the arguments were not valid JSON"
        }
        _ => "refused before the policy judged it",
    })
}

/// Whether an event records a call at all: listings that withheld a tool
/// and discovery's own sightings are events too.
pub fn is_call(call: &RecordedCall) -> bool {
    call.grant.is_some()
        && !(call.decision == AuditDecision::Unreviewed
            && call.upstream != UpstreamOutcome::NotCalled)
}

/// A policy replaying calls, with its own in-memory counters on the clock
/// of the recorded times.
pub struct Replayer {
    policy: Arc<CompiledPolicy>,
    counters: MemoryCounters,
    pub totals: Totals,
}

impl Replayer {
    pub fn new(policy: Arc<CompiledPolicy>) -> Self {
        Self {
            policy,
            counters: MemoryCounters::new(),
            totals: Totals::default(),
        }
    }

    /// Judges one call as the gateway would have at its recorded time, and
    /// counts its units as the gateway would have (given back when the
    /// recorded upstream failed or a person did not approve it).
    pub fn judge(&mut self, call: &RecordedCall) -> Verdict {
        let kind = policy_kind(call.kind);
        let empty;
        let arguments = match &call.arguments {
            Some(arguments) => arguments,
            None => {
                if let Some(pointer) = self.policy.value_reader_of(kind, &call.tool) {
                    return Verdict::Unjudged(format!(
                        "{pointer} reads argument values, which were not recorded (only a rule \
                         with \"audit_arguments\": true keeps them)"
                    ));
                }
                // Nothing reads the values: the names alone decide.
                empty = Value::Object(Map::new());
                &empty
            }
        };
        let decision = self.policy.decide_of(kind, &call.tool, arguments);
        let verdict = match decision {
            Decision::Allow { limits } => self.count(call, &limits, AuditDecision::Allowed, || {
                self.policy
                    .governing_pointer_of(kind, &call.tool)
                    .to_owned()
            }),
            Decision::RequireApproval {
                limits, pointer, ..
            } => self.count(call, &limits, AuditDecision::ApprovalRequired, || pointer),
            Decision::Refuse {
                kind: RefusalKind::Denied,
                pointer,
                ..
            } => Verdict::Decided {
                decision: AuditDecision::Refused,
                rule: pointer,
            },
            Decision::Refuse { pointer, .. } => Verdict::Decided {
                decision: AuditDecision::UnknownTool,
                rule: pointer,
            },
        };
        if let Verdict::Decided { decision, .. } = &verdict {
            self.totals.add(&call.tool, *decision);
        }
        verdict
    }

    fn count(
        &self,
        call: &RecordedCall,
        limits: &[LimitAcquire],
        decision: AuditDecision,
        rule: impl FnOnce() -> String,
    ) -> Verdict {
        if limits.is_empty() {
            return Verdict::Decided {
                decision,
                rule: rule(),
            };
        }
        let requests: Vec<LimitRequest> = limits.iter().map(|l| request(call, l)).collect();
        match self
            .counters
            .acquire_at(SIMULATED_ACCOUNT, &requests, call.at.timestamp_millis())
        {
            Ok(Outcome::Admitted(admission)) => {
                if gave_back(call) {
                    self.counters.release(&admission);
                }
                Verdict::Decided {
                    decision,
                    rule: rule(),
                }
            }
            Ok(Outcome::Refused { index, .. }) => Verdict::Decided {
                decision: AuditDecision::Limited,
                rule: limits
                    .get(index)
                    .map(|l| l.pointer.clone())
                    .unwrap_or_else(rule),
            },
            Err(error) => Verdict::Unjudged(format!("its limits cannot be simulated: {error}")),
        }
    }
}

/// Whether the gateway gave back the units of the recorded call: its
/// upstream failed, or a person did not approve it.
fn gave_back(call: &RecordedCall) -> bool {
    matches!(
        call.upstream,
        UpstreamOutcome::TransportError | UpstreamOutcome::JsonrpcError
    ) || matches!(
        call.decision,
        AuditDecision::ApprovalDenied
            | AuditDecision::ApprovalTimedOut
            | AuditDecision::ApprovalAbandoned
    )
}

/// A counter's identity as the gateway scopes it, from what the event
/// recorded: the simulation covers one server, so `server` and `account`
/// scopes count this server's calls only.
fn request(call: &RecordedCall, limit: &LimitAcquire) -> LimitRequest {
    let grant = call
        .grant
        .map_or_else(|| "none".to_owned(), |g| g.to_string());
    let key = match limit.scope {
        Scope::Account => format!("{}:account", limit.counter),
        Scope::Server => format!("{}:server", limit.counter),
        Scope::Grant => format!("{}:grant:{grant}", limit.counter),
        Scope::Session => match &call.session {
            Some(session) => format!("{}:session:{session}", limit.counter),
            None => format!("{}:grant:{grant}", limit.counter),
        },
    };
    LimitRequest {
        key,
        window_secs: limit.window.secs(),
        max: limit.max,
        cost: limit.cost,
        algorithm: match limit.algorithm {
            toolgate_policy::Algorithm::Fixed => Algorithm::Fixed,
            toolgate_policy::Algorithm::Sliding => Algorithm::Sliding,
        },
    }
}

fn policy_kind(kind: TargetKind) -> Kind {
    match kind {
        TargetKind::Tool => Kind::Tool,
        TargetKind::Resource => Kind::Resource,
        TargetKind::Prompt => Kind::Prompt,
    }
}

/// Groups of changed decisions and of calls that could not be judged.
#[derive(Default)]
pub struct Differences {
    changes: BTreeMap<(String, u8, &'static str, &'static str, Option<String>), Change>,
    unjudged: BTreeMap<(String, String), u64>,
}

impl Differences {
    pub fn changed(
        &mut self,
        call: &RecordedCall,
        from: AuditDecision,
        to: AuditDecision,
        rule: Option<String>,
    ) {
        let key = (
            call.tool.clone(),
            call.kind as u8,
            from.as_str(),
            to.as_str(),
            rule.clone(),
        );
        let group = self.changes.entry(key).or_insert_with(|| Change {
            tool: call.tool.clone(),
            kind: call.kind,
            from,
            to,
            rule,
            count: 0,
            examples: Vec::new(),
        });
        group.count += 1;
        if group.examples.len() < MAX_EXAMPLES {
            group.examples.push(Example {
                event_id: call.id,
                at: call.at,
            });
        }
    }

    pub fn unjudged(&mut self, tool: &str, reason: String) {
        *self.unjudged.entry((tool.to_owned(), reason)).or_default() += 1;
    }

    /// The changes, largest groups first, and the unjudged calls.
    pub fn finish(self) -> (Vec<Change>, Vec<Unjudged>) {
        let mut changes: Vec<Change> = self.changes.into_values().collect();
        changes.sort_by_key(|c| std::cmp::Reverse(c.count));
        let unjudged = self
            .unjudged
            .into_iter()
            .map(|((tool, reason), count)| Unjudged {
                tool,
                reason,
                count,
            })
            .collect();
        (changes, unjudged)
    }
}

/// A simulation: every call through the live policy and the candidate.
pub struct Simulation {
    pub live: Replayer,
    pub candidate: Replayer,
    pub differences: Differences,
    /// Events read, calls or not.
    pub events: u64,
}

impl Simulation {
    pub fn new(live: Arc<CompiledPolicy>, candidate: Arc<CompiledPolicy>) -> Self {
        Self {
            live: Replayer::new(live),
            candidate: Replayer::new(candidate),
            differences: Differences::default(),
            events: 0,
        }
    }

    pub fn replay(&mut self, call: &RecordedCall) {
        self.events += 1;
        if !is_call(call) {
            return;
        }
        if let Some(reason) = refused_before_policy(call) {
            self.differences.unjudged(&call.tool, reason.to_owned());
            return;
        }
        let live = self.live.judge(call);
        let candidate = self.candidate.judge(call);
        match (live, candidate) {
            (
                Verdict::Decided { decision: from, .. },
                Verdict::Decided {
                    decision: to, rule, ..
                },
            ) => {
                if from != to {
                    self.differences.changed(call, from, to, Some(rule));
                }
            }
            (Verdict::Unjudged(reason), _) => self
                .differences
                .unjudged(&call.tool, format!("live policy: {reason}")),
            (_, Verdict::Unjudged(reason)) => self
                .differences
                .unjudged(&call.tool, format!("candidate: {reason}")),
        }
    }
}

/// The live decision of a recorded call at the policy's level, before the
/// counter store and people had their say: what a shadow decision (which
/// checks no limit and asks nobody) is compared with.
pub fn policy_level(decision: AuditDecision) -> Option<AuditDecision> {
    use AuditDecision::*;
    match decision {
        Allowed | Limited | LimitUnavailable => Some(Allowed),
        ApprovalRequired | ApprovalApproved | ApprovalDenied | ApprovalTimedOut
        | ApprovalAbandoned => Some(ApprovalRequired),
        Refused => Some(Refused),
        UnknownTool => Some(UnknownTool),
        Unreviewed => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use toolgate_store::ids::GrantId;

    fn call(tool: &str, at_ms: i64, grant: GrantId) -> RecordedCall {
        RecordedCall {
            id: EventId::new(),
            at: DateTime::from_timestamp_millis(at_ms).unwrap(),
            grant: Some(grant),
            session: None,
            kind: TargetKind::Tool,
            tool: tool.to_owned(),
            decision: AuditDecision::Allowed,
            rule: Some("/default".to_owned()),
            reason: None,
            upstream: UpstreamOutcome::Ok,
            argument_keys: Vec::new(),
            arguments: None,
            shadow: None,
        }
    }

    fn policy(doc: Value) -> Arc<CompiledPolicy> {
        Arc::new(toolgate_policy::parse(&doc).unwrap())
    }

    #[test]
    fn a_tightened_limit_and_a_denied_tool_change_exactly_the_calls_they_govern() {
        let live = policy(json!({"version": "1", "default": "allow"}));
        let candidate = policy(json!({"version": "1", "default": "allow", "tools": {
            "wipe": {"action": "deny"},
            "search": {"limits": [{"counter": "s", "window": "minute", "max": 2, "scope": "grant"}]}
        }}));
        let mut sim = Simulation::new(live, candidate);
        let (one, two) = (GrantId::new(), GrantId::new());
        let base = 1_767_225_600_000; // a minute boundary
        for i in 0..5 {
            sim.replay(&call("search", base + i * 1000, one));
        }
        sim.replay(&call("search", base + 5000, two));
        sim.replay(&call("search", base + 60_000, one));
        sim.replay(&call("wipe", base + 61_000, one));
        let (changes, unjudged) = sim.differences.finish();
        assert!(unjudged.is_empty());
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(changes[0].tool, "search");
        assert_eq!(changes[0].to, AuditDecision::Limited);
        assert_eq!(
            changes[0].count, 3,
            "3 of grant one's 5 calls in the first minute"
        );
        assert_eq!(changes[0].rule.as_deref(), Some("/tools/search/limits/0"));
        assert_eq!(changes[0].examples.len(), 3);
        assert_eq!(changes[1].tool, "wipe");
        assert_eq!(changes[1].to, AuditDecision::UnknownTool);
        assert_eq!(sim.candidate.totals.totals["allowed"], 4);
        assert_eq!(sim.live.totals.totals["allowed"], 8);
    }

    #[test]
    fn argument_values_never_recorded_are_not_guessed() {
        let live = policy(json!({"version": "1", "default": "allow"}));
        let candidate = policy(json!({"version": "1", "default": "allow", "tools": {
            "echo": {"arguments": {"type": "object", "properties": {"m": {"maxLength": 2}}}}
        }}));
        let mut sim = Simulation::new(live, candidate);
        let grant = GrantId::new();
        sim.replay(&call("echo", 0, grant));
        let mut recorded = call("echo", 1, grant);
        recorded.arguments = Some(json!({"m": "long"}));
        sim.replay(&recorded);
        let (changes, unjudged) = sim.differences.finish();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].to, AuditDecision::Refused);
        assert_eq!(unjudged.len(), 1);
        assert!(
            unjudged[0].reason.contains("/tools/echo/arguments"),
            "{}",
            unjudged[0].reason
        );
    }

    #[test]
    fn failed_calls_give_their_units_back_and_refusals_before_the_policy_are_unjudged() {
        let limited = || {
            policy(json!({"version": "1", "default": "allow", "tools": {
                "t": {"limits": [{"counter": "c", "window": "hour", "max": 1, "scope": "server"}]}}}))
        };
        let mut sim = Simulation::new(limited(), limited());
        let grant = GrantId::new();
        let mut failed = call("t", 0, grant);
        failed.upstream = UpstreamOutcome::TransportError;
        sim.replay(&failed);
        sim.replay(&call("t", 1, grant));
        assert_eq!(sim.live.totals.totals.get("limited"), None);
        sim.replay(&call("t", 2, grant));
        assert_eq!(sim.live.totals.totals["limited"], 1);
        let mut pinned = call("t", 3, grant);
        pinned.decision = AuditDecision::Unreviewed;
        pinned.rule = None;
        pinned.upstream = UpstreamOutcome::NotCalled;
        sim.replay(&pinned);
        let mut ambiguous = call("t", 4, grant);
        ambiguous.decision = AuditDecision::Refused;
        ambiguous.reason =
            Some("the arguments repeat the key \"n\" (at /n); send each key once".into());
        sim.replay(&ambiguous);
        let (_, unjudged) = sim.differences.finish();
        assert_eq!(unjudged.len(), 2, "{unjudged:?}");
        assert!(unjudged.iter().any(|u| u.reason.contains("pinned")));
        assert!(unjudged.iter().any(|u| u.reason.contains("ambiguous")));
    }
}
