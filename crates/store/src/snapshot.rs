//! Everything the gateway needs to serve one account, read in one go: its
//! servers (with their upstream headers opened), their current policies, and
//! its live grants, and the pins of its servers' tools. The gateway caches the result; this is the only query it
//! makes, on a cold account.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::catalog::ToolPin;
use crate::error::StoreError;
use crate::ids::{AccountId, GrantId, ServerId};
use crate::secrets::SecretKey;
use crate::servers::Headers;

pub struct AccountRows {
    pub id: AccountId,
    pub slug: String,
    pub servers: Vec<ServerRows>,
    pub grants: Vec<GrantRows>,
}

pub struct ServerRows {
    pub id: ServerId,
    pub name: String,
    pub url: String,
    pub headers: Headers,
    pub timeout_ms: i32,
    /// The current policy version and document; `None` if none was stored.
    pub policy: Option<(i32, serde_json::Value)>,
    /// The shadow policy's document, judged beside the live one but never
    /// acted on; `None` when the server has no shadow.
    pub shadow: Option<serde_json::Value>,
    /// The tools the upstream lists, by name, with their current and pinned
    /// hashes; `None` before the first successful discovery.
    pub catalog: Option<Vec<ToolPin>>,
}

/// A grant that is not revoked (expiry is checked at use, as time passes).
pub struct GrantRows {
    pub id: GrantId,
    pub token_hash: Vec<u8>,
    pub all_servers: bool,
    pub server_ids: Vec<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
}

struct ServerRow {
    id: ServerId,
    name: String,
    url: String,
    headers_enc: Option<Vec<u8>>,
    timeout_ms: i32,
    policy_version: Option<i32>,
    policy: Option<serde_json::Value>,
    shadow: Option<serde_json::Value>,
    catalog_known: bool,
}

/// Loads the account whose gateway slug is `slug`, or `None`.
pub async fn load_by_slug(
    pool: &PgPool,
    key: &SecretKey,
    slug: &str,
) -> Result<Option<AccountRows>, StoreError> {
    // One snapshot: the three reads see the same committed state.
    let mut tx = pool.begin().await?;
    sqlx::query!("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let Some(id) = sqlx::query_scalar!(
        r#"SELECT id AS "id: AccountId" FROM accounts WHERE slug = $1"#,
        slug,
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(None);
    };
    let servers = sqlx::query_as!(
        ServerRow,
        r#"SELECT s.id AS "id: ServerId", s.name, s.url, s.headers_enc, s.timeout_ms,
                  p.version AS "policy_version?", p.document AS "policy?",
                  sh.document AS "shadow?",
                  EXISTS (SELECT 1 FROM server_catalogs c
                          WHERE c.server_id = s.id AND c.era IS NOT NULL) AS "catalog_known!"
           FROM servers s
           LEFT JOIN LATERAL (
               SELECT version, document FROM policy_versions
               WHERE server_id = s.id ORDER BY version DESC LIMIT 1
           ) p ON true
           LEFT JOIN policy_shadows sh ON sh.server_id = s.id
           WHERE s.account_id = $1"#,
        id.0,
    )
    .fetch_all(&mut *tx)
    .await?;
    let grants = sqlx::query_as!(
        GrantRows,
        r#"SELECT g.id AS "id: GrantId", g.token_hash, g.all_servers,
                  COALESCE(ARRAY(SELECT gs.server_id FROM grant_servers gs
                                 WHERE gs.grant_id = g.id), '{}') AS "server_ids!",
                  g.expires_at
           FROM grants g
           WHERE g.account_id = $1 AND g.revoked_at IS NULL"#,
        id.0,
    )
    .fetch_all(&mut *tx)
    .await?;
    let pins = sqlx::query!(
        r#"SELECT server_id AS "server_id: ServerId", name, hash, pinned_hash FROM catalog_tools
           WHERE account_id = $1 AND removed_at IS NULL ORDER BY server_id, name"#,
        id.0,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut pins_by_server: std::collections::HashMap<ServerId, Vec<ToolPin>> =
        std::collections::HashMap::new();
    for row in pins {
        pins_by_server
            .entry(row.server_id)
            .or_default()
            .push(ToolPin {
                name: row.name,
                hash: row.hash,
                pinned_hash: row.pinned_hash,
            });
    }

    let servers = servers
        .into_iter()
        .map(|row| {
            let headers = match row.headers_enc {
                None => Headers::new(),
                Some(sealed) => crate::servers::open_headers(key, &sealed)?,
            };
            Ok(ServerRows {
                id: row.id,
                name: row.name,
                url: row.url,
                headers,
                timeout_ms: row.timeout_ms,
                policy: row.policy_version.zip(row.policy),
                shadow: row.shadow,
                catalog: row
                    .catalog_known
                    .then(|| pins_by_server.remove(&row.id).unwrap_or_default()),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(AccountRows {
        id,
        slug: slug.to_owned(),
        servers,
        grants,
    }))
}
