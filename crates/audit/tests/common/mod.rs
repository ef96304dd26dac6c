//! What the audit pipeline's integration tests share: a Redis Stream of
//! each test's own, and events to put on it.

#![allow(dead_code, clippy::unwrap_used)]

use chrono::{SubsecRound, Utc};
use toolgate_audit::{AuditDecision, AuditEvent, RedisQueue, StreamConfig, UpstreamOutcome};
use toolgate_store::ids::{AccountId, EventId, GrantId, ServerId};

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A queue on a stream of its own, so tests run in parallel.
pub fn queue(consumer: &str) -> RedisQueue {
    let key = format!("toolgate:test:audit:{}", uuid::Uuid::now_v7().simple());
    RedisQueue::new(&redis_url(), StreamConfig::new(key, consumer)).unwrap()
}

/// Another consumer of `queue`'s stream.
pub fn same_stream(queue: &RedisQueue, consumer: &str) -> RedisQueue {
    let mut config = queue.config().clone();
    config.consumer = consumer.to_owned();
    RedisQueue::new(&redis_url(), config).unwrap()
}

/// An allowed call of `tool` by `account`, at a time to the microsecond (as
/// the queue and Postgres keep it, so an event read back equals it).
pub fn event(account: AccountId, tool: &str) -> AuditEvent {
    AuditEvent {
        id: EventId::new(),
        at: Utc::now().trunc_subsecs(6),
        account,
        server: ServerId::new(),
        grant: Some(GrantId::new()),
        session: None,
        kind: toolgate_store::target_kind::TargetKind::Tool,
        tool: tool.to_owned(),
        decision: AuditDecision::Allowed,
        rule: Some("/tools/x".to_owned()),
        policy_version: Some(1),
        reason: None,
        upstream: UpstreamOutcome::Ok,
        latency_ms: 3,
        argument_keys: vec!["a".to_owned()],
        arguments: None,
        shadow: None,
    }
}
