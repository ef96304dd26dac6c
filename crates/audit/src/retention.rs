//! Deleting events older than the deployment's retention, periodically, in
//! the control plane.

use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use toolgate_store::audit::delete_older_than;

use crate::ERRORS_METRIC;

/// Events deleted by retention.
pub const DELETED_METRIC: &str = "toolgate_audit_events_expired_total";

/// Deletes events older than `days` once now.
pub async fn expire(pool: &PgPool, days: u32) -> Result<u64, toolgate_store::StoreError> {
    let before = Utc::now() - chrono::Duration::days(i64::from(days));
    let deleted = delete_older_than(pool, before).await?;
    metrics::counter!(DELETED_METRIC).increment(deleted);
    Ok(deleted)
}

/// Runs [`expire`] every `every`, forever. Every control-plane replica may
/// run it: the deletes are idempotent.
pub async fn run(pool: PgPool, days: u32, every: Duration) {
    loop {
        match expire(&pool, days).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, days, "expired audit events"),
            Err(err) => {
                metrics::counter!(ERRORS_METRIC, "stage" => "retention").increment(1);
                tracing::warn!(error = %err, "expiring audit events failed");
            }
        }
        tokio::time::sleep(every).await;
    }
}
