//! The control plane's one error type, rendered as RFC 9457 problem+json.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use toolgate_store::StoreError;

/// One failed input, located by a JSON pointer into the request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON pointer to the offending value (`""` for the whole body).
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem; stable, for programs.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind, for people.
    pub title: String,
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// Every invalid input, when the request failed validation; for a
    /// malformed body, the value where reading stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `at` locates the value where reading stopped, when it was inside one.
    #[error("the request body is not valid JSON: {detail}")]
    MalformedBody {
        detail: String,
        at: Option<FieldError>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("the request failed validation")]
    Validation(Vec<FieldError>),
    #[error("request bodies must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request body is larger than the limit of {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The caller is known but their role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("no route for {0}")]
    NoRoute(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    /// A refusal made outside our handlers (an extractor or layer of the
    /// framework), re-rendered as a problem with its status kept.
    #[error("{1}")]
    Rejected(StatusCode, String),
    /// A sign-up token that cannot be redeemed (unknown, used or expired).
    #[error("{0}")]
    SignupToken(&'static str),
    /// Too many attempts; `retry_after` whole seconds from now, another may
    /// pass (sent as `Retry-After`).
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after: u64 },
    /// A dependency cannot take the request now; trying later may work.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn validation(path: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(path, message)])
    }

    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(err))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedBody { .. } | Self::BadRequest(_) | Self::SignupToken(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Rejected(status, _) => *status,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem `type`: a stable name per kind, documented in the README.
    fn kind(&self) -> &'static str {
        match self {
            Self::MalformedBody { .. } => "/problems/malformed-body",
            Self::BadRequest(_) => "/problems/bad-request",
            Self::Validation(_) => "/problems/validation",
            Self::UnsupportedMediaType => "/problems/unsupported-media-type",
            Self::PayloadTooLarge(_) => "/problems/payload-too-large",
            Self::Unauthorized(_) => "/problems/unauthorized",
            Self::Forbidden(_) => "/problems/forbidden",
            Self::NotFound(_) => "/problems/not-found",
            Self::NoRoute(_) => "/problems/no-route",
            Self::MethodNotAllowed(_) => "/problems/method-not-allowed",
            Self::Conflict(_) => "/problems/conflict",
            Self::SignupToken(_) => "/problems/invalid-signup-token",
            Self::TooManyRequests { .. } => "/problems/too-many-requests",
            Self::Unavailable(_) => "/problems/unavailable",
            Self::Internal(_) => "/problems/internal",
            Self::Rejected(status, _) => match status.as_u16() {
                400 => "/problems/bad-request",
                404 => "/problems/not-found",
                405 => "/problems/method-not-allowed",
                413 => "/problems/payload-too-large",
                415 => "/problems/unsupported-media-type",
                422 => "/problems/validation",
                500..=599 => "/problems/internal",
                // RFC 9457: no semantics beyond the status code.
                _ => "about:blank",
            },
        }
    }

    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            Self::Internal(_) => {
                "an unexpected error occurred; the x-request-id response header identifies it in the logs"
                    .to_owned()
            }
            other => other.to_string(),
        };
        Problem {
            kind: self.kind().to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors: match self {
                Self::Validation(errors) => Some(errors.clone()),
                Self::MalformedBody { at: Some(at), .. } => Some(vec![at.clone()]),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(source) = &self {
            tracing::error!(error = %source, cause = ?source.source(), "internal error");
        }
        let problem = self.to_problem();
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (self.status(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(self, Self::Unauthorized(_)) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"toolgate\""),
            );
        }
        if let Self::TooManyRequests { retry_after, .. } = &self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound("not found".to_owned()),
            StoreError::Conflict(what) => Self::Conflict(format!("{what} already exists")),
            other => Self::internal(other),
        }
    }
}

/// Collects validation failures so a request reports all of them at once.
#[derive(Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn add(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }

    /// Records the error of a parse, keeping the value when it succeeded.
    pub fn check<T>(&mut self, path: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|message| self.add(path, message)).ok()
    }

    pub fn into_result(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.into_error())
        }
    }

    /// The refusal of what was checked, when a value [`Violations::check`]
    /// kept is missing (its violation is among these).
    pub fn into_error(self) -> ApiError {
        ApiError::Validation(self.0)
    }
}
