//! A fast, stateless upstream MCP server for benchmarks: Streamable HTTP with
//! JSON answers, `initialize`, `tools/list` (60 tools) and an `echo` tool.

use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use clap::Parser;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(
    about = "A fast stateless MCP server answering initialize, tools/list and tools/call echo"
)]
struct Args {
    /// Address to listen on (loopback only in benchmarks).
    #[arg(long, default_value = "127.0.0.1:9100")]
    listen: String,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    id: Option<Value>,
    method: Option<String>,
    #[serde(default)]
    params: Value,
}

struct Catalogue {
    tools_list: Value,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let tools: Vec<Value> = toolgate_testkit::tool_names()
        .into_iter()
        .map(|name| {
            json!({
                "name": name,
                "description": format!("{name}: a benchmark tool"),
                "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}
            })
        })
        .collect();
    let catalogue = Arc::new(Catalogue {
        tools_list: json!({"tools": tools}),
    });
    let app = axum::Router::new()
        .route("/mcp", post(answer).get(not_allowed).delete(not_allowed))
        .with_state(catalogue);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn not_allowed() -> StatusCode {
    StatusCode::METHOD_NOT_ALLOWED
}

async fn answer(State(catalogue): State<Arc<Catalogue>>, body: Bytes) -> Response {
    let message: Message = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(_) => {
            return json_reply(json!({"jsonrpc": "2.0", "id": null,
                "error": {"code": -32700, "message": "Parse error"}}))
        }
    };
    let Some(id) = message.id else {
        // A notification (e.g. notifications/initialized) or a response.
        return StatusCode::ACCEPTED.into_response();
    };
    let result = match message.method.as_deref() {
        Some("initialize") => json!({
            "protocolVersion": message.params["protocolVersion"].as_str().unwrap_or("2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "toolgate-upstream", "version": env!("CARGO_PKG_VERSION")}
        }),
        Some("ping") => json!({}),
        Some("tools/list") => catalogue.tools_list.clone(),
        Some("tools/call") => {
            let name = message.params["name"].as_str().unwrap_or("");
            if name == "echo" {
                let text = match &message.params["arguments"]["text"] {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                json!({"content": [{"type": "text", "text": text}]})
            } else if name.starts_with("tool_") {
                json!({"content": [{"type": "text", "text": "ok"}]})
            } else {
                return json_reply(json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32602, "message": format!("Unknown tool: {name}")}}));
            }
        }
        _ => {
            return json_reply(json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": "Method not found"}}))
        }
    };
    json_reply(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

fn json_reply(value: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}
