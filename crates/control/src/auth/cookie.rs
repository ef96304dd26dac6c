//! Browser sessions: the session token in an `HttpOnly` cookie, and the
//! CSRF proof that every state change made with that cookie must carry.
//!
//! The proof is a double submit signed by the session itself: the
//! `toolgate_csrf` cookie, which the dashboard's script can read, holds a
//! digest of the session token; a request authenticated by the session
//! cookie whose method can change state must repeat that digest in the
//! `X-CSRF-Token` header. Another site can neither read that cookie nor
//! compute the digest without the session token, which never leaves its
//! `HttpOnly` cookie. Both cookies are `SameSite=Strict`, and `Secure` when
//! the deployment's public URL is https. [`session_token`] reads the cookie
//! when a request has no `Authorization` header; [`require_proof`], which
//! the gate ([`crate::access`]) runs before authenticating, checks the
//! proof.

use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use toolgate_store::api_keys;

use crate::error::ApiError;

/// Holds the session token (`HttpOnly`).
pub const SESSION_COOKIE: &str = "toolgate_session";
/// Holds the CSRF proof, for the page's script to echo.
pub const CSRF_COOKIE: &str = "toolgate_csrf";
/// Where a state-changing request made with the session cookie repeats the
/// proof.
pub const CSRF_HEADER: &str = "x-csrf-token";

const NO_PROOF: &str = "this request is authenticated by the session cookie, so it must \
    carry the value of the toolgate_csrf cookie in an X-CSRF-Token header";
const NOT_A_SESSION: &str = "invalid or expired credentials";

/// The CSRF proof belonging to a session token.
pub fn csrf_token(session: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"toolgate csrf v1\0");
    digest.update(session.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.finalize())
}

/// The session token a request's cookie carries, if any.
pub fn session_token(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(token) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    // The cookie carries sessions only: an API key belongs in a header.
    if token
        .split_once('_')
        .is_some_and(|(kind, _)| kind == api_keys::KEY_KIND)
    {
        return Err(ApiError::Unauthorized(NOT_A_SESSION));
    }
    Ok(Some(token.to_owned()))
}

/// Refuses (403) a request that the session cookie would authenticate (it
/// has the cookie and no `Authorization` header) and whose method can
/// change state, unless it carries the cookie's CSRF proof. The gate calls
/// it before authenticating any route that needs a caller.
pub fn require_proof(parts: &Parts) -> Result<(), ApiError> {
    if parts.method.is_safe() || parts.headers.contains_key(AUTHORIZATION) {
        return Ok(());
    }
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(());
    };
    let sent = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if same(sent.as_bytes(), csrf_token(token).as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(NO_PROOF.to_owned()))
    }
}

/// The `Set-Cookie` values that start a browser session.
pub fn start(token: &str, max_age_secs: i64, secure: bool) -> [HeaderValue; 2] {
    let secure = if secure { "; Secure" } else { "" };
    [
        format!(
            "{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}"
        ),
        format!(
            "{CSRF_COOKIE}={}; Path=/; Max-Age={max_age_secs}; SameSite=Strict{secure}",
            csrf_token(token)
        ),
    ]
    .map(header_value)
}

/// The `Set-Cookie` values that end it.
pub fn end(secure: bool) -> [HeaderValue; 2] {
    let secure = if secure { "; Secure" } else { "" };
    [
        format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}"),
        format!("{CSRF_COOKIE}=; Path=/; Max-Age=0; SameSite=Strict{secure}"),
    ]
    .map(header_value)
}

fn header_value(cookie: String) -> HeaderValue {
    // Tokens are base64url and JWT dots: always a valid header value.
    HeaderValue::from_str(&cookie).unwrap_or(HeaderValue::from_static(""))
}

/// The value of the named cookie (the first, if sent twice), non-empty.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Compares in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn parts(method: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().method(method).uri("/v1/servers");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn reads_the_session_cookie_among_others() {
        let p = parts("GET", &[("cookie", "a=1; toolgate_session=abc.def; b=2")]);
        assert_eq!(
            session_token(&p.headers).unwrap().as_deref(),
            Some("abc.def")
        );
        assert_eq!(session_token(&parts("GET", &[]).headers).unwrap(), None);
        let empty = parts("GET", &[("cookie", "toolgate_session=")]);
        assert_eq!(session_token(&empty.headers).unwrap(), None);
    }

    #[test]
    fn a_state_change_needs_the_proof_of_its_own_session() {
        let cookie = ("cookie", "toolgate_session=abc.def");
        let err = require_proof(&parts("POST", &[cookie])).unwrap_err();
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        let other = csrf_token("another.session");
        let err = require_proof(&parts("DELETE", &[cookie, ("x-csrf-token", &other)])).unwrap_err();
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
        let proof = csrf_token("abc.def");
        require_proof(&parts("PUT", &[cookie, ("x-csrf-token", &proof)])).unwrap();
        // Reading, a Bearer request, or no cookie at all need none.
        require_proof(&parts("GET", &[cookie])).unwrap();
        require_proof(&parts("POST", &[cookie, ("authorization", "Bearer x")])).unwrap();
        require_proof(&parts("POST", &[])).unwrap();
    }

    #[test]
    fn an_api_key_in_the_cookie_is_refused() {
        let p = parts("GET", &[("cookie", "toolgate_session=tgk_x")]);
        let err = session_token(&p.headers).unwrap_err();
        assert_eq!(err.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn cookies_are_strict_and_secure_over_https() {
        let [session, csrf] = start("abc.def", 60, true).map(|v| v.to_str().unwrap().to_owned());
        assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
        assert!(session.ends_with("; Secure") && csrf.ends_with("; Secure"));
        assert!(!csrf.contains("HttpOnly"));
        let [session, _] = start("abc.def", 60, false).map(|v| v.to_str().unwrap().to_owned());
        assert!(!session.contains("Secure"));
    }
}
