//! Usage: aggregates of the audit trail for charts — calls over time by
//! decision, the busiest tools, refusals by reason, latency percentiles —
//! and when each grant last made a call. Computed by the database; the
//! dashboard never downloads raw events to draw them.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use toolgate_store::audit::AuditFilter;
use toolgate_store::ids::GrantId;
use toolgate_store::usage::{self, Bucket, Latency, RefusalCount, ToolCount};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, Violations};
use crate::extract::ApiQuery;
use crate::routes::audit::parsed;
use crate::routes::time;
use crate::routes::TAG_AUDIT;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(grants_last_used))
}

/// The longest window one summary covers.
const MAX_WINDOW_DAYS: i64 = 93;
/// The most buckets one summary returns.
const MAX_BUCKETS: i64 = 1000;
/// Bucket sizes chosen when none is asked for: the smallest giving at most
/// `AUTO_BUCKETS` buckets.
const AUTO_SIZES: [i64; 8] = [60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400];
const AUTO_BUCKETS: i64 = 96;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// A server id (`srv_…`).
    server: Option<String>,
    /// A grant id (`grt_…`).
    grant: Option<String>,
    /// An exact tool name.
    tool: Option<String>,
    /// Start of the window (RFC 3339; default: 24 hours before `until`).
    since: Option<String>,
    /// End of the window, exclusive (RFC 3339; default: now). At most 93
    /// days after `since`.
    until: Option<String>,
    /// Bucket size in seconds, 60 to 86400 (default: chosen for about 96
    /// buckets); at most 1000 buckets.
    bucket: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UsageOut {
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    bucket_secs: i64,
    /// Calls per bucket (by its start) and decision, oldest first; empty
    /// buckets are left out.
    calls: Vec<Bucket>,
    /// The ten busiest tools.
    top_tools: Vec<ToolCount>,
    /// The ten commonest refusals, by decision and reason.
    refusals: Vec<RefusalCount>,
    latency: Latency,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GrantUseOut {
    grant: GrantId,
    last_used_at: DateTime<Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GrantsUseOut {
    /// Grants that made at least one call, with the time of their last.
    items: Vec<GrantUseOut>,
}

impl UsageParams {
    fn window(&self) -> Result<(AuditFilter, i64), ApiError> {
        let mut v = Violations::default();
        let server = parsed(&mut v, "server", self.server.as_deref(), "a server id");
        let grant = parsed(&mut v, "grant", self.grant.as_deref(), "a grant id");
        let since = time(&mut v, "since", self.since.as_deref());
        let until = time(&mut v, "until", self.until.as_deref());
        let bucket: Option<i64> = parsed(
            &mut v,
            "bucket",
            self.bucket.as_deref(),
            "a whole number of seconds",
        );
        if self.tool.as_deref().is_some_and(str::is_empty) {
            v.add("tool", "must not be empty");
        }
        v.into_result()?;
        let until = until.unwrap_or_else(Utc::now);
        let since = since.unwrap_or(until - Duration::hours(24));
        let mut v = Violations::default();
        let span = (until - since).num_seconds();
        if span <= 0 {
            v.add("until", "must be after since");
        } else if span > MAX_WINDOW_DAYS * 86400 {
            v.add(
                "until",
                format!("must be at most {MAX_WINDOW_DAYS} days after since"),
            );
        }
        let bucket = match bucket {
            Some(b) if !(60..=86400).contains(&b) => {
                v.add("bucket", "must be between 60 and 86400 seconds");
                0
            }
            Some(b) if span > 0 && span / b >= MAX_BUCKETS => {
                v.add("bucket", format!("makes more than {MAX_BUCKETS} buckets: choose a larger one or a shorter window"));
                0
            }
            Some(b) => b,
            None => AUTO_SIZES
                .into_iter()
                .find(|size| span / size <= AUTO_BUCKETS)
                .unwrap_or(86400),
        };
        v.into_result()?;
        let filter = AuditFilter {
            server,
            grant,
            tool: self.tool.clone(),
            decision: None,
            since: Some(since),
            until: Some(until),
        };
        Ok((filter, bucket))
    }
}

/// Aggregates of the account's audit trail over a window: calls over time
/// by decision, top tools, refusals by reason and latency percentiles.
#[utoipa::path(get, path = "/usage", tag = TAG_AUDIT, params(UsageParams),
    responses(
        (status = 200, body = UsageOut),
        (status = 422, description = "A parameter is malformed; `errors[].path` names it", body = crate::error::Problem),
    ))]
async fn summary(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<UsageParams>,
) -> Result<Json<UsageOut>, ApiError> {
    let (filter, bucket_secs) = params.window()?;
    let account = auth.account_id;
    let (calls, top_tools, refusals, latency) = tokio::try_join!(
        usage::over_time(&state.pool, account, &filter, bucket_secs),
        usage::top_tools(&state.pool, account, &filter),
        usage::refusals(&state.pool, account, &filter),
        usage::latency(&state.pool, account, &filter),
    )?;
    let (Some(since), Some(until)) = (filter.since, filter.until) else {
        return Err(ApiError::Internal("a usage window without bounds".into()));
    };
    Ok(Json(UsageOut {
        since,
        until,
        bucket_secs,
        calls,
        top_tools,
        refusals,
        latency,
    }))
}

/// When each of the account's grants last made a call.
#[utoipa::path(get, path = "/usage/grants", tag = TAG_AUDIT,
    responses((status = 200, body = GrantsUseOut)))]
async fn grants_last_used(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<GrantsUseOut>, ApiError> {
    let items = usage::grants_last_used(&state.pool, auth.account_id)
        .await?
        .into_iter()
        .map(|(grant, last_used_at)| GrantUseOut {
            grant,
            last_used_at,
        })
        .collect();
    Ok(Json(GrantsUseOut { items }))
}
