//! `Mcp-Method` and `Mcp-Name` (2026-07-28) mirror the body so that
//! intermediaries can route without parsing it. The gateway parses the body
//! anyway and refuses any disagreement: a header that names one tool while
//! the body calls another would let the policy and the upstream see different
//! calls.

use std::borrow::Cow;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

use super::error::ProtocolError;
use super::version::Era;
use super::McpHeaders;
use crate::peek::{Body, Message, MessageKind, PROMPTS_GET, RESOURCES_READ, TOOLS_CALL};

/// Standard alphabet; clients differ on padding, so accept both.
const HEADER_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The value `Mcp-Name` must carry for this message: `params.name` for
/// `tools/call` and `prompts/get`, `params.uri` for `resources/read`. `None`
/// for other methods (extensions such as tasks use `Mcp-Name` for their own
/// methods; the gateway leaves those alone) or when the body lacks it.
pub fn mirrored_name<'m>(message: &'m Message<'_>) -> Option<&'m str> {
    let params = message.params()?;
    match message.method()? {
        TOOLS_CALL | PROMPTS_GET => params.name(),
        RESOURCES_READ => params.uri(),
        _ => None,
    }
}

fn takes_name(method: &str) -> bool {
    matches!(method, TOOLS_CALL | PROMPTS_GET | RESOURCES_READ)
}

/// Decodes a mirrored header value: values that are not header-safe are sent
/// as `=?base64?<base64 of UTF-8>?=`.
pub fn decode_header_value<'h>(
    header: &str,
    value: &'h str,
) -> Result<Cow<'h, str>, ProtocolError> {
    let value = value.trim();
    let Some(encoded) = value
        .get(..9)
        .filter(|prefix| prefix.eq_ignore_ascii_case("=?base64?"))
        .and_then(|_| value.get(9..))
        .and_then(|rest| rest.strip_suffix("?="))
    else {
        return Ok(Cow::Borrowed(value));
    };
    let bytes = HEADER_BASE64.decode(encoded).map_err(|err| {
        ProtocolError::mismatch(format!("{header} header is not valid base64: {err}"))
    })?;
    String::from_utf8(bytes)
        .map(Cow::Owned)
        .map_err(|_| ProtocolError::mismatch(format!("{header} header does not decode to UTF-8")))
}

/// Checks `Mcp-Method` and `Mcp-Name` against the body.
///
/// Present headers must equal the body (after base64 decoding) in every era.
/// In the modern era a request must carry `Mcp-Method`, and a `tools/call`,
/// `prompts/get` or `resources/read` request must carry `Mcp-Name`. A batch
/// (legacy only) cannot be described by one header, so mirrored headers on a
/// batch are refused.
pub fn check_mirrored_headers(
    headers: &McpHeaders<'_>,
    body: &Body<'_>,
    era: Era,
) -> Result<(), ProtocolError> {
    match body {
        Body::Single(message) => check_message(headers, message, era),
        Body::Batch(_) if headers.method.is_some() || headers.name.is_some() => Err(
            ProtocolError::mismatch("Mcp-Method and Mcp-Name cannot describe a JSON-RPC batch"),
        ),
        Body::Batch(_) => Ok(()),
    }
}

fn check_message(
    headers: &McpHeaders<'_>,
    message: &Message<'_>,
    era: Era,
) -> Result<(), ProtocolError> {
    // Responses carry no method to mirror.
    let Some(method) = message.method() else {
        return Ok(());
    };
    let required = era == Era::Modern && message.kind() == MessageKind::Request;
    match headers.method {
        Some(value) => {
            let value = decode_header_value("Mcp-Method", value)?;
            if value != method {
                return Err(ProtocolError::mismatch(format!(
                    "Mcp-Method header \"{value}\" does not match the body's method \"{method}\""
                )));
            }
        }
        None if required => {
            return Err(ProtocolError::mismatch(format!(
                "Mcp-Method header is required (the body's method is \"{method}\")"
            )));
        }
        None => {}
    }
    if !takes_name(method) {
        return Ok(());
    }
    let field = if method == RESOURCES_READ {
        "params.uri"
    } else {
        "params.name"
    };
    let expected = mirrored_name(message);
    match (headers.name, expected) {
        (Some(value), Some(expected)) => {
            let value = decode_header_value("Mcp-Name", value)?;
            if value != expected {
                return Err(ProtocolError::mismatch(format!(
                    "Mcp-Name header \"{value}\" does not match the body's {field} \"{expected}\""
                )));
            }
            Ok(())
        }
        (Some(value), None) => Err(ProtocolError::mismatch(format!(
            "Mcp-Name header \"{value}\" is set but the body has no {field}"
        ))),
        (None, _) if required => Err(ProtocolError::mismatch(format!(
            "Mcp-Name header is required for {method} (the body's {field})"
        ))),
        (None, _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peek::peek;

    const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;

    fn check(
        method: Option<&str>,
        name: Option<&str>,
        body: &str,
        era: Era,
    ) -> Result<(), ProtocolError> {
        let headers = McpHeaders {
            protocol_version: None,
            method,
            name,
        };
        check_mirrored_headers(&headers, &peek(body.as_bytes()).unwrap(), era)
    }

    #[test]
    fn matching_headers_pass() {
        assert!(check(Some("tools/call"), Some("echo"), CALL, Era::Modern).is_ok());
        assert!(check(Some("tools/call"), Some("echo"), CALL, Era::Legacy).is_ok());
        let read =
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///x"}}"#;
        assert!(check(Some("resources/read"), Some("file:///x"), read, Era::Modern).is_ok());
        let get = r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}"#;
        assert!(check(Some("prompts/get"), Some("p"), get, Era::Modern).is_ok());
    }

    #[test]
    fn mismatches_are_refused_in_every_era() {
        for era in [Era::Modern, Era::Legacy] {
            let err = check(Some("tools/list"), Some("echo"), CALL, era).unwrap_err();
            assert_eq!(err.code(), -32020);
            assert!(err
                .to_string()
                .contains("Mcp-Method header \"tools/list\" does not match"));
            let err = check(Some("tools/call"), Some("get-env"), CALL, era).unwrap_err();
            assert!(err.to_string().contains(
                "Mcp-Name header \"get-env\" does not match the body's params.name \"echo\""
            ));
        }
        let read = r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"a"}}"#;
        let err = check(Some("resources/read"), Some("b"), read, Era::Modern).unwrap_err();
        assert!(err.to_string().contains("params.uri \"a\""));
    }

    #[test]
    fn values_are_case_sensitive() {
        assert!(check(Some("Tools/Call"), None, CALL, Era::Legacy).is_err());
        assert!(check(None, Some("Echo"), CALL, Era::Legacy).is_err());
    }

    #[test]
    fn modern_requests_must_carry_them() {
        let err = check(None, Some("echo"), CALL, Era::Modern).unwrap_err();
        assert!(err.to_string().contains("Mcp-Method header is required"));
        let err = check(Some("tools/call"), None, CALL, Era::Modern).unwrap_err();
        assert!(err
            .to_string()
            .contains("Mcp-Name header is required for tools/call"));
        // Legacy clients do not send them.
        assert!(check(None, None, CALL, Era::Legacy).is_ok());
        // Notifications need not carry them.
        let n = r#"{"jsonrpc":"2.0","method":"notifications/progress"}"#;
        assert!(check(None, None, n, Era::Modern).is_ok());
        assert!(check(Some("other"), None, n, Era::Modern).is_err());
    }

    #[test]
    fn mcp_name_on_other_methods_is_left_alone() {
        let list = r#"{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"t"}}"#;
        assert!(check(Some("tasks/get"), Some("t"), list, Era::Modern).is_ok());
        let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        assert!(check(Some("tools/list"), None, list, Era::Modern).is_ok());
    }

    #[test]
    fn mcp_name_without_a_body_name_is_refused() {
        // peek refuses such a body before the headers are compared.
        let get = r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{}}"#;
        assert!(peek(get.as_bytes()).is_err());
        let get = peek(br#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}"#)
            .unwrap();
        let headers = McpHeaders {
            protocol_version: None,
            method: None,
            name: Some("q"),
        };
        let err = check_mirrored_headers(&headers, &get, Era::Legacy).unwrap_err();
        assert!(err.to_string().contains("body's params.name \"p\""));
    }

    #[test]
    fn base64_values_are_decoded_first() {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"météo"}}"#;
        assert!(check(
            Some("tools/call"),
            Some("=?base64?bcOpdMOpbw==?="),
            body,
            Era::Modern
        )
        .is_ok());
        assert!(check(
            Some("tools/call"),
            Some("=?BASE64?bcOpdMOpbw?="),
            body,
            Era::Modern
        )
        .is_ok());
        assert!(check(
            Some("=?base64?dG9vbHMvY2FsbA==?="),
            Some("=?base64?bcOpdMOpbw==?="),
            body,
            Era::Modern
        )
        .is_ok());
        let err = check(
            Some("tools/call"),
            Some("=?base64?!!!?="),
            body,
            Era::Modern,
        )
        .unwrap_err();
        assert!(err.to_string().contains("not valid base64"));
        let err = check(
            Some("tools/call"),
            Some("=?base64?/w==?="),
            body,
            Era::Modern,
        )
        .unwrap_err();
        assert!(err.to_string().contains("UTF-8"));
    }

    #[test]
    fn decode_header_value_passes_plain_values_through() {
        assert!(matches!(
            decode_header_value("h", " echo "),
            Ok(Cow::Borrowed("echo"))
        ));
        assert_eq!(decode_header_value("h", "=?base64?").unwrap(), "=?base64?");
        assert_eq!(decode_header_value("h", "=?base64??=").unwrap(), "");
    }

    #[test]
    fn batches_cannot_carry_mirrored_headers() {
        let batch = format!("[{CALL}]");
        assert!(check(None, None, &batch, Era::Legacy).is_ok());
        assert_eq!(
            check(Some("tools/call"), None, &batch, Era::Legacy)
                .unwrap_err()
                .code(),
            -32020
        );
        assert_eq!(
            check(None, Some("echo"), &batch, Era::Legacy)
                .unwrap_err()
                .code(),
            -32020
        );
    }

    #[test]
    fn responses_are_not_checked() {
        let r = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        assert!(check(Some("x"), Some("y"), r, Era::Legacy).is_ok());
    }

    #[test]
    fn mirrored_name_per_method() {
        let body = peek(CALL.as_bytes()).unwrap();
        assert_eq!(mirrored_name(&body.messages()[0]), Some("echo"));
        let other =
            peek(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"name":"n"}}"#).unwrap();
        assert_eq!(mirrored_name(&other.messages()[0]), None);
    }
}
