//! Judging an upstream's answer before it is relayed: by its status and its
//! body, not by its `Content-Type` alone.
//!
//! An answer that carries no message is empty whatever type it names. Real
//! servers label empty answers freely: `@hono/node-server` 1.x, under every
//! TypeScript-SDK server locked to it, sends the SDK's bodiless `202` to a
//! notification and `200` to a `DELETE` as `text/plain; charset=UTF-8`,
//! chunked and without a length; 2.x sends them with no type at all. Only a
//! body that is really there, and is neither JSON nor an event stream, makes
//! an answer "not MCP".

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, StatusCode};
use http_body_util::BodyExt;
use toolgate_mcp::headers::{EVENT_STREAM_CONTENT_TYPE, JSON_CONTENT_TYPE};

use crate::upstream::{UpstreamError, UpstreamResponse};

/// Most of an unlabelled or bodiless answer read to judge it: an empty body
/// ends at once, and anything larger is not an answer the gateway relays.
const MAX_JUDGED: usize = 64 * 1024;

/// Longest silence tolerated while judging an answer whose request set no
/// limit (a listening `GET`): a stream of events is typed as one, so an
/// unlabelled body that keeps trickling is not waited for forever.
const JUDGE_IDLE: Duration = Duration::from_secs(30);

/// An upstream answer, judged.
pub enum Answer {
    /// `application/json`, to relay or rewrite.
    Json(UpstreamResponse),
    /// `text/event-stream`, to relay event by event.
    EventStream(UpstreamResponse),
    /// No message: a `202`/`204`/`205` (whatever it names or sends, as the
    /// SDK clients read them), or a body that turned out to be empty.
    Empty,
    /// A body that is neither JSON nor an event stream, described for the
    /// error the agent gets (`content type "text/html" and a 13-byte body`).
    Other(String),
}

/// Judges `upstream`, reading its body only when the head cannot tell:
/// unlabelled bodies are read up to 64 KiB; bodiless statuses are drained in
/// the background.
/// `idle` bounds the silence between chunks while reading (30 s if `None`).
pub async fn judge(
    upstream: UpstreamResponse,
    idle: Option<Duration>,
) -> Result<Answer, UpstreamError> {
    match head_kind(upstream.status(), upstream.headers()) {
        HeadKind::Json => Ok(Answer::Json(upstream)),
        HeadKind::EventStream => Ok(Answer::EventStream(upstream)),
        HeadKind::Bodiless => {
            // Whatever follows is not relayed. Reading it (when small) lets
            // the connection go back to the pool, and is not the agent's to
            // wait for; a failure changes nothing: the upstream has answered.
            tokio::spawn(async move {
                let _ = read_body(upstream, idle).await;
            });
            Ok(Answer::Empty)
        }
        HeadKind::Unlabelled => {
            let named = content_type(upstream.headers()).map(str::to_owned);
            match read_body(upstream, idle).await? {
                Read::Whole(body) if body.is_empty() => Ok(Answer::Empty),
                read => {
                    let size = match read {
                        Read::Whole(body) => format!("a {}-byte body", body.len()),
                        Read::TooLarge => format!("a body of more than {MAX_JUDGED} bytes"),
                    };
                    Ok(Answer::Other(match named {
                        Some(named) => format!("content type {named:?} and {size}"),
                        None => format!("no content type and {size}"),
                    }))
                }
            }
        }
    }
}

/// What the head alone says about an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeadKind {
    Json,
    EventStream,
    /// The status or a zero `Content-Length` says there is no message.
    Bodiless,
    /// No type, or a type that is not MCP's: only the body can tell.
    Unlabelled,
}

fn head_kind(status: StatusCode, headers: &HeaderMap) -> HeadKind {
    // 202 is the spec's answer to a notification or response, "with no
    // body"; the SDK clients stop reading at it, and so does the gateway.
    let bodiless_status = matches!(
        status,
        StatusCode::ACCEPTED | StatusCode::NO_CONTENT | StatusCode::RESET_CONTENT
    );
    let zero_length = headers
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() == b"0");
    if bodiless_status || zero_length {
        return HeadKind::Bodiless;
    }
    let mime = content_type(headers)
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match mime.as_deref() {
        Some(JSON_CONTENT_TYPE) => HeadKind::Json,
        Some(EVENT_STREAM_CONTENT_TYPE) => HeadKind::EventStream,
        _ => HeadKind::Unlabelled,
    }
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

enum Read {
    Whole(Bytes),
    TooLarge,
}

/// The body, if it ends within [`MAX_JUDGED`] bytes.
async fn read_body(
    upstream: UpstreamResponse,
    idle: Option<Duration>,
) -> Result<Read, UpstreamError> {
    let limit = idle.unwrap_or(JUDGE_IDLE);
    let mut body = upstream.into_body();
    let mut out = Vec::new();
    loop {
        let next = tokio::time::timeout(limit, body.frame())
            .await
            .map_err(|_| UpstreamError::Timeout(limit))?;
        let Some(frame) = next.transpose()? else {
            return Ok(Read::Whole(Bytes::from(out)));
        };
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > MAX_JUDGED {
                return Ok(Read::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| {
                (
                    http::HeaderName::from_static(n),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    fn response(
        status: u16,
        content_type: Option<&'static str>,
        chunks: Vec<Bytes>,
        endless: bool,
    ) -> UpstreamResponse {
        let frames = futures_util::stream::iter(chunks)
            .map(|c| Ok::<_, UpstreamError>(hyper::body::Frame::data(c)));
        let body = if endless {
            let stalled = futures_util::stream::pending();
            BodyExt::boxed(http_body_util::StreamBody::new(frames.chain(stalled)))
        } else {
            BodyExt::boxed(http_body_util::StreamBody::new(frames))
        };
        let mut builder = http::Response::builder().status(status);
        if let Some(content_type) = content_type {
            builder = builder.header("content-type", content_type);
        }
        builder.body(body).unwrap()
    }

    async fn judged(upstream: UpstreamResponse) -> Result<Answer, UpstreamError> {
        judge(upstream, Some(Duration::from_millis(200))).await
    }

    #[tokio::test]
    async fn bodies_decide_what_the_head_cannot() {
        let plain = Some("text/plain; charset=UTF-8");
        let empty = response(200, plain, vec![Bytes::new()], false);
        assert!(matches!(judged(empty).await, Ok(Answer::Empty)));
        let accepted = response(202, plain, vec![Bytes::from_static(b"Accepted")], false);
        assert!(matches!(judged(accepted).await, Ok(Answer::Empty)));
        let stalled_accepted = response(202, plain, vec![], true);
        let started = std::time::Instant::now();
        assert!(
            matches!(judged(stalled_accepted).await, Ok(Answer::Empty)),
            "a 202 is empty even when its body never ends"
        );
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "and the agent does not wait for it"
        );

        let text = response(200, plain, vec![Bytes::from_static(b"oops")], false);
        match judged(text).await {
            Ok(Answer::Other(what)) => {
                assert_eq!(
                    what,
                    "content type \"text/plain; charset=UTF-8\" and a 4-byte body"
                )
            }
            _ => panic!("a text body is not MCP"),
        }
        let big = vec![
            Bytes::from(vec![b'x'; MAX_JUDGED]),
            Bytes::from_static(b"x"),
        ];
        match judged(response(200, None, big, true)).await {
            Ok(Answer::Other(what)) => assert!(
                what.starts_with("no content type and a body of more than"),
                "{what}"
            ),
            _ => panic!("a large unlabelled body is not MCP"),
        }
        let stalled = response(200, None, vec![Bytes::from_static(b"x")], true);
        assert!(matches!(
            judged(stalled).await,
            Err(UpstreamError::Timeout(_))
        ));
    }

    #[test]
    fn heads_are_judged_by_status_and_length_before_type() {
        let plain = headers(&[("content-type", "text/plain; charset=UTF-8")]);
        assert_eq!(head_kind(StatusCode::ACCEPTED, &plain), HeadKind::Bodiless);
        assert_eq!(
            head_kind(StatusCode::NO_CONTENT, &plain),
            HeadKind::Bodiless
        );
        assert_eq!(head_kind(StatusCode::OK, &plain), HeadKind::Unlabelled);
        assert_eq!(
            head_kind(StatusCode::OK, &HeaderMap::new()),
            HeadKind::Unlabelled
        );
        let json_zero = headers(&[
            ("content-type", "application/json"),
            ("content-length", "0"),
        ]);
        assert_eq!(head_kind(StatusCode::OK, &json_zero), HeadKind::Bodiless);
        let json = headers(&[("content-type", "Application/JSON; charset=utf-8")]);
        assert_eq!(head_kind(StatusCode::OK, &json), HeadKind::Json);
        assert_eq!(head_kind(StatusCode::NOT_FOUND, &json), HeadKind::Json);
        let sse = headers(&[("content-type", "text/event-stream")]);
        assert_eq!(head_kind(StatusCode::OK, &sse), HeadKind::EventStream);
        let accepted_json = headers(&[("content-type", "application/json")]);
        assert_eq!(
            head_kind(StatusCode::ACCEPTED, &accepted_json),
            HeadKind::Bodiless,
            "a 202 carries no message whatever it names"
        );
    }
}
