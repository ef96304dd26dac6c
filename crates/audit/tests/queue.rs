//! The audit pipeline against real Redis and Postgres: producer → stream →
//! consumer → table, idempotency by event id, a crash between commit and
//! acknowledgement, an unreachable queue, and the in-process path.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{queue, redis_url, same_stream};
use sqlx::PgPool;
use toolgate_audit::{
    AuditDecision, AuditEvent, AuditSink, Consumer, RedisQueue, SinkConfig, StreamConfig,
};
use toolgate_store::ids::AccountId;

/// Call `n`: every other one limited, so decisions vary.
fn event(account: AccountId, n: usize) -> AuditEvent {
    let decision = if n % 2 == 0 {
        AuditDecision::Allowed
    } else {
        AuditDecision::Limited
    };
    AuditEvent {
        decision,
        ..common::event(account, &format!("tool-{n}"))
    }
}

async fn rows(pool: &PgPool, account: AccountId) -> i64 {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "rows!" FROM audit_events WHERE account_id = $1"#,
        account.0,
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Steps the consumer until `want` rows exist or 10 s pass.
async fn drain(consumer: &mut Consumer, pool: &PgPool, account: AccountId, want: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rows(pool, account).await < want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "events never arrived"
        );
        consumer.step().await.unwrap();
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn events_travel_from_the_sink_through_the_stream_into_postgres(pool: PgPool) {
    let queue = queue("c1");
    let (sink, _drain) = AuditSink::redis(queue.clone(), SinkConfig::default());
    let account = AccountId::new();
    let sent: Vec<AuditEvent> = (0..120).map(|n| event(account, n)).collect();
    for e in &sent {
        sink.record(e.clone());
    }
    let mut consumer = Consumer::new(queue.clone(), pool.clone());
    drain(&mut consumer, &pool, account, 120).await;
    assert_eq!(rows(&pool, account).await, 120);
    assert_eq!(queue.pending_count().await.unwrap(), 0);
    assert_eq!(
        queue.entry_count().await.unwrap(),
        0,
        "stored entries leave the stream"
    );

    let page = toolgate_store::audit::list(&pool, account, &Default::default(), None, 200)
        .await
        .unwrap();
    let mut stored = page.items;
    stored.sort_by_key(|e| e.id);
    let mut expected = sent;
    expected.sort_by_key(|e| e.id);
    for (got, want) in stored.iter().zip(&expected) {
        assert_eq!(got.id, want.id);
        assert_eq!(got.decision, want.decision);
        assert_eq!(got.tool, want.tool);
        assert_eq!(got.argument_keys, want.argument_keys);
        assert_eq!(got.at.timestamp_micros(), want.at.timestamp_micros());
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_same_event_twice_is_one_row(pool: PgPool) {
    let queue = queue("c1");
    let account = AccountId::new();
    let one = event(account, 0);
    queue.append(&[one.clone(), one.clone()]).await.unwrap();
    queue.append(std::slice::from_ref(&one)).await.unwrap();
    let mut consumer = Consumer::new(queue.clone(), pool.clone());
    queue.ensure_group().await.unwrap();
    while consumer.step().await.unwrap() > 0 {}
    assert_eq!(rows(&pool, account).await, 1);
    assert_eq!(queue.pending_count().await.unwrap(), 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_crash_between_commit_and_ack_redelivers_without_duplicating(pool: PgPool) {
    let queue = queue("control-1");
    let account = AccountId::new();
    let events: Vec<AuditEvent> = (0..50).map(|n| event(account, n)).collect();
    queue.ensure_group().await.unwrap();
    for batch in events.chunks(10) {
        queue.append(batch).await.unwrap();
    }

    // The first reader reads and commits, then "crashes" before XACK.
    let entries = queue.read_new(500).await.unwrap();
    assert_eq!(entries.len(), 5);
    let batch: Vec<AuditEvent> = entries.into_iter().flat_map(|e| e.events).collect();
    assert_eq!(batch, events, "every event, in order");
    toolgate_audit::writer::write(&pool, &batch).await.unwrap();
    assert_eq!(queue.pending_count().await.unwrap(), 5);

    // Restarted under the same name: its pending entries come first.
    let mut restarted = Consumer::new(same_stream(&queue, "control-1"), pool.clone());
    assert_eq!(restarted.step().await.unwrap(), 5);
    assert_eq!(rows(&pool, account).await, 50);
    assert_eq!(queue.pending_count().await.unwrap(), 0);
    assert_eq!(queue.entry_count().await.unwrap(), 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn another_reader_claims_entries_a_dead_reader_left_pending(pool: PgPool) {
    let queue = queue("dead");
    let account = AccountId::new();
    queue.ensure_group().await.unwrap();
    queue
        .append(&(0..10).map(|n| event(account, n)).collect::<Vec<_>>())
        .await
        .unwrap();
    let read = queue.read_new(500).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].events.len(), 10);

    let mut config = queue.config().clone();
    config.consumer = "survivor".to_owned();
    config.claim_idle = Duration::from_millis(50);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut survivor = Consumer::new(RedisQueue::new(&redis_url(), config).unwrap(), pool.clone());
    drain(&mut survivor, &pool, account, 10).await;
    assert_eq!(queue.pending_count().await.unwrap(), 0);
}

/// Adds an entry as gateways wrote them before batching: one event.
async fn append_single(queue: &RedisQueue, event: &AuditEvent) {
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: String = redis::cmd("XADD")
        .arg(&queue.config().key)
        .arg("*")
        .arg("e")
        .arg(serde_json::to_string(event).unwrap())
        .query_async(&mut redis)
        .await
        .unwrap();
}

#[sqlx::test(migrations = "../../migrations")]
async fn one_entry_carries_many_events_and_single_event_entries_still_read(pool: PgPool) {
    let queue = queue("c1");
    let account = AccountId::new();
    queue.ensure_group().await.unwrap();
    let old = event(account, 0);
    append_single(&queue, &old).await;
    let batched: Vec<AuditEvent> = (1..=300).map(|n| event(account, n)).collect();
    queue.append(&batched).await.unwrap();
    assert_eq!(
        queue.entry_count().await.unwrap(),
        2,
        "300 events, one entry"
    );
    let later = event(account, 301);
    append_single(&queue, &later).await;

    let mut consumer = Consumer::new(queue.clone(), pool.clone());
    assert_eq!(consumer.step().await.unwrap(), 3);
    assert_eq!(rows(&pool, account).await, 302);
    assert_eq!(queue.pending_count().await.unwrap(), 0);
    assert_eq!(queue.entry_count().await.unwrap(), 0);
    let page = toolgate_store::audit::list(&pool, account, &Default::default(), None, 500)
        .await
        .unwrap();
    for sent in [&old, &batched[0], &batched[299], &later] {
        let stored = page.items.iter().find(|e| e.id == sent.id).unwrap();
        assert_eq!(stored.tool, sent.tool);
        assert_eq!(stored.decision, sent.decision);
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_long_append_is_split_over_entries_and_written_in_several_transactions(pool: PgPool) {
    let queue = queue("c1");
    let account = AccountId::new();
    queue.ensure_group().await.unwrap();
    let events: Vec<AuditEvent> = (0..2_600).map(|n| event(account, n)).collect();
    queue.append(&events).await.unwrap();
    let sizes: Vec<usize> = same_stream(&queue, "peek")
        .read_new(500)
        .await
        .unwrap()
        .iter()
        .map(|e| e.events.len())
        .collect();
    assert_eq!(sizes, [500, 500, 500, 500, 500, 100]);

    // Read at once, more than one transaction holds: all stored, all acknowledged.
    let mut consumer = Consumer::new(same_stream(&queue, "peek"), pool.clone());
    assert_eq!(consumer.step().await.unwrap(), 6, "its own pending entries");
    assert_eq!(rows(&pool, account).await, 2_600);
    assert_eq!(queue.pending_count().await.unwrap(), 0);
    assert_eq!(queue.entry_count().await.unwrap(), 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_consumer_makes_its_group_again_when_the_stream_is_gone(pool: PgPool) {
    let queue = queue("c1");
    let account = AccountId::new();
    let mut consumer = Consumer::new(queue.clone(), pool.clone());
    queue.append(&[event(account, 0)]).await.unwrap();
    drain(&mut consumer, &pool, account, 1).await;

    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg(&queue.config().key)
        .query_async(&mut redis)
        .await
        .unwrap();
    queue.append(&[event(account, 1)]).await.unwrap();
    assert!(consumer.step().await.is_err(), "no group on the new stream");
    drain(&mut consumer, &pool, account, 2).await;
    assert_eq!(queue.pending_count().await.unwrap(), 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_unreachable_queue_buffers_up_to_the_bound_and_counts_drops(pool: PgPool) {
    // Nothing listens on port 1.
    let dead = RedisQueue::new("redis://127.0.0.1:1", StreamConfig::new("x", "c")).unwrap();
    let (sink, _drain) = AuditSink::redis(
        dead,
        SinkConfig {
            channel: 4,
            buffer: 8,
            batch: 4,
            ..SinkConfig::default()
        },
    );
    let account = AccountId::new();
    // Never blocks, whatever happens downstream.
    let started = std::time::Instant::now();
    for n in 0..1000 {
        sink.record(event(account, n));
    }
    assert!(started.elapsed() < Duration::from_millis(200));
    drop(pool);
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_in_process_path_writes_straight_to_postgres(pool: PgPool) {
    let (sink, _drain) = AuditSink::in_process(pool.clone(), SinkConfig::default());
    let account = AccountId::new();
    for n in 0..30 {
        sink.record(event(account, n));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rows(&pool, account).await < 30 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rows(&pool, account).await, 30);
}

/// Long enough that only the drain can have stored the events in time.
fn lingering() -> SinkConfig {
    SinkConfig {
        linger: Duration::from_secs(600),
        ..SinkConfig::default()
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_finished_drain_has_queued_every_event_the_sink_took(pool: PgPool) {
    let queue = queue("c1");
    let (sink, sink_drain) = AuditSink::redis(queue.clone(), lingering());
    let account = AccountId::new();
    for n in 0..40 {
        sink.record(event(account, n));
    }
    tokio::time::timeout(
        Duration::from_secs(5),
        sink_drain.finish(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    let mut consumer = Consumer::new(queue.clone(), pool.clone());
    drain(&mut consumer, &pool, account, 40).await;
    assert_eq!(rows(&pool, account).await, 40);
    // The sink takes nothing more once drained.
    sink.record(event(account, 99));
    consumer.step().await.unwrap();
    assert_eq!(rows(&pool, account).await, 40);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_finished_in_process_drain_has_stored_every_event(pool: PgPool) {
    let (sink, drain) = AuditSink::in_process(pool.clone(), lingering());
    let account = AccountId::new();
    for n in 0..30 {
        sink.record(event(account, n));
    }
    assert_eq!(
        rows(&pool, account).await,
        0,
        "lingering events are not stored yet"
    );
    drain.finish(Duration::from_secs(5)).await;
    assert_eq!(rows(&pool, account).await, 30);
}
