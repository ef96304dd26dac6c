//! Calls to upstream MCP servers: forwarded headers chosen by allowlist, the
//! server's own credentials added, the SSRF guard applied to every address
//! connected to, and a deadline on every call.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Method};
use toolgate_mcp::headers::{
    LAST_EVENT_ID, MCP_METHOD, MCP_NAME, MCP_PARAM_PREFIX, MCP_PROTOCOL_VERSION,
};
use url::Host;

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

#[derive(Clone)]
pub struct UpstreamClient {
    client: reqwest::Client,
    allow_private: bool,
}

impl UpstreamClient {
    pub fn new(allow_private: bool) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            // A redirect could lead anywhere, including past the guard.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true);
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(toolgate_netguard::GuardedResolver));
        }
        Ok(Self {
            client: builder.build()?,
            allow_private,
        })
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
    ) -> Result<reqwest::Response, UpstreamError> {
        self.check_literal_address(server)?;
        let mut headers = forwarded_headers(agent_headers);
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
        let mut request = self
            .client
            .request(method, server.url.clone())
            .headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        match tokio::time::timeout(server.timeout, request.send()).await {
            Err(_) => Err(UpstreamError::Timeout(server.timeout)),
            Ok(Err(err)) => Err(describe(err)),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// The resolver guards names; literal addresses skip it, so check here.
    fn check_literal_address(&self, server: &ServerConfig) -> Result<(), UpstreamError> {
        if self.allow_private {
            return Ok(());
        }
        let ip = match server.url.host() {
            Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
            Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
            _ => return Ok(()),
        };
        if toolgate_netguard::is_internal(ip) {
            return Err(UpstreamError::Forbidden(format!(
                "{ip} is a private or internal address"
            )));
        }
        Ok(())
    }
}

fn forwarded_headers(agent: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in agent {
        let name_str = name.as_str();
        if FORWARDED.contains(&name_str) || name_str.starts_with(MCP_PARAM_PREFIX) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

/// A transport error, said without the URL (its query may hold secrets).
pub fn describe(err: reqwest::Error) -> UpstreamError {
    let timeout = err.is_timeout();
    let connect = err.is_connect();
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    // reqwest's own text is generic; the innermost cause says what happened.
    while let Some(cause) = source {
        text = cause.to_string();
        source = cause.source();
    }
    if timeout {
        UpstreamError::Unreachable(format!("timed out: {text}"))
    } else if connect && text.contains("not allowed") {
        UpstreamError::Forbidden(text)
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
        let forwarded = forwarded_headers(&agent);
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
