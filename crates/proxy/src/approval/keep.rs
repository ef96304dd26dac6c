//! Keeping a handed-back call's limit units until its approval ends.
//!
//! The units were taken before a person was asked, so that an approved call
//! never fails on a limit. The call itself was answered (handed back), so
//! the replica that took them watches the approval instead: spent by a
//! retry (on any replica), the units were that call's and stay taken;
//! denied, expired, abandoned, or approved but never spent in time, they go
//! back. If this replica stops first, they stay taken until their window
//! ends, as any call's would.

use tokio::time::{interval_at, sleep_until, Instant};
use toolgate_audit::AuditDecision as Recorded;
use toolgate_changes::{ApprovalSignal, SignalSubscription};
use toolgate_store::approvals::{self, Approval, ApprovalStatus};

use super::HeldCall;

pub(super) async fn keep(
    mut call: HeldCall,
    approval: Approval,
    mut decisions: SignalSubscription,
) {
    if call.admission.is_none() {
        return;
    }
    let desk = call.state.approvals.clone();
    let mut recheck = interval_at(Instant::now() + desk.recheck, desk.recheck);
    loop {
        let current = match approvals::get(&desk.pool, call.account, approval.id).await {
            Ok(current) => current,
            Err(error) => {
                tracing::warn!(approval = %approval.id, %error, "cannot read an approval; will retry");
                recheck.tick().await;
                continue;
            }
        };
        let until = match current.status {
            ApprovalStatus::Pending => current.expires_at,
            ApprovalStatus::Used => {
                tracing::info!(approval = %approval.id, "approval spent by a retry; its units stay taken");
                return;
            }
            ApprovalStatus::Approved => match current.claim_deadline() {
                Some(deadline) if deadline > chrono::Utc::now() => deadline,
                _ => match approvals::lapse(&desk.pool, call.account, approval.id).await {
                    Ok(true) => break,
                    // Spent at the last moment, or unreadable: look again.
                    Ok(false) => {
                        recheck.tick().await;
                        continue;
                    }
                    Err(error) => {
                        tracing::warn!(approval = %approval.id, %error, "cannot lapse an approval");
                        recheck.tick().await;
                        continue;
                    }
                },
            },
            ApprovalStatus::Denied | ApprovalStatus::Expired | ApprovalStatus::Abandoned => break,
        };
        let left = (until - chrono::Utc::now()).to_std().unwrap_or_default();
        let wake = Instant::now() + left;
        // Decisions on other approvals do not wake a re-read.
        loop {
            tokio::select! {
                () = sleep_until(wake) => break,
                decision = decisions.recv() => match decision {
                    ApprovalSignal::Decided(id) if id != approval.id => {}
                    _ => break,
                },
                _ = recheck.tick() => break,
            }
        }
    }
    tracing::info!(approval = %approval.id, "approval ended unspent; giving its units back");
    // The audit event was recorded when the call was handed back.
    call.ended_here(Recorded::ApprovalPending, None);
}
