//! Rate limits on the hot path: one counter-store call per limited
//! `tools/call`, `resources/read` or `prompts/get`, the refusal an over-limit call gets, each rule's choice when
//! the store cannot answer, and giving units back when the upstream fails.

use bytes::Bytes;
use toolgate_limits::{
    holder_key, Admission, Algorithm, CounterStore, Holder, LimitRequest, Outcome,
};
use toolgate_mcp::headers::Era;
use toolgate_mcp::Id;
use toolgate_policy::{Kind, LimitAcquire, OnBackendError, Scope};
use toolgate_store::ids::{AccountId, GrantId, ServerId};

use crate::refusal::refusal;

/// Who is calling: what limit scopes resolve to.
pub struct Caller<'a> {
    pub account: AccountId,
    pub server: ServerId,
    pub grant: GrantId,
    /// The legacy session, if any; 2026-07-28 calls have none and count per grant.
    pub session: Option<&'a str>,
}

/// The limiter's verdict on one call.
pub enum Verdict {
    /// Go ahead; give the units back if the upstream fails. `None` when the
    /// store was down and every rule said `on_backend_error: open`.
    Admitted(Option<Admission>),
    /// The gateway's refusal, to send instead of forwarding.
    Refused(Bytes),
}

/// The limiter's verdict in the audit trail's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitNote {
    Admitted,
    /// The store was down and every rule said `on_backend_error: open`.
    Uncounted,
    Refused {
        pointer: String,
        reason: String,
        /// The store was down and this limit fails closed.
        unavailable: bool,
    },
}

/// Limit decisions, by account, server and outcome (`admitted`, `refused`,
/// `backend_error_open`, `backend_error_closed`).
pub const DECISIONS_METRIC: &str = "toolgate_limit_decisions_total";
/// Units given back after an upstream failure.
pub const GIVE_BACKS_METRIC: &str = "toolgate_limit_give_backs_total";

#[derive(Clone)]
pub struct Limiter {
    store: CounterStore,
}

fn count(caller: &Caller<'_>, outcome: &'static str) {
    metrics::counter!(
        DECISIONS_METRIC,
        "account" => caller.account.to_string(),
        "server" => caller.server.to_string(),
        "outcome" => outcome
    )
    .increment(1);
}

impl Limiter {
    pub fn new(store: CounterStore) -> Self {
        Self { store }
    }

    pub fn store(&self) -> &CounterStore {
        &self.store
    }

    /// Checks and consumes every limit of one call, all or none; says what
    /// happened in the audit trail's terms too.
    pub async fn acquire(
        &self,
        caller: &Caller<'_>,
        id: &Id<'_>,
        era: Era,
        kind: Kind,
        limits: &[LimitAcquire],
    ) -> (Verdict, LimitNote) {
        let requests: Vec<LimitRequest> =
            limits.iter().map(|limit| request(caller, limit)).collect();
        match self
            .store
            .acquire(&caller.account.to_string(), &requests)
            .await
        {
            Ok(Outcome::Admitted(admission)) => {
                count(caller, "admitted");
                (Verdict::Admitted(Some(admission)), LimitNote::Admitted)
            }
            Ok(Outcome::Refused { index, retry_after }) => {
                count(caller, "refused");
                let limit = &limits[index.min(limits.len().saturating_sub(1))];
                let retry_ms = u64::try_from(retry_after.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1);
                let reason = format!(
                    "limit \"{}\" reached ({} per {}); retry in {}",
                    limit.counter,
                    limit.max,
                    window_text(limit),
                    seconds_text(retry_ms)
                );
                let answer = refusal(era, kind, id, &reason, &limit.pointer, Some(retry_ms));
                let note = LimitNote::Refused {
                    pointer: limit.pointer.clone(),
                    reason,
                    unavailable: false,
                };
                (Verdict::Refused(answer), note)
            }
            Err(err) => {
                match limits
                    .iter()
                    .find(|l| l.on_backend_error == OnBackendError::Closed)
                {
                    None => {
                        count(caller, "backend_error_open");
                        tracing::warn!(error = %err, "counter store unavailable; rules say open: call allowed uncounted");
                        (Verdict::Admitted(None), LimitNote::Uncounted)
                    }
                    Some(closed) => {
                        count(caller, "backend_error_closed");
                        tracing::warn!(error = %err, "counter store unavailable; call refused (on_backend_error: closed)");
                        let reason = "rate limits cannot be checked right now (the counter store is unavailable), and this limit fails closed; retry shortly";
                        let answer = refusal(era, kind, id, reason, &closed.pointer, None);
                        let note = LimitNote::Refused {
                            pointer: closed.pointer.clone(),
                            reason: reason.to_owned(),
                            unavailable: true,
                        };
                        (Verdict::Refused(answer), note)
                    }
                }
            }
        }
    }

    /// Returns a failed call's units, off the request path.
    pub fn give_back(&self, account: AccountId, admission: Admission) {
        let limiter = self.clone();
        tokio::spawn(async move {
            match limiter
                .store
                .release(&account.to_string(), &admission)
                .await
            {
                Ok(()) => metrics::counter!(GIVE_BACKS_METRIC).increment(1),
                Err(err) => {
                    tracing::warn!(error = %err, "could not give back a failed call's units")
                }
            }
        });
    }
}

/// The counter's identity. Rules naming one counter share it; the scope
/// says whose calls it counts together. Only `account` crosses servers.
fn request(caller: &Caller<'_>, limit: &LimitAcquire) -> LimitRequest {
    let (server, grant) = (&caller.server, &caller.grant);
    let holder = match (limit.scope, caller.session) {
        (Scope::Account, _) => Holder::Account,
        (Scope::Server, _) => Holder::Server { server },
        (Scope::Grant, _) | (Scope::Session, None) => Holder::Grant { server, grant },
        (Scope::Session, Some(session)) => Holder::Session { server, session },
    };
    let key = holder_key(&limit.counter, holder);
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

fn window_text(limit: &LimitAcquire) -> String {
    match limit.window.unit_name() {
        Some(unit) => unit.to_owned(),
        None => format!("{} s", limit.window.secs()),
    }
}

fn seconds_text(ms: u64) -> String {
    if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} s", ms.div_ceil(1000))
    }
}
