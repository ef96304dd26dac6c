//! The account's own trail: who changed what, when and from where.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use toolgate_store::account_events::{self, AccountEvent, AccountEventFilter, ActorKind};
use toolgate_store::ids::{AccountEventId, AccountId, ApiKeyId, UserId};
use toolgate_store::page::MAX_LIMIT;
use toolgate_store::{Page, PageRequest};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, Violations};
use crate::extract::ApiQuery;
use crate::routes::time;
use crate::routes::TAG_ACCOUNT;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(export_events))
}

/// Rows fetched per query while exporting.
const EXPORT_PAGE: i64 = MAX_LIMIT;

#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountEventOut {
    id: AccountEventId,
    at: DateTime<Utc>,
    actor: ActorOut,
    /// The client address the change came from, when known.
    ip: Option<String>,
    user_agent: Option<String>,
    /// What was changed: `account`, `member`, `invitation`, `session`,
    /// `user`, `api_key`, `server`, `catalog`, `tool`, `policy`, `grant` or
    /// `approval`.
    resource: String,
    resource_id: Option<String>,
    /// What was done to it, e.g. `create`, `update`, `change_role`.
    action: String,
    /// The change, without secrets (header names, never values).
    #[schema(value_type = Object)]
    summary: serde_json::Value,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ActorOut {
    kind: ActorKind,
    /// The user's (`usr_…`) or API key's (`key_…`) id.
    id: String,
    /// The user's email or the key's name, at the time.
    label: String,
}

impl From<AccountEvent> for AccountEventOut {
    fn from(e: AccountEvent) -> Self {
        let id = match e.actor_kind {
            ActorKind::User => UserId(e.actor_id).to_string(),
            ActorKind::ApiKey => ApiKeyId(e.actor_id).to_string(),
        };
        Self {
            id: e.id,
            at: e.at,
            actor: ActorOut {
                kind: e.actor_kind,
                id,
                label: e.actor_label,
            },
            ip: e.ip,
            user_agent: e.user_agent,
            resource: e.resource,
            resource_id: e.resource_id,
            action: e.action,
            summary: e.summary,
        }
    }
}

/// Filters shared by the list and the export.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountEventParams {
    /// Only changes to this kind of resource (e.g. `server`).
    resource: Option<String>,
    /// Only this action (e.g. `change_role`).
    action: Option<String>,
    /// Only changes by this user (`usr_…`) or API key (`key_…`).
    actor: Option<String>,
    /// Changes at or after this time (RFC 3339).
    since: Option<String>,
    /// Changes before this time (RFC 3339).
    until: Option<String>,
    /// The `next_cursor` of the previous page (list only).
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50; list only).
    limit: Option<i64>,
}

impl AccountEventParams {
    fn filter(&self) -> Result<(AccountEventFilter, PageRequest<AccountEventId>), ApiError> {
        let mut v = Violations::default();
        let actor_id = self.actor.as_deref().and_then(|a| {
            v.check(
                "actor",
                a.parse::<UserId>()
                    .map(|u| u.0)
                    .or_else(|_| a.parse::<ApiKeyId>().map(|k| k.0))
                    .map_err(|_| format!("{a:?} is not a user or API key id")),
            )
        });
        let since = time(&mut v, "since", self.since.as_deref());
        let until = time(&mut v, "until", self.until.as_deref());
        if let (Some(since), Some(until)) = (since, until) {
            if until <= since {
                v.add("until", "must be after since");
            }
        }
        let cursor = self.cursor.as_deref().and_then(|c| {
            v.check(
                "cursor",
                c.parse::<AccountEventId>()
                    .map_err(|_| "pass the next_cursor of a previous page".to_owned()),
            )
        });
        if self.limit.is_some_and(|l| !(1..=MAX_LIMIT).contains(&l)) {
            v.add("limit", format!("must be between 1 and {MAX_LIMIT}"));
        }
        for (name, value) in [("resource", &self.resource), ("action", &self.action)] {
            if value
                .as_deref()
                .is_some_and(|s| s.is_empty() || s.len() > 64 || s.contains('\0'))
            {
                v.add(name, "must be 1 to 64 characters");
            }
        }
        v.into_result()?;
        Ok((
            AccountEventFilter {
                resource: self.resource.clone(),
                action: self.action.clone(),
                actor_id,
                since,
                until,
            },
            PageRequest::new(cursor, self.limit),
        ))
    }
}

/// The account's changes, newest first.
#[utoipa::path(get, path = "/account/events", tag = TAG_ACCOUNT, params(AccountEventParams),
    responses((status = 200, body = Page<AccountEventOut>),
        (status = 422, description = "A filter is malformed; `errors[].path` names it", body = crate::error::Problem)))]
async fn list_events(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<AccountEventParams>,
) -> Result<Json<Page<AccountEventOut>>, ApiError> {
    let (filter, page) = params.filter()?;
    let events = account_events::list(&state.pool, auth.account_id, &filter, page).await?;
    Ok(Json(events.map(AccountEventOut::from)))
}

/// Every matching change as newline-delimited JSON (newest first), streamed.
#[utoipa::path(get, path = "/account/events/export", tag = TAG_ACCOUNT, params(AccountEventParams),
    responses((status = 200, description = "One change per line", content_type = "application/x-ndjson", body = AccountEventOut),
        (status = 422, body = crate::error::Problem)))]
async fn export_events(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<AccountEventParams>,
) -> Result<Response, ApiError> {
    let (filter, page) = params.filter()?;
    let stream = export_stream(state.pool.clone(), auth.account_id, filter, page.after);
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

fn export_stream(
    pool: PgPool,
    account: AccountId,
    filter: AccountEventFilter,
    after: Option<AccountEventId>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(Some(after), move |next| {
        let pool = pool.clone();
        let filter = filter.clone();
        async move {
            let after = next?;
            let page = PageRequest::new(after, Some(EXPORT_PAGE));
            match account_events::list(&pool, account, &filter, page).await {
                Ok(page) => {
                    let following = page
                        .next_cursor
                        .as_deref()
                        .and_then(|c| c.parse::<AccountEventId>().ok())
                        .map(Some);
                    let mut out = Vec::with_capacity(page.items.len() * 300);
                    for event in page.items {
                        if serde_json::to_writer(&mut out, &AccountEventOut::from(event)).is_ok() {
                            out.push(b'\n');
                        }
                    }
                    Some((Ok(Bytes::from(out)), following))
                }
                Err(err) => {
                    tracing::error!(error = %err, "account events export failed");
                    Some((
                        Err(std::io::Error::other("account events export failed")),
                        None,
                    ))
                }
            }
        }
    })
}
