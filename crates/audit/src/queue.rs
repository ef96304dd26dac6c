//! The durable queue: a Redis Stream, written by gateways (`XADD`) and read
//! by control planes through one consumer group (`XREADGROUP`, `XACK` with
//! `XDEL`, `XAUTOCLAIM`).
//!
//! Each entry holds a batch of events in the field `e`: one event as JSON
//! per line (JSON text never holds a raw newline, so a line is an event).
//! One `XADD` then carries a whole batch, and one entry is read,
//! acknowledged and deleted for it, instead of one per event. An entry of a
//! single event is exactly what gateways wrote before batching, so a
//! consumer reads entries of either kind. A consumer from before batching
//! reads a multi-event entry as unreadable and sets it aside whole (in
//! `audit_dead_letters`, text intact): upgrade control planes before
//! gateways.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use redis::{Client, Value};
use tokio::sync::OnceCell;

use crate::{AuditEvent, ERRORS_METRIC};

/// The entry field holding the events, one JSON object per line.
const FIELD: &str = "e";

/// The most events one entry carries: a longer append is split over
/// several entries (in one round trip).
pub const ENTRY_EVENTS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer in time")]
    Timeout,
}

/// Where the stream is and who reads it.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// One stream per deployment.
    pub key: String,
    /// The consumer group every control plane joins.
    pub group: String,
    /// This reader's name in the group. A restarted control plane that keeps
    /// its name finds its own unacknowledged entries at once; entries of a
    /// reader that never returns are claimed by others after `claim_idle`.
    pub consumer: String,
    /// Approximate length past which Redis trims the oldest entries
    /// (`MAXLEN ~`). Stored entries are deleted as they are acknowledged, so
    /// this is only reached if no control plane reads for a long time.
    pub max_len: u64,
    /// How long an entry may stay unacknowledged by another reader before
    /// this one claims it.
    pub claim_idle: Duration,
}

impl StreamConfig {
    pub const DEFAULT_KEY: &'static str = "toolgate:audit";
    pub const DEFAULT_GROUP: &'static str = "toolgate-audit";

    pub fn new(key: impl Into<String>, consumer: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            group: Self::DEFAULT_GROUP.to_owned(),
            consumer: consumer.into(),
            max_len: 10_000_000,
            claim_idle: Duration::from_secs(60),
        }
    }
}

/// One entry read from the stream: its id (to acknowledge) and the events
/// it carries, in the order they were appended.
#[derive(Debug)]
pub struct Entry {
    pub id: String,
    pub events: Vec<AuditEvent>,
    /// What the entry held that is not a readable event, as text (invalid
    /// UTF-8 replaced), to be set aside for an operator: the lines that are
    /// not events, or the whole entry when it holds no event at all.
    pub unreadable: Option<String>,
}

/// A handle on the stream. Clones share one connection.
#[derive(Clone)]
pub struct RedisQueue {
    client: Client,
    config: StreamConfig,
    connection: std::sync::Arc<OnceCell<ConnectionManager>>,
    /// Longest wait for any one command (a blocking read adds its block time).
    deadline: Duration,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("key", &self.config.key)
            .field("consumer", &self.config.consumer)
            .finish_non_exhaustive()
    }
}

/// How long a blocking read waits for new entries.
pub const READ_BLOCK: Duration = Duration::from_millis(1000);

impl RedisQueue {
    /// Parses `url` without connecting.
    pub fn new(url: &str, config: StreamConfig) -> Result<Self, QueueError> {
        Ok(Self {
            client: Client::open(url)?,
            config,
            connection: Default::default(),
            deadline: Duration::from_secs(2),
        })
    }

    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    async fn connection(&self) -> Result<ConnectionManager, QueueError> {
        let manager = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(0)
                    .set_connection_timeout(self.deadline)
                    .set_response_timeout(self.deadline + READ_BLOCK);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        Ok(manager.clone())
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        build: impl FnOnce() -> redis::Cmd,
        extra: Duration,
    ) -> Result<T, QueueError> {
        let work = async {
            let mut connection = self.connection().await?;
            Ok::<T, QueueError>(build().query_async(&mut connection).await?)
        };
        tokio::time::timeout(self.deadline + extra, work)
            .await
            .map_err(|_| QueueError::Timeout)?
    }

    /// Appends events, [`ENTRY_EVENTS`] to an entry, all in one pipelined
    /// round trip.
    pub async fn append(&self, events: &[AuditEvent]) -> Result<(), QueueError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        for batch in events.chunks(ENTRY_EVENTS) {
            pipe.cmd("XADD")
                .arg(&self.config.key)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.config.max_len)
                .arg("*")
                .arg(FIELD)
                .arg(encode(batch))
                .ignore();
        }
        self.run_pipeline(pipe).await
    }

    /// Sends a pipeline (replies ignored) within the deadline.
    async fn run_pipeline(&self, pipe: redis::Pipeline) -> Result<(), QueueError> {
        let work = async {
            let mut connection = self.connection().await?;
            pipe.query_async::<()>(&mut connection).await?;
            Ok::<(), QueueError>(())
        };
        tokio::time::timeout(self.deadline, work)
            .await
            .map_err(|_| QueueError::Timeout)?
    }

    /// Creates the consumer group (and the stream) unless it exists.
    pub async fn ensure_group(&self) -> Result<(), QueueError> {
        let created: Result<Value, QueueError> = self
            .run(
                || {
                    let mut cmd = redis::cmd("XGROUP");
                    cmd.arg("CREATE")
                        .arg(&self.config.key)
                        .arg(&self.config.group)
                        .arg("0")
                        .arg("MKSTREAM");
                    cmd
                },
                Duration::ZERO,
            )
            .await;
        match created {
            Err(QueueError::Redis(err)) if err.code() == Some("BUSYGROUP") => Ok(()),
            other => other.map(drop),
        }
    }

    /// Entries delivered to this reader and not yet acknowledged (after a
    /// crash or a failed write), oldest first.
    pub async fn read_own_pending(&self, count: usize) -> Result<Vec<Entry>, QueueError> {
        self.read_group("0", count, None).await
    }

    /// New entries, waiting up to [`READ_BLOCK`] for some.
    pub async fn read_new(&self, count: usize) -> Result<Vec<Entry>, QueueError> {
        self.read_group(">", count, Some(READ_BLOCK)).await
    }

    async fn read_group(
        &self,
        from: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Entry>, QueueError> {
        let reply: Option<StreamReadReply> = self
            .run(
                || {
                    let mut cmd = redis::cmd("XREADGROUP");
                    cmd.arg("GROUP")
                        .arg(&self.config.group)
                        .arg(&self.config.consumer)
                        .arg("COUNT")
                        .arg(count);
                    if let Some(block) = block {
                        cmd.arg("BLOCK").arg(block.as_millis() as u64);
                    }
                    cmd.arg("STREAMS").arg(&self.config.key).arg(from);
                    cmd
                },
                block.unwrap_or_default(),
            )
            .await?;
        Ok(reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).map(entry).collect())
            .unwrap_or_default())
    }

    /// Takes over entries other readers left unacknowledged for longer than
    /// `claim_idle` (a control plane that died and never came back).
    pub async fn claim_abandoned(&self, count: usize) -> Result<Vec<Entry>, QueueError> {
        let reply: StreamAutoClaimReply = self
            .run(
                || {
                    let mut cmd = redis::cmd("XAUTOCLAIM");
                    cmd.arg(&self.config.key)
                        .arg(&self.config.group)
                        .arg(&self.config.consumer)
                        .arg(self.config.claim_idle.as_millis() as u64)
                        .arg("0-0")
                        .arg("COUNT")
                        .arg(count);
                    cmd
                },
                Duration::ZERO,
            )
            .await?;
        Ok(reply.claimed.into_iter().map(entry).collect())
    }

    /// Acknowledges entries and deletes them: they are stored, and a stream
    /// keeps acknowledged entries until trimmed, so without the delete it
    /// would grow to `max_len` however promptly it is read. Both in one
    /// transaction: an entry is never deleted unacknowledged or left behind.
    pub async fn ack(&self, ids: &[String]) -> Result<(), QueueError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("XACK")
            .arg(&self.config.key)
            .arg(&self.config.group)
            .arg(ids)
            .ignore()
            .cmd("XDEL")
            .arg(&self.config.key)
            .arg(ids)
            .ignore();
        self.run_pipeline(pipe).await
    }

    /// Entries in the stream (stored ones are deleted as they are acknowledged).
    pub async fn entry_count(&self) -> Result<u64, QueueError> {
        self.run(
            || {
                let mut cmd = redis::cmd("XLEN");
                cmd.arg(&self.config.key);
                cmd
            },
            Duration::ZERO,
        )
        .await
    }

    /// The number of entries delivered to the group and not acknowledged.
    pub async fn pending_count(&self) -> Result<u64, QueueError> {
        let reply: Value = self
            .run(
                || {
                    let mut cmd = redis::cmd("XPENDING");
                    cmd.arg(&self.config.key).arg(&self.config.group);
                    cmd
                },
                Duration::ZERO,
            )
            .await?;
        Ok(match reply {
            Value::Array(items) => match items.first() {
                Some(Value::Int(n)) => u64::try_from(*n).unwrap_or(0),
                _ => 0,
            },
            _ => 0,
        })
    }

    /// Whether Redis answers.
    pub async fn ping(&self) -> bool {
        self.run::<String>(|| redis::cmd("PING"), Duration::ZERO)
            .await
            .is_ok()
    }
}

/// One entry's text: each event as JSON, one per line.
pub fn encode(events: &[AuditEvent]) -> Vec<u8> {
    let mut text = Vec::with_capacity(events.len() * 320);
    for event in events {
        if !text.is_empty() {
            text.push(b'\n');
        }
        let start = text.len();
        // Cannot fail: every field serialises, map keys included (strings).
        if let Err(err) = serde_json::to_writer(&mut text, event) {
            text.truncate(start);
            metrics::counter!(ERRORS_METRIC, "stage" => "encode").increment(1);
            tracing::error!(event = %event.id, error = %err, "audit event not serialisable: dropped");
        }
    }
    text
}

/// Reads an entry's text: the events on its lines, and what the lines that
/// hold no event say (or the whole text, when no line holds an event).
/// Blank lines are skipped.
pub fn decode(text: &[u8]) -> (Vec<AuditEvent>, Option<String>) {
    let mut events = Vec::new();
    let mut unreadable: Vec<&[u8]> = Vec::new();
    for line in text.split(|byte| *byte == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice(line) {
            Ok(event) => events.push(event),
            Err(_) => unreadable.push(line),
        }
    }
    let unreadable = if !unreadable.is_empty() {
        Some(String::from_utf8_lossy(&unreadable.join(&b'\n')).into_owned())
    } else if events.is_empty() {
        Some(String::from_utf8_lossy(text).into_owned())
    } else {
        None
    };
    (events, unreadable)
}

fn entry(id: StreamId) -> Entry {
    let text = id.map.get(FIELD).and_then(|value| match value {
        Value::BulkString(bytes) => Some(bytes.as_slice()),
        _ => None,
    });
    let (events, unreadable) = match text {
        Some(text) => decode(text),
        None => (
            Vec::new(),
            Some(format!("(no field {FIELD:?} holding text)")),
        ),
    };
    Entry {
        id: id.id,
        events,
        unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate_store::ids::{AccountId, EventId, GrantId, ServerId};
    use toolgate_store::target_kind::TargetKind;

    fn event(tool: &str) -> AuditEvent {
        AuditEvent {
            id: EventId::new(),
            // To the microsecond, as the queue keeps it.
            at: chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6),
            account: AccountId::new(),
            server: ServerId::new(),
            grant: Some(GrantId::new()),
            session: None,
            kind: TargetKind::Tool,
            tool: tool.to_owned(),
            decision: crate::AuditDecision::Refused,
            rule: None,
            policy_version: None,
            // Text that holds newlines travels escaped: still one line.
            reason: Some("line one\nline two\r\n".to_owned()),
            upstream: crate::UpstreamOutcome::NotCalled,
            latency_ms: 1,
            argument_keys: vec!["a\nb".to_owned()],
            arguments: Some(serde_json::json!({"a\nb": "c\nd"})),
            shadow: None,
        }
    }

    #[test]
    fn a_batch_reads_back_as_the_same_events_in_order() {
        let events: Vec<AuditEvent> = (0..5).map(|n| event(&format!("tool-{n}"))).collect();
        let text = encode(&events);
        assert_eq!(text.iter().filter(|b| **b == b'\n').count(), 4);
        let (read, unreadable) = decode(&text);
        assert_eq!(read, events);
        assert_eq!(unreadable, None);
    }

    #[test]
    fn an_entry_of_one_event_is_the_event_as_json() {
        let one = event("echo");
        let text = encode(std::slice::from_ref(&one));
        assert_eq!(text, serde_json::to_vec(&one).unwrap());
        assert_eq!(decode(&text).0, [one]);
    }

    #[test]
    fn lines_that_hold_no_event_are_kept_apart_from_those_that_do() {
        let (a, b) = (event("a"), event("b"));
        let mut text = serde_json::to_vec(&a).unwrap();
        text.extend_from_slice(b"\n{\"not\": \"an event\xff\n\n");
        text.extend_from_slice(&serde_json::to_vec(&b).unwrap());
        text.extend_from_slice(b"\n[1]\n");
        let (read, unreadable) = decode(&text);
        assert_eq!(read, [a, b]);
        assert_eq!(
            unreadable.as_deref(),
            Some("{\"not\": \"an event\u{FFFD}\n[1]")
        );
    }

    #[test]
    fn an_entry_without_events_is_unreadable_whole() {
        assert_eq!(decode(b"").1.as_deref(), Some(""));
        assert_eq!(decode(b" \n ").1.as_deref(), Some(" \n "));
        assert_eq!(decode(b"{}").1.as_deref(), Some("{}"));
    }
}
