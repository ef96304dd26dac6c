//! Every way a gateway request can fail, each mapped in one place to an HTTP
//! status and a JSON-RPC error body.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use toolgate_mcp::error_codes;
use toolgate_mcp::headers::ProtocolError;
use toolgate_mcp::response::{error_response, peek_error_response, protocol_error_response};
use toolgate_mcp::{Id, PeekError};

use crate::upstream::UpstreamError;

/// Largest accepted request body.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("no MCP server at this URL")]
    NoSuchServer,
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("this grant does not give access to this server")]
    WrongServer,
    #[error("request body is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error(transparent)]
    Peek(PeekError),
    #[error("{error}")]
    Protocol {
        error: ProtocolError,
        id: Option<Id<'static>>,
    },
    #[error("Session not found: it expired, was deleted, or belongs to another grant; initialize a new session")]
    SessionNotFound,
    #[error("Bad Request: the Mcp-Session-Id header is required")]
    SessionRequired,
    #[error("{0}")]
    MethodNotAllowed(&'static str),
    #[error("{error}")]
    Upstream {
        error: UpstreamError,
        /// The request the failure answers, if the body was one request.
        id: Option<Id<'static>>,
    },
    #[error("the gateway cannot load its configuration right now; retry shortly")]
    Unavailable,
}

impl GatewayError {
    fn status_and_body(&self) -> (StatusCode, Bytes) {
        use GatewayError as E;
        let plain = |status, code| (status, error_response(None, code, &self.to_string()));
        match self {
            E::NoSuchServer => plain(StatusCode::NOT_FOUND, error_codes::INVALID_REQUEST),
            E::Unauthorized(_) => plain(StatusCode::UNAUTHORIZED, error_codes::INVALID_REQUEST),
            E::WrongServer => plain(StatusCode::FORBIDDEN, error_codes::INVALID_REQUEST),
            E::TooLarge => plain(StatusCode::PAYLOAD_TOO_LARGE, error_codes::INVALID_REQUEST),
            E::UnsupportedMediaType => plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                error_codes::INVALID_REQUEST,
            ),
            E::Peek(err) => (StatusCode::BAD_REQUEST, peek_error_response(err)),
            E::Protocol { error, id } => (
                StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
                protocol_error_response(id.as_ref(), error),
            ),
            E::SessionNotFound => {
                plain(StatusCode::NOT_FOUND, error_codes::LEGACY_SESSION_NOT_FOUND)
            }
            E::SessionRequired => plain(StatusCode::BAD_REQUEST, error_codes::LEGACY_BAD_REQUEST),
            E::MethodNotAllowed(_) => {
                plain(StatusCode::METHOD_NOT_ALLOWED, error_codes::INVALID_REQUEST)
            }
            E::Upstream { error, id } => {
                let code = match error {
                    UpstreamError::Timeout(_) => error_codes::UPSTREAM_TIMEOUT,
                    UpstreamError::InvalidResponse(_) => error_codes::UPSTREAM_INVALID_RESPONSE,
                    UpstreamError::Unreachable(_) | UpstreamError::Forbidden(_) => {
                        error_codes::UPSTREAM_UNREACHABLE
                    }
                };
                let body = error_response(id.as_ref(), code, &self.to_string());
                // A request gets its answer in-band, as any JSON-RPC error, so
                // clients show the message; anything else has no id to answer.
                let status = match (id, error) {
                    (Some(_), _) => StatusCode::OK,
                    (None, UpstreamError::Timeout(_)) => StatusCode::GATEWAY_TIMEOUT,
                    (None, _) => StatusCode::BAD_GATEWAY,
                };
                (status, body)
            }
            E::Unavailable => plain(StatusCode::SERVICE_UNAVAILABLE, error_codes::INTERNAL_ERROR),
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        match &self {
            GatewayError::Upstream { error, .. } => {
                tracing::warn!(error = %error, "upstream failure")
            }
            GatewayError::Unavailable => tracing::error!("configuration store unavailable"),
            _ => tracing::debug!(error = %self, "request refused"),
        }
        let (status, body) = self.status_and_body();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let GatewayError::Unauthorized(reason) = self {
            let challenge = format!("Bearer realm=\"toolgate\", error=\"invalid_token\", error_description=\"{reason}\"");
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(err: GatewayError) -> (StatusCode, serde_json::Value) {
        let (status, body) = err.status_and_body();
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn upstream_failures_answer_requests_in_band() {
        let (status, body) = render(GatewayError::Upstream {
            error: UpstreamError::Timeout(std::time::Duration::from_secs(3)),
            id: Some(Id::number(7)),
        });
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["id"], 7);
        assert_eq!(body["error"]["code"], error_codes::UPSTREAM_TIMEOUT);
        let (status, body) = render(GatewayError::Upstream {
            error: UpstreamError::Unreachable("connection refused".into()),
            id: None,
        });
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert!(body["id"].is_null());
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("connection refused"));
    }

    #[test]
    fn unauthorized_carries_a_challenge() {
        let response = GatewayError::Unauthorized("missing bearer token").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap();
        assert!(
            challenge.starts_with("Bearer realm=\"toolgate\""),
            "{challenge}"
        );
    }
}
