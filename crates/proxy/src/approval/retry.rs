//! Finding the approval an earlier call with the same grant, target and
//! arguments made: an agent handed back calls again, and that call must not
//! ask a person a second time.

use toolgate_store::approvals::{self, Approval, RetryKey};
use toolgate_store::StoreError;

use super::state::StateError;
use super::{Approvals, HeldCall, RETRIES_METRIC};
use crate::limiting::Caller;
use crate::plan::Hold;

/// The approval this call should use instead of asking a person, if any.
/// A store error is logged and treated as none: the call then asks anew,
/// which fails the same way if the store is down.
pub async fn find_retry(desk: &Approvals, caller: &Caller<'_>, hold: &Hold) -> Option<Approval> {
    let digest = approvals::arguments_digest(&hold.arguments);
    let key = RetryKey {
        server: caller.server,
        grant: caller.grant,
        kind: crate::audit::target_kind(hold.kind),
        tool: &hold.tool,
        arguments_digest: &digest,
    };
    match approvals::find_for_retry(&desk.pool, caller.account, &key, &desk.memory).await {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(%error, "cannot look for an earlier approval of this call");
            None
        }
    }
}

/// The approval and round a modern client's call resumed with the
/// gateway's `requestState` waits on; refused when the state is forged,
/// moved to another grant or call, or expired.
pub async fn resume(
    desk: &Approvals,
    caller: &Caller<'_>,
    hold: &Hold,
    state: &str,
) -> Result<(Approval, u32), StateError> {
    let digest = approvals::arguments_digest(&hold.arguments);
    let round = desk.states.open(
        caller.grant,
        caller.server,
        state,
        &hold.tool,
        &digest,
        chrono::Utc::now(),
    )?;
    match approvals::get(&desk.pool, caller.account, round.approval).await {
        // The state names the approval; the approval must be this very call
        // (grant, server, kind, target and arguments), not one like it.
        Ok(approval)
            if approval.grant_id == caller.grant
                && approval.server_id == caller.server
                && approval.kind == crate::audit::target_kind(hold.kind)
                && approval.tool == hold.tool
                && approval.arguments_digest == digest =>
        {
            Ok((approval, round.round))
        }
        Ok(_) | Err(StoreError::NotFound) => Err(StateError::Forged),
        Err(error) => {
            tracing::warn!(%error, "cannot read the approval a request state names");
            Err(StateError::Unavailable)
        }
    }
}

/// Counts a call that found an earlier call's approval.
pub(super) fn counted(call: &HeldCall, approval: &Approval) {
    metrics::counter!(
        RETRIES_METRIC,
        "account" => call.account.to_string(),
        "server" => call.server.id.to_string(),
        "status" => approval.status.as_str()
    )
    .increment(1);
}
