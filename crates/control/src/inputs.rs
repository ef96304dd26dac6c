//! Parsing of user-supplied values: each returns the clean value or a message
//! a person can act on.

use axum::http::{HeaderName, HeaderValue};

pub const MIN_PASSWORD_LEN: usize = 10;
pub const MAX_PASSWORD_LEN: usize = 1024;
pub const MAX_NAME_LEN: usize = 100;
pub const MAX_HEADERS: usize = 32;
pub const MAX_HEADER_VALUE_LEN: usize = 8 * 1024;

/// Bidirectional embedding, override and isolate controls: in a name shown
/// beside others they can make it read as something else ("Trojan Source").
/// Marks that only nudge direction (U+200E, U+200F, U+061C) stay allowed.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A lower-cased email address of plausible shape.
pub fn email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_bidi_control(c))
        && match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.len() <= 64
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains("..")
            }
            None => false,
        };
    if valid {
        Ok(email)
    } else {
        Err("must be an email address such as ada@example.com".to_owned())
    }
}

pub fn password(raw: &str) -> Result<(), String> {
    let len = raw.chars().count();
    if len < MIN_PASSWORD_LEN {
        Err(format!("must be at least {MIN_PASSWORD_LEN} characters"))
    } else if len > MAX_PASSWORD_LEN {
        Err(format!("must be at most {MAX_PASSWORD_LEN} characters"))
    } else {
        Ok(())
    }
}

/// The lowest strength estimate a new password needs: zxcvbn's score 3,
/// "safely unguessable" (about 10^10 guesses: beyond an online attack, and
/// costly offline against argon2).
pub const MIN_PASSWORD_SCORE: u8 = 3;

/// A password being set (sign-up, invitation, change, reset): [`password`]'s
/// bounds, without any of `user_inputs` (the email, the account's name) in
/// it, and hard enough to guess by zxcvbn's estimate, which knows common
/// passwords, words, names, keyboard patterns, dates and repeats, and counts
/// parts of `user_inputs` as easy guesses. The message says what to change.
pub fn new_password(raw: &str, user_inputs: &[&str]) -> Result<(), String> {
    password(raw)?;
    let lowered = raw.to_lowercase();
    if user_inputs
        .iter()
        .filter(|input| input.len() >= 4)
        .any(|input| lowered.contains(&input.to_lowercase()))
    {
        return Err("must not contain your email or the account's name".to_owned());
    }
    // Parts of an email are guesses of their own ("ada" in ada@acme.com).
    let mut inputs: Vec<&str> = Vec::with_capacity(user_inputs.len() * 3);
    for input in user_inputs {
        inputs.push(input);
        if let Some((local, domain)) = input.split_once('@') {
            inputs.push(local);
            inputs.extend(domain.split('.').next());
        }
    }
    let estimate = zxcvbn::zxcvbn(raw, &inputs);
    if u8::from(estimate.score()) >= MIN_PASSWORD_SCORE {
        return Ok(());
    }
    let mut message = "is too easy to guess".to_owned();
    let feedback = estimate.feedback();
    if let Some(warning) = feedback.and_then(zxcvbn::feedback::Feedback::warning) {
        let warning = warning.to_string();
        let mut chars = warning.chars();
        if let Some(first) = chars.next() {
            message.push_str(": ");
            message.extend(first.to_lowercase());
            message.push_str(chars.as_str().trim_end_matches('.'));
        }
    }
    message.push('.');
    let suggestions = feedback.map(zxcvbn::feedback::Feedback::suggestions);
    match suggestions {
        Some(suggestions) if !suggestions.is_empty() => {
            for suggestion in suggestions {
                message.push(' ');
                message.push_str(&suggestion.to_string());
            }
        }
        _ => message.push_str(" Add another word or two; uncommon words are better."),
    }
    Err(message)
}

/// A display name: trimmed, non-empty, bounded, printable, and free of
/// bidirectional overrides; any other Unicode (combining marks, emoji,
/// right-to-left scripts) is kept as written.
pub fn display_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        Err("must not be empty".to_owned())
    } else if name.chars().count() > MAX_NAME_LEN {
        Err(format!("must be at most {MAX_NAME_LEN} characters"))
    } else if name.chars().any(char::is_control) {
        Err("must not contain control characters".to_owned())
    } else if name.chars().any(is_bidi_control) {
        Err("must not contain bidirectional embedding, override or isolate characters (U+202A to U+202E, U+2066 to U+2069)".to_owned())
    } else {
        Ok(name.to_owned())
    }
}

/// A URL-safe slug derived from a display name ("Acme Corp." → "acme-corp").
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "account".to_owned()
    } else {
        slug.to_owned()
    }
}

/// Headers the gateway itself controls, which an upstream config must not set.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "mcp-method",
    "mcp-name",
    "last-event-id",
];

/// Checks one upstream header; returns its canonical (lower-case) name.
pub fn upstream_header(name: &str, value: &str) -> Result<String, String> {
    let parsed = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| "is not a valid HTTP header name".to_owned())?;
    if RESERVED_HEADERS.contains(&parsed.as_str()) {
        return Err(format!(
            "{name} is set by the gateway and cannot be configured"
        ));
    }
    if value.len() > MAX_HEADER_VALUE_LEN {
        return Err(format!(
            "value must be at most {MAX_HEADER_VALUE_LEN} bytes"
        ));
    }
    HeaderValue::from_str(value)
        .map_err(|_| "value must be visible ASCII characters, spaces or tabs".to_owned())?;
    Ok(parsed.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use toolgate_store::servers::ServerName;

    #[test]
    fn emails() {
        assert_eq!(email("  Ada@Example.COM ").unwrap(), "ada@example.com");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@example..com",
        ] {
            assert!(email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn new_passwords_must_be_hard_to_guess() {
        for strong in [
            "correct horse battery staple",
            "tangerine-quasar-bicycle",
            "Vx9#mQ2!zR7p",
        ] {
            assert_eq!(
                new_password(strong, &["ada@example.com", "Acme"]),
                Ok(()),
                "{strong}"
            );
        }
        let short = new_password("Vx9#mQ2!", &[]).unwrap_err();
        assert_eq!(short, "must be at least 10 characters");
        let common = new_password("password1234", &[]).unwrap_err();
        assert!(
            common.starts_with("is too easy to guess: this is "),
            "{common}"
        );
        for weak in ["qazwsxedcrfv", "aaaaaaaaaaaa", "1234567890", "Password2024"] {
            assert!(new_password(weak, &[]).is_err(), "{weak}");
        }
    }

    #[test]
    fn new_passwords_must_not_be_made_of_the_account_itself() {
        let mine = "acmecorp2026!";
        assert_eq!(new_password(mine, &[]), Ok(()), "strong on its own");
        let err = new_password(mine, &["lovelace@acmecorp.com", "Acme Corp"]).unwrap_err();
        assert!(err.starts_with("is too easy to guess"), "{err}");
        let err = new_password("my acme corp password", &["Acme"]).unwrap_err();
        assert_eq!(err, "must not contain your email or the account's name");
    }

    #[test]
    fn display_names_keep_unicode_but_refuse_controls_and_overrides() {
        for ok in [
            "Ada",
            "e\u{301}cole",
            "👩‍👩‍👧 team",
            "שלום",
            "a\u{200f}b",
            "\u{feff}x",
        ] {
            assert_eq!(display_name(ok).as_deref(), Ok(ok), "{ok:?}");
        }
        for bad in [
            "a\u{0}b",
            "a\u{1}",
            "a\u{85}b",
            "a\u{202e}b",
            "a\u{2066}b\u{2069}",
        ] {
            assert!(display_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(email("ad\u{202e}a@example.com").is_err());
        assert_eq!(
            email("e\u{301}@example.com").as_deref(),
            Ok("e\u{301}@example.com")
        );
    }

    #[test]
    fn passwords() {
        assert!(password("short").is_err());
        assert!(password("long enough password").is_ok());
        assert!(password(&"x".repeat(2000)).is_err());
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme Corp."), "acme-corp");
        assert_eq!(slugify("  --Über Team 2--"), "ber-team-2");
        assert_eq!(slugify("東京"), "account");
    }

    #[test]
    fn server_names() {
        assert!(ServerName::parse("github").is_ok());
        assert!(ServerName::parse("my-server-2").is_ok());
        for bad in ["", "GitHub", "-x", "x-", "a b", "a/b", &"a".repeat(64)] {
            assert!(ServerName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn upstream_headers() {
        assert_eq!(
            upstream_header("Authorization", "Bearer x").unwrap(),
            "authorization"
        );
        assert!(upstream_header("Host", "evil").is_err());
        assert!(upstream_header("Mcp-Session-Id", "x").is_err());
        assert!(upstream_header("bad header", "x").is_err());
        assert!(upstream_header("X-Key", "line\nbreak").is_err());
    }

    proptest! {
        #[test]
        fn slugs_are_always_url_safe(name in ".{0,80}") {
            let slug = slugify(&name);
            prop_assert!(!slug.is_empty() && slug.len() <= 40);
            prop_assert!(slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            prop_assert!(!slug.starts_with('-') && !slug.ends_with('-'));
        }
    }
}
