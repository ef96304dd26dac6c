//! Changing a policy safely: simulate a candidate on the server's recorded
//! calls, run it in shadow beside the live version, promote it.
//!
//! Replays stream the audit trail in keyset pages (oldest first) and stop
//! at [`MAX_EVENTS`] events or after [`TIME_BUDGET`], saying so in
//! `bounded`; memory grows with distinct tools, rules and live counters,
//! never with the number of events.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use toolgate_policy::CompiledPolicy;
use toolgate_store::audit_replay::{self, RecordedCall, ReplayCursor, ReplayRange};
use toolgate_store::ids::{AccountId, ServerId, UserId};
use toolgate_store::policy_shadows::{self, PolicyShadow};
use toolgate_store::{policies, servers};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, FieldError, Violations};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::permissions::Permission;
use crate::replay::{self, Change, Differences, Simulation, Totals, Unjudged};
use crate::routes::policies::PolicyOut;
use crate::routes::time;
use crate::routes::TAG_POLICIES;
use crate::state::AppState;

/// The most events one replay reads.
pub const MAX_EVENTS: u64 = 100_000;
/// How long one replay may run before it stops and reports what it read.
pub const TIME_BUDGET: Duration = Duration::from_secs(10);
/// Rows per keyset page.
const PAGE: i64 = 1000;
/// The range a replay covers when none is given.
const DEFAULT_RANGE: chrono::Duration = chrono::Duration::days(7);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(simulate))
        .routes(routes!(put_shadow, get_shadow, delete_shadow))
        .routes(routes!(promote_shadow))
}

/// The time range replayed.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Range {
    /// Inclusive.
    since: DateTime<Utc>,
    /// Exclusive.
    until: DateTime<Utc>,
}

/// How far a replay went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Bounded {
    /// The most events replayed.
    max_events: u64,
    /// The most time spent replaying, in milliseconds.
    time_budget_ms: u64,
    /// Whether events of the range were left unread (a bound was reached).
    truncated: bool,
    /// When truncated: the time of the last event replayed; later events
    /// were not.
    #[serde(skip_serializing_if = "Option::is_none")]
    replayed_until: Option<DateTime<Utc>>,
}

/// `POST …/policy/simulate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulateIn {
    /// The candidate policy document (see docs/policy.md).
    #[schema(value_type = Object)]
    document: serde_json::Value,
    /// Replay calls at or after this time (RFC 3339; default: 7 days before `until`).
    since: Option<DateTime<Utc>>,
    /// Replay calls before this time (RFC 3339; default: now).
    until: Option<DateTime<Utc>>,
    /// Replay at most this many events (1 to 100000, the default).
    max_events: Option<u64>,
}

/// The live policy's decisions in a simulation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LiveOut {
    /// The live version replayed; `null` when the server has no policy
    /// (nothing is callable).
    version: Option<i32>,
    #[serde(flatten)]
    totals: Totals,
}

/// What a candidate policy would have decided about the recorded calls.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SimulationOut {
    range: Range,
    /// Events replayed.
    events: u64,
    live: LiveOut,
    candidate: Totals,
    /// Calls whose decision would change, grouped by tool, decisions and the
    /// candidate's deciding rule; largest groups first.
    changes: Vec<Change>,
    /// Calls that could not be judged, and why: never guessed.
    unjudged: Vec<Unjudged>,
    bounded: Bounded,
}

/// Replay the server's recorded calls through a candidate policy.
///
/// Every call of the range (default: the last 7 days) is judged, in time
/// order, by the live version and by the candidate, each with its own
/// limits counted in memory at the recorded times. A call whose decision
/// reads argument values that were not recorded is listed as unjudged.
/// Bounded: at most `max_events` events and 10 seconds (see `bounded`).
#[utoipa::path(post, path = "/servers/{id}/policy/simulate", tag = TAG_POLICIES,
    params(("id" = ServerId, Path)),
    request_body = SimulateIn,
    responses(
        (status = 200, body = SimulationOut),
        (status = 404, body = crate::error::Problem),
        (status = 422, description = "The candidate or the range is invalid; `errors` lists every problem", body = crate::error::Problem),
    ))]
async fn simulate(
    State(state): State<AppState>,
    auth: Auth,
    PathId(server_id): PathId<ServerId>,
    ApiJson(body): ApiJson<SimulateIn>,
) -> Result<Json<SimulationOut>, ApiError> {
    servers::get(&state.pool, auth.account_id, server_id).await?;
    let mut v = Violations::default();
    let candidate = match toolgate_policy::parse(&body.document) {
        Ok(policy) => Some(Arc::new(policy)),
        Err(errors) => {
            for e in errors {
                v.add(&format!("/document{}", e.pointer), e.message);
            }
            None
        }
    };
    let range = range(&mut v, body.since, body.until, "/", None);
    let max_events = max_events(&mut v, body.max_events, "/max_events");
    v.into_result()?;
    let candidate = candidate.ok_or_else(|| ApiError::BadRequest("invalid candidate".into()))?;

    let live = policies::current(&state.pool, auth.account_id, server_id).await?;
    let (version, live) = match live {
        None => (None, Arc::new(CompiledPolicy::closed())),
        Some(live) => (
            Some(live.version),
            Arc::new(
                toolgate_policy::parse(&live.document).unwrap_or_else(|_| CompiledPolicy::closed()),
            ),
        ),
    };
    let mut simulation = Simulation::new(live, candidate);
    // A candidate can test recorded values (a schema, a cost): a role that
    // may not read them replays as if none were recorded, so what cannot be
    // judged without them is reported unjudged instead of leaking them.
    let values_shown = auth.can(Permission::ReadAuditArguments);
    let bounded = replay_range(
        &state,
        (auth.account_id, server_id),
        ReplayRange {
            since: range.since,
            until: range.until,
            shadowed_only: false,
        },
        max_events,
        |call| {
            if values_shown || call.arguments.is_none() {
                simulation.replay(call);
            } else {
                let mut unrecorded = call.clone();
                unrecorded.arguments = None;
                simulation.replay(&unrecorded);
            }
        },
    )
    .await?;
    let Simulation {
        live,
        candidate,
        differences,
        events,
    } = simulation;
    let (changes, unjudged) = differences.finish();
    Ok(Json(SimulationOut {
        range,
        events,
        live: LiveOut {
            version,
            totals: live.totals,
        },
        candidate: candidate.totals,
        changes,
        unjudged,
        bounded,
    }))
}

/// The range asked for, defaults filled in; violations named under `prefix`
/// (`/since` in a body, `since` in a query).
fn range(
    v: &mut Violations,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    prefix: &str,
    default_since: Option<DateTime<Utc>>,
) -> Range {
    let until = until.unwrap_or_else(Utc::now);
    let since = since
        .or(default_since)
        .unwrap_or_else(|| until - DEFAULT_RANGE);
    if until <= since {
        v.add(&format!("{prefix}until"), "must be after since");
    }
    Range { since, until }
}

fn max_events(v: &mut Violations, asked: Option<u64>, path: &str) -> u64 {
    match asked {
        None => MAX_EVENTS,
        Some(n) if (1..=MAX_EVENTS).contains(&n) => n,
        Some(_) => {
            v.add(path, format!("must be between 1 and {MAX_EVENTS}"));
            MAX_EVENTS
        }
    }
}

/// Streams the server's events of `range`, oldest first, into `each`, until
/// the range ends or a bound is reached.
async fn replay_range(
    state: &AppState,
    (account_id, server_id): (AccountId, ServerId),
    range: ReplayRange,
    max_events: u64,
    mut each: impl FnMut(&RecordedCall),
) -> Result<Bounded, ApiError> {
    let started = Instant::now();
    let mut after: Option<ReplayCursor> = None;
    let mut read = 0u64;
    let mut truncated = false;
    'pages: loop {
        let mut rows = 0;
        let mut page = audit_replay::page(&state.pool, account_id, server_id, range, after, PAGE);
        while let Some(call) = page.next().await {
            let call = call?;
            rows += 1;
            if read >= max_events || started.elapsed() >= TIME_BUDGET {
                truncated = true;
                break 'pages;
            }
            each(&call);
            read += 1;
            after = Some(call.cursor());
        }
        if rows < PAGE {
            break;
        }
        // Judging is CPU work: let other requests run between pages.
        tokio::task::yield_now().await;
    }
    Ok(Bounded {
        max_events,
        time_budget_ms: TIME_BUDGET.as_millis() as u64,
        truncated,
        replayed_until: after.filter(|_| truncated).map(|c| c.at),
    })
}

/// A server's shadow policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShadowOut {
    /// The shadow policy document.
    #[schema(value_type = Object)]
    policy: serde_json::Value,
    /// The stored version it was copied from, when set by version.
    from_version: Option<i32>,
    /// The user who set it (absent when an API key did).
    created_by: Option<UserId>,
    created_at: DateTime<Utc>,
}

impl From<PolicyShadow> for ShadowOut {
    fn from(shadow: PolicyShadow) -> Self {
        Self {
            policy: shadow.document,
            from_version: shadow.from_version,
            created_by: shadow.created_by,
            created_at: shadow.created_at,
        }
    }
}

/// Set the server's shadow policy.
///
/// The body is a policy document, or `{"version": N}` to shadow a stored
/// version. The gateway then judges every call with both the live policy
/// and the shadow, acts on the live decision only, and records the shadow's
/// decision in the audit event (its limits are named, never counted).
#[utoipa::path(put, path = "/servers/{id}/policy/shadow", tag = TAG_POLICIES,
    params(("id" = ServerId, Path)),
    request_body(content = Object, description = "A policy document, or {\"version\": N}"),
    responses(
        (status = 200, body = ShadowOut),
        (status = 404, body = crate::error::Problem),
        (status = 422, description = "The document is invalid or names no stored version", body = crate::error::Problem),
    ))]
async fn put_shadow(
    State(state): State<AppState>,
    auth: Auth,
    PathId(server_id): PathId<ServerId>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<ShadowOut>, ApiError> {
    servers::get(&state.pool, auth.account_id, server_id).await?;
    let (document, from_version) = match version_reference(&body) {
        Some(reference) => {
            let version = i32::try_from(reference)
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| no_version(reference))?;
            let stored = policies::get_version(&state.pool, auth.account_id, server_id, version)
                .await?
                .ok_or_else(|| no_version(reference))?;
            (stored.document, Some(version))
        }
        None => {
            if let Err(errors) = toolgate_policy::parse(&body) {
                return Err(ApiError::Validation(
                    errors
                        .into_iter()
                        .map(|e| FieldError::new(e.pointer, e.message))
                        .collect(),
                ));
            }
            (body, None)
        }
    };
    let shadow = policy_shadows::put(
        &state.pool,
        auth.account_id,
        server_id,
        &document,
        from_version,
        auth.user_id(),
    )
    .await?;
    state.changes.publish(auth.account_id).await;
    Ok(Json(shadow.into()))
}

/// `{"version": N}` with N a whole number: a reference to a stored version
/// (a document's `version` is the string "1").
fn version_reference(body: &serde_json::Value) -> Option<i64> {
    let object = body.as_object()?;
    match (object.len(), object.get("version")) {
        (1, Some(serde_json::Value::Number(n))) => n.as_i64().or(Some(-1)),
        _ => None,
    }
}

fn no_version(version: i64) -> ApiError {
    ApiError::Validation(vec![FieldError::new(
        "/version",
        format!("the server has no stored policy version {version}"),
    )])
}

/// `GET …/policy/shadow`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShadowParams {
    /// Calls at or after this time (RFC 3339; default: when the shadow was set).
    since: Option<String>,
    /// Calls before this time (RFC 3339; default: now).
    until: Option<String>,
    /// Read at most this many events (1 to 100000, the default).
    max_events: Option<u64>,
}

/// What the shadow decided, beside the live decisions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShadowTotals {
    #[serde(flatten)]
    totals: Totals,
    /// Calls per counter the shadow would have counted them against: shadow
    /// limits are never checked against the counter store.
    would_have_counted: std::collections::BTreeMap<String, u64>,
}

/// The live-versus-shadow report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShadowReportOut {
    range: Range,
    /// Calls the shadow judged in the range.
    events: u64,
    shadow: ShadowOut,
    /// The live decisions at the policy's level: `limited` and
    /// `limit_unavailable` count as `allowed`, approval outcomes as
    /// `approval_required` (the shadow checks no limit and asks nobody).
    live: Totals,
    shadowed: ShadowTotals,
    /// Calls the shadow decided otherwise than the live policy, grouped by
    /// tool, decisions and the shadow's deciding rule; largest groups first.
    changes: Vec<Change>,
    bounded: Bounded,
}

/// The server's shadow policy and how its decisions differ from the live ones.
///
/// Reads the audit events of the range (default: since the shadow was set)
/// that carry a shadow decision.
#[utoipa::path(get, path = "/servers/{id}/policy/shadow", tag = TAG_POLICIES,
    params(("id" = ServerId, Path), ShadowParams),
    responses(
        (status = 200, body = ShadowReportOut),
        (status = 404, description = "No such server, or it has no shadow", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
    ))]
async fn get_shadow(
    State(state): State<AppState>,
    auth: Auth,
    PathId(server_id): PathId<ServerId>,
    ApiQuery(params): ApiQuery<ShadowParams>,
) -> Result<Json<ShadowReportOut>, ApiError> {
    servers::get(&state.pool, auth.account_id, server_id).await?;
    let shadow = policy_shadows::get(&state.pool, auth.account_id, server_id)
        .await?
        .ok_or_else(|| no_shadow(server_id))?;
    let mut v = Violations::default();
    let since = time(&mut v, "since", params.since.as_deref());
    let until = time(&mut v, "until", params.until.as_deref());
    let range = range(&mut v, since, until, "", Some(shadow.created_at));
    let max_events = max_events(&mut v, params.max_events, "max_events");
    v.into_result()?;

    let mut events = 0u64;
    let mut live = Totals::default();
    let mut shadowed = ShadowTotals {
        totals: Totals::default(),
        would_have_counted: Default::default(),
    };
    let mut differences = Differences::default();
    let bounded = replay_range(
        &state,
        (auth.account_id, server_id),
        ReplayRange {
            since: range.since,
            until: range.until,
            shadowed_only: true,
        },
        max_events,
        |call| {
            let (Some(verdict), Some(from)) = (&call.shadow, replay::policy_level(call.decision))
            else {
                return;
            };
            events += 1;
            live.add(&call.tool, from);
            shadowed.totals.add(&call.tool, verdict.decision);
            for counter in &verdict.counters {
                *shadowed
                    .would_have_counted
                    .entry(counter.clone())
                    .or_default() += 1;
            }
            if from != verdict.decision {
                differences.changed(call, from, verdict.decision, verdict.rule.clone());
            }
        },
    )
    .await?;
    let (changes, _) = differences.finish();
    Ok(Json(ShadowReportOut {
        range,
        events,
        shadow: shadow.into(),
        live,
        shadowed,
        changes,
        bounded,
    }))
}

fn no_shadow(server_id: ServerId) -> ApiError {
    ApiError::NotFound(format!("server {server_id} has no shadow policy"))
}

/// Remove the server's shadow policy.
#[utoipa::path(delete, path = "/servers/{id}/policy/shadow", tag = TAG_POLICIES,
    params(("id" = ServerId, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such server, or it has no shadow", body = crate::error::Problem),
    ))]
async fn delete_shadow(
    State(state): State<AppState>,
    auth: Auth,
    PathId(server_id): PathId<ServerId>,
) -> Result<StatusCode, ApiError> {
    servers::get(&state.pool, auth.account_id, server_id).await?;
    if !policy_shadows::delete(&state.pool, auth.account_id, server_id).await? {
        return Err(no_shadow(server_id));
    }
    state.changes.publish(auth.account_id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Make the shadow policy the server's live policy.
///
/// Its document is stored as the server's next version (as a `PUT
/// …/policy` would) and the shadow is removed, in one transaction.
#[utoipa::path(post, path = "/servers/{id}/policy/shadow/promote", tag = TAG_POLICIES,
    params(("id" = ServerId, Path)),
    responses(
        (status = 200, description = "The new live version", body = PolicyOut),
        (status = 404, description = "No such server, or it has no shadow", body = crate::error::Problem),
    ))]
async fn promote_shadow(
    State(state): State<AppState>,
    auth: Auth,
    PathId(server_id): PathId<ServerId>,
) -> Result<Json<PolicyOut>, ApiError> {
    servers::get(&state.pool, auth.account_id, server_id).await?;
    let version = policy_shadows::promote(&state.pool, auth.account_id, server_id, auth.user_id())
        .await?
        .ok_or_else(|| no_shadow(server_id))?;
    state.changes.publish(auth.account_id).await;
    Ok(Json(version.into()))
}
