//! The tool catalog: what each server offers, how risky each tool is and
//! why, what the policy does to it, and the policy we recommend.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toolgate_catalog::{recommend, Category, Risk};
use toolgate_policy::Kind;
use toolgate_store::catalog::{self, CatalogState, CatalogStatus, PinError};
use toolgate_store::ids::{ServerId, ToolId};
use toolgate_store::page::{DEFAULT_LIMIT, MAX_LIMIT};
use toolgate_store::{Page, PageRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::catalog::refresh;
use crate::catalog::view::{self, ChangeOut, ListedOut, ToolOut};
use crate::error::{ApiError, Violations};
use crate::extract::{ApiQuery, OptionalApiJson, PathId};
use crate::routes::TAG_CATALOG;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(server_tools))
        .routes(routes!(refresh_tools))
        .routes(routes!(pin_tool))
        .routes(routes!(recommended_policy))
        .routes(routes!(account_tools))
}

/// The state of a server's last discovery attempt.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CatalogOut {
    pub status: CatalogStatus,
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Tools found by the last successful attempt.
    pub tool_count: Option<i32>,
    /// Why the attempt failed, or what a successful one left out.
    pub detail: Option<String>,
    /// `modern` (2026-07-28, `server/discover`) or `legacy` (`initialize`):
    /// how the last successful attempt spoke to the upstream.
    #[schema(example = "legacy")]
    pub era: Option<String>,
}

impl CatalogOut {
    pub fn of(state: &CatalogState) -> Self {
        Self {
            status: state.status,
            checked_at: state.checked_at,
            tool_count: state.tool_count,
            detail: state.detail.clone(),
            era: state.era.clone(),
        }
    }
}

/// A server's catalog.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServerToolsOut {
    pub catalog: CatalogOut,
    /// The tools the server lists now, by name.
    pub tools: Vec<ToolOut>,
    /// Resources, when the server advertises them (not classified).
    pub resources: Vec<ListedOut>,
    /// Prompts, when the server advertises them (not classified).
    pub prompts: Vec<ListedOut>,
}

/// A server's tools with their risk, reasons and treatment by the policy;
/// its resources and prompts beside them.
#[utoipa::path(get, path = "/servers/{id}/tools", tag = TAG_CATALOG,
    params(("id" = ServerId, Path)),
    responses((status = 200, body = ServerToolsOut), (status = 404, body = crate::error::Problem)))]
async fn server_tools(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<ServerId>,
) -> Result<Json<ServerToolsOut>, ApiError> {
    let catalog_state = catalog::state(&state.pool, auth.account_id, id).await?;
    let policy = view::current_policy(&state.pool, auth.account_id, id).await?;
    let stored = catalog::tools(&state.pool, auth.account_id, id).await?;
    let mut history: HashMap<ToolId, Vec<ChangeOut>> = HashMap::new();
    for change in catalog::history(&state.pool, auth.account_id, id).await? {
        history
            .entry(change.tool_id)
            .or_default()
            .push(change.into());
    }
    let tools = stored
        .into_iter()
        .map(|tool| {
            let verdict = view::verdict_of(&tool);
            let id = tool.id;
            let mut out = view::tool_out(tool, verdict, &policy);
            out.history = Some(history.remove(&id).unwrap_or_default());
            out
        })
        .collect();
    Ok(Json(ServerToolsOut {
        catalog: CatalogOut::of(&catalog_state),
        tools,
        resources: view::listed_out(&catalog_state.resources, Kind::Resource, &policy),
        prompts: view::listed_out(&catalog_state.prompts, Kind::Prompt, &policy),
    }))
}

/// Ask the upstream for its tools now. Waits for the attempt (bounded by
/// the discovery deadline) and answers with its outcome: a failure is a
/// status in the answer, not an error.
#[utoipa::path(post, path = "/servers/{id}/tools/refresh", tag = TAG_CATALOG,
    params(("id" = ServerId, Path)),
    responses((status = 200, body = CatalogOut), (status = 404, body = crate::error::Problem)))]
async fn refresh_tools(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<ServerId>,
) -> Result<Json<CatalogOut>, ApiError> {
    refresh::refresh(&state, auth.account_id, id).await?;
    let catalog_state = catalog::state(&state.pool, auth.account_id, id).await?;
    Ok(Json(CatalogOut::of(&catalog_state)))
}

/// What a person reviewed.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinIn {
    /// The `hash` of the definition that was reviewed: the pin is refused
    /// with 409 if the tool is defined otherwise by now. Without it, the
    /// current definition is pinned, whatever it is.
    #[schema(example = "sha256:9f2c…")]
    hash: Option<String>,
}

/// Pin the tool's current definition: agents see and may call it as it is
/// defined now. Needed after the upstream changed a pinned tool, and for a
/// new tool on a server whose `new_tools` is `review`.
#[utoipa::path(post, path = "/servers/{id}/tools/{name}/pin", tag = TAG_CATALOG,
    params(("id" = ServerId, Path), ("name" = String, Path, description = "The tool's name")),
    request_body(content = PinIn, description = "Optional (an empty body pins whatever is current)"),
    responses(
        (status = 200, body = ToolOut),
        (status = 404, description = "No such server, or it lists no such tool", body = crate::error::Problem),
        (status = 409, description = "The tool is defined otherwise than the hash given", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
    ))]
async fn pin_tool(
    State(state): State<AppState>,
    auth: Auth,
    path: Result<Path<(String, String)>, PathRejection>,
    OptionalApiJson(input): OptionalApiJson<PinIn>,
) -> Result<Json<ToolOut>, ApiError> {
    let not_found = || ApiError::NotFound("not found".to_owned());
    let Path((id, name)) = path.map_err(|_| not_found())?;
    // No tool is named with a NUL (stored names have it replaced).
    let id = id.parse::<ServerId>().map_err(|_| not_found())?;
    if name.contains('\0') {
        return Err(not_found());
    }
    if let Some(hash) = &input.hash {
        if !is_content_hash(hash) {
            return Err(ApiError::validation(
                "/hash",
                "must be a tool's hash as listed: sha256: and 64 lowercase hex digits",
            ));
        }
    }
    let tool = catalog::pin(&state.pool, auth.account_id, id, &name, input.hash.as_deref())
        .await
        .map_err(|error| match error {
            PinError::Stale { current } => ApiError::Conflict(format!(
                "the tool is defined otherwise by now ({current}): review the current definition and pin its hash"
            )),
            PinError::Store(error) => error.into(),
        })?;
    state.changes.publish(auth.account_id).await;
    let policy = view::current_policy(&state.pool, auth.account_id, id).await?;
    let verdict = view::verdict_of(&tool);
    Ok(Json(view::tool_out(tool, verdict, &policy)))
}

fn is_content_hash(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The policy we recommend, with the advice behind each tool's rule.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecommendationOut {
    /// A valid version "1" policy document: `PUT` it to
    /// `/v1/servers/{id}/policy` to apply it.
    #[schema(value_type = Object)]
    pub policy: Value,
    /// `{tool, category, risk, action, explanation}` per tool.
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<toolgate_catalog::ToolAdvice>,
}

/// A policy recommended for the server's tools as last discovered.
#[utoipa::path(get, path = "/servers/{id}/policy/recommended", tag = TAG_CATALOG,
    params(("id" = ServerId, Path)),
    responses((status = 200, body = RecommendationOut), (status = 404, body = crate::error::Problem)))]
async fn recommended_policy(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<ServerId>,
) -> Result<Json<RecommendationOut>, ApiError> {
    let judged: Vec<_> = catalog::tools(&state.pool, auth.account_id, id)
        .await?
        .iter()
        .map(|tool| (view::definition_of(tool), view::verdict_of(tool)))
        .collect();
    // `tools` is empty for a server never discovered: check it exists.
    if judged.is_empty() {
        catalog::state(&state.pool, auth.account_id, id).await?;
    }
    let recommendation = recommend(&judged);
    Ok(Json(RecommendationOut {
        policy: recommendation.policy,
        tools: recommendation.tools,
    }))
}

/// Filters of the account's tool list. Each bad one is a 422 whose error
/// `path` is the parameter's name.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ToolParams {
    /// `low`, `medium`, `high` or `critical`: tools of this risk.
    risk: Option<String>,
    /// `read`, `write`, `execute`, `destructive` or `financial`.
    category: Option<String>,
    /// A server id (`srv_…`).
    server: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<i64>,
}

fn enum_param<T: serde::de::DeserializeOwned>(
    violations: &mut Violations,
    name: &str,
    value: Option<&str>,
    allowed: &str,
) -> Option<T> {
    let value = value?;
    violations.check(
        name,
        serde_json::from_value(Value::String(value.to_owned()))
            .map_err(|_| format!("{value:?} is not one of {allowed}")),
    )
}

/// Rows read per query while filtering a page.
const SCAN_BATCH: i64 = 200;

/// Every tool of the account's servers, with risk, reasons and treatment.
#[utoipa::path(get, path = "/tools", tag = TAG_CATALOG, params(ToolParams),
    responses((status = 200, body = Page<ToolOut>), (status = 422, body = crate::error::Problem)))]
async fn account_tools(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ToolParams>,
) -> Result<Json<Page<ToolOut>>, ApiError> {
    let mut violations = Violations::default();
    let risk: Option<Risk> = enum_param(
        &mut violations,
        "risk",
        params.risk.as_deref(),
        "low, medium, high, critical",
    );
    let category: Option<Category> = enum_param(
        &mut violations,
        "category",
        params.category.as_deref(),
        "read, write, execute, destructive, financial",
    );
    let server = params.server.as_deref().and_then(|s| {
        violations.check(
            "server",
            s.parse::<ServerId>()
                .map_err(|_| format!("{s:?} is not a server id")),
        )
    });
    let cursor = params.cursor.as_deref().and_then(|c| {
        violations.check(
            "cursor",
            c.parse::<ToolId>()
                .map_err(|_| "pass the next_cursor of a previous page".to_owned()),
        )
    });
    if let Some(limit) = params.limit {
        if !(1..=MAX_LIMIT).contains(&limit) {
            violations.add("limit", format!("must be between 1 and {MAX_LIMIT}"));
        }
    }
    violations.into_result()?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);

    // The verdict is computed on read, so filtering by it happens here:
    // rows are scanned in id order until the page (and one more, to know
    // whether another page exists) is full.
    let mut matched: Vec<ToolOut> = Vec::new();
    let mut policies = HashMap::new();
    let mut after = cursor;
    'scan: loop {
        let rows = catalog::account_tools(
            &state.pool,
            auth.account_id,
            server,
            PageRequest::new(after, Some(SCAN_BATCH)),
        )
        .await?;
        let exhausted = i64::try_from(rows.len()).unwrap_or(i64::MAX) <= SCAN_BATCH;
        for tool in rows
            .into_iter()
            .take(usize::try_from(SCAN_BATCH).unwrap_or(200))
        {
            after = Some(tool.id);
            let verdict = view::verdict_of(&tool);
            if risk.is_some_and(|r| r != verdict.risk)
                || category.is_some_and(|c| c != verdict.category)
            {
                continue;
            }
            let server_id = tool.server_id;
            let policy = match policies.entry(server_id) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => slot
                    .insert(view::current_policy(&state.pool, auth.account_id, server_id).await?),
            };
            matched.push(view::tool_out(tool, verdict, policy));
            if i64::try_from(matched.len()).unwrap_or(i64::MAX) > limit {
                break 'scan;
            }
        }
        if exhausted {
            break;
        }
    }
    Ok(Json(Page::from_rows(matched, limit, |t| t.id.to_string())))
}
