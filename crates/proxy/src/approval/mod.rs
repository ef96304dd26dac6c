//! Holding a `require_approval` call until a person decides, for at most a
//! hold time, then handing it back.
//!
//! The gateway records a pending approval, answers the agent at once with an
//! SSE stream that it keeps open (`:` keep-alives, and progress
//! notifications when the call asked for them), and waits for the decision:
//! a message on the [`ApprovalBus`] wakes it within a second on whichever
//! replica holds the call, and a slow re-read catches any message lost.
//! Postgres is the authority: the gateway acts on the row, never on a
//! message. Approved, the original request bytes go to the upstream and its
//! answer is relayed on the same stream; denied or timed out, the agent gets
//! a `Denied by policy:` result; gone, the approval is marked abandoned.
//!
//! Clients give up on a request after a minute or so, and people take
//! longer: past the hold time (the rule's `approval_hold`, or the
//! deployment's default) the call is answered with an `isError` result that
//! tells the agent to call again later with the same arguments, and the
//! approval stays pending. The agent's retry finds it ([`find_retry`]):
//! pending, it is held again; approved, the first retry to spend it (one
//! conditional `UPDATE`, whichever replica it reaches) is forwarded and the
//! others are told it was used; denied or expired, it gets that answer.
//! The limit units the first call took stay with its replica
//! ([`keep`]) until the approval is spent (they are the spent call's),
//! denied, expired, or never spent in time (given back).
//!
//! Writing to Postgres from the gateway breaks its "no Postgres on the hot
//! path" rule on purpose: an approval is a rare, write-type event that waits
//! minutes for a person anyway, and recording it directly (instead of via a
//! control-plane call) keeps the gateway free of a dependency on the control
//! plane's availability and credentials.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body as AxumBody;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::time::{interval_at, sleep_until, Instant};
use toolgate_audit::AuditDecision as Recorded;
use toolgate_changes::{ApprovalBus, ApprovalSignal, SignalSubscription};
use toolgate_limits::Admission;
use toolgate_mcp::headers::{Era, EVENT_STREAM_CONTENT_TYPE, X_ACCEL_BUFFERING};
use toolgate_mcp::sse::SseEvent;
use toolgate_mcp::tools_list::FilterOptions;
use toolgate_store::approvals::{self, Approval, ApprovalStatus, NewApproval};
use toolgate_store::ids::{AccountId, GrantId};

use crate::audit::{CallNote, Trail};
use crate::plan::Hold;
use crate::refusal::refusal;
use crate::snapshot::ServerConfig;
use crate::ProxyState;

mod approved;
mod handback;
mod keep;
mod retry;
pub mod state;

pub use retry::{find_retry, resume};

/// Held calls, by `account`, `server` and how the wait ended (`outcome`):
/// `approved`, `denied`, `timed_out`, `abandoned` (the agent went away),
/// `gone` (decided elsewhere, e.g. abandoned by another replica, or spent
/// by another call), `handed_back` (nobody decided within the hold: the
/// agent was told to call again, and the approval is still pending; not a
/// decision).
pub const WAITS_METRIC: &str = "toolgate_gateway_approval_waits_total";
/// Seconds from holding a call to the end of the wait, by the same labels:
/// how long people take to decide.
pub const WAIT_DURATION_METRIC: &str = "toolgate_gateway_approval_wait_seconds";
/// Buckets (seconds) of [`WAIT_DURATION_METRIC`]: people take seconds to
/// hours, not the milliseconds of the request buckets.
pub const WAIT_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
/// Calls being held on this process right now.
pub const HELD_METRIC: &str = "toolgate_gateway_approvals_held";
/// Calls that found an approval made for an earlier call with the same
/// grant, target and arguments, by `account`, `server` and what they found
/// (`status`: `pending` (held again), `approved` (to spend), `used`,
/// `denied`, `expired`).
pub const RETRIES_METRIC: &str = "toolgate_gateway_approval_retries_total";
/// The deployment's default hold when a rule sets no `approval_hold`.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(25);

/// Where approvals are recorded and their decisions heard.
#[derive(Clone)]
pub struct Approvals {
    pool: PgPool,
    bus: ApprovalBus,
    /// How often a held stream gets a `:` comment (and a progress
    /// notification, when asked for), so proxies keep it open.
    keep_alive: Duration,
    /// How often a waiter re-reads its approval, in case a bus message was
    /// lost.
    recheck: Duration,
    /// How long a call is held when its rule sets no `approval_hold`.
    default_hold: Duration,
    /// Where a reviewer opens an approval: `{base}/approvals/{id}`.
    dashboard: Option<String>,
    /// How long an ended approval answers retries of its call.
    memory: approvals::RetryMemory,
    /// Signs the `requestState` that keeps a modern client's call waiting.
    states: Arc<state::StateSealer>,
}

impl Approvals {
    pub fn new(pool: PgPool, bus: ApprovalBus) -> Self {
        Self {
            pool,
            bus,
            keep_alive: Duration::from_secs(10),
            recheck: Duration::from_secs(5),
            default_hold: DEFAULT_HOLD,
            dashboard: None,
            memory: approvals::RetryMemory {
                after_told: Duration::from_secs(10),
                untold: Duration::from_secs(3600),
            },
            // A key of this process alone, until the deployment's is set.
            states: Arc::new(state::StateSealer::new(&process_key())),
        }
    }

    /// Signs request states with a key derived from the deployment's
    /// secret, so that every replica accepts every other's.
    pub fn with_state_key(mut self, secret: &[u8; 32]) -> Self {
        self.states = Arc::new(state::StateSealer::new(secret));
        self
    }

    /// Holds calls whose rule sets no `approval_hold` this long.
    pub fn with_default_hold(mut self, hold: Duration) -> Self {
        self.default_hold = hold;
        self
    }

    /// Links approvals to `{base}/approvals/{id}` in hand-back answers.
    pub fn with_dashboard(mut self, base: &str) -> Self {
        self.dashboard = Some(base.trim_end_matches('/').to_owned());
        self
    }

    /// How long a spent approval, or a denial or expiry once told, answers
    /// retries of its call (10 s by default).
    pub fn with_retry_memory(mut self, after_told: Duration) -> Self {
        self.memory.after_told = after_told;
        self
    }

    /// Where a reviewer opens this approval.
    fn link(&self, approval: &Approval) -> Option<String> {
        self.dashboard
            .as_ref()
            .map(|base| format!("{base}/approvals/{}", approval.id))
    }
}

/// How many times a modern client's call is answered "input required"
/// before it is handed back to the model instead: under the SDKs' own
/// default cap (10 rounds), past which they fail the call.
pub const MAX_ROUNDS: u32 = 8;

fn process_key() -> [u8; 32] {
    *toolgate_store::secrets::SecretKey::generate().expose_bytes()
}

/// A call to hold, with everything needed to forward it later.
pub struct HeldCall {
    pub state: ProxyState,
    pub account: AccountId,
    pub server: Arc<ServerConfig>,
    pub grant: GrantId,
    pub session: Option<String>,
    pub headers: HeaderMap,
    /// The agent's request, forwarded byte for byte once approved.
    pub body: Bytes,
    pub era: Era,
    pub filter: FilterOptions,
    pub hold: Hold,
    /// The units the call's limits took before a person was asked.
    pub admission: Option<Admission>,
    /// The call's audit record, concluded when the wait ends.
    pub audit: Option<(Trail, CallNote)>,
    /// The approval an earlier call with the same grant, target and
    /// arguments made, which this call uses instead of asking again.
    pub existing: Option<Approval>,
    /// How many "input required" rounds a modern client's call has had.
    pub round: u32,
}

impl HeldCall {
    /// The call ended without reaching the upstream: its units go back, and
    /// the audit trail records how it ended.
    fn ended_here(&mut self, decision: Recorded, reason: Option<String>) {
        if let Some(admission) = self.admission.take() {
            self.state.limiter.give_back(self.account, admission);
        }
        self.record(decision, reason);
    }

    /// The approval was spent by another call: the units it took were for
    /// that call, so they stay taken.
    fn spent_elsewhere(&mut self, reason: String) {
        self.admission = None;
        self.record(Recorded::ApprovalRequired, Some(reason));
    }

    fn record(&mut self, decision: Recorded, reason: Option<String>) {
        if let Some((trail, note)) = self.audit.take() {
            trail.answered_locally(note.concluded(decision, reason));
        }
    }

    /// How long to hold this call: the rule's `approval_hold` or the
    /// default, and never past the approval's expiry.
    fn hold_for(&self, approval: &Approval) -> (Duration, bool) {
        let hold = self
            .hold
            .hold_secs
            .map_or(self.state.approvals.default_hold, Duration::from_secs);
        let left = (approval.expires_at - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        if hold < left {
            (hold, false)
        } else {
            (left, true)
        }
    }
}

/// Whose approval a held call waits on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// This call asked for it and holds its limit units.
    Asker,
    /// A retry of the asker's call: it holds no units.
    Retry,
}

/// How the wait ended.
enum Outcome {
    Approved,
    Denied {
        by: String,
        reason: Option<String>,
    },
    TimedOut,
    /// Abandoned or used meanwhile: not this call's to forward.
    Gone(ApprovalStatus),
    /// Still pending at the end of the hold: answered, to call again.
    HandedBack,
}

impl Outcome {
    fn label(&self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Denied { .. } => "denied",
            Self::TimedOut => "timed_out",
            Self::Gone(_) => "gone",
            Self::HandedBack => "handed_back",
        }
    }
}

/// Counts a finished wait and how long it took.
fn waited(call: &HeldCall, outcome: &'static str, started: Instant) {
    let (account, server) = (call.account.to_string(), call.server.id.to_string());
    metrics::histogram!(
        WAIT_DURATION_METRIC,
        "account" => account.clone(),
        "server" => server.clone(),
        "outcome" => outcome
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(WAITS_METRIC, "account" => account, "server" => server, "outcome" => outcome)
        .increment(1);
}

/// Counts a held call in [`HELD_METRIC`] for as long as it lives.
struct HeldGauge;

impl HeldGauge {
    fn raise() -> Self {
        metrics::gauge!(HELD_METRIC).increment(1.0);
        Self
    }
}

impl Drop for HeldGauge {
    fn drop(&mut self) {
        metrics::gauge!(HELD_METRIC).decrement(1.0);
    }
}

/// Records the approval (or takes the one an earlier call with the same
/// arguments made) and answers with the held stream.
pub async fn hold(mut call: HeldCall) -> Response {
    let desk = call.state.approvals.clone();
    // Subscribe before recording, so no decision can slip in between.
    let decisions = desk.bus.subscribe();
    let (approval, role) = match call.existing.take() {
        Some(approval) => {
            retry::counted(&call, &approval);
            (approval, Role::Retry)
        }
        None => {
            let created = approvals::create(
                &desk.pool,
                call.account,
                NewApproval {
                    server: call.server.id,
                    grant: call.grant,
                    kind: crate::audit::target_kind(call.hold.kind),
                    tool: &call.hold.tool,
                    arguments: &call.hold.arguments,
                    timeout: Duration::from_secs(call.hold.timeout_secs),
                },
            )
            .await;
            match created {
                Ok(approval) => (approval, Role::Asker),
                Err(error) => {
                    tracing::error!(%error, "cannot record an approval");
                    let reason = "this call needs a person's approval, and the request for it could not be recorded right now; retry shortly";
                    call.ended_here(Recorded::ApprovalRequired, Some(reason.to_owned()));
                    let answer = refuse(&call, reason);
                    return ([(header::CONTENT_TYPE, "application/json")], answer).into_response();
                }
            }
        }
    };
    tracing::info!(approval = %approval.id, tool = %call.hold.tool, status = %approval.status, "holding a call for approval");
    let (events, receiver) = mpsc::channel::<Bytes>(16);
    tokio::spawn(run(call, approval, role, decisions, events));
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|event| (Ok::<_, Infallible>(event), receiver))
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(EVENT_STREAM_CONTENT_TYPE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        HeaderName::from_static(X_ACCEL_BUFFERING),
        HeaderValue::from_static("no"),
    );
    (StatusCode::OK, headers, AxumBody::from_stream(stream)).into_response()
}

/// Waits for the decision (at most the hold time), then answers on the
/// stream; an asker handed back keeps its units until the approval ends.
async fn run(
    mut call: HeldCall,
    approval: Approval,
    role: Role,
    mut decisions: SignalSubscription,
    events: mpsc::Sender<Bytes>,
) {
    let desk = call.state.approvals.clone();
    let started = Instant::now();
    let (hold_for, until_expiry) = call.hold_for(&approval);
    let deadline = started + hold_for;
    let mut keep_alive = interval_at(started + desk.keep_alive, desk.keep_alive);
    let mut recheck = interval_at(started + desk.recheck, desk.recheck);
    let comment = format!(": waiting for approval {}\n\n", approval.id);
    let _ = events.send(Bytes::from(comment)).await;

    let held_gauge = HeldGauge::raise();
    // A retry may find its approval decided already.
    let mut first = approval.status != ApprovalStatus::Pending;
    if !first {
        let _ = send_progress(&call, &approval, started, &events).await;
    }
    let outcome = loop {
        let reread = if std::mem::take(&mut first) {
            true
        } else {
            tokio::select! {
                () = events.closed() => {
                    waited(&call, "abandoned", started);
                    if role == Role::Retry {
                        // The asker's call still waits on it, or will retry.
                        call.record(Recorded::ApprovalAbandoned, None);
                        return;
                    }
                    // The units go back only if the approval ends here: one
                    // decided meanwhile keeps them for the retry that spends it.
                    match approvals::abandon(&desk.pool, call.account, approval.id).await {
                        Ok(true) => {
                            call.ended_here(Recorded::ApprovalAbandoned, None);
                            tracing::info!(approval = %approval.id, "the agent went away; approval abandoned");
                        }
                        Ok(false) => call.record(Recorded::ApprovalAbandoned, None),
                        Err(error) => {
                            call.record(Recorded::ApprovalAbandoned, None);
                            tracing::warn!(approval = %approval.id, %error, "cannot mark an approval abandoned");
                        }
                    }
                    return;
                }
                () = sleep_until(deadline), if until_expiry => {
                    match approvals::expire(&desk.pool, call.account, approval.id).await {
                        Ok(true) => break Outcome::TimedOut,
                        // Decided at the last moment: read what.
                        Ok(false) => true,
                        Err(error) => {
                            tracing::warn!(approval = %approval.id, %error, "cannot expire an approval");
                            break Outcome::TimedOut;
                        }
                    }
                }
                () = sleep_until(deadline), if !until_expiry => {
                    match read_outcome(&desk.pool, &call, &approval).await {
                        Some(outcome) => break outcome,
                        None => break Outcome::HandedBack,
                    }
                }
                decision = decisions.recv() => match decision {
                    ApprovalSignal::Decided(id) => id == approval.id,
                    ApprovalSignal::Resync => true,
                },
                _ = keep_alive.tick() => {
                    let _ = events.send(Bytes::from_static(b": keep-alive\n\n")).await;
                    let _ = send_progress(&call, &approval, started, &events).await;
                    false
                }
                _ = recheck.tick() => true,
            }
        };
        if reread {
            if let Some(outcome) = read_outcome(&desk.pool, &call, &approval).await {
                break outcome;
            }
        }
    };
    waited(&call, outcome.label(), started);
    let (answer, recorded) = match outcome {
        Outcome::Approved => return approved::forward_approved(call, approval, events).await,
        Outcome::HandedBack => {
            let answer = if call.era == Era::Modern && call.round < MAX_ROUNDS {
                handback::input_required(&call, &approval)
            } else {
                handback::answer(&call, &approval, hold_for)
            };
            call.record(
                Recorded::ApprovalPending,
                Some(format!(
                    "approval {} still pending after {} s; handed back to call again",
                    approval.id,
                    hold_for.as_secs()
                )),
            );
            let _ = events.send(message_event(answer)).await;
            // Answered: no longer a held call, whatever is kept for it.
            drop(events);
            drop(held_gauge);
            if role == Role::Asker {
                keep::keep(call, approval, decisions).await;
            }
            return;
        }
        Outcome::Denied { by, reason } => (
            match reason {
                Some(reason) => format!("{by} denied this call: {reason}"),
                None => format!("{by} denied this call"),
            },
            Recorded::ApprovalDenied,
        ),
        Outcome::TimedOut => (
            format!(
                "nobody approved this call within {} s (approval {} timed out)",
                call.hold.timeout_secs, approval.id
            ),
            Recorded::ApprovalTimedOut,
        ),
        Outcome::Gone(ApprovalStatus::Used) => {
            let reason = format!(
                "approval {} was already used by another call with the same arguments, which was forwarded; \
                 this call was not",
                approval.id
            );
            call.spent_elsewhere(reason.clone());
            let answer = refuse(&call, &reason);
            let _ = events.send(message_event(answer)).await;
            return;
        }
        Outcome::Gone(status) => (
            format!("approval {} is {status}", approval.id),
            Recorded::ApprovalRequired,
        ),
    };
    if matches!(
        recorded,
        Recorded::ApprovalDenied | Recorded::ApprovalTimedOut
    ) {
        if let Err(error) = approvals::told(&desk.pool, call.account, approval.id).await {
            tracing::warn!(approval = %approval.id, %error, "cannot record that a call was told");
        }
    }
    tracing::info!(approval = %approval.id, %answer, "refusing a held call");
    call.ended_here(recorded, Some(answer.clone()));
    let answer = refuse(&call, &answer);
    let _ = events.send(message_event(answer)).await;
}

/// The decision as Postgres has it; `None` while still pending.
async fn read_outcome(pool: &PgPool, call: &HeldCall, approval: &Approval) -> Option<Outcome> {
    let current = match approvals::get(pool, call.account, approval.id).await {
        Ok(current) => current,
        Err(error) => {
            tracing::warn!(approval = %approval.id, %error, "cannot read an approval; will retry");
            return None;
        }
    };
    match current.status {
        ApprovalStatus::Pending => None,
        ApprovalStatus::Approved => Some(Outcome::Approved),
        ApprovalStatus::Denied => Some(Outcome::Denied {
            by: current
                .decided_by_name
                .or(current.decided_by)
                .unwrap_or_else(|| "a reviewer".to_owned()),
            reason: current.reason,
        }),
        ApprovalStatus::Expired => Some(Outcome::TimedOut),
        other => Some(Outcome::Gone(other)),
    }
}

fn refuse(call: &HeldCall, reason: &str) -> Bytes {
    refusal(
        call.era,
        call.hold.kind,
        &call.hold.id,
        reason,
        &call.hold.pointer,
        None,
    )
}

fn message_event(message: Bytes) -> Bytes {
    SseEvent::message(message).encode()
}

/// A `notifications/progress` for the held call, when it carries a token.
async fn send_progress(
    call: &HeldCall,
    approval: &Approval,
    started: Instant,
    events: &mpsc::Sender<Bytes>,
) -> Result<(), mpsc::error::SendError<Bytes>> {
    let Some(token) = &call.hold.progress_token else {
        return Ok(());
    };
    let Ok(token) = serde_json::from_str::<serde_json::Value>(token.as_json()) else {
        return Ok(());
    };
    let notification = json!({
        "jsonrpc": "2.0",
        "method": "notifications/progress",
        "params": {
            "progressToken": token,
            "progress": started.elapsed().as_secs(),
            "total": call.hold.timeout_secs,
            "message": format!("waiting for a person to approve (approval {})", approval.id),
        }
    });
    events
        .send(message_event(Bytes::from(notification.to_string())))
        .await
}
