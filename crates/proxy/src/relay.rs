//! Relaying an upstream response to the agent: SSE event by event, JSON as
//! it comes, with `tools/list` results filtered by the policy and the
//! gateway's own answers merged in.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body as AxumBody;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use serde_json::value::RawValue;
use toolgate_mcp::headers::{
    EVENT_STREAM_CONTENT_TYPE, JSON_CONTENT_TYPE, MCP_PROTOCOL_VERSION, MCP_SESSION_ID,
    X_ACCEL_BUFFERING,
};
use toolgate_mcp::sse::{SseEvent, SseParser};
use toolgate_mcp::tools_list::{
    filter_list_by_entry, filter_list_with, FilterOptions, FilteredToolsList, ListKind,
};
use toolgate_mcp::Id;
use toolgate_policy::{CompiledPolicy, Kind};

use crate::answer::{judge, Answer};
use crate::audit::Witness;
use crate::error::GatewayError;
use crate::pins::{Listed, PinCheck, Sightings};
use crate::session::SessionBinding;
use crate::settle::Settlement;
use crate::snapshot::ServerConfig;
use crate::upstream::{UpstreamBody, UpstreamError, UpstreamResponse};

/// Largest JSON response the gateway buffers to rewrite.
const MAX_BUFFERED: usize = 16 * 1024 * 1024;

/// What the relay must know about the request it answers.
pub struct RelayContext {
    /// How lists in the answers are filtered.
    pub lists: ListFilter,
    /// A forwarded message was `tools/list`: JSON answers must be filtered.
    pub lists_tools: bool,
    /// The gateway's own answers to merge in (refused calls of a batch).
    pub local: Vec<Bytes>,
    pub batch: bool,
    /// Longest silence tolerated between upstream chunks; `None` for
    /// long-lived listening streams.
    pub idle_timeout: Option<Duration>,
    /// The request id, to answer upstream failures in-band.
    pub request_id: Option<Id<'static>>,
    /// Seals an upstream session id for the agent.
    pub session: Option<SessionBinding>,
    /// Rate-limited calls awaiting their answers.
    pub settlement: Option<Settlement>,
}

impl RelayContext {
    /// The answer to one request, with nothing to merge or settle.
    pub fn new(lists: ListFilter, idle_timeout: Option<Duration>) -> Self {
        Self {
            lists,
            lists_tools: false,
            local: Vec::new(),
            batch: false,
            idle_timeout,
            request_id: None,
            session: None,
            settlement: None,
        }
    }
}

/// How the lists an upstream answers are filtered: every entry by the
/// policy, and tools by their pinned definitions too.
pub struct ListFilter {
    pub policy: Arc<CompiledPolicy>,
    pub options: FilterOptions,
    pub pins: Option<ListingPins>,
}

impl ListFilter {
    /// The server's policy, and its pins once its catalog is known;
    /// `witness` records the tools a listing withholds.
    pub fn of(
        server: &Arc<ServerConfig>,
        sightings: &Arc<Sightings>,
        options: FilterOptions,
        witness: Option<Witness>,
    ) -> Self {
        Self {
            policy: server.policy.clone(),
            options,
            pins: server.pins.is_some().then(|| ListingPins {
                server: server.clone(),
                sightings: sightings.clone(),
                witness,
            }),
        }
    }
}

/// What the relay needs to check a `tools/list` answer against the pins.
pub struct ListingPins {
    pub server: Arc<ServerConfig>,
    pub sightings: Arc<Sightings>,
    pub witness: Option<Witness>,
}

impl ListingPins {
    /// Whether to keep one listed tool.
    fn keep(&self, name: &str, entry: &str) -> bool {
        let Some(pins) = &self.server.pins else {
            return true;
        };
        let check = PinCheck {
            server: self.server.id,
            pins,
            sightings: &self.sightings,
        };
        match check.listed(name, entry) {
            Listed::Keep => true,
            Listed::Withhold => false,
            Listed::Drifted { pinned, observed } => {
                tracing::warn!(server = %self.server.id, tool = %name, %pinned, %observed, "upstream serves a tool otherwise than pinned; withheld");
                if let Some(witness) = &self.witness {
                    witness.withheld(name, &pinned, &observed);
                }
                false
            }
        }
    }
}

pub async fn relay(
    upstream: UpstreamResponse,
    mut ctx: RelayContext,
) -> Result<Response, GatewayError> {
    let mut settlement = ctx.settlement.take();
    let result = relay_inner(upstream, ctx, &mut settlement).await;
    // Whatever the relay did not hand on was never answered.
    if let Some(settlement) = settlement {
        settlement.fail();
    }
    result
}

async fn relay_inner(
    upstream: UpstreamResponse,
    ctx: RelayContext,
    settlement: &mut Option<Settlement>,
) -> Result<Response, GatewayError> {
    let status = upstream.status();
    let fail = |error: UpstreamError| GatewayError::Upstream {
        error,
        id: ctx.request_id.clone(),
    };
    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
        // Never pass the upstream's auth failure on: the agent's own
        // credentials are fine, the gateway's for the upstream are not.
        return Err(fail(UpstreamError::InvalidResponse(format!(
            "it refused the gateway's credentials (HTTP {}); check the server's configured headers",
            status.as_u16()
        ))));
    }
    let mut headers = HeaderMap::new();
    copy_response_headers(upstream.headers(), &mut headers, ctx.session.as_ref());
    let declared = declared_length(upstream.headers());
    let json = HeaderValue::from_static(JSON_CONTENT_TYPE);

    match judge(upstream, ctx.idle_timeout).await.map_err(fail)? {
        Answer::EventStream(upstream) if status.is_success() => {
            let event_stream = HeaderValue::from_static(EVENT_STREAM_CONTENT_TYPE);
            headers.insert(header::CONTENT_TYPE, event_stream);
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            let no = HeaderValue::from_static("no");
            headers.insert(HeaderName::from_static(X_ACCEL_BUFFERING), no);
            let prefix = ctx
                .local
                .iter()
                .map(|m| SseEvent::message(m.clone()).encode())
                .collect();
            let watch = Watch {
                lists: ctx.lists,
                settlement: settlement.take(),
            };
            let stream = sse_stream(data_stream(upstream), prefix, watch, ctx.idle_timeout);
            Ok((status, headers, AxumBody::from_stream(stream)).into_response())
        }
        Answer::EventStream(_) => Err(fail(UpstreamError::InvalidResponse(format!(
            "HTTP {} with an event stream",
            status.as_u16()
        )))),
        Answer::Json(upstream)
            if status.is_success() && (ctx.lists_tools || !ctx.local.is_empty()) =>
        {
            let body = read_limited(upstream, ctx.idle_timeout)
                .await
                .map_err(fail)?;
            let body = rewrite_json(&body, &ctx, settlement.as_mut()).map_err(fail)?;
            headers.insert(header::CONTENT_TYPE, json);
            Ok((status, headers, body).into_response())
        }
        Answer::Json(upstream) if declared <= MAX_WHOLE => {
            // A small answer of known size goes out in one write, with its
            // length, instead of as a chunked stream of the same bytes.
            let body = read_limited(upstream, ctx.idle_timeout)
                .await
                .map_err(fail)?;
            if let Some(mut settlement) = settlement.take() {
                settle_json(&mut settlement, &body);
                settlement.fail();
            }
            headers.insert(header::CONTENT_TYPE, json);
            Ok((status, headers, body).into_response())
        }
        Answer::Json(upstream) => {
            // Upstream JSON-RPC errors keep their status (a 404 tells the
            // client its session is gone); successes stream as they come.
            headers.insert(header::CONTENT_TYPE, json);
            let stream = idle_limited(data_stream(upstream), ctx.idle_timeout);
            let stream = settle_at_end(stream, settlement.take());
            Ok((status, headers, AxumBody::from_stream(stream)).into_response())
        }
        Answer::Empty if status.is_success() && !ctx.local.is_empty() => {
            // Everything forwarded was a notification or response (202); the
            // gateway's own answers are the whole reply.
            headers.insert(header::CONTENT_TYPE, json);
            let body = join_messages(ctx.batch, ctx.local.iter().map(|m| &m[..]));
            Ok((StatusCode::OK, headers, body).into_response())
        }
        Answer::Empty
            if status.is_success()
                || status == StatusCode::NOT_FOUND
                || status == StatusCode::METHOD_NOT_ALLOWED =>
        {
            Ok((status, headers).into_response())
        }
        Answer::Empty => Err(fail(UpstreamError::InvalidResponse(format!(
            "HTTP {} with no body",
            status.as_u16()
        )))),
        Answer::Other(what) => Err(fail(UpstreamError::InvalidResponse(format!(
            "HTTP {} with {what}",
            status.as_u16()
        )))),
    }
}

/// Largest JSON answer of declared length relayed whole rather than streamed.
const MAX_WHOLE: u64 = 64 * 1024;

/// The upstream's `Content-Length`; `u64::MAX` when it sent none.
fn declared_length(headers: &HeaderMap) -> u64 {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}

fn copy_response_headers(from: &HeaderMap, to: &mut HeaderMap, session: Option<&SessionBinding>) {
    if let Some(version) = from.get(MCP_PROTOCOL_VERSION) {
        to.insert(
            HeaderName::from_static(MCP_PROTOCOL_VERSION),
            version.clone(),
        );
    }
    let upstream = from.get(MCP_SESSION_ID).and_then(|v| v.to_str().ok());
    if let (Some(upstream), Some(session)) = (upstream, session) {
        if let Ok(value) = HeaderValue::from_str(&session.seal(upstream)) {
            to.insert(HeaderName::from_static(MCP_SESSION_ID), value);
        }
    }
}

async fn read_limited(
    upstream: UpstreamResponse,
    idle: Option<Duration>,
) -> Result<Bytes, UpstreamError> {
    let mut body = BytesMut::new();
    let mut stream = std::pin::pin!(idle_limited(data_stream(upstream), idle));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        if body.len() + chunk.len() > MAX_BUFFERED {
            return Err(UpstreamError::InvalidResponse(format!(
                "response larger than {MAX_BUFFERED} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Filters `tools/list` answers in a JSON body (one message or a batch) and
/// appends the gateway's own answers.
fn rewrite_json(
    body: &[u8],
    ctx: &RelayContext,
    mut settlement: Option<&mut Settlement>,
) -> Result<Bytes, UpstreamError> {
    let invalid = |e: serde_json::Error| UpstreamError::InvalidResponse(format!("not JSON: {e}"));
    let messages: Vec<&RawValue> = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice(body).map_err(invalid)?,
        _ => vec![serde_json::from_slice(body).map_err(invalid)?],
    };
    let mut out: Vec<Bytes> = Vec::with_capacity(messages.len() + ctx.local.len());
    for message in messages {
        if let Some(settlement) = settlement.as_deref_mut() {
            settlement.observe(message.get().as_bytes());
        }
        out.push(filter_message(message.get().as_bytes(), &ctx.lists)?);
    }
    out.extend(ctx.local.iter().cloned());
    Ok(join_messages(ctx.batch, out.iter().map(|m| &m[..])))
}

/// One message with its list (tools, resources, resource templates or
/// prompts) filtered, if it carries one.
fn filter_message(message: &[u8], lists: &ListFilter) -> Result<Bytes, UpstreamError> {
    match filter_lists(message, lists) {
        Ok(Some(filtered)) => Ok(filtered.body),
        Ok(None) => Ok(Bytes::copy_from_slice(message)),
        Err(e) => Err(UpstreamError::InvalidResponse(e.to_string())),
    }
}

/// Applies the policy to every list `message` may carry; `None` when it
/// mentions none. Each list is judged by its own section of the policy;
/// a resource template by its `uriTemplate` read as a literal URI.
fn filter_lists(
    message: &[u8],
    lists: &ListFilter,
) -> Result<Option<FilteredToolsList>, toolgate_mcp::tools_list::ToolsListError> {
    let (policy, options) = (&lists.policy, lists.options);
    let mut current: Option<FilteredToolsList> = None;
    for list in ListKind::ALL {
        if memchr::memmem::find(message, list.needle().as_bytes()).is_none() {
            continue;
        }
        let input = current.as_ref().map_or(message, |f| &f.body[..]);
        let filtered = match (list, &lists.pins) {
            (ListKind::TOOLS, Some(pins)) => filter_list_by_entry(
                input,
                list,
                |name, entry| policy.visible_of(Kind::Tool, name) && pins.keep(name, entry),
                options,
            )?,
            _ => {
                let kind = match list {
                    ListKind::PROMPTS => Kind::Prompt,
                    ListKind::TOOLS => Kind::Tool,
                    _ => Kind::Resource,
                };
                filter_list_with(input, list, |key| policy.visible_of(kind, key), options)?
            }
        };
        let removed = filtered.removed + current.as_ref().map_or(0, |f| f.removed);
        current = Some(FilteredToolsList {
            removed,
            ..filtered
        });
    }
    Ok(current)
}

fn join_messages<'m>(batch: bool, messages: impl Iterator<Item = &'m [u8]>) -> Bytes {
    let mut out = BytesMut::new();
    if batch {
        out.extend_from_slice(b"[");
    }
    for (i, message) in messages.enumerate() {
        if i > 0 {
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(message);
    }
    if batch {
        out.extend_from_slice(b"]");
    }
    out.freeze()
}

type ChunkResult = Result<Bytes, std::io::Error>;

/// The body's data as it arrives (trailers, which MCP does not use, are
/// skipped).
fn data_stream(
    upstream: UpstreamResponse,
) -> impl Stream<Item = Result<Bytes, UpstreamError>> + Send + 'static {
    http_body_util::BodyDataStream::<UpstreamBody>::new(upstream.into_body())
}

fn idle_limited(
    upstream: impl Stream<Item = Result<Bytes, UpstreamError>> + Send + 'static,
    idle: Option<Duration>,
) -> impl Stream<Item = ChunkResult> + Send + 'static {
    futures_util::stream::unfold(
        (Box::pin(upstream), false),
        move |(mut upstream, done)| async move {
            if done {
                return None;
            }
            let next = match idle {
                Some(limit) => match tokio::time::timeout(limit, upstream.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        let err = std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "upstream went silent",
                        );
                        return Some((Err(err), (upstream, true)));
                    }
                },
                None => upstream.next().await,
            };
            match next {
                None => None,
                Some(Ok(chunk)) => Some((Ok(chunk), (upstream, false))),
                Some(Err(err)) => Some((
                    Err(std::io::Error::other(err.to_string())),
                    (upstream, true),
                )),
            }
        },
    )
}

/// What the relay does to each upstream message besides passing it on.
pub struct Watch {
    pub lists: ListFilter,
    pub settlement: Option<Settlement>,
}

impl Watch {
    /// An SSE event as it goes out: a tool list is filtered, anything else
    /// keeps its original bytes; answers to limited calls settle them.
    fn event(&mut self, mut event: SseEvent) -> Bytes {
        let Some(data) = event.data() else {
            return event.to_bytes();
        };
        if let Some(settlement) = self.settlement.as_mut() {
            settlement.observe(data);
        }
        match filter_lists(data, &self.lists) {
            Ok(Some(filtered))
                if filtered.removed > 0 || self.lists.options.private_cache_scope =>
            {
                event.set_data(filtered.body);
                event.to_bytes()
            }
            _ => event.to_bytes(),
        }
    }

    /// The stream ended or broke: calls still unanswered were not served.
    fn finish(&mut self) {
        if let Some(settlement) = self.settlement.take() {
            settlement.fail();
        }
    }
}

struct SseRelay<S> {
    upstream: std::pin::Pin<Box<S>>,
    parser: SseParser,
    out: VecDeque<Bytes>,
    watch: Watch,
    done: bool,
}

/// Streams SSE event by event, never holding more than the event at hand.
fn sse_stream<S>(
    upstream: S,
    prefix: VecDeque<Bytes>,
    watch: Watch,
    idle: Option<Duration>,
) -> impl Stream<Item = ChunkResult> + Send + 'static
where
    S: Stream<Item = Result<Bytes, UpstreamError>> + Send + 'static,
{
    let state = SseRelay {
        upstream: Box::pin(idle_limited(upstream, idle)),
        parser: SseParser::new(),
        out: prefix,
        watch,
        done: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(bytes) = st.out.pop_front() {
                return Some((Ok(bytes), st));
            }
            if st.done {
                return None;
            }
            match st.upstream.next().await {
                None => {
                    st.done = true;
                    st.watch.finish();
                    let rest = std::mem::take(&mut st.parser).into_remainder();
                    if !rest.is_empty() {
                        st.out.push_back(rest);
                    }
                }
                Some(Err(err)) => {
                    st.done = true;
                    st.watch.finish();
                    return Some((Err(err), st));
                }
                Some(Ok(chunk)) => {
                    st.parser.push(&chunk);
                    loop {
                        match st.parser.next_event() {
                            Ok(Some(event)) => {
                                let bytes = st.watch.event(event);
                                st.out.push_back(bytes);
                            }
                            Ok(None) => break,
                            Err(err) => {
                                st.done = true;
                                st.watch.finish();
                                return Some((Err(std::io::Error::other(err.to_string())), st));
                            }
                        }
                    }
                }
            }
        }
    })
}

/// Largest JSON answer kept aside to settle a limited call.
const MAX_SETTLE_COPY: usize = 1024 * 1024;

/// Passes a JSON body through as it comes, keeping a copy to settle limited
/// calls once it is complete.
fn settle_at_end(
    stream: impl Stream<Item = ChunkResult> + Send + 'static,
    settlement: Option<Settlement>,
) -> impl Stream<Item = ChunkResult> + Send + 'static {
    // The copy is `None` once the answer outgrew it.
    let state = (Box::pin(stream), settlement, Some(BytesMut::new()));
    futures_util::stream::unfold(state, |(mut stream, mut settlement, mut copy)| async move {
        match stream.next().await {
            Some(Ok(chunk)) => {
                if settlement.is_some() {
                    copy = copy.filter(|c| c.len() + chunk.len() <= MAX_SETTLE_COPY);
                    if let Some(copy) = copy.as_mut() {
                        copy.extend_from_slice(&chunk);
                    }
                }
                Some((Ok(chunk), (stream, settlement, copy)))
            }
            Some(Err(err)) => {
                if let Some(settlement) = settlement.take() {
                    settlement.fail();
                }
                Some((Err(err), (stream, None, copy)))
            }
            None => {
                match (settlement.take(), copy) {
                    (Some(mut settlement), Some(copy)) => {
                        settle_json(&mut settlement, &copy);
                        settlement.fail();
                    }
                    (Some(settlement), None) => settlement.answered_unread(),
                    (None, _) => {}
                }
                None
            }
        }
    })
}

/// Observes every message of a JSON body (one message or a batch).
fn settle_json(settlement: &mut Settlement, body: &[u8]) {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'[') {
        return settlement.observe(body);
    }
    if let Ok(messages) = serde_json::from_slice::<Vec<&RawValue>>(body) {
        for message in messages {
            settlement.observe(message.get().as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn policy() -> Arc<CompiledPolicy> {
        Arc::new(
            toolgate_policy::parse(
                &json!({"version": "1", "default": "allow", "hide": ["get-env"]}),
            )
            .unwrap(),
        )
    }

    fn list_response(id: u32) -> String {
        json!({"jsonrpc": "2.0", "id": id, "result": {"tools": [{"name": "echo"}, {"name": "get-env"}], "nextCursor": "c2"}}).to_string()
    }

    fn ctx(batch: bool, local: Vec<Bytes>) -> RelayContext {
        RelayContext {
            lists: ListFilter {
                policy: policy(),
                options: FilterOptions::default(),
                pins: None,
            },
            lists_tools: true,
            local,
            batch,
            idle_timeout: None,
            request_id: None,
            session: None,
            settlement: None,
        }
    }

    #[test]
    fn json_tool_lists_are_filtered_and_local_answers_merged() {
        let out = rewrite_json(list_response(1).as_bytes(), &ctx(false, vec![]), None).unwrap();
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["result"]["tools"], json!([{"name": "echo"}]));
        assert_eq!(value["result"]["nextCursor"], "c2");

        let batch = format!("[{}]", list_response(1));
        let local = Bytes::from_static(br#"{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"Unknown tool: get-env"}}"#);
        let out = rewrite_json(batch.as_bytes(), &ctx(true, vec![local]), None).unwrap();
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value[0]["result"]["tools"].as_array().unwrap().len(), 1);
        assert_eq!(value[1]["id"], 2);
    }

    #[test]
    fn garbage_json_is_an_invalid_response() {
        assert!(matches!(
            rewrite_json(b"<html>", &ctx(false, vec![]), None),
            Err(UpstreamError::InvalidResponse(_))
        ));
    }

    #[tokio::test]
    async fn sse_streams_are_filtered_event_by_event_whatever_the_chunking() {
        let stream_text = format!(
            ": keep-alive\n\nevent: message\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{{\"progress\":1}}}}\n\nid: 7\nevent: message\ndata: {}\n\n",
            list_response(1)
        );
        for chunk_size in [1, 3, 17, 4096] {
            let chunks: Vec<Result<Bytes, UpstreamError>> = stream_text
                .as_bytes()
                .chunks(chunk_size)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            let prefix =
                VecDeque::from([SseEvent::message(Bytes::from_static(b"{\"local\":1}")).encode()]);
            let watch = Watch {
                lists: ListFilter {
                    policy: policy(),
                    options: FilterOptions::default(),
                    pins: None,
                },
                settlement: None,
            };
            let out: Vec<Bytes> =
                sse_stream(futures_util::stream::iter(chunks), prefix, watch, None)
                    .map(|c| c.unwrap())
                    .collect()
                    .await;
            let text = String::from_utf8(out.concat()).unwrap();
            assert!(text.starts_with("data: {\"local\":1}\n\n"), "{text}");
            assert!(text.contains(": keep-alive"));
            assert!(text.contains("notifications/progress"));
            assert!(text.contains("id: 7"));
            assert!(
                text.contains("\"echo\"") && !text.contains("get-env"),
                "chunk {chunk_size}: {text}"
            );
        }
    }

    fn upstream_json(body: &'static str, declared: bool) -> UpstreamResponse {
        use http_body_util::BodyExt;
        let mut response = http::Response::builder().header("content-type", "application/json");
        if declared {
            response = response.header("content-length", body.len());
        }
        // A stream of one chunk: no size of its own, like a chunked answer.
        let chunks = futures_util::stream::iter([Ok::<_, UpstreamError>(
            hyper::body::Frame::data(Bytes::from_static(body.as_bytes())),
        )]);
        let body = BodyExt::boxed(http_body_util::StreamBody::new(chunks));
        response.body(body).unwrap()
    }

    #[tokio::test]
    async fn small_json_answers_go_out_whole_and_unsized_ones_stream() {
        use axum::body::HttpBody as _;
        let text = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[]}}"#;
        let mut context = ctx(false, vec![]);
        context.lists_tools = false;
        let whole = relay(upstream_json(text, true), context).await.unwrap();
        assert_eq!(whole.body().size_hint().exact(), Some(text.len() as u64));
        let body = axum::body::to_bytes(whole.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], text.as_bytes(), "relayed byte for byte");

        let mut context = ctx(false, vec![]);
        context.lists_tools = false;
        let streamed = relay(upstream_json(text, false), context).await.unwrap();
        assert_eq!(streamed.body().size_hint().exact(), None);
        let body = axum::body::to_bytes(streamed.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], text.as_bytes());
    }
}
