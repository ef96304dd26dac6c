//! What a caller asks of a counter store, what it answers, and the validated
//! plan both stores execute.

use std::time::Duration;

use crate::error::BackendError;
use crate::keys::counter_key;

/// The largest `max` of a sliding limit: its log holds one entry per unit.
pub const SLIDING_MAX_LIMIT: u64 = 10_000;

/// Counts stay exact integers in the Redis script (Lua numbers are doubles).
const MAX_EXACT: u64 = 1 << 53;

/// How a limit counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Calendar-aligned UTC windows: a window starts at `floor(now / W) * W`
    /// since the Unix epoch. Exact per window; up to `2 * max` across a boundary.
    #[default]
    Fixed,
    /// An exact rolling log: never more than `max` in any window of `W`.
    Sliding,
}

/// One limit of one call.
#[derive(Clone, Debug)]
pub struct LimitRequest {
    /// The caller's counter identity without the account tag, e.g.
    /// `c:spend:account`. The store adds `<namespace>:{<account>}:` in front and the
    /// window length (plus `:s` for sliding) behind.
    pub key: String,
    /// Window length in seconds, at least 1.
    pub window_secs: u64,
    /// Units allowed per window, at least 1 (sliding: at most 10 000).
    pub max: u64,
    /// Units this call consumes; 0 checks nothing and consumes nothing.
    pub cost: u64,
    pub algorithm: Algorithm,
}

/// The decision on all limits of one call.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Every limit had room and every limit was consumed.
    Admitted(Admission),
    /// `index` points into the requests at a limit that is over (the one with
    /// the latest retry if several are). Nothing was consumed.
    Refused { index: usize, retry_after: Duration },
}

/// What an admitted call consumed, exactly enough to give it back.
#[derive(Clone, Debug)]
pub struct Admission {
    pub(crate) account: String,
    pub(crate) request_id: u128,
    pub(crate) at_ms: i64,
    pub(crate) consumed: Vec<Consumed>,
}

/// One consumed limit: its full key, the fixed window it counted in (0 for
/// sliding) and, for sliding, the first of `cost` member indexes.
#[derive(Clone, Debug)]
pub(crate) struct Consumed {
    pub key: String,
    pub algorithm: Algorithm,
    pub window: i64,
    pub cost: u64,
    pub first_member: u64,
}

impl Admission {
    /// The store's clock (milliseconds since the Unix epoch, clock offset
    /// included) at the moment of the decision.
    pub fn at_ms(&self) -> i64 {
        self.at_ms
    }

    /// The account the units were consumed under.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Total units consumed over all limits.
    pub fn units(&self) -> u64 {
        self.consumed.iter().map(|c| c.cost).sum()
    }
}

/// One request after validation, ready for a store.
#[derive(Clone, Debug)]
pub(crate) struct PlannedLimit {
    pub key: String,
    pub algorithm: Algorithm,
    pub window_ms: i64,
    pub max: u64,
    /// The call's cost, capped at `max + 1` (more can never fit either way).
    pub cost: u64,
    /// Sliding: members `<request id>:<first_member + k>` for k in 0..cost,
    /// numbered across the call so every member of one call is distinct.
    pub first_member: u64,
}

/// Validate the requests of one call and derive keys and member numbering.
pub(crate) fn plan(
    namespace: &str,
    account: &str,
    limits: &[LimitRequest],
) -> Result<Vec<PlannedLimit>, BackendError> {
    if account.is_empty() || account.contains(['{', '}']) {
        return Err(BackendError::InvalidRequest(format!(
            "account id {account:?} must be non-empty and free of braces (it is the Redis hash tag)"
        )));
    }
    let mut next_member = 0u64;
    limits
        .iter()
        .enumerate()
        .map(|(i, limit)| {
            let invalid = |why: &str| {
                BackendError::InvalidRequest(format!("limit {i} ({}): {why}", limit.key))
            };
            if limit.window_secs == 0 || limit.window_secs > MAX_EXACT / 1000 / 4 {
                return Err(invalid("window_secs must be at least 1 and sane"));
            }
            if limit.max == 0 || limit.max >= MAX_EXACT {
                return Err(invalid("max must be at least 1 and below 2^53"));
            }
            if limit.algorithm == Algorithm::Sliding && limit.max > SLIDING_MAX_LIMIT {
                return Err(invalid("a sliding limit allows at most 10000"));
            }
            let cost = limit.cost.min(limit.max + 1);
            let first_member = next_member;
            if limit.algorithm == Algorithm::Sliding {
                next_member += cost;
            }
            Ok(PlannedLimit {
                key: counter_key(namespace, account, limit),
                algorithm: limit.algorithm,
                window_ms: (limit.window_secs * 1000) as i64,
                max: limit.max,
                cost,
                first_member,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(key: &str, algorithm: Algorithm, max: u64, cost: u64) -> LimitRequest {
        LimitRequest {
            key: key.into(),
            window_secs: 60,
            max,
            cost,
            algorithm,
        }
    }

    #[test]
    fn sliding_members_are_numbered_across_the_call() {
        let planned = plan(
            "tg",
            "acc_1",
            &[
                limit("a", Algorithm::Sliding, 10, 3),
                limit("b", Algorithm::Fixed, 10, 5),
                limit("c", Algorithm::Sliding, 10, 2),
            ],
        )
        .unwrap();
        assert_eq!(planned[0].first_member, 0);
        assert_eq!(planned[2].first_member, 3);
    }

    #[test]
    fn invalid_requests_are_refused_before_any_io() {
        assert!(plan("tg", "acc_1", &[limit("a", Algorithm::Fixed, 0, 1)]).is_err());
        assert!(plan("tg", "acc_1", &[limit("a", Algorithm::Sliding, 10_001, 1)]).is_err());
        assert!(plan("tg", "ac{c}", &[limit("a", Algorithm::Fixed, 1, 1)]).is_err());
        let zero_window = LimitRequest {
            window_secs: 0,
            ..limit("a", Algorithm::Fixed, 1, 1)
        };
        assert!(plan("tg", "acc_1", &[zero_window]).is_err());
    }

    #[test]
    fn huge_costs_are_capped_just_over_max() {
        let planned = plan("tg", "acc_1", &[limit("a", Algorithm::Fixed, 10, u64::MAX)]).unwrap();
        assert_eq!(planned[0].cost, 11);
    }
}
