//! JSON-RPC and MCP error codes the gateway reads or emits.
//!
//! The 2026-07-28 revision reserves `-32020..=-32099` for MCP and asks new
//! application codes to stay outside `-32768..=-32000`, so the gateway's own
//! codes live at `-31xxx`.

/// Invalid JSON was received.
pub const PARSE_ERROR: i32 = -32700;
/// The JSON is not a valid JSON-RPC request object.
pub const INVALID_REQUEST: i32 = -32600;
/// The method does not exist (modern era: with HTTP 404).
pub const METHOD_NOT_FOUND: i32 = -32601;
/// Invalid method parameters; also "Unknown tool", a bad cursor and a missing
/// required `_meta` field.
pub const INVALID_PARAMS: i32 = -32602;
/// Internal JSON-RPC error.
pub const INTERNAL_ERROR: i32 = -32603;

/// Legacy (≤ 2025-11-25) server error the TypeScript SDK uses for "Bad Request:
/// No valid session ID provided".
pub const LEGACY_BAD_REQUEST: i32 = -32000;
/// Legacy server error the TypeScript SDK uses for "Session not found".
pub const LEGACY_SESSION_NOT_FOUND: i32 = -32001;
/// Resource not found (≤ 2025-11-25; 2026-07-28 uses `-32602`).
pub const LEGACY_RESOURCE_NOT_FOUND: i32 = -32002;
/// URL elicitation required (2025-11-25 only).
pub const URL_ELICITATION_REQUIRED: i32 = -32042;

/// 2026-07-28: a required header is missing, malformed, or disagrees with the
/// body (HTTP 400).
pub const HEADER_MISMATCH: i32 = -32020;
/// 2026-07-28: a capability the request needs was not declared (HTTP 400).
pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i32 = -32021;
/// 2026-07-28: unsupported protocol version, with
/// `data: {supported, requested}` (HTTP 400).
pub const UNSUPPORTED_PROTOCOL_VERSION: i32 = -32022;

/// Gateway: the upstream MCP server could not be reached.
pub const UPSTREAM_UNREACHABLE: i32 = -31001;
/// Gateway: the upstream did not answer within the server's deadline.
pub const UPSTREAM_TIMEOUT: i32 = -31002;
/// Gateway: the upstream answered with something that is not valid MCP.
pub const UPSTREAM_INVALID_RESPONSE: i32 = -31003;

/// Gateway: a visible resource read or prompt get that the policy refused
/// (a limit, the arguments, an approval denied or timed out). Its message
/// starts `Denied by policy:`; `data` carries the machine-readable detail.
/// (A refused `tools/call` is an `isError` result instead.)
pub const POLICY_REFUSED: i32 = -31010;

/// The standard message for a code, used when the caller has nothing more
/// precise to say.
pub fn default_message(code: i32) -> &'static str {
    match code {
        PARSE_ERROR => "Parse error",
        INVALID_REQUEST => "Invalid Request",
        METHOD_NOT_FOUND => "Method not found",
        INVALID_PARAMS => "Invalid params",
        INTERNAL_ERROR => "Internal error",
        LEGACY_BAD_REQUEST => "Bad Request",
        LEGACY_SESSION_NOT_FOUND => "Session not found",
        LEGACY_RESOURCE_NOT_FOUND => "Resource not found",
        URL_ELICITATION_REQUIRED => "URL elicitation required",
        HEADER_MISMATCH => "Header mismatch",
        MISSING_REQUIRED_CLIENT_CAPABILITY => "Missing required client capability",
        UNSUPPORTED_PROTOCOL_VERSION => "Unsupported protocol version",
        UPSTREAM_UNREACHABLE => "Upstream MCP server unreachable",
        UPSTREAM_TIMEOUT => "Upstream MCP server timed out",
        UPSTREAM_INVALID_RESPONSE => "Upstream MCP server sent an invalid response",
        POLICY_REFUSED => "Denied by policy",
        _ => "Server error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_codes_have_their_spec_values() {
        assert_eq!(PARSE_ERROR, -32700);
        assert_eq!(INVALID_REQUEST, -32600);
        assert_eq!(METHOD_NOT_FOUND, -32601);
        assert_eq!(INVALID_PARAMS, -32602);
        assert_eq!(INTERNAL_ERROR, -32603);
        assert_eq!(HEADER_MISMATCH, -32020);
        assert_eq!(MISSING_REQUIRED_CLIENT_CAPABILITY, -32021);
        assert_eq!(UNSUPPORTED_PROTOCOL_VERSION, -32022);
    }

    #[test]
    fn gateway_codes_stay_outside_the_reserved_range() {
        for code in [
            UPSTREAM_UNREACHABLE,
            UPSTREAM_TIMEOUT,
            UPSTREAM_INVALID_RESPONSE,
            POLICY_REFUSED,
        ] {
            assert!(!(-32768..=-32000).contains(&code), "{code}");
        }
    }

    #[test]
    fn every_named_code_has_a_specific_message() {
        for code in [
            PARSE_ERROR,
            INVALID_REQUEST,
            METHOD_NOT_FOUND,
            INVALID_PARAMS,
            INTERNAL_ERROR,
            LEGACY_BAD_REQUEST,
            LEGACY_SESSION_NOT_FOUND,
            LEGACY_RESOURCE_NOT_FOUND,
            URL_ELICITATION_REQUIRED,
            HEADER_MISMATCH,
            MISSING_REQUIRED_CLIENT_CAPABILITY,
            UNSUPPORTED_PROTOCOL_VERSION,
            UPSTREAM_UNREACHABLE,
            UPSTREAM_TIMEOUT,
            UPSTREAM_INVALID_RESPONSE,
            POLICY_REFUSED,
        ] {
            assert_ne!(default_message(code), "Server error", "{code}");
        }
        assert_eq!(default_message(-1), "Server error");
    }
}
