//! The one gate every route passes: authenticates the caller, checks the
//! route's permission from [`crate::permissions::ROUTES`], and records each
//! successful change in the account's trail.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::USER_AGENT;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use toolgate_store::account_events::{self, ActorKind, NewAccountEvent};
use toolgate_store::ids::{AccountId, UserId};

use crate::auth::client_addr::{ClientAddr, TrustedProxies};
use crate::auth::{cookie, Auth, Principal};
use crate::error::ApiError;
use crate::permissions::{self, Access, Trail};
use crate::state::AppState;

/// What a handler tells the trail about the change it made: a summary that
/// never holds a secret, the resource's id when the path does not name it,
/// and, on routes whose caller is nobody yet (sign-in, sign-up, accepting an
/// invitation), who acted and in which account. Returned as a response
/// extension: `(Extension(change), Json(out))`.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub summary: serde_json::Value,
    pub resource_id: Option<String>,
    pub actor: Option<Actor>,
}

/// A person acting on a route that authenticates them itself.
#[derive(Debug, Clone)]
pub struct Actor {
    pub account_id: AccountId,
    pub user_id: UserId,
    pub email: String,
}

impl Change {
    pub fn new(summary: serde_json::Value) -> Self {
        Self {
            summary,
            ..Self::default()
        }
    }

    pub fn on(mut self, resource_id: impl ToString) -> Self {
        self.resource_id = Some(resource_id.to_string());
        self
    }

    pub fn by(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }
}

/// Where a request came from, for the trail.
#[derive(Debug, Clone, Default)]
struct Origin {
    ip: Option<String>,
    user_agent: Option<String>,
}

/// Longest user agent kept in the trail.
const MAX_USER_AGENT: usize = 512;

impl Origin {
    /// The client address honours `TOOLGATE_TRUSTED_PROXIES`, as sign-in
    /// throttling does.
    fn of(parts: &Parts, proxies: &TrustedProxies) -> Self {
        let ip = ClientAddr::of(parts, proxies).0.map(|ip| ip.to_string());
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        Self { ip, user_agent }
    }
}

/// The middleware: see the module's documentation.
pub async fn gate(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let Some(path) = matched.map(|m| m.as_str().to_owned()) else {
        return next.run(request).await;
    };
    let Some(rule) = permissions::rule(request.method(), &path) else {
        // Another method of a declared path: the router answers 405.
        if permissions::is_route_path(&path) {
            return next.run(request).await;
        }
        tracing::error!(%path, "route has no declared permission; refused");
        return ApiError::Internal("this route declares no permission".into()).into_response();
    };
    let (mut parts, body) = request.into_parts();
    if rule.access != Access::Public {
        if let Err(error) = cookie::require_proof(&parts) {
            return error.into_response();
        }
    }
    let auth = match rule.access {
        Access::Public => None,
        Access::Session => match Auth::authenticate(&parts.headers, &state).await {
            Ok(auth) if auth.session.is_some() => Some(auth),
            Ok(_) => {
                return ApiError::Forbidden(
                    "this route is for a signed-in person; API keys cannot use it".to_owned(),
                )
                .into_response()
            }
            Err(error) => return error.into_response(),
        },
        Access::Role(permission) => {
            match Auth::authenticate(&parts.headers, &state)
                .await
                .and_then(|auth| auth.require(permission).map(|()| auth))
            {
                Ok(auth) => Some(auth),
                Err(error) => return error.into_response(),
            }
        }
    };
    let origin = Origin::of(&parts, &state.trusted_proxies);
    let concrete_path = parts.uri.path().to_owned();
    if let Some(auth) = &auth {
        parts.extensions.insert(auth.clone());
    }
    let response = next.run(Request::from_parts(parts, body)).await;

    if let Trail::Record(resource, action) = rule.trail {
        if response.status().is_success() {
            let change = response.extensions().get::<Change>().cloned();
            let what = Recorded {
                resource,
                action,
                template: &path,
                path: &concrete_path,
            };
            if let Err(error) = record(&state, auth.as_ref(), &origin, what, change).await {
                tracing::error!(%error, %path, "could not record a change in the account's trail");
            }
        }
    }
    response
}

struct Recorded<'a> {
    resource: &'static str,
    action: &'static str,
    template: &'a str,
    path: &'a str,
}

async fn record(
    state: &AppState,
    auth: Option<&Auth>,
    origin: &Origin,
    what: Recorded<'_>,
    change: Option<Change>,
) -> Result<(), ApiError> {
    let change = change.unwrap_or_default();
    let (account_id, kind, actor_id, label) = match (&change.actor, auth) {
        (Some(actor), _) => (
            actor.account_id,
            ActorKind::User,
            actor.user_id.0,
            actor.email.as_str(),
        ),
        (None, Some(auth)) => match auth.principal {
            Principal::User(user) => (
                auth.account_id,
                ActorKind::User,
                user.0,
                auth.label.as_str(),
            ),
            Principal::ApiKey(key) => (
                auth.account_id,
                ActorKind::ApiKey,
                key.0,
                auth.label.as_str(),
            ),
        },
        (None, None) => {
            return Err(ApiError::Internal(
                format!("{} names nobody to record as acting", what.template).into(),
            ))
        }
    };
    let resource_id = change
        .resource_id
        .clone()
        .or_else(|| path_param(what.template, what.path, "{id}"));
    let mut summary = change.summary;
    if let Some(name) = path_param(what.template, what.path, "{name}") {
        if let serde_json::Value::Object(fields) = &mut summary {
            fields.entry("name").or_insert(name.into());
        } else if summary.is_null() {
            summary = serde_json::json!({ "name": name });
        }
    }
    if summary.is_null() {
        summary = serde_json::json!({});
    }
    account_events::insert(
        &state.pool,
        NewAccountEvent {
            account_id,
            actor_kind: kind,
            actor_id,
            actor_label: label,
            ip: origin.ip.as_deref(),
            user_agent: origin.user_agent.as_deref(),
            resource: what.resource,
            resource_id: resource_id.as_deref(),
            action: what.action,
            summary: &summary,
        },
    )
    .await?;
    Ok(())
}

/// The segment of `path` where `template` has `param`.
fn path_param(template: &str, path: &str, param: &str) -> Option<String> {
    template
        .split('/')
        .zip(path.split('/'))
        .find(|(t, _)| *t == param)
        .map(|(_, value)| {
            percent_encoding::percent_decode_str(value)
                .decode_utf8_lossy()
                .into_owned()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_params_are_read_by_their_template() {
        let t = "/v1/servers/{id}/tools/{name}/pin";
        let p = "/v1/servers/srv_1/tools/get%20env/pin";
        assert_eq!(path_param(t, p, "{id}").as_deref(), Some("srv_1"));
        assert_eq!(path_param(t, p, "{name}").as_deref(), Some("get env"));
        assert_eq!(path_param("/v1/servers", "/v1/servers", "{id}"), None);
    }
}
