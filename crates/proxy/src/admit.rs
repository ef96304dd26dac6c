//! The limits stage: the plan's calls that need limit units acquire them
//! (one counter-store script per call, all of its limits or none). What comes
//! out is what goes to the upstream, what the gateway answers itself, and
//! the call to hold for a person, if any; each decided call's audit event is
//! handed to the trail (recorded now if answered here, once answered if
//! forwarded).

use bytes::Bytes;
use toolgate_audit::Decision as Recorded;
use toolgate_limits::Admission;
use toolgate_mcp::headers::Era;
use toolgate_mcp::Id;

use crate::audit::{CallNote, Trail};
use crate::limiting::{Caller, Limiter, Verdict};
use crate::outcome::RequestDecision;
use crate::plan::{Hold, Plan, Step};
use crate::refusal::refusal;

/// A body's messages once their limits are acquired.
#[derive(Default)]
pub struct Admitted {
    /// Positions (in the body) of the messages to forward, in order.
    pub forward: Vec<usize>,
    /// The gateway's own answers, in order.
    pub local: Vec<Bytes>,
    /// Units held by forwarded calls: given back if a call fails.
    pub admissions: Vec<(Id<'static>, Admission)>,
    /// A `require_approval` call of a single-message body, with its note.
    pub hold: Option<(Box<Hold>, Option<CallNote>)>,
    /// The most restrictive decision, for metrics.
    pub decision: RequestDecision,
}

/// Who calls and how refusals are worded.
pub struct Admitting<'a> {
    pub limiter: &'a Limiter,
    pub caller: &'a Caller<'a>,
    pub era: Era,
    /// A batch cannot hold a call: it is refused instead.
    pub batch: bool,
}

pub async fn admit(plan: Plan, how: Admitting<'_>, trail: &mut Trail) -> Admitted {
    let mut out = Admitted {
        decision: plan.decision,
        ..Admitted::default()
    };
    for (index, planned) in plan.messages.into_iter().enumerate() {
        let note = planned.note;
        match planned.step {
            Step::Forward => {
                out.forward.push(index);
                if let Some(note) = note {
                    trail.forwarded(note);
                }
            }
            Step::Answer(answer) => {
                out.local.push(answer);
                if let Some(note) = note {
                    trail.answered_locally(note);
                }
            }
            Step::Drop => {}
            Step::Limited { id, kind, limits } => {
                // Boxed: the limiter's future is the largest this stage
                // awaits; inline, it doubled every request's future.
                let (verdict, limit_note) =
                    Box::pin(how.limiter.acquire(how.caller, &id, how.era, kind, &limits)).await;
                let note = note.map(|note| note.limited(limit_note));
                match verdict {
                    Verdict::Admitted(admission) => {
                        out.forward.push(index);
                        if let Some(note) = note {
                            trail.forwarded(note);
                        }
                        if let Some(admission) = admission {
                            out.admissions.push((id, admission));
                        }
                    }
                    Verdict::Refused(answer) => {
                        out.decision = out.decision.max(RequestDecision::Limited);
                        out.local.push(answer);
                        if let Some(note) = note {
                            trail.answered_locally(note);
                        }
                    }
                }
            }
            Step::Hold(hold) if how.batch => {
                let reason =
                    "this call needs a person's approval; send it on its own, not in a batch";
                out.decision = out.decision.max(RequestDecision::Refused);
                if let Some(note) = note {
                    trail.answered_locally(
                        note.concluded(Recorded::ApprovalRequired, Some(reason.to_owned())),
                    );
                }
                out.local.push(refusal(
                    how.era,
                    hold.kind,
                    &hold.id,
                    reason,
                    &hold.pointer,
                    None,
                ));
            }
            Step::Hold(hold) => out.hold = Some((hold, note)),
        }
    }
    out
}
