//! The messages Toolgate mails: sign-up links and notices, invitations and
//! password resets. None repeats free text a stranger typed, so none can be
//! used to mail chosen words to others.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::Message;

/// Log label of the message carrying a sign-up link.
pub const VERIFICATION: &str = "signup_verification";
/// Log label of the notice to an address that already has an account.
pub const ALREADY_REGISTERED: &str = "signup_already_registered";

/// The link (and token) that finishes a sign-up.
pub fn verification(
    from: &Mailbox,
    to: Mailbox,
    public_url: &str,
    token: &str,
    valid_for: Duration,
) -> Result<Message, lettre::error::Error> {
    let hours = valid_for.as_secs() / 3600;
    let body = format!(
        "Hello,\n\
         \n\
         Someone, hopefully you, asked to create a Toolgate account with this\n\
         address. To finish, open this link within {hours} hours:\n\
         \n\
         {public_url}/v1/signup/verify?token={token}\n\
         \n\
         or send the token to the API:\n\
         \n\
         curl -X POST {public_url}/v1/signup/verify \\\n  \
         -H 'Content-Type: application/json' -d '{{\"token\": \"{token}\"}}'\n\
         \n\
         The link works once; then log in with your email and password.\n\
         If you signed up more than once, only the latest link works.\n\
         \n\
         If it was not you, ignore this message: no account is created\n\
         without the link.\n"
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject("Finish signing up for Toolgate")
        .header(ContentType::TEXT_PLAIN)
        .body(body)
}

/// Tells the owner of an address that someone tried to sign up with it.
pub fn already_registered(
    from: &Mailbox,
    to: Mailbox,
    public_url: &str,
) -> Result<Message, lettre::error::Error> {
    let body = format!(
        "Hello,\n\
         \n\
         Someone, perhaps you, tried to sign up for Toolgate with this address,\n\
         which already has an account. No new account was created.\n\
         \n\
         If it was you, log in instead ({public_url}/v1/login) with your\n\
         email and password; if you have forgotten the password, reset it\n\
         or ask an administrator of your Toolgate deployment to.\n\
         \n\
         If it was not you, you can ignore this message: nothing changed.\n"
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject("Sign-up attempt with your Toolgate address")
        .header(ContentType::TEXT_PLAIN)
        .body(body)
}

/// Log label of an invitation to join an account.
pub const INVITATION: &str = "invitation";
/// Log label of a password-reset link.
pub const PASSWORD_RESET: &str = "password_reset";

/// An invitation: the account's name is the only text an admin chose, and
/// it is a display name (bounded, no control characters).
pub fn invitation(
    from: &Mailbox,
    to: Mailbox,
    account_name: &str,
    role: &str,
    link: &str,
    valid_for_hours: i64,
) -> Result<Message, lettre::error::Error> {
    let body = format!(
        "Hello,\n\
         \n\
         You are invited to join the Toolgate account \"{account_name}\" as {role}.\n\
         Open this link within {valid_for_hours} hours to accept:\n\
         \n\
         {link}\n\
         \n\
         The link works once. If you did not expect it, ignore this message.\n"
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject("You are invited to a Toolgate account")
        .header(ContentType::TEXT_PLAIN)
        .body(body)
}

/// A password-reset link.
pub fn password_reset(
    from: &Mailbox,
    to: Mailbox,
    link: &str,
    valid_for_hours: i64,
) -> Result<Message, lettre::error::Error> {
    let body = format!(
        "Hello,\n\
         \n\
         Someone, hopefully you, asked to reset the password of the Toolgate\n\
         user with this address. To choose a new one, open this link within\n\
         {valid_for_hours} hours:\n\
         \n\
         {link}\n\
         \n\
         The link works once, and signs you out everywhere. If it was not you,\n\
         ignore this message: your password stays as it is.\n"
    );
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject("Reset your Toolgate password")
        .header(ContentType::TEXT_PLAIN)
        .body(body)
}
