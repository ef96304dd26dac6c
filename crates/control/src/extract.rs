//! Request extractors whose every rejection is a problem+json response.

use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use toolgate_strictjson::Refusal;

use crate::error::{ApiError, FieldError, Violations};

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON body. Malformed JSON is 400; a body of the wrong shape (types,
/// unknown or missing fields) or with text that cannot be stored (see
/// [`parse_json`]) is 422 naming the field; no JSON content type is 415;
/// over [`BODY_LIMIT`] is 413.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be left out: an empty (or all-whitespace) body is
/// `T::default()` whatever its content type; any other body is read as by
/// [`ApiJson`].
pub struct OptionalApiJson<T>(pub T);

impl<T: DeserializeOwned + Default, S: Send + Sync> FromRequest<S> for OptionalApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers().get(CONTENT_TYPE));
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        parse_json(&bytes).map(OptionalApiJson)
    }
}

/// The whole body, within [`BODY_LIMIT`] (set for every route by the
/// router's `DefaultBodyLimit`).
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state)
        .await
        .map_err(|rejection: BytesRejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(BODY_LIMIT)
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })
}

fn is_json(content_type: Option<&axum::http::HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = toolgate_mcp::headers::media_type(value);
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Deserialises a body, telling syntax errors (400) from shape errors (422).
///
/// Every body is first read strictly, whatever its type: text that cannot be
/// stored (a NUL in any string or key) and a key given twice in one object
/// are 422 at their pointers, so no handler can pass them on to Postgres or
/// act on one of two values. A string that is not Unicode (a lone surrogate
/// escape) is malformed, located like a syntax error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, so a malformed body is 400 whatever its first fields say.
    toolgate_strictjson::check(bytes).map_err(|refusal| match refusal {
        Refusal::Malformed { pointer, message } => ApiError::MalformedBody {
            at: Some(FieldError::new(pointer, strip_position(&message))),
            detail: message,
        },
        Refusal::Flawed(flaws) => ApiError::Validation(
            flaws
                .into_iter()
                .map(|flaw| FieldError::new(flaw.pointer, flaw.message))
                .collect(),
        ),
    })?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let pointer = json_pointer(err.path());
        let inner = err.into_inner();
        ApiError::validation(&pointer, strip_position(&inner.to_string()))
    })?;
    Ok(value)
}

/// serde's error text ends with "at line L column C", noise in a field error.
fn strip_position(text: &str) -> String {
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text.to_owned(),
    }
}

fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        pointer.push('/');
        match segment {
            Segment::Seq { index } => pointer.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => pointer.push('?'),
        }
    }
    pointer
}

/// A typed resource id from the path. An id that does not parse names no
/// resource, so it is a 404 like any other unknown id.
pub struct PathId<T>(pub T);

impl<T, S> FromRequestParts<S> for PathId<T>
where
    T: FromStr + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::NotFound("not found".to_owned()))?;
        // No resource is named with a NUL, and none may reach a query.
        if raw.contains('\0') {
            return Err(ApiError::NotFound("not found".to_owned()));
        }
        raw.parse()
            .map(PathId)
            .map_err(|_| ApiError::NotFound(format!("{raw} not found")))
    }
}

/// Query parameters; a bad one is 400 naming it. A name or value that is not
/// UTF-8 once percent-decoded, or holds a NUL, is 422 with the parameter's
/// name as the error's `path`: such text can match nothing stored, and must
/// not reach a query.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        check_query_text(parts.uri.query().unwrap_or_default())?;
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// Checks every parameter of a query string as text before it is parsed
/// (the parser would replace bytes that are not UTF-8 with U+FFFD, silently).
fn check_query_text(query: &str) -> Result<(), ApiError> {
    let mut violations = Violations::default();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |raw: &str| {
            let spaced = raw.replace('+', " ");
            percent_encoding::percent_decode_str(&spaced)
                .decode_utf8()
                .map(|text| text.into_owned())
        };
        let (name, value) = match (decode(name), decode(value)) {
            (Ok(name), Ok(value)) => (name, value),
            (Ok(name), Err(_)) => {
                violations.add(&name, "is not UTF-8 text once percent-decoded");
                continue;
            }
            (Err(_), _) => {
                let shown = String::from_utf8_lossy(
                    &percent_encoding::percent_decode_str(name).collect::<Vec<u8>>(),
                )
                .into_owned();
                violations.add(
                    &shown,
                    "this parameter's name is not UTF-8 text once percent-decoded",
                );
                continue;
            }
        };
        if name.contains('\0') || value.contains('\0') {
            violations.add(
                &name,
                "contains the NUL character (U+0000), which no stored value holds; remove it",
            );
        }
    }
    violations.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        items: Vec<u32>,
    }

    #[test]
    fn syntax_errors_are_malformed_bodies() {
        assert!(matches!(
            parse_json::<Body>(b"{\"name\":"),
            Err(ApiError::MalformedBody { .. })
        ));
        assert!(matches!(
            parse_json::<Body>(b"{} trailing"),
            Err(ApiError::MalformedBody { .. })
        ));
        assert!(matches!(
            parse_json::<Body>(b""),
            Err(ApiError::MalformedBody { .. })
        ));
    }

    #[test]
    fn shape_errors_name_the_field() {
        let Err(ApiError::Validation(errors)) =
            parse_json::<Body>(br#"{"name":"a","items":[1,"x"]}"#)
        else {
            panic!("expected a validation error");
        };
        assert_eq!(errors[0].path, "/items/1");
        assert!(!errors[0].message.contains("line"), "{}", errors[0].message);

        let Err(ApiError::Validation(errors)) =
            parse_json::<Body>(br#"{"name":"a","items":[],"extra":1}"#)
        else {
            panic!("expected a validation error");
        };
        assert!(
            errors[0].message.contains("unknown field `extra`"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn unstorable_text_and_duplicate_keys_are_refused_at_their_pointers() {
        let Err(ApiError::Validation(errors)) =
            parse_json::<Body>(br#"{"name":"a\u0000","items":[],"items":[1]}"#)
        else {
            panic!("expected a validation error");
        };
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/name", "/items"]);

        // Free-form bodies too, keys included.
        let Err(ApiError::Validation(errors)) =
            parse_json::<serde_json::Value>(br#"{"a":{"b\u0000":1}}"#)
        else {
            panic!("expected a validation error");
        };
        assert_eq!(errors[0].path, "/a/b\0");
    }

    #[test]
    fn lone_surrogates_are_malformed_at_their_pointer() {
        let Err(ApiError::MalformedBody {
            at: Some(at),
            detail,
        }) = parse_json::<Body>(br#"{"name":"\ud800x","items":[]}"#)
        else {
            panic!("expected a malformed body");
        };
        assert_eq!(at.path, "/name");
        assert!(detail.contains("line 1"), "{detail}");
        assert!(!at.message.contains("line 1"), "{}", at.message);
    }

    #[test]
    fn query_text_must_be_storable() {
        assert!(check_query_text("").is_ok());
        assert!(check_query_text("tool=a%01%E2%80%AE+b&&limit=5").is_ok());
        let paths = |query: &str| match check_query_text(query) {
            Err(ApiError::Validation(errors)) => {
                errors.into_iter().map(|e| e.path).collect::<Vec<_>>()
            }
            other => panic!("{query}: {other:?}"),
        };
        assert_eq!(paths("tool=%00&since=x%00y"), ["tool", "since"]);
        assert_eq!(paths("cursor=%FF"), ["cursor"]);
        assert_eq!(paths("a%00=1"), ["a\0"]);
        assert_eq!(paths("%FF=1"), ["\u{fffd}"]);
    }

    #[test]
    fn json_content_types_are_recognised() {
        let ok = |v: &'static str| is_json(Some(&axum::http::HeaderValue::from_static(v)));
        assert!(ok("application/json"));
        assert!(ok("application/json; charset=utf-8"));
        assert!(ok("application/merge-patch+json"));
        assert!(!ok("text/plain"));
        assert!(!is_json(None));
    }
}
