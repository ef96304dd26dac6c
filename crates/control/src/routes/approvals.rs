//! Approvals: the calls held at a gateway until a person approves or denies
//! them.

use axum::extract::State;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use toolgate_store::approvals::{self, Approval, ApprovalStatus, Decided, Decider};
use toolgate_store::ids::{ApprovalId, GrantId, ServerId};
use toolgate_store::target_kind::TargetKind;
use toolgate_store::{Page, PageRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Change;
use crate::auth::{Auth, Principal};
use crate::error::{ApiError, Violations};
use crate::extract::{ApiQuery, OptionalApiJson, PathId};
use crate::permissions::Permission;
use crate::routes::TAG_APPROVALS;
use crate::state::AppState;

/// Longest accepted decision reason, in characters.
const MAX_REASON: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_approvals))
        .routes(routes!(get_approval))
        .routes(routes!(approve))
        .routes(routes!(deny))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApprovalOut {
    id: ApprovalId,
    server_id: ServerId,
    server_name: String,
    grant_id: GrantId,
    /// What `tool` names: a tool call, a resource read or a prompt get.
    kind: TargetKind,
    /// The tool's or prompt's name, or the resource's URI.
    tool: String,
    /// The call's arguments, exactly what will be sent if approved; `null`
    /// for roles that may not see argument values (`arguments_hidden`).
    #[schema(value_type = Option<Object>)]
    arguments: Option<serde_json::Value>,
    /// Whether `arguments` was withheld from the caller's role.
    arguments_hidden: bool,
    /// Hex SHA-256 of the arguments' canonical JSON; the approval is bound to it.
    arguments_digest: String,
    status: ApprovalStatus,
    /// The id of the user or API key that decided.
    decided_by: Option<String>,
    /// The decider's email or API key name.
    decided_by_name: Option<String>,
    reason: Option<String>,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
    used_at: Option<DateTime<Utc>>,
}

impl ApprovalOut {
    /// The approval as the caller may see it.
    fn for_caller(a: Approval, auth: &Auth) -> Self {
        let shown = auth.can(Permission::ReadApprovalArguments);
        Self {
            id: a.id,
            server_id: a.server_id,
            server_name: a.server_name,
            grant_id: a.grant_id,
            kind: a.kind,
            tool: a.tool,
            arguments: shown.then_some(a.arguments),
            arguments_hidden: !shown,
            arguments_digest: a.arguments_digest,
            status: a.status,
            decided_by: a.decided_by,
            decided_by_name: a.decided_by_name,
            reason: a.reason,
            created_at: a.created_at,
            expires_at: a.expires_at,
            decided_at: a.decided_at,
            used_at: a.used_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ApprovalListParams {
    /// Only approvals of this status: `pending`, `approved`, `denied`,
    /// `expired`, `abandoned` or `used`.
    status: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<i64>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionIn {
    /// Why; shown to the agent on a denial.
    reason: Option<String>,
}

/// List the account's approvals, newest first.
#[utoipa::path(get, path = "/approvals", tag = TAG_APPROVALS, params(ApprovalListParams),
    responses((status = 200, body = Page<ApprovalOut>), (status = 400, body = crate::error::Problem)))]
async fn list_approvals(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ApprovalListParams>,
) -> Result<Json<Page<ApprovalOut>>, ApiError> {
    let status = params
        .status
        .as_deref()
        .map(|s| {
            s.parse::<ApprovalStatus>().map_err(|_| {
                ApiError::BadRequest(
                    "status must be one of pending, approved, denied, expired, abandoned, used"
                        .to_owned(),
                )
            })
        })
        .transpose()?;
    let after = params
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<ApprovalId>().map_err(|_| {
                ApiError::BadRequest(
                    "invalid cursor: pass the next_cursor of a previous page".to_owned(),
                )
            })
        })
        .transpose()?;
    let page = PageRequest::new(after, params.limit);
    let approvals = approvals::list(&state.pool, auth.account_id, status, page).await?;
    Ok(Json(approvals.map(|a| ApprovalOut::for_caller(a, &auth))))
}

/// One approval.
#[utoipa::path(get, path = "/approvals/{id}", tag = TAG_APPROVALS,
    params(("id" = ApprovalId, Path)),
    responses((status = 200, body = ApprovalOut), (status = 404, body = crate::error::Problem)))]
async fn get_approval(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<ApprovalId>,
) -> Result<Json<ApprovalOut>, ApiError> {
    let approval = approvals::get(&state.pool, auth.account_id, id).await?;
    Ok(Json(ApprovalOut::for_caller(approval, &auth)))
}

/// Approve a pending call: the gateway holding it forwards it.
#[utoipa::path(post, path = "/approvals/{id}/approve", tag = TAG_APPROVALS,
    params(("id" = ApprovalId, Path)), request_body(content = DecisionIn, description = "Optional: an empty body decides without a reason"),
    responses(
        (status = 200, body = ApprovalOut),
        (status = 404, body = crate::error::Problem),
        (status = 409, description = "Already decided, expired or abandoned", body = crate::error::Problem),
    ))]
async fn approve(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<ApprovalId>,
    OptionalApiJson(input): OptionalApiJson<DecisionIn>,
) -> Result<(Extension<Change>, Json<ApprovalOut>), ApiError> {
    decide(state, auth, id, true, input).await
}

/// Deny a pending call: the agent gets a refusal naming who denied it and why.
#[utoipa::path(post, path = "/approvals/{id}/deny", tag = TAG_APPROVALS,
    params(("id" = ApprovalId, Path)), request_body(content = DecisionIn, description = "Optional: an empty body decides without a reason"),
    responses(
        (status = 200, body = ApprovalOut),
        (status = 404, body = crate::error::Problem),
        (status = 409, description = "Already decided, expired or abandoned", body = crate::error::Problem),
    ))]
async fn deny(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<ApprovalId>,
    OptionalApiJson(input): OptionalApiJson<DecisionIn>,
) -> Result<(Extension<Change>, Json<ApprovalOut>), ApiError> {
    decide(state, auth, id, false, input).await
}

async fn decide(
    state: AppState,
    auth: Auth,
    id: ApprovalId,
    approve: bool,
    input: DecisionIn,
) -> Result<(Extension<Change>, Json<ApprovalOut>), ApiError> {
    let reason = input
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let mut violations = Violations::default();
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON) {
        violations.add(
            "/reason",
            format!("must be at most {MAX_REASON} characters"),
        );
    }
    violations.into_result()?;
    let (by, uuid) = match auth.principal {
        Principal::User(user) => (user.to_string(), user.0),
        Principal::ApiKey(key) => (key.to_string(), key.0),
    };
    let decided = approvals::decide(
        &state.pool,
        auth.account_id,
        id,
        approve,
        Decider { id: &by, uuid },
        reason,
    )
    .await?;
    match decided {
        Decided::Now(approval) => {
            // After the commit: the replica holding the call re-reads it.
            state.approvals.publish(approval.id).await;
            let change = Change::new(serde_json::json!({
                "server": approval.server_name,
                "kind": approval.kind,
                "tool": approval.tool,
                "reason": approval.reason,
            }));
            Ok((
                Extension(change),
                Json(ApprovalOut::for_caller(approval, &auth)),
            ))
        }
        Decided::Already(approval) => Err(ApiError::Conflict(format!(
            "approval {id} is {}, not pending",
            approval.status
        ))),
    }
}
