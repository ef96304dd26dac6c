//! Which era a POST belongs to, and the era's rules on body shape and `_meta`.
//!
//! The `MCP-Protocol-Version` header decides, as the official SDKs do: a
//! 2026-07-28 value is modern; a legacy value, or none (assumed 2025-03-26),
//! is legacy. `initialize` and `Mcp-Session-Id` only occur in legacy traffic,
//! and a modern server ignores `Mcp-Session-Id`, so neither overrides the
//! header.

use super::error::ProtocolError;
use super::mirror::check_mirrored_headers;
use super::version::{Era, ProtocolVersion};
use super::McpHeaders;
use crate::peek::{Body, Message, MessageKind, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION};

/// Decides the protocol revision of a POST and checks the era's rules:
/// the header names a known revision (else `-32022`); batches only up to
/// 2025-03-26; a 2026-07-28 request carries `_meta` protocol version (equal
/// to the header, else `-32020`) and client capabilities (else `-32602`); a
/// 2026-07-28 client sends no responses; a legacy body carries no modern
/// `_meta` protocol version.
///
/// For a legacy `initialize` the result is the header's revision (usually
/// absent, so 2025-03-26); the revision being negotiated is in
/// `params.protocolVersion`.
pub fn classify_era(
    headers: &McpHeaders<'_>,
    body: &Body<'_>,
) -> Result<ProtocolVersion, ProtocolError> {
    let version = match headers.protocol_version {
        None => ProtocolVersion::ASSUMED_WITHOUT_HEADER,
        Some(value) => ProtocolVersion::parse(value.trim()).ok_or_else(|| {
            ProtocolError::UnsupportedVersion {
                requested: value.to_owned(),
            }
        })?,
    };
    if body.is_batch() && !version.allows_batches() {
        return Err(ProtocolError::InvalidRequest {
            detail: format!("JSON-RPC batches are not supported in protocol version {version}"),
        });
    }
    for message in body.messages() {
        match version.era() {
            Era::Modern => check_modern_message(message, version)?,
            Era::Legacy => check_legacy_message(message, headers)?,
        }
    }
    Ok(version)
}

/// [`classify_era`], then [`check_mirrored_headers`]: everything the gateway
/// checks on a POST's headers before deciding policy.
pub fn check_post(
    headers: &McpHeaders<'_>,
    body: &Body<'_>,
) -> Result<ProtocolVersion, ProtocolError> {
    let version = classify_era(headers, body)?;
    check_mirrored_headers(headers, body, version.era())?;
    Ok(version)
}

fn check_modern_message(
    message: &Message<'_>,
    version: ProtocolVersion,
) -> Result<(), ProtocolError> {
    let declared = message.meta().and_then(|meta| meta.protocol_version());
    match message.kind() {
        MessageKind::Response | MessageKind::ErrorResponse => {
            return Err(ProtocolError::InvalidRequest {
                detail: format!("a {version} client must not send JSON-RPC responses"),
            });
        }
        MessageKind::Request => {
            if declared.is_none() {
                return Err(ProtocolError::MissingMeta {
                    field: META_PROTOCOL_VERSION,
                });
            }
        }
        MessageKind::Notification => {}
    }
    if let Some(declared) = declared {
        if declared != version.as_str() {
            return Err(ProtocolError::mismatch(format!(
                "MCP-Protocol-Version header \"{version}\" does not match \
                 params._meta protocol version \"{declared}\""
            )));
        }
    }
    let has_capabilities = message
        .meta()
        .is_some_and(|meta| meta.has_client_capabilities());
    if message.kind() == MessageKind::Request && !has_capabilities {
        return Err(ProtocolError::MissingMeta {
            field: META_CLIENT_CAPABILITIES,
        });
    }
    Ok(())
}

/// A body that declares the modern revision in `_meta` must say so in the
/// header too; otherwise intermediaries routing on the header would treat it
/// as legacy while the upstream treats it as modern.
fn check_legacy_message(
    message: &Message<'_>,
    headers: &McpHeaders<'_>,
) -> Result<(), ProtocolError> {
    let Some(declared) = message.meta().and_then(|meta| meta.protocol_version()) else {
        return Ok(());
    };
    Err(ProtocolError::mismatch(match headers.protocol_version {
        None => format!(
            "the MCP-Protocol-Version header is missing but params._meta declares \
             protocol version \"{declared}\""
        ),
        Some(header) => format!(
            "MCP-Protocol-Version header \"{header}\" does not match \
             params._meta protocol version \"{declared}\""
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peek::peek;

    const MODERN_CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo",
        "_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28",
                 "io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    const LEGACY_CALL: &str =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;

    fn headers(version: Option<&str>) -> McpHeaders<'_> {
        McpHeaders {
            protocol_version: version,
            ..McpHeaders::default()
        }
    }

    fn classify(version: Option<&str>, body: &str) -> Result<ProtocolVersion, ProtocolError> {
        classify_era(&headers(version), &peek(body.as_bytes()).unwrap())
    }

    #[test]
    fn modern_header_and_meta_is_modern() {
        let v = classify(Some("2026-07-28"), MODERN_CALL).unwrap();
        assert_eq!(v, ProtocolVersion::V2026_07_28);
        assert_eq!(v.era(), Era::Modern);
    }

    #[test]
    fn no_header_or_legacy_header_is_legacy() {
        assert_eq!(
            classify(None, LEGACY_CALL).unwrap(),
            ProtocolVersion::V2025_03_26
        );
        assert_eq!(
            classify(Some("2025-11-25"), LEGACY_CALL).unwrap(),
            ProtocolVersion::V2025_11_25
        );
        assert_eq!(
            classify(Some(" 2025-06-18 "), LEGACY_CALL).unwrap().era(),
            Era::Legacy
        );
        let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}"#;
        assert_eq!(classify(None, init).unwrap().era(), Era::Legacy);
    }

    #[test]
    fn unknown_header_value_is_unsupported() {
        for value in ["2099-01-01", "2026-07-28x", "", "LATEST"] {
            let err = classify(Some(value), LEGACY_CALL).unwrap_err();
            assert_eq!(
                err,
                ProtocolError::UnsupportedVersion {
                    requested: value.into()
                }
            );
            assert_eq!(err.code(), -32022);
        }
    }

    #[test]
    fn modern_request_needs_meta_version_and_capabilities() {
        let err = classify(Some("2026-07-28"), LEGACY_CALL).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::MissingMeta {
                field: META_PROTOCOL_VERSION
            }
        );
        assert_eq!(err.code(), -32602);
        let no_caps = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
        let err = classify(Some("2026-07-28"), no_caps).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::MissingMeta {
                field: META_CLIENT_CAPABILITIES
            }
        );
    }

    #[test]
    fn modern_meta_version_must_equal_header() {
        let body = MODERN_CALL.replace("\"2026-07-28\"", "\"2025-11-25\"");
        let err = classify(Some("2026-07-28"), &body).unwrap_err();
        assert_eq!(err.code(), -32020);
        assert!(err
            .to_string()
            .contains("does not match params._meta protocol version \"2025-11-25\""));
    }

    #[test]
    fn modern_meta_with_legacy_or_missing_header_is_a_mismatch() {
        let err = classify(None, MODERN_CALL).unwrap_err();
        assert_eq!(err.code(), -32020);
        assert!(err.to_string().contains("header is missing"));
        let err = classify(Some("2025-11-25"), MODERN_CALL).unwrap_err();
        assert_eq!(err.code(), -32020);
        assert!(err.to_string().contains("\"2025-11-25\" does not match"));
    }

    #[test]
    fn modern_notifications_need_no_meta_but_must_agree() {
        let n = r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#;
        assert_eq!(classify(Some("2026-07-28"), n).unwrap().era(), Era::Modern);
        let n = r#"{"jsonrpc":"2.0","method":"n","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-06-18"}}}"#;
        assert_eq!(classify(Some("2026-07-28"), n).unwrap_err().code(), -32020);
    }

    #[test]
    fn modern_clients_send_no_responses() {
        let r = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        let err = classify(Some("2026-07-28"), r).unwrap_err();
        assert_eq!(err.code(), -32600);
        assert!(classify(Some("2025-11-25"), r).is_ok());
    }

    #[test]
    fn batches_only_up_to_2025_03_26() {
        let batch = format!("[{LEGACY_CALL}]");
        assert!(classify(None, &batch).is_ok());
        assert!(classify(Some("2025-03-26"), &batch).is_ok());
        assert!(classify(Some("2024-11-05"), &batch).is_ok());
        for version in ["2025-06-18", "2025-11-25", "2026-07-28"] {
            let err = classify(Some(version), &batch).unwrap_err();
            assert_eq!(err.code(), -32600, "{version}");
            assert!(err.to_string().contains(version));
        }
    }

    #[test]
    fn check_post_runs_both_checks() {
        let body = peek(MODERN_CALL.as_bytes()).unwrap();
        let good = McpHeaders {
            protocol_version: Some("2026-07-28"),
            method: Some("tools/call"),
            name: Some("echo"),
        };
        assert_eq!(
            check_post(&good, &body).unwrap(),
            ProtocolVersion::V2026_07_28
        );
        let bad = McpHeaders {
            name: Some("get-env"),
            ..good
        };
        assert_eq!(check_post(&bad, &body).unwrap_err().code(), -32020);
        let unsupported = McpHeaders {
            protocol_version: Some("1999-01-01"),
            ..good
        };
        assert_eq!(check_post(&unsupported, &body).unwrap_err().code(), -32022);
    }
}
