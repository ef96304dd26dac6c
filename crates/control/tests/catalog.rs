//! The tool catalog over the API: discovery of a real (loopback) upstream,
//! verdicts and policy treatment, the recommended policy's round trip, the
//! account-wide list, failures as statuses, and tenant walls.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use common::TestApp;
use serde_json::{json, Value};
use sqlx::PgPool;

/// A legacy MCP server on loopback listing three tools and a prompt.
async fn upstream() -> String {
    let handler = |body: String| async move {
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let id = body["id"].clone();
        let result = match body["method"].as_str().unwrap_or_default() {
            "initialize" => json!({"protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}, "prompts": {}}}),
            "notifications/initialized" => return axum::http::StatusCode::ACCEPTED.into_response(),
            "tools/list" => json!({"tools": [
                {"name": "read_file", "description": "Reads a file and returns its contents",
                 "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}}},
                {"name": "delete_repository", "description": "Permanently deletes a repository",
                 "inputSchema": {"type": "object", "properties": {"repo": {"type": "string"}}}},
                {"name": "run_shell", "description": "Executes a shell command",
                 "inputSchema": {"type": "object", "properties": {"command": {"type": "string"}}}}
            ]}),
            "prompts/list" => json!({"prompts": [{"name": "summarise"}]}),
            _ => return axum::http::StatusCode::NOT_FOUND.into_response(),
        };
        (
            [("content-type", "application/json")],
            json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string(),
        )
            .into_response()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        async move { axum::serve(listener, Router::new().route("/mcp", post(handler))).await },
    );
    format!("http://{addr}/mcp")
}

async fn register(app: &TestApp, token: &str, name: &str, url: &str) -> String {
    let created = app
        .post("/v1/servers", token, json!({"name": name, "url": url}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.raw);
    created.body["id"].as_str().unwrap().to_owned()
}

fn tool<'a>(listing: &'a Value, name: &str) -> &'a Value {
    listing["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed: {listing}"))
}

#[sqlx::test(migrations = "../../migrations")]
async fn discovered_tools_are_judged_and_the_recommendation_applies(pool: PgPool) {
    let app = TestApp::with_settings(pool, true);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let url = upstream().await;
    let id = register(&app, &token, "files", &url).await;

    let refreshed = app
        .post(
            &format!("/v1/servers/{id}/tools/refresh"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.raw);
    assert_eq!(refreshed.body["status"], "ok", "{}", refreshed.raw);
    assert_eq!(refreshed.body["tool_count"], 3);

    let server = app.get(&format!("/v1/servers/{id}"), &token).await;
    assert_eq!(server.body["catalog"]["status"], "ok");
    assert_eq!(
        server.body["catalog"]["era"], "legacy",
        "it only speaks initialize"
    );
    assert_eq!(server.body["trusted"], false);

    let listing = app.get(&format!("/v1/servers/{id}/tools"), &token).await;
    assert_eq!(listing.status, StatusCode::OK, "{}", listing.raw);
    let read = tool(&listing.body, "read_file");
    assert_eq!(read["category"], "read");
    assert!(read["hash"].as_str().unwrap().starts_with("sha256:"));
    assert!(!read["reasons"].as_array().unwrap().is_empty());
    assert_eq!(read["history"][0]["kind"], "added");
    let delete = tool(&listing.body, "delete_repository");
    assert_eq!(delete["category"], "destructive");
    // No policy yet: the gateway's closed default denies everything.
    assert_eq!(delete["policy"]["action"], "denied");
    assert_eq!(delete["policy"]["pointer"], "/default");
    assert_eq!(listing.body["prompts"][0]["entry"]["name"], "summarise");

    let recommended = app
        .get(&format!("/v1/servers/{id}/policy/recommended"), &token)
        .await;
    assert_eq!(recommended.status, StatusCode::OK, "{}", recommended.raw);
    assert_eq!(recommended.body["tools"].as_array().unwrap().len(), 3);
    let put = app
        .call(
            Method::PUT,
            &format!("/v1/servers/{id}/policy"),
            Some(&token),
            Some(recommended.body["policy"].clone()),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.raw);
    let after = app.get(&format!("/v1/servers/{id}/tools"), &token).await;
    assert_eq!(tool(&after.body, "read_file")["policy"]["visible"], true);
    assert_ne!(
        tool(&after.body, "delete_repository")["policy"]["action"],
        "allowed",
        "a destructive tool is not simply allowed by the recommendation"
    );

    let destructive = app.get("/v1/tools?category=destructive", &token).await;
    assert_eq!(destructive.status, StatusCode::OK, "{}", destructive.raw);
    let names: Vec<_> = destructive.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["delete_repository"]);
    let paged = app
        .get(&format!("/v1/tools?server={id}&limit=2"), &token)
        .await;
    assert_eq!(paged.body["items"].as_array().unwrap().len(), 2);
    let cursor = paged.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/v1/tools?limit=2&cursor={cursor}"), &token)
        .await;
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 1);
    assert!(rest.body["next_cursor"].is_null());
    let bad = app.get("/v1/tools?risk=extreme", &token).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_paths(), ["risk"]);

    // Trusting the server is a PATCH.
    let trusted = app
        .call(
            Method::PATCH,
            &format!("/v1/servers/{id}"),
            Some(&token),
            Some(json!({"trusted": true})),
        )
        .await;
    assert_eq!(trusted.body["trusted"], true, "{}", trusted.raw);

    // Another account sees none of it.
    let (other, _) = app.signup("eve@example.com", "Evil").await;
    for path in [
        format!("/v1/servers/{id}/tools"),
        format!("/v1/servers/{id}/policy/recommended"),
    ] {
        assert_eq!(
            app.get(&path, &other).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let refresh = app
        .post(
            &format!("/v1/servers/{id}/tools/refresh"),
            &other,
            json!({}),
        )
        .await;
    assert_eq!(refresh.status, StatusCode::NOT_FOUND);
    let theirs = app.get(&format!("/v1/tools?server={id}"), &other).await;
    assert_eq!(theirs.body["items"], json!([]));
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_failed_discovery_is_a_status_and_keeps_the_last_catalog(pool: PgPool) {
    let app = TestApp::with_settings(pool, true);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/mcp", listener.local_addr().unwrap());
    drop(listener);
    let id = register(&app, &token, "down", &closed).await;
    let refreshed = app
        .post(
            &format!("/v1/servers/{id}/tools/refresh"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.raw);
    assert_eq!(refreshed.body["status"], "unreachable");
    assert!(refreshed.body["checked_at"].is_string());

    // Found once, then gone: the tools stay listed under the new status.
    let url = upstream().await;
    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/servers/{id}"),
            Some(&token),
            Some(json!({"url": url})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    let ok = app
        .post(
            &format!("/v1/servers/{id}/tools/refresh"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(ok.body["status"], "ok");
    app.call(
        Method::PATCH,
        &format!("/v1/servers/{id}"),
        Some(&token),
        Some(json!({"url": closed})),
    )
    .await;
    let failed = app
        .post(
            &format!("/v1/servers/{id}/tools/refresh"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(failed.body["status"], "unreachable");
    let listing = app.get(&format!("/v1/servers/{id}/tools"), &token).await;
    assert_eq!(listing.body["tools"].as_array().unwrap().len(), 3);
    assert_eq!(listing.body["catalog"]["status"], "unreachable");
}
