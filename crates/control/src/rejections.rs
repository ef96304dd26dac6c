//! Error responses made outside our handlers, re-rendered as problem+json.
//!
//! Our extractors and handlers answer with [`ApiError`]; the framework's own
//! extractors and layers (a body over `DefaultBodyLimit`, a path or query
//! that does not deserialise) answer `text/plain`. This layer catches those,
//! so every route's errors keep the documented shape whatever a future
//! handler extracts.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::extract::BODY_LIMIT;

/// Longest plain-text rejection kept as a problem's `detail`.
const MAX_DETAIL: usize = 4 * 1024;

/// Re-renders a 4xx or 5xx response that is not already JSON of some kind
/// (problem+json, or a JSON body such as `/readyz`'s) as problem+json,
/// keeping its status and its other headers.
pub async fn as_problem(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_DETAIL).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(BODY_LIMIT),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        _ if status.is_server_error() => {
            ApiError::Internal(format!("{status} from a framework layer: {text}").into())
        }
        _ => {
            let detail = if text.is_empty() {
                status.canonical_reason().unwrap_or("refused").to_owned()
            } else {
                text
            };
            ApiError::Rejected(status, detail)
        }
    };
    let mut problem = error.into_response();
    *problem.status_mut() = status;
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().append(name, value.clone());
        }
    }
    problem
}

fn is_json(response: &Response<Body>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value: &HeaderValue| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn render(status: StatusCode, content_type: Option<&str>, body: &str) -> Response {
        let mut response = (status, body.to_owned()).into_response();
        match content_type {
            Some(ct) => {
                response
                    .headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            }
            None => {
                response.headers_mut().remove(header::CONTENT_TYPE);
            }
        }
        response
            .headers_mut()
            .insert("x-request-id", HeaderValue::from_static("r1"));
        as_problem(response).await
    }

    async fn problem(response: Response) -> serde_json::Value {
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(response.headers()["x-request-id"], "r1");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn a_plain_413_names_the_limit() {
        let response = render(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("text/plain; charset=utf-8"),
            "Failed to buffer the request body: length limit exceeded",
        )
        .await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = problem(response).await;
        assert_eq!(body["type"], "/problems/payload-too-large");
        assert_eq!(body["status"], 413);
        assert!(body["detail"].as_str().unwrap().contains("1048576 bytes"));
    }

    #[tokio::test]
    async fn other_plain_rejections_keep_status_and_text() {
        let response = render(StatusCode::BAD_REQUEST, Some("text/plain"), "bad path").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = problem(response).await;
        assert_eq!(body["type"], "/problems/bad-request");
        assert_eq!(body["detail"], "bad path");

        let response = render(StatusCode::REQUEST_TIMEOUT, None, "").await;
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        let body = problem(response).await;
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["detail"], "Request Timeout");
    }

    #[tokio::test]
    async fn json_and_successes_pass_untouched() {
        let response = render(
            StatusCode::SERVICE_UNAVAILABLE,
            Some("application/json"),
            "{}",
        )
        .await;
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let response = render(StatusCode::OK, Some("text/plain"), "hi").await;
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/plain");
        let response = render(
            StatusCode::NOT_FOUND,
            Some("application/problem+json"),
            "{}",
        )
        .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
