//! Calls to upstream MCP servers: forwarded headers chosen by allowlist, the
//! server's own credentials added, the SSRF guard applied to every address
//! connected to, and a deadline on every call.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method, Request};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use toolgate_mcp::headers::{
    LAST_EVENT_ID, MCP_METHOD, MCP_NAME, MCP_PARAM_PREFIX, MCP_PROTOCOL_VERSION,
};
use toolgate_netguard::OutboundGuard;

use crate::dial::GuardedConnector;
use crate::snapshot::ServerConfig;

/// Request headers an agent may pass to the upstream. Everything else (its
/// `Authorization`, `Cookie`, `Origin`, hop-by-hop headers) stays here.
const FORWARDED: [&str; 6] = [
    "content-type",
    "accept",
    MCP_PROTOCOL_VERSION,
    MCP_METHOD,
    MCP_NAME,
    LAST_EVENT_ID,
];

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream MCP server is unreachable: {0}")]
    Unreachable(String),
    #[error("the upstream MCP server did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the upstream MCP server's address is not allowed: {0}")]
    Forbidden(String),
    #[error("the upstream MCP server sent an invalid response: {0}")]
    InvalidResponse(String),
}

/// An upstream's answer; its body yields data as the upstream sends it.
pub type UpstreamResponse = http::Response<UpstreamBody>;
pub type UpstreamBody = BoxBody<Bytes, UpstreamError>;

type Connector = HttpsConnector<GuardedConnector>;

/// The gateway's HTTP client for upstreams: hyper's pooled HTTP/1.1 client
/// over rustls, without a general-purpose client's per-request layers
/// (redirects are never followed: one could lead past the address guard).
/// Every connection it makes passes the address guard (see [`crate::dial`]).
#[derive(Clone)]
pub struct UpstreamClient {
    client: Client<Connector, Full<Bytes>>,
}

impl UpstreamClient {
    /// A client resolving with the system's resolver; `allow_private` is
    /// `TOOLGATE_ALLOW_PRIVATE_UPSTREAMS`.
    pub fn new(allow_private: bool) -> std::io::Result<Self> {
        Self::with_guard(OutboundGuard::new(allow_private))
    }

    /// A client whose connections `guard` admits.
    pub fn with_guard(guard: OutboundGuard) -> std::io::Result<Self> {
        let http = GuardedConnector::new(guard, |http| {
            // https:// URLs are handed to the TLS layer.
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_connect_timeout(Some(Duration::from_secs(10)));
        });
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("loading the system's root certificates: {e}"),
                )
            })?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self { client })
    }

    /// Sends one request and waits, up to the server's timeout, for the
    /// response head. The body is the caller's to stream.
    pub async fn send(
        &self,
        server: &ServerConfig,
        method: Method,
        agent_headers: &HeaderMap,
        session: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let mut request = Request::new(Full::new(body.unwrap_or_default()));
        *request.method_mut() = method;
        *request.uri_mut() = server.uri.clone();
        let headers = request.headers_mut();
        forward_headers(agent_headers, headers);
        if let Some(session) = session {
            let value = session
                .parse()
                .map_err(|_| UpstreamError::InvalidResponse("unusable session id".to_owned()))?;
            headers.insert(
                HeaderName::from_static(toolgate_mcp::headers::MCP_SESSION_ID),
                value,
            );
        }
        for (name, value) in &server.headers {
            headers.insert(name.clone(), value.clone());
        }
        match tokio::time::timeout(server.timeout, self.client.request(request)).await {
            Err(_) => Err(UpstreamError::Timeout(server.timeout)),
            Ok(Err(err)) => Err(describe(&err)),
            Ok(Ok(response)) => Ok(response.map(|body| {
                body.map_err(|err| UpstreamError::Unreachable(innermost(&err)))
                    .boxed()
            })),
        }
    }
}

fn forward_headers(agent: &HeaderMap, into: &mut HeaderMap) {
    for (name, value) in agent {
        let name_str = name.as_str();
        if FORWARDED.contains(&name_str) || name_str.starts_with(MCP_PARAM_PREFIX) {
            into.append(name.clone(), value.clone());
        }
    }
}

/// The innermost cause of an error: the outer layers' text is generic.
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A transport error, said without the URL (its query may hold secrets). A
/// refusal by the address guard names the refused address only.
fn describe(err: &(dyn std::error::Error + 'static)) -> UpstreamError {
    if let Some(refused) = toolgate_netguard::find_refusal(err) {
        return UpstreamError::Forbidden(refused.to_string());
    }
    let text = innermost(err);
    if text.contains("timed out") || text.contains("timeout") {
        UpstreamError::Unreachable(format!("timed out: {text}"))
    } else {
        UpstreamError::Unreachable(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn only_allowlisted_headers_are_forwarded() {
        let mut agent = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer agent-token"),
            ("cookie", "session=1"),
            ("origin", "https://evil.example"),
            ("host", "gateway"),
            ("connection", "keep-alive"),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2025-06-18"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "echo"),
            ("mcp-param-region", "eu"),
            ("mcp-session-id", "sealed.tag"),
            ("last-event-id", "42"),
        ] {
            agent.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let mut forwarded = HeaderMap::new();
        forward_headers(&agent, &mut forwarded);
        for gone in [
            "authorization",
            "cookie",
            "origin",
            "host",
            "connection",
            "mcp-session-id",
        ] {
            assert!(!forwarded.contains_key(gone), "{gone} was forwarded");
        }
        for kept in [
            "content-type",
            "accept",
            "mcp-protocol-version",
            "mcp-method",
            "mcp-name",
            "mcp-param-region",
            "last-event-id",
        ] {
            assert!(forwarded.contains_key(kept), "{kept} was dropped");
        }
    }
}
