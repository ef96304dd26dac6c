//! The caller's own account.

use axum::extract::State;
use axum::{Extension, Json};
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize};
use toolgate_store::accounts::{self, Account, AccountPatch};
use toolgate_store::ids::AccountId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Change;
use crate::auth::Auth;
use crate::error::{ApiError, Violations};
use crate::extract::ApiJson;
use crate::inputs;
use crate::routes::TAG_ACCOUNT;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_account, patch_account))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountOut {
    id: AccountId,
    name: String,
    /// The account's segment in gateway URLs.
    slug: String,
    /// Gateway URLs of this account's servers are `{gateway_base_url}/{server name}`.
    gateway_base_url: String,
    approval_webhook_url: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl AccountOut {
    pub fn new(state: &AppState, account: Account) -> Self {
        Self {
            gateway_base_url: format!("{}/mcp/{}", state.settings.public_url, account.slug),
            id: account.id,
            name: account.name,
            slug: account.slug,
            approval_webhook_url: account.approval_webhook_url,
            created_at: account.created_at,
        }
    }
}

/// The caller's account.
#[utoipa::path(get, path = "/account", tag = TAG_ACCOUNT,
    responses((status = 200, body = AccountOut), (status = 401, body = crate::error::Problem)))]
async fn get_account(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<AccountOut>, ApiError> {
    let account = accounts::get(&state.pool, auth.account_id).await?;
    Ok(Json(AccountOut::new(&state, account)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatchIn {
    name: Option<String>,
    /// An https URL that receives approval requests, or `null` to stop them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    approval_webhook_url: Option<Option<String>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountPatchOut {
    #[serde(flatten)]
    account: AccountOut,
    /// Set only when a webhook URL was just set: the HMAC-SHA256 key that
    /// signs its deliveries. Shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_webhook_secret: Option<String>,
}

/// Rename the account or set its approval webhook.
#[utoipa::path(patch, path = "/account", tag = TAG_ACCOUNT,
    request_body = AccountPatchIn,
    responses((status = 200, body = AccountPatchOut), (status = 422, body = crate::error::Problem)))]
async fn patch_account(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<AccountPatchIn>,
) -> Result<(Extension<Change>, Json<AccountPatchOut>), ApiError> {
    let mut violations = Violations::default();
    let name = match &input.name {
        Some(name) => violations.check("/name", inputs::display_name(name)),
        None => None,
    };
    let webhook_url = match &input.approval_webhook_url {
        Some(Some(url)) => {
            let checked = state.guard.check_url(url).await;
            violations.check("/approval_webhook_url", checked.map(String::from))
        }
        _ => None,
    };
    violations.into_result()?;

    let secret = webhook_url.as_ref().map(|_| {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    });
    let approval_webhook = match (&input.approval_webhook_url, &webhook_url, &secret) {
        (None, ..) => None,
        (Some(_), Some(url), Some(secret)) => Some(Some((url.as_str(), secret.as_bytes()))),
        (Some(_), ..) => Some(None),
    };
    let account = accounts::update(
        &state.pool,
        &state.secret_key,
        auth.account_id,
        AccountPatch {
            name: name.as_deref(),
            approval_webhook,
        },
    )
    .await?;
    state.changes.publish(auth.account_id).await;
    // The new signing secret is shown once to the caller, never recorded.
    let mut summary = serde_json::Map::new();
    if let Some(name) = name {
        summary.insert("name".into(), name.into());
    }
    if input.approval_webhook_url.is_some() {
        summary.insert(
            "approval_webhook_url".into(),
            serde_json::json!(account.approval_webhook_url),
        );
        summary.insert("webhook_secret_rotated".into(), secret.is_some().into());
    }
    let change = Change::new(serde_json::Value::Object(summary));
    Ok((
        Extension(change),
        Json(AccountPatchOut {
            account: AccountOut::new(&state, account),
            approval_webhook_secret: secret,
        }),
    ))
}
