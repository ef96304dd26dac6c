//! Upstream MCP servers.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use toolgate_store::ids::ServerId;
use toolgate_store::servers::{
    self, Headers, NewServer, NewTools, Server, ServerName, ServerPatch,
};
use toolgate_store::{accounts, Page, PageRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Change;
use crate::auth::Auth;
use crate::catalog::refresh;
use crate::error::{ApiError, Violations};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::inputs;
use crate::permissions::Permission;
use crate::routes::catalog::CatalogOut;
use crate::routes::{ListParams, TAG_SERVERS};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_server, list_servers))
        .routes(routes!(get_server, patch_server, delete_server))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerIn {
    /// Lowercase letters, digits and hyphens: the server's slug in its gateway URL.
    #[schema(example = "github")]
    name: String,
    /// The upstream's MCP endpoint (Streamable HTTP).
    #[schema(example = "https://mcp.example.com/mcp")]
    url: String,
    /// Headers sent to the upstream, e.g. its `Authorization`. Write-only:
    /// stored encrypted, never returned.
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// Per-request upstream deadline, 100 to 600000 ms (default 30000).
    timeout_ms: Option<i32>,
    /// Whether a tool first seen on the server is callable before someone
    /// pins it: `allow` (default: trust on first use) or `review`.
    new_tools: Option<NewTools>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerPatchIn {
    name: Option<String>,
    url: Option<String>,
    /// Replaces all upstream headers; `{}` removes them.
    headers: Option<BTreeMap<String, String>>,
    timeout_ms: Option<i32>,
    /// Whether the server's own tool annotations (e.g. `readOnlyHint`) may
    /// lower the risk the catalog gives its tools.
    trusted: Option<bool>,
    /// `allow` or `review`: see `ServerIn.new_tools`. Applies to tools first
    /// seen from now on.
    new_tools: Option<NewTools>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ServerOut {
    id: ServerId,
    name: String,
    url: String,
    /// Where agents connect, with `Authorization: Bearer <grant token>`.
    gateway_url: String,
    /// Names of the configured upstream headers; values are never shown.
    header_names: Vec<String>,
    timeout_ms: i32,
    /// Whether the server's own tool annotations may lower its tools' risk.
    trusted: bool,
    /// Whether a tool first seen is callable before someone pins it.
    new_tools: NewTools,
    /// The last discovery of its tools (`GET /v1/servers/{id}/tools`).
    catalog: CatalogOut,
    created_at: chrono::DateTime<chrono::Utc>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl ServerOut {
    fn new(state: &AppState, account_slug: &str, s: Server) -> Self {
        Self {
            gateway_url: state.gateway_url(account_slug, &s.name),
            id: s.id,
            name: s.name,
            url: s.url,
            header_names: s.header_names,
            timeout_ms: s.timeout_ms,
            trusted: s.trusted,
            new_tools: s.new_tools,
            catalog: CatalogOut {
                status: s.catalog_status,
                checked_at: s.catalog_checked_at,
                tool_count: s.catalog_tool_count,
                detail: s.catalog_detail,
                era: s.catalog_era,
            },
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

async fn account_slug(state: &AppState, auth: &Auth) -> Result<String, ApiError> {
    Ok(accounts::get(&state.pool, auth.account_id).await?.slug)
}

fn check_headers(violations: &mut Violations, headers: &BTreeMap<String, String>) -> Headers {
    let mut clean = Headers::new();
    if headers.len() > inputs::MAX_HEADERS {
        violations.add(
            "/headers",
            format!("at most {} headers", inputs::MAX_HEADERS),
        );
    }
    for (name, value) in headers {
        let path = format!("/headers/{}", name.replace('~', "~0").replace('/', "~1"));
        if let Some(canonical) = violations.check(&path, inputs::upstream_header(name, value)) {
            if !clean.insert(canonical, value.clone()) {
                violations.add(&path, "is given twice (header names are case-insensitive)");
            }
        }
    }
    clean
}

fn check_timeout(violations: &mut Violations, timeout_ms: Option<i32>) {
    if let Some(ms) = timeout_ms {
        if !(100..=600_000).contains(&ms) {
            violations.add("/timeout_ms", "must be between 100 and 600000 milliseconds");
        }
    }
}

/// Register an upstream MCP server.
#[utoipa::path(post, path = "/servers", tag = TAG_SERVERS,
    request_body = ServerIn,
    responses(
        (status = 201, body = ServerOut),
        (status = 409, description = "A server with this name exists", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
    ))]
async fn create_server(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<ServerIn>,
) -> Result<(StatusCode, Extension<Change>, Json<ServerOut>), ApiError> {
    if !input.headers.is_empty() {
        auth.require(Permission::ManageCredentials)?;
    }
    let mut violations = Violations::default();
    let name = violations.check("/name", ServerName::parse(&input.name));
    let url = violations.check("/url", state.guard.check_url(&input.url).await);
    let headers = check_headers(&mut violations, &input.headers);
    check_timeout(&mut violations, input.timeout_ms);
    let (Some(name), Some(url)) = (name, url) else {
        return Err(violations.into_error());
    };
    violations.into_result()?;

    let server = servers::create(
        &state.pool,
        &state.secret_key,
        auth.account_id,
        NewServer {
            name: &name,
            url: url.as_str(),
            headers: &headers,
            timeout_ms: input.timeout_ms,
            new_tools: input.new_tools,
        },
    )
    .await?;
    state.changes.publish(auth.account_id).await;
    // Its tools are discovered in the background; the catalog's status
    // says how that went.
    refresh::spawn_refresh(&state, auth.account_id, server.id);
    let slug = account_slug(&state, &auth).await?;
    let change = Change::new(serde_json::json!({
        "name": server.name,
        "url": server.url,
        "header_names": server.header_names,
        "timeout_ms": server.timeout_ms,
    }))
    .on(server.id);
    Ok((
        StatusCode::CREATED,
        Extension(change),
        Json(ServerOut::new(&state, &slug, server)),
    ))
}

/// List the account's servers.
#[utoipa::path(get, path = "/servers", tag = TAG_SERVERS, params(ListParams),
    responses((status = 200, body = Page<ServerOut>)))]
async fn list_servers(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<ServerOut>>, ApiError> {
    let page = PageRequest::new(params.cursor_id::<ServerId>()?, params.limit);
    let servers = servers::list(&state.pool, auth.account_id, page).await?;
    let slug = account_slug(&state, &auth).await?;
    Ok(Json(servers.map(|s| ServerOut::new(&state, &slug, s))))
}

/// One server.
#[utoipa::path(get, path = "/servers/{id}", tag = TAG_SERVERS,
    params(("id" = ServerId, Path)),
    responses((status = 200, body = ServerOut), (status = 404, body = crate::error::Problem)))]
async fn get_server(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<ServerId>,
) -> Result<Json<ServerOut>, ApiError> {
    let server = servers::get(&state.pool, auth.account_id, id).await?;
    let slug = account_slug(&state, &auth).await?;
    Ok(Json(ServerOut::new(&state, &slug, server)))
}

/// Change a server. Renaming it changes its gateway URL.
#[utoipa::path(patch, path = "/servers/{id}", tag = TAG_SERVERS,
    params(("id" = ServerId, Path)), request_body = ServerPatchIn,
    responses(
        (status = 200, body = ServerOut),
        (status = 404, body = crate::error::Problem),
        (status = 409, body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
    ))]
async fn patch_server(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<ServerId>,
    ApiJson(input): ApiJson<ServerPatchIn>,
) -> Result<(Extension<Change>, Json<ServerOut>), ApiError> {
    let before = servers::get(&state.pool, auth.account_id, id).await?;
    // Credentials go where the URL points: moving a server that has them
    // is a change of credentials too.
    if input.headers.is_some() || (input.url.is_some() && !before.header_names.is_empty()) {
        auth.require(Permission::ManageCredentials)?;
    }
    let mut violations = Violations::default();
    let name = match &input.name {
        Some(name) => violations.check("/name", ServerName::parse(name)),
        None => None,
    };
    let url = match &input.url {
        Some(url) => violations.check("/url", state.guard.check_url(url).await),
        None => None,
    };
    let headers = input
        .headers
        .as_ref()
        .map(|h| check_headers(&mut violations, h));
    check_timeout(&mut violations, input.timeout_ms);
    violations.into_result()?;

    let server = servers::update(
        &state.pool,
        &state.secret_key,
        auth.account_id,
        id,
        ServerPatch {
            name: name.as_ref(),
            url: url.as_ref().map(url::Url::as_str),
            headers: headers.as_ref(),
            timeout_ms: input.timeout_ms,
            trusted: input.trusted,
            new_tools: input.new_tools,
        },
    )
    .await?;
    state.changes.publish(auth.account_id).await;
    // Another address or other credentials may list other tools.
    if url.is_some() || headers.is_some() {
        refresh::spawn_refresh(&state, auth.account_id, server.id);
    }
    let slug = account_slug(&state, &auth).await?;
    let mut summary = serde_json::Map::new();
    if before.name != server.name {
        summary.insert(
            "name".into(),
            serde_json::json!({"from": before.name, "to": server.name}),
        );
    }
    if before.url != server.url {
        summary.insert(
            "url".into(),
            serde_json::json!({"from": before.url, "to": server.url}),
        );
    }
    if headers.is_some() {
        // Names only: the values are secrets.
        summary.insert(
            "header_names".into(),
            serde_json::json!(server.header_names),
        );
    }
    if before.timeout_ms != server.timeout_ms {
        summary.insert("timeout_ms".into(), serde_json::json!(server.timeout_ms));
    }
    if before.trusted != server.trusted {
        summary.insert("trusted".into(), serde_json::json!(server.trusted));
    }
    if before.new_tools != server.new_tools {
        summary.insert("new_tools".into(), serde_json::json!(server.new_tools));
    }
    let change = Change::new(serde_json::Value::Object(summary));
    Ok((
        Extension(change),
        Json(ServerOut::new(&state, &slug, server)),
    ))
}

/// Delete a server, its policy versions and its place in grants.
#[utoipa::path(delete, path = "/servers/{id}", tag = TAG_SERVERS,
    params(("id" = ServerId, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn delete_server(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<ServerId>,
) -> Result<(StatusCode, Extension<Change>), ApiError> {
    let server = servers::get(&state.pool, auth.account_id, id).await?;
    servers::delete(&state.pool, auth.account_id, id).await?;
    state.changes.publish(auth.account_id).await;
    let change = Change::new(serde_json::json!({ "name": server.name }));
    Ok((StatusCode::NO_CONTENT, Extension(change)))
}
