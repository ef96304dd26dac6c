//! The limits stage: the plan's calls that need limit units acquire them
//! (one counter-store script per call, all of its limits or none). What comes
//! out is what goes to the upstream, what the gateway answers itself, and
//! the call to hold for a person, if any; each decided call's audit event is
//! handed to the trail (recorded now if answered here, once answered if
//! forwarded).

use bytes::Bytes;
use toolgate_audit::AuditDecision as Recorded;
use toolgate_limits::Admission;
use toolgate_mcp::error_codes::INVALID_PARAMS;
use toolgate_mcp::headers::Era;
use toolgate_mcp::response::error_response;
use toolgate_mcp::Id;

use crate::approval::{find_retry, resume, state, Approvals};
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
    /// A `require_approval` call of a single-message body, its limits
    /// acquired.
    pub hold: Option<Held>,
    /// The most restrictive decision, for metrics.
    pub decision: RequestDecision,
}

/// A call to hold for a person, with the units its limits took: taken
/// before anyone is asked (a call a limit refuses is refused at once, not
/// put to a person), given back unless the call is approved and answered.
pub struct Held {
    pub hold: Box<Hold>,
    pub note: Option<CallNote>,
    /// `None` when the call has no limits, or the counter store was down
    /// and they fail open, or it uses an earlier call's approval.
    pub admission: Option<Admission>,
    /// The approval an earlier call with the same grant, target and
    /// arguments made: this call uses it, and takes no units of its own
    /// (the earlier call's are kept for it).
    pub existing: Option<toolgate_store::approvals::Approval>,
    /// How many "input required" rounds a modern client's call has had.
    pub round: u32,
}

/// Who calls and how refusals are worded.
pub struct Admitting<'a> {
    pub limiter: &'a Limiter,
    /// Where an earlier call's approval is looked up.
    pub approvals: &'a Approvals,
    pub caller: &'a Caller<'a>,
    pub era: Era,
    /// A batch cannot hold a call: it is refused instead.
    pub batch: bool,
    /// The request body, for the gateway's own `requestState` of a held
    /// call (a single message: batches hold nothing).
    pub body: &'a [u8],
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
                match acquire(&how, &id, kind, &limits, note).await {
                    Ok((admission, note)) => {
                        out.forward.push(index);
                        if let Some(note) = note {
                            trail.forwarded(note);
                        }
                        if let Some(admission) = admission {
                            out.admissions.push((id, admission));
                        }
                    }
                    Err((answer, note)) => {
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
            Step::Hold(hold) => {
                // A modern client resuming with the gateway's state.
                if let Some(sealed) = state::ours(how.body).filter(|_| how.era == Era::Modern) {
                    match resume(how.approvals, how.caller, &hold, &sealed).await {
                        Ok((existing, round)) => {
                            out.hold = Some(Held {
                                hold,
                                note,
                                admission: None,
                                existing: Some(existing),
                                round,
                            });
                        }
                        Err(why) => {
                            let reason = why.to_string();
                            out.decision = out.decision.max(RequestDecision::Refused);
                            if let Some(note) = note {
                                trail.answered_locally(
                                    note.concluded(Recorded::Refused, Some(reason.clone())),
                                );
                            }
                            out.local.push(error_response(
                                Some(&hold.id),
                                INVALID_PARAMS,
                                &format!("Invalid params: {reason}"),
                            ));
                        }
                    }
                    continue;
                }
                if let Some(existing) = find_retry(how.approvals, how.caller, &hold).await {
                    out.hold = Some(Held {
                        hold,
                        note,
                        admission: None,
                        existing: Some(existing),
                        round: 0,
                    });
                    continue;
                }
                match acquire(&how, &hold.id, hold.kind, &hold.limits, note).await {
                    Ok((admission, note)) => {
                        out.hold = Some(Held {
                            hold,
                            note,
                            admission,
                            existing: None,
                            round: 0,
                        })
                    }
                    Err((answer, note)) => {
                        out.decision = out.decision.max(RequestDecision::Limited);
                        out.local.push(answer);
                        if let Some(note) = note {
                            trail.answered_locally(note);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Acquires one call's limits (none to acquire: admitted as it is). The
/// admission, or the refusal to answer; the note says which.
async fn acquire(
    how: &Admitting<'_>,
    id: &Id<'static>,
    kind: toolgate_policy::Kind,
    limits: &[toolgate_policy::LimitAcquire],
    note: Option<CallNote>,
) -> Result<(Option<Admission>, Option<CallNote>), (Bytes, Option<CallNote>)> {
    if limits.is_empty() {
        return Ok((None, note));
    }
    // Boxed: the limiter's future is the largest this stage awaits;
    // inline, it doubled every request's future.
    let (verdict, limit_note) =
        Box::pin(how.limiter.acquire(how.caller, id, how.era, kind, limits)).await;
    let note = note.map(|note| note.limited(limit_note));
    match verdict {
        Verdict::Admitted(admission) => Ok((admission, note)),
        Verdict::Refused(answer) => Err((answer, note)),
    }
}
