//! Settling a forwarded request as its answers pass: each admitted call
//! whose answer is a JSON-RPC error gets its limit units back, so does every
//! call the upstream failed to answer, and each forwarded call's audit event
//! is recorded exactly once, with how the upstream answered.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use toolgate_limits::Admission;
use toolgate_mcp::Id;
use toolgate_store::ids::AccountId;

use crate::audit::Pending;
use crate::limiting::Limiter;

/// The admitted calls of one request, settled as their answers pass: a
/// JSON-RPC error answer gives the call's units back; so does an upstream
/// that fails before answering.
pub struct Settlement {
    limiter: Limiter,
    account: AccountId,
    pending: Vec<(Id<'static>, Admission)>,
    /// Forwarded calls the audit trail records once answered.
    audit: Option<Pending>,
}

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    error: Option<IgnoredAny>,
    /// Set on the upstream's own requests, whose ids are not our calls'.
    method: Option<IgnoredAny>,
}

impl Settlement {
    /// Settles `pending` admissions and the forwarded calls the audit trail
    /// awaits; `None` when there is neither.
    pub fn start(
        limiter: Limiter,
        account: AccountId,
        pending: Vec<(Id<'static>, Admission)>,
        audit: Option<Pending>,
    ) -> Option<Self> {
        (!pending.is_empty() || audit.is_some()).then_some(Self {
            limiter,
            account,
            pending,
            audit,
        })
    }

    /// Looks at one message from the upstream.
    pub fn observe(&mut self, message: &[u8]) {
        let Ok(reply) = serde_json::from_slice::<Reply<'_>>(message) else {
            return;
        };
        if reply.method.is_some() {
            return;
        }
        let Some(id) = reply.id.and_then(Id::from_raw) else {
            return;
        };
        if let Some(audit) = self.audit.as_mut() {
            audit.answered(&id, reply.error.is_some());
        }
        if let Some(at) = self
            .pending
            .iter()
            .position(|(pending, _)| pending.as_json() == id.as_json())
        {
            let (_, admission) = self.pending.swap_remove(at);
            if reply.error.is_some() {
                self.limiter.give_back(self.account, admission);
            }
        }
    }

    /// The upstream's whole answer passed but was too large to keep a copy
    /// of: it served every call still pending. (An error answer is a few
    /// hundred bytes; an answer this large is a result.)
    pub fn answered_unread(mut self) {
        if let Some(audit) = self.audit.as_mut() {
            audit.answered_all();
        }
        self.pending.clear();
    }

    /// The upstream failed: nothing still pending was served.
    pub fn fail(mut self) {
        if let Some(audit) = self.audit.as_mut() {
            audit.fail();
        }
        for (_, admission) in self.pending.drain(..) {
            self.limiter.give_back(self.account, admission);
        }
    }
}
