//! The account's own trail: every state change made through the API, with
//! who made it, from where, and a summary that never holds a secret.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::error::StoreError;
use crate::ids::{AccountEventId, AccountId};
use crate::page::{Page, PageRequest};

/// Who made a change.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    sqlx::Type,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum ActorKind {
    User,
    ApiKey,
}

/// One change, as recorded.
#[derive(Debug, Clone)]
pub struct AccountEvent {
    pub id: AccountEventId,
    pub at: DateTime<Utc>,
    pub actor_kind: ActorKind,
    pub actor_id: uuid::Uuid,
    pub actor_label: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub resource: String,
    pub resource_id: Option<String>,
    pub action: String,
    pub summary: serde_json::Value,
}

/// A change to record.
#[derive(Debug, Clone)]
pub struct NewAccountEvent<'a> {
    pub account_id: AccountId,
    pub actor_kind: ActorKind,
    pub actor_id: uuid::Uuid,
    pub actor_label: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub resource: &'a str,
    pub resource_id: Option<&'a str>,
    pub action: &'a str,
    pub summary: &'a serde_json::Value,
}

pub async fn insert(
    executor: impl sqlx::PgExecutor<'_>,
    event: NewAccountEvent<'_>,
) -> Result<AccountEventId, StoreError> {
    let id = AccountEventId::new();
    sqlx::query!(
        "INSERT INTO account_events
             (id, account_id, actor_kind, actor_id, actor_label, ip, user_agent, resource,
              resource_id, action, summary)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        id.0,
        event.account_id.0,
        event.actor_kind as _,
        event.actor_id,
        event.actor_label,
        event.ip,
        event.user_agent,
        event.resource,
        event.resource_id,
        event.action,
        event.summary,
    )
    .execute(executor)
    .await?;
    Ok(id)
}

/// What to list; every field narrows.
#[derive(Debug, Default, Clone)]
pub struct AccountEventFilter {
    pub resource: Option<String>,
    pub action: Option<String>,
    pub actor_id: Option<uuid::Uuid>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// The account's events, newest first.
pub async fn list(
    pool: &PgPool,
    account_id: AccountId,
    filter: &AccountEventFilter,
    page: PageRequest<AccountEventId>,
) -> Result<Page<AccountEvent>, StoreError> {
    let rows = sqlx::query_as!(
        AccountEvent,
        r#"SELECT id AS "id: AccountEventId", at, actor_kind AS "actor_kind: ActorKind",
                  actor_id, actor_label, ip, user_agent, resource, resource_id, action, summary
           FROM account_events
           WHERE account_id = $1
             AND ($2::text IS NULL OR resource = $2)
             AND ($3::text IS NULL OR action = $3)
             AND ($4::uuid IS NULL OR actor_id = $4)
             AND ($5::timestamptz IS NULL OR at >= $5)
             AND ($6::timestamptz IS NULL OR at < $6)
             AND ($7::uuid IS NULL OR id < $7)
           ORDER BY id DESC LIMIT $8"#,
        account_id.0,
        filter.resource,
        filter.action,
        filter.actor_id,
        filter.since,
        filter.until,
        page.after.map(|id| id.0),
        page.fetch_limit(),
    )
    .fetch_all(pool)
    .await?;
    Ok(Page::from_rows(rows, page.limit, |e| e.id.to_string()))
}
