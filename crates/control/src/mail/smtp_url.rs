//! The SMTP server's URL, which carries its password: parsed once, shown
//! only with the password masked.

use std::fmt;

/// `smtp://host[:port]` (plain; add `?tls=required` or `?tls=opportunistic`
/// for STARTTLS) or `smtps://[user:password@]host[:port]` (TLS from the
/// first byte). Debug and Display mask the password.
#[derive(Clone)]
pub struct SmtpUrl(url::Url);

/// Why a value is not an SMTP URL. Never quotes the value: it may hold a
/// password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtpUrlError {
    #[error("is not a URL ({0})")]
    Syntax(url::ParseError),
    #[error("must start with smtp:// or smtps://")]
    Scheme,
    #[error("must name the SMTP server's host")]
    NoHost,
    #[error("takes ?tls=required or ?tls=opportunistic only (with smtp://)")]
    Tls,
}

const MASK: &str = "***";

impl SmtpUrl {
    pub fn parse(raw: &str) -> Result<Self, SmtpUrlError> {
        let url = url::Url::parse(raw.trim()).map_err(SmtpUrlError::Syntax)?;
        if !matches!(url.scheme(), "smtp" | "smtps") {
            return Err(SmtpUrlError::Scheme);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(SmtpUrlError::NoHost);
        }
        for (key, value) in url.query_pairs() {
            let known = key == "tls"
                && url.scheme() == "smtp"
                && matches!(value.as_ref(), "required" | "opportunistic");
            if !known {
                return Err(SmtpUrlError::Tls);
            }
        }
        Ok(Self(url))
    }

    /// The URL with its password, for the SMTP transport alone.
    pub(crate) fn expose_to_transport(&self) -> &str {
        self.0.as_str()
    }

    /// The URL with the password (if any) masked.
    pub fn redacted(&self) -> String {
        let mut shown = self.0.clone();
        if shown.password().is_some() {
            // Cannot fail: a URL with a password has a host.
            let _ = shown.set_password(Some(MASK));
        }
        shown.to_string()
    }
}

impl fmt::Display for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SmtpUrl").field(&self.redacted()).finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn accepts_smtp_and_smtps() {
        for ok in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.com?tls=required",
            "smtp://mail.example.com:587?tls=opportunistic",
            "smtps://user:p%40ss@mail.example.com",
        ] {
            assert!(SmtpUrl::parse(ok).is_ok(), "{ok} refused");
        }
    }

    #[test]
    fn refuses_what_is_not_an_smtp_url_without_quoting_it() {
        let cases = [
            (
                "https://user:hunter2-secret@mail.example.com",
                SmtpUrlError::Scheme,
            ),
            ("smtp:hunter2-secret", SmtpUrlError::NoHost),
            (
                "smtps://user:hunter2-secret@mail.example.com?tls=required",
                SmtpUrlError::Tls,
            ),
            ("smtp://mail.example.com?tls=maybe", SmtpUrlError::Tls),
        ];
        for (raw, expected) in cases {
            let err = SmtpUrl::parse(raw).unwrap_err();
            assert_eq!(err, expected, "{raw}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        assert!(matches!(
            SmtpUrl::parse("not a url"),
            Err(SmtpUrlError::Syntax(_))
        ));
    }

    #[test]
    fn debug_and_display_mask_the_password() {
        let url = SmtpUrl::parse("smtps://mailer:hunter2-secret@mail.example.com:465").unwrap();
        for shown in [format!("{url}"), format!("{url:?}"), url.redacted()] {
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("mailer:***@mail.example.com:465"), "{shown}");
        }
        assert!(url.expose_to_transport().contains("hunter2-secret"));
    }
}
