//! Why the live policy decides a call the way it does: the decision with its
//! trace (see `toolgate_policy::Explanation`), plus each limit's current
//! usage, read from the gateway's counters without consuming any.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use toolgate_limits::{holder_key, Algorithm, CounterStore, Holder, LimitRequest};
use toolgate_policy::{CompiledPolicy, Explanation, Kind, LimitTrace, Scope};
use toolgate_store::ids::{AccountId, GrantId, ServerId};
use toolgate_store::{grants, policies, servers};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::{ApiJson, PathId};
use crate::routes::TAG_POLICIES;
use crate::state::AppState;

/// Longest `tool` accepted, in characters: the trace quotes it many times.
const MAX_NAME_CHARS: usize = 1_024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(explain))
}

/// What to explain.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainIn {
    /// The tool's name (with `kind`: the resource URI or prompt name).
    tool: String,
    /// The call's `arguments` object (`{}` when absent).
    #[schema(value_type = Option<Object>)]
    arguments: Option<Value>,
    /// The grant whose usage to report for `grant`-scoped limits; without
    /// it their usage is left out.
    grant: Option<GrantId>,
    /// `tool` (default), `resource` or `prompt`.
    kind: Option<KindIn>,
}

#[derive(Debug, Clone, Copy, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KindIn {
    Tool,
    Resource,
    Prompt,
}

/// The decision with its trace.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExplainOut {
    /// The policy version that decided (`null`: the server has no policy,
    /// so nothing is visible or callable).
    policy_version: Option<i32>,
    /// `kind`, `name`, `decision`, `visible`, `decided_by`, `matched`,
    /// `not_matched`, `schema_errors` and `limits` (see docs/policy.md,
    /// "Explain"); each limit also carries `usage` (units counted in the
    /// current window, what the next call would see) or, when that cannot
    /// be told, `null` and a `usage_note` saying why.
    #[schema(value_type = Object)]
    #[serde(flatten)]
    explanation: Value,
}

/// Explain how the live policy decides one call.
///
/// The decision is the gateway's own, with its trace: the keys that match in
/// precedence order and the one that decides, the keys that do not match and
/// why, every argument-schema error at its path, and each limit the call
/// would count with its current usage. Nothing is counted or recorded.
#[utoipa::path(post, path = "/servers/{id}/policy/explain", tag = TAG_POLICIES,
    params(("id" = ServerId, Path)),
    request_body = ExplainIn,
    responses(
        (status = 200, body = ExplainOut),
        (status = 404, description = "No such server or grant", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem),
    ))]
async fn explain(
    State(state): State<AppState>,
    auth: Auth,
    PathId(server_id): PathId<ServerId>,
    ApiJson(body): ApiJson<ExplainIn>,
) -> Result<Json<ExplainOut>, ApiError> {
    servers::get(&state.pool, auth.account_id, server_id).await?;
    if body.tool.is_empty() {
        return Err(ApiError::validation("/tool", "name the tool to explain"));
    }
    if body.tool.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::validation(
            "/tool",
            format!("longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    let arguments = match body.arguments {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(arguments @ Value::Object(_)) => arguments,
        Some(_) => {
            return Err(ApiError::validation(
                "/arguments",
                "the call's arguments must be a JSON object",
            ))
        }
    };
    if let Some(grant) = body.grant {
        grants::get(&state.pool, auth.account_id, grant)
            .await
            .map_err(|_| ApiError::NotFound(format!("grant {grant} not found")))?;
    }
    let current = policies::current(&state.pool, auth.account_id, server_id).await?;
    let (policy_version, policy) = match &current {
        None => (None, CompiledPolicy::closed()),
        Some(version) => match toolgate_policy::parse(&version.document) {
            Ok(policy) => (Some(version.version), policy),
            Err(errors) => {
                return Err(ApiError::Conflict(format!(
                    "the live policy (version {}) no longer validates: {}",
                    version.version,
                    errors.first().map_or_else(String::new, ToString::to_string)
                )))
            }
        },
    };
    let kind = match body.kind.unwrap_or(KindIn::Tool) {
        KindIn::Tool => Kind::Tool,
        KindIn::Resource => Kind::Resource,
        KindIn::Prompt => Kind::Prompt,
    };
    let explanation: Explanation = policy.explain_of(kind, &body.tool, &arguments);
    let whose = Whose {
        account: auth.account_id,
        server: server_id,
        grant: body.grant,
    };
    let mut usages = Vec::with_capacity(explanation.limits.len());
    for limit in &explanation.limits {
        usages.push(usage(state.counters.as_ref(), &whose, limit).await);
    }
    let mut out = serde_json::to_value(&explanation).map_err(ApiError::internal)?;
    if let Some(Value::Array(limits)) = out.get_mut("limits") {
        for (limit, (used, note)) in limits.iter_mut().zip(usages) {
            limit["usage"] = used.map_or(Value::Null, Value::from);
            if let Some(note) = note {
                limit["usage_note"] = Value::String(note);
            }
        }
    }
    Ok(Json(ExplainOut {
        policy_version,
        explanation: out,
    }))
}

/// Whose counters a limit's usage is read from.
struct Whose {
    account: AccountId,
    server: ServerId,
    grant: Option<GrantId>,
}

/// The current usage of `limit`, or why it cannot be told.
async fn usage(
    counters: Option<&CounterStore>,
    whose: &Whose,
    limit: &LimitTrace,
) -> (Option<u64>, Option<String>) {
    let Some(counters) = counters else {
        return (
            None,
            Some(
                "this control plane cannot see the gateway's counters (it runs alone with \
                 in-memory counters)"
                    .to_owned(),
            ),
        );
    };
    let (server, grant) = (&whose.server, whose.grant.as_ref());
    let holder = match (limit.scope, grant) {
        (Scope::Account, _) => Holder::Account,
        (Scope::Server, _) => Holder::Server { server },
        (Scope::Grant, Some(grant)) => Holder::Grant { server, grant },
        (Scope::Grant, None) => {
            return (
                None,
                Some("counted per grant: pass `grant` to see one grant's usage".to_owned()),
            )
        }
        (Scope::Session, _) => {
            return (
                None,
                Some(
                    "counted per MCP session (per grant for calls without one); sessions are \
                     not known here"
                        .to_owned(),
                ),
            )
        }
    };
    let request = LimitRequest {
        key: holder_key(&limit.counter, holder),
        window_secs: limit.window.secs(),
        max: limit.max,
        cost: 1,
        algorithm: match limit.algorithm {
            toolgate_policy::Algorithm::Fixed => Algorithm::Fixed,
            toolgate_policy::Algorithm::Sliding => Algorithm::Sliding,
        },
    };
    match counters.usage(&whose.account.to_string(), &request).await {
        Ok(used) => (Some(used), None),
        Err(error) => {
            tracing::warn!(%error, "cannot read a limit's usage for an explanation");
            (
                None,
                Some("the counter store did not answer; try again shortly".to_owned()),
            )
        }
    }
}
