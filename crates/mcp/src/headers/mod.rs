//! MCP's HTTP headers: names, protocol versions and eras, and the checks that
//! the headers a client mirrors from the body agree with it.
//!
//! Header names are lowercase, as `http::HeaderName::from_static` requires;
//! HTTP header names are case-insensitive (`Mcp-Session-Id` became
//! `MCP-Session-Id` in 2025-11-25), header values are not.

mod era;
mod error;
mod mirror;
mod version;

pub use era::{check_post, classify_era};
pub use error::ProtocolError;
pub use mirror::{check_mirrored_headers, decode_header_value, mirrored_name};
pub use version::{Era, ProtocolVersion};

/// `Mcp-Session-Id`: the legacy session, assigned by the server.
pub const MCP_SESSION_ID: &str = "mcp-session-id";
/// `MCP-Protocol-Version`: the client's protocol revision.
pub const MCP_PROTOCOL_VERSION: &str = "mcp-protocol-version";
/// `Mcp-Method` (2026-07-28): mirrors the JSON-RPC `method`.
pub const MCP_METHOD: &str = "mcp-method";
/// `Mcp-Name` (2026-07-28): mirrors `params.name` or `params.uri`.
pub const MCP_NAME: &str = "mcp-name";
/// Prefix of `Mcp-Param-{X}` (2026-07-28): mirrors annotated tool arguments.
/// Intermediaries must forward the ones they do not understand.
pub const MCP_PARAM_PREFIX: &str = "mcp-param-";
/// `Last-Event-ID`: resumes a legacy SSE stream.
pub const LAST_EVENT_ID: &str = "last-event-id";
/// `X-Accel-Buffering`: set to `no` on SSE responses so that reverse proxies
/// relay events as they come.
pub const X_ACCEL_BUFFERING: &str = "x-accel-buffering";

/// `Content-Type` of a single JSON-RPC message.
pub const JSON_CONTENT_TYPE: &str = "application/json";
/// `Content-Type` of an SSE stream.
pub const EVENT_STREAM_CONTENT_TYPE: &str = "text/event-stream";

/// The token of an `Authorization: Bearer <token>` header value (the scheme
/// in either case, surrounding blanks trimmed); `None` for another scheme or
/// an empty token.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// The media type of a `Content-Type` value, without its parameters, in
/// lower case: `application/json` for `Application/JSON; charset=utf-8`.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The MCP headers of a POST, as text. The proxy reads them from the request;
/// a value that is not visible ASCII is malformed and should be refused with
/// [`ProtocolError::HeaderMismatch`] before getting here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct McpHeaders<'h> {
    /// `MCP-Protocol-Version`.
    pub protocol_version: Option<&'h str>,
    /// `Mcp-Method`.
    pub method: Option<&'h str>,
    /// `Mcp-Name`.
    pub name: Option<&'h str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_and_media_types_are_read_one_way() {
        assert_eq!(bearer_token("Bearer tgg_x"), Some("tgg_x"));
        assert_eq!(bearer_token("bearer  tgg_x "), Some("tgg_x"));
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(
            media_type("Application/JSON; charset=utf-8"),
            "application/json"
        );
        assert_eq!(media_type(" text/event-stream "), "text/event-stream");
        assert_eq!(media_type(""), "");
    }

    #[test]
    fn header_names_are_lowercase_and_valid_tokens() {
        for name in [
            MCP_SESSION_ID,
            MCP_PROTOCOL_VERSION,
            MCP_METHOD,
            MCP_NAME,
            MCP_PARAM_PREFIX,
            LAST_EVENT_ID,
            X_ACCEL_BUFFERING,
        ] {
            assert_eq!(name, name.to_ascii_lowercase());
            assert!(
                name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "{name}"
            );
        }
        assert!("Mcp-Session-Id".eq_ignore_ascii_case(MCP_SESSION_ID));
        assert!("MCP-Protocol-Version".eq_ignore_ascii_case(MCP_PROTOCOL_VERSION));
        assert!("Last-Event-ID".eq_ignore_ascii_case(LAST_EVENT_ID));
    }
}
