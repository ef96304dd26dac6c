//! One audit event per `tools/call`, `resources/read` or `prompts/get`
//! decision. Local answers (refusals,
//! unknown tools, limits) are recorded as they are decided; a forwarded call
//! is recorded when its answer passes through the relay (or the upstream
//! fails, or the agent goes away). Recording hands the event to the
//! [`AuditSink`] and never waits.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use toolgate_audit::{AuditDecision as Recorded, AuditEvent, AuditSink, UpstreamOutcome};
use toolgate_mcp::Id;
use toolgate_policy::{CompiledPolicy, Decision, Kind, RefusalKind};
use toolgate_store::audit::ShadowVerdict;
use toolgate_store::ids::{AccountId, EventId, GrantId, ServerId};
use toolgate_store::target_kind::TargetKind;

use crate::limiting::{Caller, LimitNote};

/// What the policy (and then the limiter) said about one call.
#[derive(Debug)]
pub struct CallNote {
    /// The call's JSON-RPC id, to match its answer.
    id: Id<'static>,
    kind: TargetKind,
    tool: String,
    decision: Recorded,
    rule: Option<String>,
    reason: Option<String>,
    argument_keys: Vec<String>,
    arguments: Option<Value>,
    /// What the server's shadow policy decided, if it has one.
    shadow: Option<ShadowVerdict>,
}

/// A policy decision in the audit trail's terms: what is recorded and the
/// pointer of the part of the policy that decided.
fn recorded(
    kind: Kind,
    tool: &str,
    policy: &CompiledPolicy,
    decision: &Decision,
) -> (Recorded, String, Option<String>) {
    match decision {
        Decision::Allow { .. } => (
            Recorded::Allowed,
            policy.governing_pointer_of(kind, tool).to_owned(),
            None,
        ),
        Decision::RequireApproval { pointer, .. } => {
            (Recorded::ApprovalRequired, pointer.clone(), None)
        }
        Decision::Refuse {
            reason,
            pointer,
            kind,
        } => {
            let recorded = match kind {
                RefusalKind::Denied => Recorded::Refused,
                RefusalKind::Hidden | RefusalKind::Unknown => Recorded::UnknownTool,
            };
            (recorded, pointer.clone(), Some(reason.clone()))
        }
    }
}

/// What `shadow` decides about a call, as recorded beside the live decision.
/// Its limits are named, never checked: the shadow costs no counter-store
/// round trip.
pub fn shadow_verdict(
    shadow: &CompiledPolicy,
    kind: Kind,
    tool: &str,
    arguments: &Value,
) -> ShadowVerdict {
    let decision = shadow.decide_of(kind, tool, arguments);
    let (recorded, rule, _) = recorded(kind, tool, shadow, &decision);
    let counters = match &decision {
        Decision::Allow { limits } | Decision::RequireApproval { limits, .. } => {
            let mut names: Vec<String> = limits.iter().map(|l| l.counter.clone()).collect();
            names.dedup();
            names
        }
        Decision::Refuse { .. } => Vec::new(),
    };
    ShadowVerdict {
        decision: recorded,
        rule: Some(rule),
        counters,
    }
}

impl CallNote {
    pub fn new(
        id: &Id<'_>,
        kind: Kind,
        tool: &str,
        arguments: &Value,
        policy: &CompiledPolicy,
        decision: &Decision,
    ) -> Self {
        let (recorded, rule, reason) = recorded(kind, tool, policy, decision);
        let keeps_values = policy.audit_arguments_of(kind, tool);
        Self {
            id: id.clone().into_owned(),
            kind: target_kind(kind),
            tool: tool.to_owned(),
            decision: recorded,
            rule: Some(rule),
            reason,
            argument_keys: arguments
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default(),
            arguments: keeps_values.then(|| arguments.clone()),
            shadow: None,
        }
    }

    /// Notes what the server's shadow policy, if any, decides about the call.
    pub fn shadowed(
        mut self,
        shadow: Option<&CompiledPolicy>,
        kind: Kind,
        tool: &str,
        arguments: &Value,
    ) -> Self {
        self.shadow = shadow.map(|shadow| shadow_verdict(shadow, kind, tool, arguments));
        self
    }

    /// A call refused before the policy judged it, with no rule to name:
    /// its arguments are not JSON (`Refused`), or the server's catalog says
    /// the upstream does not list the tool (`UnknownTool`) or not as pinned
    /// (`Unreviewed`).
    pub fn unjudged(
        id: &Id<'_>,
        kind: Kind,
        tool: &str,
        decision: Recorded,
        reason: String,
    ) -> Self {
        Self {
            id: id.clone().into_owned(),
            kind: target_kind(kind),
            tool: tool.to_owned(),
            decision,
            rule: None,
            reason: Some(reason),
            argument_keys: Vec::new(),
            arguments: None,
            shadow: None,
        }
    }

    /// A call refused because the upstream could read its arguments as other
    /// values than the policy would judge (a repeated key, an inexact number).
    pub fn ambiguous(
        id: &Id<'_>,
        kind: Kind,
        tool: &str,
        policy: &CompiledPolicy,
        reason: String,
    ) -> Self {
        Self {
            rule: Some(policy.governing_pointer_of(kind, tool).to_owned()),
            ..Self::unjudged(id, kind, tool, Recorded::Refused, reason)
        }
    }

    /// Folds in the limiter's verdict.
    pub fn limited(mut self, note: LimitNote) -> Self {
        match note {
            LimitNote::Admitted => {}
            LimitNote::Uncounted => {
                self.reason = Some(
                    "the counter store was unavailable and every limit fails open: allowed uncounted"
                        .to_owned(),
                );
            }
            LimitNote::Refused {
                pointer,
                reason,
                unavailable,
            } => {
                self.decision = if unavailable {
                    Recorded::LimitUnavailable
                } else {
                    Recorded::Limited
                };
                self.rule = Some(pointer);
                self.reason = Some(reason);
            }
        }
        self
    }

    /// How a held call ended: approved, denied, timed out or abandoned.
    pub fn concluded(mut self, decision: Recorded, reason: Option<String>) -> Self {
        self.decision = decision;
        if reason.is_some() {
            self.reason = reason;
        }
        self
    }

    #[cfg(test)]
    pub(crate) fn decision(&self) -> Recorded {
        self.decision
    }

    #[cfg(test)]
    pub(crate) fn shadow(&self) -> Option<&ShadowVerdict> {
        self.shadow.as_ref()
    }
}

/// The store's name for a policy [`Kind`].
pub(crate) fn target_kind(kind: Kind) -> TargetKind {
    match kind {
        Kind::Tool => TargetKind::Tool,
        Kind::Resource => TargetKind::Resource,
        Kind::Prompt => TargetKind::Prompt,
    }
}

/// Who called which server, shared by the events of one request.
pub struct Trail {
    sink: AuditSink,
    started: Instant,
    at: DateTime<Utc>,
    account: AccountId,
    server: ServerId,
    grant: GrantId,
    session: Option<String>,
    policy_version: Option<i32>,
    /// Forwarded calls awaiting their answers.
    pending: Vec<(Id<'static>, AuditEvent)>,
}

/// A digest that tells sessions apart without revealing their ids.
fn session_hash(session: &str) -> String {
    let digest = Sha256::digest(session.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

impl Trail {
    /// `started`: when the gateway received the request.
    pub fn new(
        sink: &AuditSink,
        started: Instant,
        caller: &Caller<'_>,
        policy_version: Option<i32>,
    ) -> Self {
        Self {
            sink: sink.clone(),
            started,
            at: Utc::now() - chrono::Duration::from_std(started.elapsed()).unwrap_or_default(),
            account: caller.account,
            server: caller.server,
            grant: caller.grant,
            session: caller.session.map(session_hash),
            policy_version,
            pending: Vec::new(),
        }
    }

    fn event(&self, note: CallNote, upstream: UpstreamOutcome) -> AuditEvent {
        AuditEvent {
            id: EventId::new(),
            at: self.at,
            account: self.account,
            server: self.server,
            grant: Some(self.grant),
            session: self.session.clone(),
            kind: note.kind,
            tool: note.tool,
            decision: note.decision,
            rule: note.rule,
            policy_version: self.policy_version,
            reason: note.reason,
            upstream,
            latency_ms: elapsed_ms(self.started),
            argument_keys: note.argument_keys,
            arguments: note.arguments,
            shadow: note.shadow,
        }
    }

    /// The gateway answered the call itself.
    pub fn answered_locally(&self, note: CallNote) {
        self.sink
            .record(self.event(note, UpstreamOutcome::NotCalled));
    }

    /// The call goes to the upstream; it is recorded once answered.
    pub fn forwarded(&mut self, note: CallNote) {
        let id = note.id.clone();
        let event = self.event(note, UpstreamOutcome::NotCalled);
        self.pending.push((id, event));
    }

    /// Records, for the relay, what it withholds from the agent's listings.
    pub fn witness(&self) -> Option<Witness> {
        self.sink.is_enabled().then(|| Witness {
            sink: self.sink.clone(),
            started: self.started,
            template: self.event(
                CallNote::unjudged(
                    &Id::number(0),
                    Kind::Tool,
                    "",
                    Recorded::Unreviewed,
                    String::new(),
                ),
                UpstreamOutcome::Ok,
            ),
        })
    }

    /// The forwarded calls, to settle as the answers pass.
    pub fn into_pending(self) -> Option<Pending> {
        (!self.pending.is_empty()).then_some(Pending {
            sink: self.sink,
            started: self.started,
            calls: self.pending,
        })
    }
}

/// Records the tools a listing withheld because the upstream served them
/// otherwise than pinned.
pub struct Witness {
    sink: AuditSink,
    started: Instant,
    template: AuditEvent,
}

impl Witness {
    pub fn withheld(&self, tool: &str, pinned: &str, observed: &str) {
        let mut event = self.template.clone();
        event.id = EventId::new();
        event.tool = tool.to_owned();
        event.reason = Some(format!(
            "withheld from tools/list: the upstream serves the tool defined otherwise ({observed}) than pinned ({pinned}); calls are refused until the new definition is pinned"
        ));
        event.latency_ms = elapsed_ms(self.started);
        self.sink.record(event);
    }
}

fn elapsed_ms(started: Instant) -> u32 {
    u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX)
}

/// Forwarded calls whose answers have not passed yet. Whatever is still
/// pending when this is dropped was abandoned by the agent.
pub struct Pending {
    sink: AuditSink,
    started: Instant,
    calls: Vec<(Id<'static>, AuditEvent)>,
}

impl Pending {
    fn settle(&mut self, at: usize, outcome: UpstreamOutcome) {
        let (_, mut event) = self.calls.swap_remove(at);
        event.upstream = outcome;
        event.latency_ms = elapsed_ms(self.started);
        self.sink.record(event);
    }

    /// An upstream message answered the call with this id.
    pub fn answered(&mut self, id: &Id<'_>, error: bool) {
        if let Some(at) = self
            .calls
            .iter()
            .position(|(pending, _)| pending.as_json() == id.as_json())
        {
            let outcome = if error {
                UpstreamOutcome::JsonrpcError
            } else {
                UpstreamOutcome::Ok
            };
            self.settle(at, outcome);
        }
    }

    /// The upstream failed: nothing still pending was answered.
    pub fn fail(&mut self) {
        self.settle_all(UpstreamOutcome::TransportError);
    }

    /// The upstream's whole answer passed without being read: it answered
    /// every call still pending.
    pub fn answered_all(&mut self) {
        self.settle_all(UpstreamOutcome::Ok);
    }

    fn settle_all(&mut self, outcome: UpstreamOutcome) {
        while !self.calls.is_empty() {
            self.settle(self.calls.len() - 1, outcome);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.settle_all(UpstreamOutcome::Abandoned);
    }
}
