//! Sign-up, in the deployment's mode (see [`SignupMode`]).
//!
//! In `verify` mode the answer to `POST /v1/signup` is the same, after the
//! same work, whether or not the email already has an account: a password
//! hash, one database statement and one queued message either way. A new
//! address is mailed a single-use link; a registered one is mailed a notice.

use std::time::Duration;

use axum::extract::{FromRequest, Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::{Extension, Form, Json};
use serde::{Deserialize, Serialize};
use toolgate_store::accounts::{self, Account};
use toolgate_store::pending_signups::{self, NewPendingSignup, Redeemed, Staged};
use toolgate_store::secrets::{credential_hash, mint_credential};
use toolgate_store::users::User;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::{Actor, Change};
use crate::auth::client_addr::ClientAddr;
use crate::auth::{password, start_session};
use crate::error::{ApiError, Violations};
use crate::extract::{ApiJson, ApiQuery};
use crate::inputs;
use crate::mail::{messages, MailError, Mailbox, Outbox};
use crate::routes::account::AccountOut;
use crate::routes::TAG_AUTH;
use crate::state::{AppState, SignupMode};

/// How long a sign-up link works.
pub const VERIFICATION_TTL: Duration = Duration::from_secs(24 * 3600);
/// The kind prefix of sign-up tokens (`tgv_` and 43 base64url characters).
pub const TOKEN_KIND: &str = "tgv";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(verify, verify_page))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupIn {
    #[schema(example = "ada@example.com")]
    email: String,
    /// At least 10 characters, and hard to guess: common passwords, words
    /// on their own, keyboard patterns and the email or account name are
    /// refused with advice.
    password: String,
    /// The account's display name; its slug (in gateway URLs) derives from it.
    #[schema(example = "Acme Corp")]
    account: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserOut {
    id: toolgate_store::ids::UserId,
    email: String,
    created_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignupOut {
    /// A session token (JWT) for `Authorization: Bearer`.
    token: String,
    expires_in: i64,
    account: AccountOut,
    user: UserOut,
}

/// The one answer to every valid sign-up in `verify` mode.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SignupAccepted {
    #[schema(example = "verification_sent")]
    status: &'static str,
    detail: &'static str,
}

const ACCEPTED: SignupAccepted = SignupAccepted {
    status: "verification_sent",
    detail: "Check your inbox: we sent this address a message on how to finish signing up.",
};

/// A sign-up's inputs, checked.
struct ValidSignup {
    email: String,
    name: String,
    password: String,
}

impl SignupIn {
    /// Reports every bad field at once. With mail to send, the address must
    /// also be one the mailer accepts.
    fn validate(self, mailing: bool) -> Result<(ValidSignup, Option<Mailbox>), ApiError> {
        let mut violations = Violations::default();
        let email = violations.check("/email", inputs::email(&self.email));
        let mailbox = match (&email, mailing) {
            (Some(email), true) => violations.check("/email", mailbox(email)),
            _ => None,
        };
        violations.check(
            "/password",
            inputs::new_password(&self.password, &[&self.email, &self.account]),
        );
        let name = violations.check("/account", inputs::display_name(&self.account));
        let (Some(email), Some(name)) = (email, name) else {
            return Err(violations.into_error());
        };
        violations.into_result()?;
        let valid = ValidSignup {
            email,
            name,
            password: self.password,
        };
        Ok((valid, mailbox))
    }
}

fn mailbox(email: &str) -> Result<Mailbox, String> {
    email
        .parse::<lettre::Address>()
        .map(|address| Mailbox::new(None, address))
        .map_err(|_| "must be an email address such as ada@example.com".to_owned())
}

/// Create an account and its first user.
///
/// `open` mode: the account is created at once (201, with a session), and a
/// registered email gets 409. `verify` mode: every valid sign-up gets the
/// same 202 whether or not the email is registered; a new address is mailed
/// a single-use link (valid 24 hours) to `POST /v1/signup/verify`, a
/// registered one a notice instead.
#[utoipa::path(post, path = "/signup", tag = TAG_AUTH, security(()),
    request_body = SignupIn,
    responses(
        (status = 201, description = "`open` mode: the account, its owner and a session", body = SignupOut),
        (status = 202, description = "`verify` mode, for every valid sign-up: a message is on its way to the address", body = SignupAccepted),
        (status = 409, description = "`open` mode: the email is already registered", body = crate::error::Problem),
        (status = 422, description = "Invalid email, password (too short, or too easy to guess) or account name", body = crate::error::Problem),
        (status = 429, description = "Too many sign-ups from this address; `Retry-After` says when to try again", body = crate::error::Problem,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "`verify` mode: too much mail is waiting to be sent; or the sign-up counter cannot be reached. Try again shortly", body = crate::error::Problem),
    ))]
async fn signup(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(input): ApiJson<SignupIn>,
) -> Result<Response, ApiError> {
    match &state.settings.signup {
        SignupMode::Open => {
            let (valid, _) = input.validate(false)?;
            state.throttle.claim_signup(client).await?;
            open_signup(&state, valid)
                .await
                .map(IntoResponse::into_response)
        }
        SignupMode::Verify(outbox) => {
            let (valid, mailbox) = input.validate(true)?;
            let to = mailbox.ok_or(ApiError::validation("/email", "invalid email"))?;
            state.throttle.claim_signup(client).await?;
            verified_signup(&state, outbox, valid, to).await?;
            Ok((StatusCode::ACCEPTED, Json(ACCEPTED)).into_response())
        }
    }
}

/// Creates the account at once; a registered email is a 409.
async fn open_signup(
    state: &AppState,
    valid: ValidSignup,
) -> Result<(StatusCode, Extension<Change>, Json<SignupOut>), ApiError> {
    let password_hash = password::hash(valid.password).await?;
    let (account, user) = accounts::create_with_owner(
        &state.pool,
        accounts::NewAccount {
            name: &valid.name,
            slug_base: &inputs::slugify(&valid.name),
            email: &valid.email,
            password_hash: &password_hash,
        },
    )
    .await
    .map_err(|err| match err {
        toolgate_store::StoreError::Conflict(_) => ApiError::Conflict(
            "an account with this email already exists; log in instead".to_owned(),
        ),
        other => other.into(),
    })?;
    let (change, out) = session(state, account, user).await?;
    Ok((StatusCode::CREATED, change, out))
}

/// Stages the sign-up and queues the message for the address. Both branches
/// do the same work until the message is chosen; the message leaves later.
async fn verified_signup(
    state: &AppState,
    outbox: &Outbox,
    valid: ValidSignup,
    to: Mailbox,
) -> Result<(), ApiError> {
    // Hashed even when the address is registered and the hash is thrown
    // away: argon2 dominates the time of a sign-up.
    let password_hash = password::hash(valid.password).await?;
    let token = mint_credential(TOKEN_KIND);
    let ttl = chrono::Duration::from_std(VERIFICATION_TTL).map_err(ApiError::internal)?;
    let staged = pending_signups::stage(
        &state.pool,
        NewPendingSignup {
            email: &valid.email,
            token_hash: &token.hash,
            password_hash: &password_hash,
            account_name: &valid.name,
            expires_at: chrono::Utc::now() + ttl,
        },
    )
    .await?;
    let public_url = &state.settings.public_url;
    let (kind, message) = match staged {
        Staged::Pending => (
            messages::VERIFICATION,
            messages::verification(
                outbox.from(),
                to,
                public_url,
                &token.token,
                VERIFICATION_TTL,
            ),
        ),
        Staged::AlreadyRegistered => (
            messages::ALREADY_REGISTERED,
            messages::already_registered(outbox.from(), to, public_url),
        ),
    };
    let message = message.map_err(ApiError::internal)?;
    outbox.queue(kind, &message).map_err(|err| match err {
        MailError::Full => ApiError::Unavailable(
            "too many sign-ups are waiting to be mailed; try again in a minute".to_owned(),
        ),
        other => ApiError::internal(other),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyIn {
    /// The token from the sign-up email (`tgv_…`).
    token: String,
}

/// The token, from a JSON body or from the confirmation page's form.
pub struct VerifyBody(VerifyIn);

impl FromRequest<AppState> for VerifyBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if form {
            let Form(input) = Form::<VerifyIn>::from_request(req, state)
                .await
                .map_err(|rejection| ApiError::validation("", rejection.body_text()))?;
            Ok(Self(input))
        } else {
            let ApiJson(input) = ApiJson::from_request(req, state).await?;
            Ok(Self(input))
        }
    }
}

const TOKEN_SHAPE: &str =
    "must be the token from the sign-up email: tgv_ followed by 43 letters, digits, - or _";
/// One answer for a token never issued, already used, replaced by a later
/// sign-up, or whose address got an account since.
const TOKEN_UNUSABLE: &str = "this sign-up link is not valid: it was already used, replaced by a later sign-up, or the address has an account now. Log in, or sign up again for a new link";
const TOKEN_EXPIRED: &str =
    "this sign-up link has expired (links work for 24 hours); sign up again for a new one";

/// Whether `token` looks like a sign-up token (so it is safe to echo).
fn well_formed(token: &str) -> bool {
    token
        .strip_prefix(TOKEN_KIND)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| {
            rest.len() == 43
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Finish a sign-up with the token mailed to its address.
///
/// Creates the account and its first user, once, and answers like an `open`
/// sign-up. The token works once and for 24 hours.
#[utoipa::path(post, path = "/signup/verify", tag = TAG_AUTH, security(()),
    request_body(content(
        (VerifyIn = "application/json"),
        (VerifyIn = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, description = "The account, its owner and a session", body = SignupOut),
        (status = 400, description = "The token is unknown, already used, expired, or its address has an account now (`/problems/invalid-signup-token`)", body = crate::error::Problem),
        (status = 422, description = "The token is not shaped like one", body = crate::error::Problem),
    ))]
async fn verify(
    State(state): State<AppState>,
    VerifyBody(input): VerifyBody,
) -> Result<(StatusCode, Extension<Change>, Json<SignupOut>), ApiError> {
    let token = input.token.trim();
    if !well_formed(token) {
        return Err(ApiError::validation("/token", TOKEN_SHAPE));
    }
    let redeemed = pending_signups::redeem(&state.pool, &credential_hash(token), inputs::slugify)
        .await
        .map_err(|err| match err {
            // The address got its account between the check and the insert.
            toolgate_store::StoreError::Conflict(_) => ApiError::SignupToken(TOKEN_UNUSABLE),
            other => other.into(),
        })?;
    match redeemed {
        Redeemed::Created { account, user } => {
            tracing::info!(account = %account.id, "sign-up verified");
            let (change, out) = session(&state, account, user).await?;
            Ok((StatusCode::CREATED, change, out))
        }
        Redeemed::Expired => Err(ApiError::SignupToken(TOKEN_EXPIRED)),
        Redeemed::Unknown | Redeemed::AddressTaken => Err(ApiError::SignupToken(TOKEN_UNUSABLE)),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyPageParams {
    /// The token from the sign-up email.
    token: Option<String>,
}

/// The page the emailed link opens: a button that posts the token.
///
/// Opening the link changes nothing (mail scanners open links too); the
/// account is created when the button posts the token here.
#[utoipa::path(get, path = "/signup/verify", tag = TAG_AUTH, security(()),
    params(VerifyPageParams),
    responses((status = 200, description = "An HTML page with a button that finishes the sign-up", content_type = "text/html")))]
async fn verify_page(ApiQuery(params): ApiQuery<VerifyPageParams>) -> Response {
    let body = match params.token.as_deref().map(str::trim) {
        Some(token) if well_formed(token) => format!(
            "<p>Create your Toolgate account? The link works once.</p>\n\
             <form method=\"post\" action=\"verify\">\n\
             <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
             <button type=\"submit\">Create my account</button>\n\
             </form>\n"
        ),
        _ => "<p>This sign-up link is incomplete: open the whole link from the email, \
              or post its token to <code>/v1/signup/verify</code>.</p>\n"
            .to_owned(),
    };
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Finish signing up · Toolgate</title></head>\n<body>\n{body}</body></html>\n"
    );
    (
        [
            // The token is in this page's URL: keep it out of caches and
            // of Referer headers.
            (CACHE_CONTROL, "no-store"),
            (axum::http::header::REFERRER_POLICY, "no-referrer"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        ],
        Html(page),
    )
        .into_response()
}

/// The answer to a completed sign-up: the account, its first admin and a
/// session; and the change for the account's trail.
async fn session(
    state: &AppState,
    account: Account,
    user: User,
) -> Result<(Extension<Change>, Json<SignupOut>), ApiError> {
    let started = start_session(state, &state.pool, user.id, account.id).await?;
    let change = Change::new(serde_json::json!({ "name": account.name, "slug": account.slug }))
        .on(account.id)
        .by(Actor {
            account_id: account.id,
            user_id: user.id,
            email: user.email.clone(),
        });
    Ok((
        Extension(change),
        Json(SignupOut {
            token: started.token,
            expires_in: started.expires_in,
            account: AccountOut::new(state, account),
            user: UserOut {
                id: user.id,
                email: user.email,
                created_at: user.created_at,
            },
        }),
    ))
}
