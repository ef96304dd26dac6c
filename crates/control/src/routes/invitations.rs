//! Invitations: an admin invites an email with a role; the single-use link
//! is shown once (and mailed when the deployment can send mail). Accepting
//! creates the person or adds the membership to the person who has the
//! address.

use axum::extract::State;
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use chrono::{Duration, Utc};
use serde::{Deserialize, Serialize};
use toolgate_store::ids::{AccountId, InvitationId};
use toolgate_store::invitations::{self, Invitation, Unusable};
use toolgate_store::memberships::{self, Role};
use toolgate_store::{accounts, password_resets, users, Page, PageRequest, StoreError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Actor, Change};
use crate::auth::client_addr::ClientAddr;
use crate::auth::{password, start_session, Auth};
use crate::error::{ApiError, Violations};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::inputs;
use crate::mail::{messages, Mailbox};
use crate::routes::auth::SessionOut;
use crate::routes::{ListParams, TAG_MEMBERS};
use crate::state::{AppState, SignupMode};

/// How long an invitation works unless the admin says otherwise.
pub const DEFAULT_TTL_HOURS: i64 = 72;
/// The longest an invitation may work.
pub const MAX_TTL_HOURS: i64 = 30 * 24;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite, list_invitations))
        .routes(routes!(revoke_invitation))
        .routes(routes!(accept))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteIn {
    email: String,
    role: Role,
    /// How long the link works, in hours (1 to 720; default 72).
    expires_in_hours: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InvitationOut {
    id: InvitationId,
    email: String,
    role: Role,
    created_at: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
    /// `pending`, `accepted`, `revoked` or `expired`.
    status: &'static str,
}

impl From<Invitation> for InvitationOut {
    fn from(i: Invitation) -> Self {
        let status = if i.accepted_at.is_some() {
            "accepted"
        } else if i.revoked_at.is_some() {
            "revoked"
        } else if i.expires_at <= Utc::now() {
            "expired"
        } else {
            "pending"
        };
        Self {
            id: i.id,
            email: i.email,
            role: i.role,
            created_at: i.created_at,
            expires_at: i.expires_at,
            status,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NewInvitationOut {
    #[serde(flatten)]
    invitation: InvitationOut,
    /// The link to hand to the person invited. Shown this once.
    link: String,
    /// The token in the link, for `POST /v1/invitations/accept`.
    token: String,
    /// Whether the link was also mailed to the address.
    mailed: bool,
}

/// Invite an email to the account with a role.
#[utoipa::path(post, path = "/invitations", tag = TAG_MEMBERS, request_body = InviteIn,
    responses((status = 201, body = NewInvitationOut), (status = 422, body = crate::error::Problem),
        (status = 409, description = "The address is a member already", body = crate::error::Problem)))]
async fn invite(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(input): ApiJson<InviteIn>,
) -> Result<(StatusCode, Extension<Change>, Json<NewInvitationOut>), ApiError> {
    let mut violations = Violations::default();
    let email = violations.check("/email", inputs::email(&input.email));
    let hours = input.expires_in_hours.unwrap_or(DEFAULT_TTL_HOURS);
    if !(1..=MAX_TTL_HOURS).contains(&hours) {
        violations.add(
            "/expires_in_hours",
            format!("must be between 1 and {MAX_TTL_HOURS}"),
        );
    }
    violations.into_result()?;
    let email = email.unwrap_or_default();
    if let Some(existing) = users::credentials_by_email(&state.pool, &email).await? {
        if memberships::role(&state.pool, auth.account_id, existing.id)
            .await?
            .is_some()
        {
            return Err(ApiError::Conflict(
                "this address is a member of the account already".to_owned(),
            ));
        }
    }
    let expires_at = Utc::now() + Duration::hours(hours);
    let (invitation, token) = invitations::create(
        &state.pool,
        auth.account_id,
        &email,
        input.role,
        auth.user_id(),
        expires_at,
    )
    .await?;
    let link = format!(
        "{}/invitations/accept#token={token}",
        state.settings.public_url
    );
    let mailed = mail_invitation(&state, auth.account_id, &invitation, &link, hours).await;
    let change = Change::new(serde_json::json!({
        "email": invitation.email, "role": invitation.role, "mailed": mailed,
    }))
    .on(invitation.id);
    Ok((
        StatusCode::CREATED,
        Extension(change),
        Json(NewInvitationOut {
            invitation: invitation.into(),
            link,
            token,
            mailed,
        }),
    ))
}

/// Queues the invitation's mail when the deployment sends mail; whether it
/// was queued. Never required: the link is in the answer either way.
async fn mail_invitation(
    state: &AppState,
    account_id: AccountId,
    invitation: &Invitation,
    link: &str,
    hours: i64,
) -> bool {
    let SignupMode::Verify(outbox) = &state.settings.signup else {
        return false;
    };
    let Ok(to) = invitation.email.parse::<Mailbox>() else {
        return false;
    };
    let Ok(account) = accounts::get(&state.pool, account_id).await else {
        return false;
    };
    messages::invitation(
        outbox.from(),
        to,
        &account.name,
        invitation.role.as_str(),
        link,
        hours,
    )
    .ok()
    .is_some_and(|message| outbox.queue(messages::INVITATION, &message).is_ok())
}

/// The account's invitations, newest first (never their tokens).
#[utoipa::path(get, path = "/invitations", tag = TAG_MEMBERS, params(ListParams),
    responses((status = 200, body = Page<InvitationOut>)))]
async fn list_invitations(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<InvitationOut>>, ApiError> {
    let page = PageRequest::new(params.cursor_id::<InvitationId>()?, params.limit);
    let found = invitations::list(&state.pool, auth.account_id, page).await?;
    Ok(Json(found.map(InvitationOut::from)))
}

/// Withdraw an invitation not yet accepted; its link stops working.
#[utoipa::path(delete, path = "/invitations/{id}", tag = TAG_MEMBERS,
    params(("id" = InvitationId, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)))]
async fn revoke_invitation(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId<InvitationId>,
) -> Result<(StatusCode, Extension<Change>), ApiError> {
    let invitation = invitations::revoke(&state.pool, auth.account_id, id).await?;
    let change = Change::new(serde_json::json!({ "email": invitation.email }));
    Ok((StatusCode::NO_CONTENT, Extension(change)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptIn {
    /// The token from the invitation link (`tgi_…`).
    token: String,
    /// For a new person, the password to create them with; for a person who
    /// has the address already, their password (or send their session
    /// token as `Authorization: Bearer` instead).
    password: Option<String>,
}

const UNUSABLE: &str =
    "this invitation cannot be accepted: it is unknown, used, withdrawn or expired";

/// Accept an invitation. The answer is a session in the account joined.
#[utoipa::path(post, path = "/invitations/accept", tag = TAG_MEMBERS, security(()),
    request_body = AcceptIn,
    responses((status = 200, body = SessionOut),
        (status = 400, description = "The token is unknown, used, withdrawn or expired", body = crate::error::Problem),
        (status = 401, description = "The password is not the existing person's", body = crate::error::Problem),
        (status = 403, description = "Signed in as someone whose address was not invited", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem)))]
async fn accept(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    ApiJson(input): ApiJson<AcceptIn>,
) -> Result<(Extension<Change>, Json<SessionOut>), ApiError> {
    let token = input.token.trim();
    let invitation = invitations::peek(&state.pool, token)
        .await?
        .filter(|i| i.accepted_at.is_none() && i.revoked_at.is_none() && i.expires_at > Utc::now())
        .ok_or(ApiError::BadRequest(UNUSABLE.to_owned()))?;
    if !headers.contains_key(AUTHORIZATION) && input.password.is_none() {
        return Err(ApiError::validation(
            "/password",
            "give your password (or, new to Toolgate, the one to create your login with), \
             or accept while signed in",
        ));
    }
    let existing = users::credentials_by_email(&state.pool, &invitation.email).await?;

    // Who accepts: the signed-in person (whose address must be the one
    // invited), the existing person by password, or a new person.
    let signed_in = if headers.contains_key(AUTHORIZATION) {
        Some(Auth::authenticate(&headers, &state).await?)
    } else {
        None
    };
    let mut tx = state.pool.begin().await.map_err(ApiError::internal)?;
    let user = match (signed_in, existing) {
        (Some(auth), existing) => {
            let matches = existing
                .as_ref()
                .zip(auth.user_id())
                .is_some_and(|(e, me)| e.id == me);
            if !matches {
                return Err(ApiError::Forbidden(
                    "this invitation is for another email address".to_owned(),
                ));
            }
            auth.user_id().ok_or(ApiError::Forbidden(
                "an invitation is accepted by a person, not an API key".to_owned(),
            ))?
        }
        (None, Some(existing)) => {
            // A password check like a sign-in's, throttled like one: an
            // invitation must not be a way round the lockout.
            let claim = state
                .throttle
                .claim_login(&invitation.email, client)
                .await?;
            let given = input.password.clone().unwrap_or_default();
            if !password::verify(given, Some(existing.password_hash)).await? {
                return Err(ApiError::Unauthorized(
                    "this address has a Toolgate login: give its password, or accept while signed in",
                ));
            }
            state.throttle.login_succeeded(claim).await;
            existing.id
        }
        (None, None) => {
            let given = input
                .password
                .clone()
                .ok_or(ApiError::validation("/password", "choose a password"))?;
            let mut violations = Violations::default();
            violations.check(
                "/password",
                inputs::new_password(&given, &[&invitation.email]),
            );
            violations.into_result()?;
            let hash = password::hash(given).await?;
            users::insert(&mut tx, &invitation.email, &hash)
                .await
                .map_err(|err| match err {
                    StoreError::Conflict(_) => ApiError::Conflict(
                        "this address got a login meanwhile; accept again with its password"
                            .to_owned(),
                    ),
                    other => other.into(),
                })?
                .id
        }
    };
    let claimed = invitations::claim(&mut tx, token, user)
        .await?
        .map_err(|why| match why {
            Unusable::Unknown | Unusable::Accepted | Unusable::Revoked | Unusable::Expired => {
                ApiError::BadRequest(UNUSABLE.to_owned())
            }
        })?;
    memberships::insert(&mut tx, claimed.account_id, user, claimed.role)
        .await
        .map_err(|err| match err {
            StoreError::Conflict(_) => {
                ApiError::Conflict("you are a member of this account already".to_owned())
            }
            other => other.into(),
        })?;
    // A reset link issued in another account must not follow them here.
    password_resets::spend_all(&mut tx, user).await?;
    let started = start_session(&state, &mut *tx, user, claimed.account_id).await?;
    tx.commit().await.map_err(ApiError::internal)?;
    let change = Change::new(serde_json::json!({
        "email": claimed.email, "role": claimed.role, "invitation": claimed.id,
    }))
    .on(user)
    .by(Actor {
        account_id: claimed.account_id,
        user_id: user,
        email: claimed.email.clone(),
    });
    Ok((
        Extension(change),
        Json(SessionOut {
            token: started.token,
            expires_in: started.expires_in,
            account_id: claimed.account_id,
            role: claimed.role,
        }),
    ))
}
