//! Errors from the header and era checks, each with its HTTP status and
//! JSON-RPC error.

use serde_json::json;

use super::version::ProtocolVersion;
use crate::error_codes;

/// A POST whose headers or era rules are violated. Every variant is answered
/// with HTTP 400 and the JSON-RPC error from [`ProtocolError::code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// `MCP-Protocol-Version` names a revision the gateway does not speak
    /// (`-32022`, with `data: {supported, requested}`).
    #[error("Unsupported protocol version: {requested}")]
    UnsupportedVersion {
        /// The header's value.
        requested: String,
    },
    /// A mirrored header is missing, malformed or disagrees with the body
    /// (`-32020`).
    #[error("Header mismatch: {detail}")]
    HeaderMismatch {
        /// Which header, and what it should have been.
        detail: String,
    },
    /// A 2026-07-28 request lacks a required `_meta` field (`-32602`).
    #[error("Invalid params: missing required _meta field \"{field}\"")]
    MissingMeta {
        /// The missing key.
        field: &'static str,
    },
    /// The body's shape is not allowed in this revision, e.g. a batch after
    /// 2025-03-26 or a response sent by a 2026-07-28 client (`-32600`).
    #[error("Invalid Request: {detail}")]
    InvalidRequest {
        /// What is not allowed.
        detail: String,
    },
}

impl ProtocolError {
    /// The JSON-RPC error code.
    pub fn code(&self) -> i32 {
        match self {
            ProtocolError::UnsupportedVersion { .. } => error_codes::UNSUPPORTED_PROTOCOL_VERSION,
            ProtocolError::HeaderMismatch { .. } => error_codes::HEADER_MISMATCH,
            ProtocolError::MissingMeta { .. } => error_codes::INVALID_PARAMS,
            ProtocolError::InvalidRequest { .. } => error_codes::INVALID_REQUEST,
        }
    }

    /// The HTTP status to answer with.
    pub fn http_status(&self) -> u16 {
        400
    }

    /// The JSON-RPC error's `data`, when the spec defines one.
    pub fn data(&self) -> Option<serde_json::Value> {
        match self {
            ProtocolError::UnsupportedVersion { requested } => Some(json!({
                "supported": ProtocolVersion::ALL.map(ProtocolVersion::as_str),
                "requested": requested,
            })),
            _ => None,
        }
    }

    pub(crate) fn mismatch(detail: impl Into<String>) -> ProtocolError {
        ProtocolError::HeaderMismatch {
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_statuses_and_data() {
        let unsupported = ProtocolError::UnsupportedVersion {
            requested: "2099-01-01".into(),
        };
        assert_eq!(unsupported.code(), -32022);
        assert_eq!(unsupported.http_status(), 400);
        let data = unsupported.data().unwrap();
        assert_eq!(data["requested"], "2099-01-01");
        assert_eq!(
            data["supported"].as_array().unwrap().len(),
            ProtocolVersion::ALL.len()
        );
        assert_eq!(data["supported"][4], "2026-07-28");

        let mismatch = ProtocolError::mismatch("x");
        assert_eq!(mismatch.code(), -32020);
        assert_eq!(mismatch.to_string(), "Header mismatch: x");
        assert!(mismatch.data().is_none());

        let meta = ProtocolError::MissingMeta { field: "f" };
        assert_eq!(meta.code(), -32602);
        assert!(meta.to_string().contains("\"f\""));

        let invalid = ProtocolError::InvalidRequest { detail: "d".into() };
        assert_eq!(invalid.code(), -32600);
        assert_eq!(invalid.http_status(), 400);
    }
}
