//! One bad event never stops the audit trail, on real Redis and Postgres:
//! text Postgres cannot hold is stored with U+FFFD; an event Postgres still
//! refuses for its data (forced here with a CHECK constraint in the test's
//! own database) is found by bisecting its batch, set aside in
//! `audit_dead_letters` and counted, while every other event is stored and
//! acknowledged — on the stream consumer and the in-process writer alike,
//! across restarts. Connection-level failures still retry the whole batch.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{event, queue, redis_url, same_stream};
use metrics::LocalRecorderGuard;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use serde_json::json;
use sqlx::PgPool;
use toolgate_audit::writer::{write_entries, Unreadable};
use toolgate_audit::{
    AuditEvent, AuditSink, Consumer, RedisQueue, SinkConfig, DEAD_LETTERED_METRIC,
};
use toolgate_store::audit_dead_letters::{self, DeadLetter};
use toolgate_store::ids::{AccountId, EventId};

const POISON: &str = "poison";

/// Makes Postgres refuse any event whose tool is [`POISON`], for its data
/// (SQLSTATE 23514), in this test's own database.
async fn refuse_poison(pool: &PgPool) {
    // Dynamic: DDL takes no parameters, and the constraint names POISON.
    sqlx::query(&format!(
        "ALTER TABLE audit_events ADD CONSTRAINT no_poison CHECK (tool <> '{POISON}')"
    ))
    .execute(pool)
    .await
    .unwrap();
}

/// `ordinary` events alternating between two accounts, with a poison event
/// after every seventh; in queue order, with the poison ids.
fn interleaved(a: AccountId, b: AccountId, ordinary: usize) -> (Vec<AuditEvent>, Vec<EventId>) {
    let mut events = Vec::new();
    let mut poisons = Vec::new();
    for n in 0..ordinary {
        let account = if n % 2 == 0 { a } else { b };
        events.push(event(account, &format!("tool-{n}")));
        if n % 7 == 3 {
            let poison = event(account, POISON);
            poisons.push(poison.id);
            events.push(poison);
        }
    }
    (events, poisons)
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

async fn dead_letters(pool: &PgPool) -> Vec<DeadLetter> {
    audit_dead_letters::recent(pool, 1000).await.unwrap()
}

/// A Prometheus recorder for this test's thread only: `#[sqlx::test]` runs
/// each test on a current-thread runtime, so every task the test spawns
/// counts here and no other test's events do.
fn local_metrics() -> (PrometheusHandle, LocalRecorderGuard<'static>) {
    let recorder: &'static PrometheusRecorder =
        Box::leak(Box::new(PrometheusBuilder::new().build_recorder()));
    (
        recorder.handle(),
        metrics::set_default_local_recorder(recorder),
    )
}

fn counted(metrics: &PrometheusHandle, name: &str) -> u64 {
    metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0)
}

/// Steps the consumer until the stream holds nothing unacknowledged.
async fn consume_all(consumer: &mut Consumer, queue: &RedisQueue) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        consumer.step().await.unwrap();
        if queue.entry_count().await.unwrap() == 0 && queue.pending_count().await.unwrap() == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "consumer never caught up"
        );
    }
}

fn ids(letters: &[DeadLetter]) -> Vec<EventId> {
    let mut ids: Vec<EventId> = letters
        .iter()
        .map(|l| EventId(l.event_id.unwrap()))
        .collect();
    ids.sort();
    ids
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_consumer_sets_refused_events_aside_and_stores_the_rest(pool: PgPool) {
    let (metrics, _guard) = local_metrics();
    refuse_poison(&pool).await;
    let queue = queue("c1");
    let (a, b) = (AccountId::new(), AccountId::new());
    let (events, mut poisons) = interleaved(a, b, 40);
    assert!(poisons.len() >= 5);
    queue.ensure_group().await.unwrap();
    queue.append(&events).await.unwrap();
    // Every event, poisons included, in one entry.
    let entry = same_stream(&queue, "peek").read_new(10).await.unwrap();
    assert_eq!(entry.len(), 1);
    assert_eq!(entry[0].events.len(), events.len());

    let mut consumer = Consumer::new(same_stream(&queue, "peek"), pool.clone());
    consume_all(&mut consumer, &queue).await;
    assert_eq!(rows(&pool, a).await, 20);
    assert_eq!(rows(&pool, b).await, 20);
    let letters = dead_letters(&pool).await;
    poisons.sort();
    assert_eq!(ids(&letters), poisons);
    for letter in &letters {
        assert_eq!(letter.sqlstate.as_deref(), Some("23514"));
        assert!(letter.error.contains("no_poison"), "{}", letter.error);
        assert_eq!(letter.stream_entry.as_deref(), Some(entry[0].id.as_str()));
        assert!([a.0, b.0].contains(&letter.account_id.unwrap()));
        let kept: AuditEvent = serde_json::from_str(&letter.event).unwrap();
        assert_eq!(kept.tool, POISON);
    }
    assert_eq!(
        counted(&metrics, DEAD_LETTERED_METRIC),
        poisons.len() as u64
    );

    // And it keeps up afterwards.
    let later: Vec<AuditEvent> = (0..30).map(|n| event(b, &format!("later-{n}"))).collect();
    queue.append(&later).await.unwrap();
    consume_all(&mut consumer, &queue).await;
    assert_eq!(rows(&pool, b).await, 50);
}

#[sqlx::test(migrations = "../../migrations")]
async fn text_postgres_cannot_hold_is_stored_with_replacement_characters(pool: PgPool) {
    let (metrics, _guard) = local_metrics();
    let queue = queue("c1");
    let account = AccountId::new();
    let mut poison = event(account, "de\0lete");
    poison.argument_keys = vec!["pa\0th".to_owned(), "plain".to_owned()];
    poison.arguments = Some(json!({"pa\0th": ["/e\0tc", {"k\0": "\0"}], "plain": 1}));
    poison.reason = Some("\"/e\0tc\" is not allowed".to_owned());
    let ordinary = event(account, "echo");
    // Queued as a gateway sends it: the NULs travel as JSON escapes.
    queue.ensure_group().await.unwrap();
    queue
        .append(&[poison.clone(), ordinary.clone()])
        .await
        .unwrap();
    let mut consumer = Consumer::new(queue.clone(), pool.clone());
    consume_all(&mut consumer, &queue).await;

    let page = toolgate_store::audit::list(&pool, account, &Default::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 2);
    let stored = page.items.iter().find(|e| e.id == poison.id).unwrap();
    assert_eq!(stored.tool, "de\u{FFFD}lete");
    assert_eq!(stored.argument_keys, ["pa\u{FFFD}th", "plain"]);
    assert_eq!(
        stored.arguments,
        Some(json!({"pa\u{FFFD}th": ["/e\u{FFFD}tc", {"k\u{FFFD}": "\u{FFFD}"}], "plain": 1}))
    );
    assert_eq!(
        stored.reason.as_deref(),
        Some("\"/e\u{FFFD}tc\" is not allowed")
    );
    assert!(dead_letters(&pool).await.is_empty());
    assert_eq!(counted(&metrics, DEAD_LETTERED_METRIC), 0);

    // The tool filter matches stored names the same way, instead of a 22021.
    let filter = toolgate_store::audit::AuditFilter {
        tool: Some("de\0lete".to_owned()),
        ..Default::default()
    };
    let found = toolgate_store::audit::list(&pool, account, &filter, None, 10)
        .await
        .unwrap();
    assert_eq!(found.items.len(), 1);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_restart_after_a_poison_batch_does_not_loop(pool: PgPool) {
    let (metrics, _guard) = local_metrics();
    refuse_poison(&pool).await;
    let queue = queue("control-1");
    let account = AccountId::new();
    let poison = event(account, POISON);
    let batch = vec![event(account, "a"), poison.clone(), event(account, "b")];
    queue.ensure_group().await.unwrap();
    queue.append(&batch).await.unwrap();

    // The first reader stores the batch and sets the poison aside, then
    // "crashes" before acknowledging.
    let entries = queue.read_new(500).await.unwrap();
    assert_eq!(entries.len(), 1);
    let carriers = vec![entries[0].id.clone(); 3];
    let events: Vec<AuditEvent> = entries.into_iter().flat_map(|e| e.events).collect();
    assert_eq!(events, batch);
    let written = write_entries(&pool, &events, &carriers, &[]).await.unwrap();
    assert_eq!((written.stored, written.dead_lettered), (2, 1));
    assert_eq!(queue.pending_count().await.unwrap(), 1);

    // Restarted under the same name: its pending entry comes first, once.
    let mut restarted = Consumer::new(same_stream(&queue, "control-1"), pool.clone());
    assert_eq!(restarted.step().await.unwrap(), 1);
    assert_eq!(queue.pending_count().await.unwrap(), 0);
    assert_eq!(rows(&pool, account).await, 2);
    assert_eq!(ids(&dead_letters(&pool).await), [poison.id]);
    assert_eq!(
        counted(&metrics, DEAD_LETTERED_METRIC),
        1,
        "a redelivery sets nothing aside twice"
    );

    // Nothing left to re-read: new events flow.
    queue.append(&[event(account, "c")]).await.unwrap();
    consume_all(&mut restarted, &queue).await;
    assert_eq!(rows(&pool, account).await, 3);
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_entry_without_a_readable_event_is_set_aside_too(pool: PgPool) {
    let queue = queue("c1");
    let account = AccountId::new();
    queue.ensure_group().await.unwrap();
    queue.append(&[event(account, "a")]).await.unwrap();
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let garbage: String = redis::cmd("XADD")
        .arg(&queue.config().key)
        .arg("*")
        .arg("e")
        .arg(b"{\"not\": \"an event\0\xff".as_slice())
        .query_async(&mut redis)
        .await
        .unwrap();
    queue.append(&[event(account, "b")]).await.unwrap();

    let mut consumer = Consumer::new(queue.clone(), pool.clone());
    consume_all(&mut consumer, &queue).await;
    assert_eq!(rows(&pool, account).await, 2);
    let letters = dead_letters(&pool).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].stream_entry.as_deref(), Some(garbage.as_str()));
    assert_eq!(letters[0].event_id, None);
    assert_eq!(letters[0].event, "{\"not\": \"an event\u{FFFD}\u{FFFD}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn lines_of_an_entry_that_hold_no_event_are_set_aside_and_the_rest_stored(pool: PgPool) {
    let queue = queue("c1");
    let account = AccountId::new();
    let (a, b) = (event(account, "a"), event(account, "b"));
    let mut text = serde_json::to_vec(&a).unwrap();
    text.extend_from_slice(b"\n{\"not\": \"an event\0\xff\n");
    text.extend_from_slice(&serde_json::to_vec(&b).unwrap());
    queue.ensure_group().await.unwrap();
    let mut redis = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let entry: String = redis::cmd("XADD")
        .arg(&queue.config().key)
        .arg("*")
        .arg("e")
        .arg(text)
        .query_async(&mut redis)
        .await
        .unwrap();

    // The first reader stores what it read, then "crashes" before
    // acknowledging; restarted, it reads the entry again.
    let read = queue.read_new(10).await.unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].events, [a.clone(), b.clone()]);
    let unreadable = [Unreadable {
        entry: entry.clone(),
        text: read[0].unreadable.clone().unwrap(),
    }];
    let carriers = vec![entry.clone(); 2];
    let written = write_entries(&pool, &read[0].events, &carriers, &unreadable)
        .await
        .unwrap();
    assert_eq!((written.stored, written.dead_lettered), (2, 1));
    let mut restarted = Consumer::new(same_stream(&queue, "c1"), pool.clone());
    consume_all(&mut restarted, &queue).await;

    assert_eq!(rows(&pool, account).await, 2);
    let letters = dead_letters(&pool).await;
    assert_eq!(letters.len(), 1, "set aside once");
    assert_eq!(letters[0].stream_entry.as_deref(), Some(entry.as_str()));
    assert_eq!(letters[0].event_id, None);
    assert_eq!(letters[0].event, "{\"not\": \"an event\u{FFFD}\u{FFFD}");
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_failure_that_is_not_about_the_data_retries_the_whole_batch(pool: PgPool) {
    let queue = queue("c1");
    let account = AccountId::new();
    queue.ensure_group().await.unwrap();
    queue
        .append(
            &(0..5)
                .map(|n| event(account, &format!("t{n}")))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    // A table that is missing (42P01) is not the events' fault.
    sqlx::query!("ALTER TABLE audit_events RENAME TO audit_events_away")
        .execute(&pool)
        .await
        .unwrap();
    let mut consumer = Consumer::new(queue.clone(), pool.clone());
    assert!(consumer.step().await.is_err());
    assert_eq!(
        queue.pending_count().await.unwrap(),
        1,
        "nothing acknowledged"
    );
    sqlx::query!("ALTER TABLE audit_events_away RENAME TO audit_events")
        .execute(&pool)
        .await
        .unwrap();
    consume_all(&mut consumer, &queue).await;
    assert_eq!(rows(&pool, account).await, 5);
    assert!(dead_letters(&pool).await.is_empty());
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_in_process_writer_sets_refused_events_aside_and_stores_the_rest(pool: PgPool) {
    let (metrics, _guard) = local_metrics();
    refuse_poison(&pool).await;
    let (sink, drain) = AuditSink::in_process(pool.clone(), SinkConfig::default());
    let (a, b) = (AccountId::new(), AccountId::new());
    let (events, mut poisons) = interleaved(a, b, 40);
    for e in &events {
        sink.record(e.clone());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while rows(&pool, a).await + rows(&pool, b).await < 40 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "events never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rows(&pool, a).await, 20);
    assert_eq!(rows(&pool, b).await, 20);
    let letters = dead_letters(&pool).await;
    poisons.sort();
    assert_eq!(ids(&letters), poisons);
    assert!(letters.iter().all(|l| l.stream_entry.is_none()));
    assert_eq!(
        counted(&metrics, DEAD_LETTERED_METRIC),
        poisons.len() as u64
    );

    // The same writer keeps up afterwards.
    for n in 0..25 {
        sink.record(event(a, &format!("later-{n}")));
    }
    drain.finish(Duration::from_secs(5)).await;
    assert_eq!(rows(&pool, a).await, 45);
}
