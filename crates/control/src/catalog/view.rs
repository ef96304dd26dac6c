//! What the API shows of a catalog: each tool with its verdict (computed on
//! read, so a better classifier or a change of `trusted` shows at once) and
//! the current policy's treatment of it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use toolgate_catalog::{classify, Category, Flag, Reason, Risk, ToolDefinition, Trust, Verdict};
use toolgate_policy::{CompiledPolicy, Kind, Treatment};
use toolgate_store::catalog::{CatalogTool, ChangeKind, ToolChange};
use toolgate_store::ids::{AccountId, ServerId, ToolId};
use toolgate_store::{policies, StoreError};

/// A tool as discovery found it, judged and placed under the policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolOut {
    pub id: ToolId,
    pub server_id: ServerId,
    pub server_name: String,
    pub name: String,
    /// `ToolDefinition::content_hash` of the definition: `sha256:…`.
    pub hash: String,
    /// `{name, title?, description?, inputSchema?, outputSchema?, annotations?}`
    /// as the upstream sent it (text from the upstream: show it as text).
    #[schema(value_type = Object)]
    pub definition: Value,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// When the current definition was first seen.
    pub changed_at: DateTime<Utc>,
    /// `read`, `write`, `execute`, `destructive` or `financial`.
    #[schema(value_type = String, example = "write")]
    pub category: Category,
    /// `low`, `medium`, `high` or `critical`.
    #[schema(value_type = String, example = "high")]
    pub risk: Risk,
    #[schema(value_type = Vec<String>, example = json!(["credentials"]))]
    pub flags: Vec<Flag>,
    /// Why: each `{id, text, evidence: {kind, value}}`.
    #[schema(value_type = Vec<Object>)]
    pub reasons: Vec<Reason>,
    /// What the current policy does to it: `{action: hidden|denied|allowed|
    /// require_approval, visible, pointer, reason?, arguments_validated,
    /// approval_timeout_secs?, limits: [{counter, window, max, scope, cost?, pointer}]}`.
    #[schema(value_type = Object)]
    pub policy: Treatment,
    /// Whether agents see the tool as it is defined now.
    pub pin: PinOut,
    /// The latest changes, newest first (in a server's listing only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<ChangeOut>>,
}

/// A tool's pinned (reviewed) definition.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PinOut {
    /// `pinned`: agents see and may call the tool. `changed`: the upstream
    /// now defines it otherwise than pinned; `unreviewed`: never pinned.
    /// Either way the gateway withholds it from `tools/list` and refuses its
    /// calls until someone pins the current definition
    /// (`POST /v1/servers/{id}/tools/{name}/pin`).
    #[schema(example = "pinned")]
    pub status: &'static str,
    pub pinned_hash: Option<String>,
    pub pinned_at: Option<DateTime<Utc>>,
}

impl PinOut {
    pub fn of(tool: &CatalogTool) -> Self {
        Self {
            status: match &tool.pinned_hash {
                None => "unreviewed",
                Some(_) if tool.is_pinned() => "pinned",
                Some(_) => "changed",
            },
            pinned_hash: tool.pinned_hash.clone(),
            pinned_at: tool.pinned_at,
        }
    }
}

/// One change of a tool's definition.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChangeOut {
    pub kind: ChangeKind,
    pub old_hash: Option<String>,
    pub new_hash: Option<String>,
    /// For `changed`: which parts (`title`, `description`, `input_schema`,
    /// `output_schema`, `annotations`).
    #[schema(value_type = Vec<String>)]
    pub changes: Value,
    pub seen_at: DateTime<Utc>,
}

impl From<ToolChange> for ChangeOut {
    fn from(c: ToolChange) -> Self {
        Self {
            kind: c.kind,
            old_hash: c.old_hash,
            new_hash: c.new_hash,
            changes: c.changes,
            seen_at: c.seen_at,
        }
    }
}

/// A listed resource or prompt, with the policy's treatment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListedOut {
    /// `{name, uri?, title?, description?, mimeType?, arguments?}` as listed.
    #[schema(value_type = Object)]
    pub entry: Value,
    #[schema(value_type = Object)]
    pub policy: Treatment,
}

/// The definition of a stored tool (a row that no longer parses keeps its
/// name, and is judged on that alone).
pub fn definition_of(tool: &CatalogTool) -> ToolDefinition {
    serde_json::from_value(tool.definition.clone()).unwrap_or_else(|_| ToolDefinition {
        name: tool.name.clone(),
        title: None,
        description: None,
        input_schema: None,
        output_schema: None,
        annotations: None,
    })
}

pub fn trust_of(trusted: bool) -> Trust {
    if trusted {
        Trust::Trusted
    } else {
        Trust::Untrusted
    }
}

/// The verdict of a stored tool.
pub fn verdict_of(tool: &CatalogTool) -> Verdict {
    classify(&definition_of(tool), trust_of(tool.server_trusted))
}

pub fn tool_out(tool: CatalogTool, verdict: Verdict, policy: &CompiledPolicy) -> ToolOut {
    ToolOut {
        policy: policy.treatment_of(Kind::Tool, &tool.name),
        pin: PinOut::of(&tool),
        id: tool.id,
        server_id: tool.server_id,
        server_name: tool.server_name,
        name: tool.name,
        hash: tool.hash,
        definition: tool.definition,
        first_seen_at: tool.first_seen_at,
        last_seen_at: tool.last_seen_at,
        changed_at: tool.changed_at,
        category: verdict.category,
        risk: verdict.risk,
        flags: verdict.flags,
        reasons: verdict.reasons,
        history: None,
    }
}

/// Resources (`key` is the URI) or prompts, each with its treatment.
pub fn listed_out(entries: &Value, kind: Kind, policy: &CompiledPolicy) -> Vec<ListedOut> {
    let Some(entries) = entries.as_array() else {
        return Vec::new();
    };
    entries
        .iter()
        .map(|entry| {
            let key = entry
                .get("uri")
                .or_else(|| entry.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            ListedOut {
                policy: policy.treatment_of(kind, key),
                entry: entry.clone(),
            }
        })
        .collect()
}

/// The server's current policy, compiled; a server without one is closed,
/// as the gateway treats it.
pub async fn current_policy(
    pool: &sqlx::PgPool,
    account_id: AccountId,
    server_id: ServerId,
) -> Result<CompiledPolicy, StoreError> {
    Ok(match policies::current(pool, account_id, server_id).await? {
        Some(version) => toolgate_policy::parse(&version.document).unwrap_or_else(|errors| {
            tracing::warn!(server = %server_id, errors = errors.len(), "a stored policy no longer validates");
            CompiledPolicy::closed()
        }),
        None => CompiledPolicy::closed(),
    })
}
