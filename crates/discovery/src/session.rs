//! One conversation with an upstream, in the era it speaks: a 2026-07-28
//! server answers `server/discover` and every request carries its `_meta`;
//! any other answer to that probe means a legacy server, which gets the
//! `initialize` handshake and, if it issues one, its session id on every
//! request after.

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use toolgate_mcp::headers::{Era, MCP_METHOD, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use url::Url;

use crate::failure::{Failure, Status};
use crate::limits::Budget;
use crate::wire::{self, Answer, MODERN_VERSION};

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// An open conversation.
pub struct Session<'c> {
    client: &'c reqwest::Client,
    url: &'c Url,
    /// The upstream's own headers (its credentials), sent on every request.
    headers: &'c HeaderMap,
    pub era: Era,
    protocol_version: String,
    session_id: Option<HeaderValue>,
    next_id: u64,
    pub budget: Budget,
    /// What the server said it offers (`tools`, `resources`, `prompts`…).
    pub capabilities: Value,
}

impl<'c> Session<'c> {
    /// Opens a conversation: the modern probe, else the legacy handshake.
    pub async fn open(
        client: &'c reqwest::Client,
        url: &'c Url,
        headers: &'c HeaderMap,
        budget: Budget,
    ) -> Result<Session<'c>, Failure> {
        let mut session = Session {
            client,
            url,
            headers,
            era: Era::Modern,
            protocol_version: MODERN_VERSION.to_owned(),
            session_id: None,
            next_id: 1,
            budget,
            capabilities: Value::Null,
        };
        match session.probe_modern().await {
            Ok(Some(capabilities)) => {
                session.capabilities = capabilities;
                return Ok(session);
            }
            Ok(None) => {}
            Err(failure) => return Err(failure),
        }
        session.era = Era::Legacy;
        session.protocol_version = wire::LEGACY_VERSION.to_owned();
        session.initialize().await?;
        Ok(session)
    }

    /// `server/discover`: the server's capabilities when it speaks
    /// 2026-07-28, `None` when its answer says it does not.
    async fn probe_modern(&mut self) -> Result<Option<Value>, Failure> {
        let id = self.take_id();
        let body = wire::request(id, "server/discover", wire::with_modern_meta(json!({})));
        let response = self.post(&body, Some("server/discover")).await?;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(unauthorized(status));
        }
        if !status.is_success() {
            // A legacy server refuses a request before `initialize` (400,
            // 404, 405…): fall back.
            return Ok(None);
        }
        match wire::read_answer(response, id, &mut self.budget).await {
            Ok(Ok(result)) => {
                let speaks_modern = match result.get("supportedVersions") {
                    Some(Value::Array(versions)) => versions.iter().any(|v| v == MODERN_VERSION),
                    _ => true,
                };
                Ok(speaks_modern
                    .then(|| result.get("capabilities").cloned().unwrap_or(Value::Null)))
            }
            // Method not found, or anything else: try the handshake.
            Ok(Err(_)) => Ok(None),
            Err(failure) if matches!(failure.status, Status::TooLarge | Status::Timeout) => {
                Err(failure)
            }
            Err(_) => Ok(None),
        }
    }

    /// The legacy handshake: `initialize`, then `notifications/initialized`.
    async fn initialize(&mut self) -> Result<(), Failure> {
        let id = self.take_id();
        let body = wire::request(id, "initialize", wire::initialize_params());
        let response = self.post(&body, None).await?;
        if !response.status().is_success() {
            return Err(http_failure(response, &mut self.budget).await);
        }
        self.session_id = response.headers().get(MCP_SESSION_ID).cloned();
        let result = match wire::read_answer(response, id, &mut self.budget).await? {
            Ok(result) => result,
            Err(error) => {
                return Err(Failure::new(
                    Status::Error,
                    format!(
                        "the upstream refused initialize: {} (JSON-RPC {})",
                        error.message, error.code
                    ),
                ))
            }
        };
        match result.get("protocolVersion").and_then(Value::as_str) {
            Some(version) if !version.is_empty() && version.len() <= 32 => {
                version.clone_into(&mut self.protocol_version);
            }
            _ => {
                return Err(Failure::new(
                    Status::NotMcp,
                    "the upstream's initialize result has no protocolVersion",
                ))
            }
        }
        self.capabilities = result.get("capabilities").cloned().unwrap_or(Value::Null);
        let initialized = wire::notification("notifications/initialized");
        let response = self.post(&initialized, None).await?;
        if !response.status().is_success() {
            tracing::debug!(status = %response.status(), "upstream refused notifications/initialized");
        }
        Ok(())
    }

    /// Calls `method` and returns its result; a JSON-RPC error is a failure.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, Failure> {
        match self.request(method, params).await? {
            Ok(result) => Ok(result),
            Err(error) => Err(Failure::new(
                Status::Error,
                format!(
                    "the upstream answered {method} with an error: {} (JSON-RPC {})",
                    error.message, error.code
                ),
            )),
        }
    }

    async fn request(&mut self, method: &str, params: Value) -> Result<Answer, Failure> {
        let id = self.take_id();
        let params = match self.era {
            Era::Modern => wire::with_modern_meta(params),
            Era::Legacy => params,
        };
        let body = wire::request(id, method, params);
        let response = self.post(&body, Some(method)).await?;
        if !response.status().is_success() {
            return Err(http_failure(response, &mut self.budget).await);
        }
        wire::read_answer(response, id, &mut self.budget).await
    }

    /// Ends a legacy session (best effort: the server may not support it).
    pub async fn close(self) {
        let Some(session_id) = &self.session_id else {
            return;
        };
        let result = self
            .client
            .delete(self.url.clone())
            .headers(self.headers.clone())
            .header(MCP_SESSION_ID, session_id)
            .header(MCP_PROTOCOL_VERSION, self.protocol_version.as_str())
            .send()
            .await;
        if let Err(error) = result {
            tracing::debug!(error = %error.without_url(), "could not end the upstream session");
        }
    }

    async fn post(&self, body: &Value, method: Option<&str>) -> Result<Response, Failure> {
        let mut request = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, ACCEPT_BOTH)
            .header(MCP_PROTOCOL_VERSION, self.protocol_version.as_str())
            .body(body.to_string());
        if let (Era::Modern, Some(method)) = (self.era, method) {
            request = request.header(MCP_METHOD, method);
        }
        if let Some(session_id) = &self.session_id {
            request = request.header(MCP_SESSION_ID, session_id);
        }
        request
            .send()
            .await
            .map_err(|e| Failure::from_transport(&e))
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }
}

fn unauthorized(status: StatusCode) -> Failure {
    Failure::new(
        Status::Unauthorized,
        format!(
            "the upstream answered HTTP {}: check the server's headers (e.g. Authorization)",
            status.as_u16()
        ),
    )
}

/// The failure an unsuccessful HTTP answer stands for.
async fn http_failure(mut response: Response, budget: &mut Budget) -> Failure {
    let status = response.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return unauthorized(status);
    }
    if status.is_redirection() {
        return Failure::new(
            Status::NotMcp,
            format!(
                "the upstream answered with a redirect (HTTP {}); register the URL it redirects to",
                status.as_u16()
            ),
        );
    }
    let kind = wire::body_kind(&response);
    let rpc_error = match kind {
        wire::BodyKind::Json => match wire::read_body(&mut response, budget).await {
            Ok(body) => wire::error_in(&body),
            Err(failure) => return failure,
        },
        _ => None,
    };
    match rpc_error {
        Some(error) => Failure::new(
            Status::Error,
            format!(
                "the upstream answered HTTP {}: {} (JSON-RPC {})",
                status.as_u16(),
                error.message,
                error.code
            ),
        ),
        None if status.is_server_error() => Failure::new(
            Status::Error,
            format!("the upstream answered HTTP {}", status.as_u16()),
        ),
        None => Failure::new(
            Status::NotMcp,
            format!(
                "the upstream answered HTTP {} without a JSON-RPC error: is the URL its MCP endpoint?",
                status.as_u16()
            ),
        ),
    }
}
