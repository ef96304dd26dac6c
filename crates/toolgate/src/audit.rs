//! Wiring the audit trail into a serving process: the gateway's sink, and
//! the control plane's consumer and retention.

use secrecy::ExposeSecret;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use toolgate_audit::{AuditSink, Consumer, RedisQueue, SinkConfig, SinkDrain, StreamConfig};

use crate::config::{AuditQueue, ServeArgs};
use crate::redis_names::RedisNames;

fn stream(args: &ServeArgs, names: &RedisNames) -> anyhow::Result<RedisQueue> {
    let consumer = args
        .audit_consumer
        .clone()
        .unwrap_or_else(|| format!("control-{}", args.listen));
    RedisQueue::new(
        args.redis_url.expose_secret(),
        StreamConfig::new(names.audit_stream().to_owned(), consumer),
    )
    .context("REDIS_URL")
}

/// Where the gateway records each `tools/call` decision.
pub fn sink(
    args: &ServeArgs,
    names: &RedisNames,
    pool: &PgPool,
) -> anyhow::Result<(AuditSink, SinkDrain)> {
    let config = SinkConfig {
        buffer: args.audit_buffer,
        ..SinkConfig::default()
    };
    Ok(match args.audit_queue() {
        AuditQueue::Redis => AuditSink::redis(stream(args, names)?, config),
        AuditQueue::Memory => {
            tracing::info!(
                "TOOLGATE_AUDIT_QUEUE=memory: audit events go straight from this process to \
                 Postgres; events not yet written are lost if it crashes"
            );
            AuditSink::in_process(pool.clone(), config)
        }
    })
}

/// The control plane's share: moving queued events into Postgres, and
/// deleting expired ones.
pub fn start_control(args: &ServeArgs, names: &RedisNames, pool: &PgPool) -> anyhow::Result<()> {
    if args.audit_queue() == AuditQueue::Redis {
        tokio::spawn(Consumer::new(stream(args, names)?, pool.clone()).run());
    }
    if args.audit_retention_days > 0 {
        tokio::spawn(toolgate_audit::retention::run(
            pool.clone(),
            args.audit_retention_days,
            Duration::from_secs(3600),
        ));
    }
    Ok(())
}
