//! How a discovery attempt can end, and the status a person sees for it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The state of a server's last discovery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not attempted yet, or under way.
    Pending,
    Ok,
    /// No connection (refused, reset, no such name, TLS failure).
    Unreachable,
    /// The upstream answered 401 or 403: its stored credentials are missing
    /// or wrong.
    Unauthorized,
    /// Something answered, but not as an MCP server (an HTML page, a
    /// redirect, a body that is not JSON-RPC).
    NotMcp,
    /// More bytes, tools or pages than the bounds allow.
    TooLarge,
    /// The deadline passed.
    Timeout,
    /// The address guard refused the upstream's address.
    RefusedAddress,
    /// The upstream spoke MCP but failed (a JSON-RPC error, HTTP 5xx).
    Error,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Pending,
        Status::Ok,
        Status::Unreachable,
        Status::Unauthorized,
        Status::NotMcp,
        Status::TooLarge,
        Status::Timeout,
        Status::RefusedAddress,
        Status::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Ok => "ok",
            Status::Unreachable => "unreachable",
            Status::Unauthorized => "unauthorized",
            Status::NotMcp => "not_mcp",
            Status::TooLarge => "too_large",
            Status::Timeout => "timeout",
            Status::RefusedAddress => "refused_address",
            Status::Error => "error",
        }
    }

    /// The status named `text`, if any.
    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an attempt failed, with a detail for a person. Details never carry
/// the upstream's credentials, nor the URL (whose query may hold a token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {detail}")]
pub struct Failure {
    pub status: Status,
    pub detail: String,
}

impl Failure {
    pub fn new(status: Status, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
        }
    }

    /// A failure to send a request or read its answer, classified by cause.
    pub fn from_transport(error: &reqwest::Error) -> Self {
        if let Some(refused) = toolgate_netguard::find_refusal(error) {
            return Self::new(
                Status::RefusedAddress,
                format!("the upstream's address is not allowed: {refused}"),
            );
        }
        if error.is_timeout() {
            return Self::new(Status::Timeout, "the upstream did not answer in time");
        }
        // Without the URL: it may carry a token in its query.
        let error = error_chain(error);
        Self::new(
            Status::Unreachable,
            format!("cannot reach the upstream: {error}"),
        )
    }
}

/// An error and its causes, `: `-separated, without the request URL.
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    if error.is_connect() {
        text.push_str("connection failed");
    } else if error.is_body() || error.is_decode() {
        text.push_str("reading the answer failed");
    } else {
        text.push_str("the request failed");
    }
    while let Some(error) = cause {
        let shown = error.to_string();
        if !text.ends_with(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        cause = error.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_name() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
        }
        assert_eq!(Status::parse("fine"), None);
    }
}
