//! Registered upstream MCP servers, with their credentials sealed at rest.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

use crate::catalog::CatalogStatus;
use crate::error::{conflict_as, StoreError};
use crate::ids::{AccountId, ServerId};
use crate::page::{Page, PageRequest};
use crate::secrets::SecretKey;

pub const DEFAULT_TIMEOUT_MS: i32 = 30_000;

/// A server as the API shows it: header names only, never their values.
#[derive(Debug, Clone)]
pub struct Server {
    pub id: ServerId,
    pub account_id: AccountId,
    pub name: String,
    pub url: String,
    pub header_names: Vec<String>,
    pub timeout_ms: i32,
    /// Whether the server's own annotations may lower its tools' risk.
    pub trusted: bool,
    pub new_tools: NewTools,
    /// The last discovery attempt: `pending` before the first.
    pub catalog_status: CatalogStatus,
    pub catalog_checked_at: Option<DateTime<Utc>>,
    pub catalog_tool_count: Option<i32>,
    pub catalog_detail: Option<String>,
    /// `legacy` or `modern`: the protocol era of the last successful attempt.
    pub catalog_era: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A server's name: its slug in the gateway URL. Parsed once, where it
/// enters (the API), so everything past that holds a valid one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerName(String);

impl ServerName {
    /// 1 to 63 lowercase letters, digits and hyphens, not starting or
    /// ending with a hyphen.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = (1..=63).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !raw.starts_with('-')
            && !raw.ends_with('-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err("must be 1-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen (it is the server's slug in its gateway URL)".to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a tool first seen on a server is callable before a person
/// reviews it.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    sqlx::Type,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum NewTools {
    /// Trust on first use: a new tool is pinned as first seen.
    #[default]
    Allow,
    /// A new tool is withheld from agents until someone pins it.
    Review,
}

/// Upstream headers, name to value. Values are secrets: held as
/// `SecretString`s, opened only to be sent or sealed, and shown by `Debug`
/// as names alone.
#[derive(Clone, Default)]
pub struct Headers(BTreeMap<String, SecretString>);

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name`; false if it was set already (its value is replaced).
    pub fn insert(&mut self, name: String, value: String) -> bool {
        self.0.insert(name, SecretString::from(value)).is_none()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Each name with its value, to send.
    pub fn expose(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.expose_secret()))
    }

    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(&self.expose().collect::<BTreeMap<&str, &str>>())
    }

    fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let plain: BTreeMap<String, String> = serde_json::from_slice(bytes)?;
        Ok(plain.into_iter().collect())
    }
}

impl FromIterator<(String, String)> for Headers {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(name, value)| (name, SecretString::from(value)))
                .collect(),
        )
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// Opens sealed headers.
pub fn open_headers(key: &SecretKey, sealed: &[u8]) -> Result<Headers, StoreError> {
    Headers::from_json(&key.open(sealed)?)
        .map_err(|e| StoreError::Corrupt(format!("server headers: {e}")))
}

pub struct NewServer<'a> {
    pub name: &'a ServerName,
    pub url: &'a str,
    pub headers: &'a Headers,
    pub timeout_ms: Option<i32>,
    pub new_tools: Option<NewTools>,
}

#[derive(Default)]
pub struct ServerPatch<'a> {
    pub name: Option<&'a ServerName>,
    pub url: Option<&'a str>,
    /// Replaces every header when given.
    pub headers: Option<&'a Headers>,
    pub timeout_ms: Option<i32>,
    pub trusted: Option<bool>,
    pub new_tools: Option<NewTools>,
}

// A `Server` is read from the view `server_views` (the row and its
// catalog's state); writes return the id and read it back from there.

fn seal_headers(
    key: &SecretKey,
    headers: &Headers,
) -> Result<(Vec<String>, Option<Vec<u8>>), StoreError> {
    if headers.is_empty() {
        return Ok((Vec::new(), None));
    }
    let json = headers
        .to_json()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok((
        headers.names().map(str::to_owned).collect(),
        Some(key.seal(&json)?),
    ))
}

pub async fn create(
    pool: &PgPool,
    key: &SecretKey,
    account_id: AccountId,
    new: NewServer<'_>,
) -> Result<Server, StoreError> {
    let (names, sealed) = seal_headers(key, new.headers)?;
    let id = sqlx::query_scalar!(
        r#"INSERT INTO servers
               (id, account_id, name, url, header_names, headers_enc, timeout_ms, new_tools)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id AS "id: ServerId""#,
        ServerId::new().0,
        account_id.0,
        new.name.as_str(),
        new.url,
        &names,
        sealed,
        new.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        new.new_tools.unwrap_or_default() as _,
    )
    .fetch_one(pool)
    .await
    .map_err(conflict_as("a server with this name"))?;
    get(pool, account_id, id).await
}

pub async fn get(pool: &PgPool, account_id: AccountId, id: ServerId) -> Result<Server, StoreError> {
    sqlx::query_as!(
        Server,
        r#"SELECT id AS "id!: ServerId", account_id AS "account_id!: AccountId", name AS "name!",
                  url AS "url!", header_names AS "header_names!", timeout_ms AS "timeout_ms!",
                  trusted AS "trusted!", new_tools AS "new_tools!: NewTools",
                  catalog_status AS "catalog_status!: CatalogStatus", catalog_checked_at,
                  catalog_tool_count, catalog_detail, catalog_era,
                  created_at AS "created_at!", updated_at AS "updated_at!"
           FROM server_views WHERE id = $1 AND account_id = $2"#,
        id.0,
        account_id.0,
    )
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

pub async fn list(
    pool: &PgPool,
    account_id: AccountId,
    page: PageRequest<ServerId>,
) -> Result<Page<Server>, StoreError> {
    let rows = sqlx::query_as!(
        Server,
        r#"SELECT id AS "id!: ServerId", account_id AS "account_id!: AccountId", name AS "name!",
                  url AS "url!", header_names AS "header_names!", timeout_ms AS "timeout_ms!",
                  trusted AS "trusted!", new_tools AS "new_tools!: NewTools",
                  catalog_status AS "catalog_status!: CatalogStatus", catalog_checked_at,
                  catalog_tool_count, catalog_detail, catalog_era,
                  created_at AS "created_at!", updated_at AS "updated_at!"
           FROM server_views
           WHERE account_id = $1 AND ($2::uuid IS NULL OR id > $2)
           ORDER BY id LIMIT $3"#,
        account_id.0,
        page.after.map(|id| id.0),
        page.fetch_limit(),
    )
    .fetch_all(pool)
    .await?;
    Ok(Page::from_rows(rows, page.limit, |s| s.id.to_string()))
}

pub async fn update(
    pool: &PgPool,
    key: &SecretKey,
    account_id: AccountId,
    id: ServerId,
    patch: ServerPatch<'_>,
) -> Result<Server, StoreError> {
    let (set_headers, names, sealed) = match patch.headers {
        Some(headers) => {
            let (names, sealed) = seal_headers(key, headers)?;
            (true, names, sealed)
        }
        None => (false, Vec::new(), None),
    };
    let id = sqlx::query_scalar!(
        r#"UPDATE servers SET
               name = COALESCE($3, name),
               url = COALESCE($4, url),
               timeout_ms = COALESCE($5, timeout_ms),
               trusted = COALESCE($9, trusted),
               new_tools = COALESCE($10, new_tools),
               header_names = CASE WHEN $6 THEN $7 ELSE header_names END,
               headers_enc = CASE WHEN $6 THEN $8 ELSE headers_enc END,
               updated_at = now()
           WHERE id = $1 AND account_id = $2
           RETURNING id AS "id: ServerId""#,
        id.0,
        account_id.0,
        patch.name.map(ServerName::as_str),
        patch.url,
        patch.timeout_ms,
        set_headers,
        &names,
        sealed,
        patch.trusted,
        patch.new_tools as _,
    )
    .fetch_optional(pool)
    .await
    .map_err(conflict_as("a server with this name"))?
    .ok_or(StoreError::NotFound)?;
    get(pool, account_id, id).await
}

pub async fn delete(pool: &PgPool, account_id: AccountId, id: ServerId) -> Result<(), StoreError> {
    let deleted = sqlx::query!(
        "DELETE FROM servers WHERE id = $1 AND account_id = $2",
        id.0,
        account_id.0,
    )
    .execute(pool)
    .await?
    .rows_affected();
    if deleted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// The decrypted upstream headers of a server, for the gateway alone.
pub async fn upstream_headers(
    pool: &PgPool,
    key: &SecretKey,
    account_id: AccountId,
    id: ServerId,
) -> Result<Headers, StoreError> {
    let sealed = sqlx::query_scalar!(
        "SELECT headers_enc FROM servers WHERE id = $1 AND account_id = $2",
        id.0,
        account_id.0,
    )
    .fetch_optional(pool)
    .await?;
    match sealed.ok_or(StoreError::NotFound)? {
        None => Ok(Headers::new()),
        Some(sealed) => open_headers(key, &sealed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_tools_are_stored_and_serialised_by_one_name() {
        let all = [NewTools::Allow, NewTools::Review];
        let names = ["allow", "review"];
        crate::stored_enum::assert_stored_as(&all, &names);
        for (new_tools, name) in all.iter().zip(names) {
            assert_eq!(serde_json::to_value(new_tools).unwrap(), name);
        }
    }
}
