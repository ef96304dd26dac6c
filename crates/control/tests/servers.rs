//! Upstream servers: CRUD, gateway URLs, encrypted headers, the SSRF guard.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::{Dns, TestApp, PUBLIC_URL};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../../migrations")]
async fn server_crud_with_gateway_urls(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;

    let created = app.create_server(&token, "github").await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("srv_"));
    assert_eq!(
        created["gateway_url"],
        format!("{PUBLIC_URL}/mcp/acme/github")
    );
    assert_eq!(created["url"], "https://93.184.216.34/mcp");
    assert_eq!(created["header_names"], json!(["authorization"]));
    assert_eq!(created["timeout_ms"], 30000);

    let fetched = app.get(&format!("/v1/servers/{id}"), &token).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body["gateway_url"], created["gateway_url"]);

    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/servers/{id}"),
            Some(&token),
            Some(json!({"name": "gh", "timeout_ms": 5000})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.raw);
    assert_eq!(
        patched.body["gateway_url"],
        format!("{PUBLIC_URL}/mcp/acme/gh")
    );
    assert_eq!(patched.body["timeout_ms"], 5000);
    assert_eq!(
        patched.body["header_names"],
        json!(["authorization"]),
        "headers untouched unless given"
    );

    let listed = app.get("/v1/servers", &token).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["name"], "gh");
    assert!(listed.body["next_cursor"].is_null());

    let deleted = app
        .call(
            Method::DELETE,
            &format!("/v1/servers/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    app.get(&format!("/v1/servers/{id}"), &token)
        .await
        .problem(StatusCode::NOT_FOUND);
    app.call(
        Method::DELETE,
        &format!("/v1/servers/{id}"),
        Some(&token),
        None,
    )
    .await
    .problem(StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../../migrations")]
async fn names_are_unique_per_account_only(pool: PgPool) {
    let app = TestApp::new(pool);
    let (a, _) = app.signup("a@example.com", "A").await;
    let (b, _) = app.signup("b@example.com", "B").await;
    app.create_server(&a, "github").await;
    let dup = app
        .post(
            "/v1/servers",
            &a,
            json!({"name": "github", "url": "https://93.184.216.34/"}),
        )
        .await;
    dup.problem(StatusCode::CONFLICT);
    app.create_server(&b, "github").await;

    let other = app.create_server(&a, "other").await;
    let renamed = app
        .call(
            Method::PATCH,
            &format!("/v1/servers/{}", other["id"].as_str().unwrap()),
            Some(&a),
            Some(json!({"name": "github"})),
        )
        .await;
    renamed.problem(StatusCode::CONFLICT);
}

#[sqlx::test(migrations = "../../migrations")]
async fn header_values_are_encrypted_at_rest_and_never_returned(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let secret = "Bearer upstream-secret-value";
    let created = app.create_server(&token, "github").await;
    let id = created["id"].as_str().unwrap();

    let raw = sqlx::query_scalar!(r#"SELECT headers_enc AS "headers_enc!" FROM servers"#)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(raw.len() > 28, "nonce, ciphertext and tag are stored");
    let raw_text = String::from_utf8_lossy(&raw);
    assert!(!raw_text.contains("upstream-secret-value"));
    let row_text = sqlx::query_scalar!(r#"SELECT row_to_json(s)::text AS "row!" FROM servers s"#)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(!row_text.contains("upstream-secret-value"), "{row_text}");

    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/servers/{id}"),
            Some(&token),
            Some(json!({"url": "https://93.184.216.35/mcp"})),
        )
        .await;
    for response in [
        app.get(&format!("/v1/servers/{id}"), &token).await.raw,
        app.get("/v1/servers", &token).await.raw,
        patched.raw,
        created.to_string(),
    ] {
        assert!(!response.contains("upstream-secret-value"), "{response}");
        assert!(!response.contains(secret));
    }

    let replaced = app
        .call(
            Method::PATCH,
            &format!("/v1/servers/{id}"),
            Some(&token),
            Some(json!({"headers": {"X-Api-Key": "k2"}})),
        )
        .await;
    assert_eq!(replaced.body["header_names"], json!(["x-api-key"]));
    let cleared = app
        .call(
            Method::PATCH,
            &format!("/v1/servers/{id}"),
            Some(&token),
            Some(json!({"headers": {}})),
        )
        .await;
    assert_eq!(cleared.body["header_names"], json!([]));
    let raw = sqlx::query_scalar!("SELECT headers_enc FROM servers")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(raw.is_none());
}

#[sqlx::test(migrations = "../../migrations")]
async fn stored_headers_decrypt_with_the_key_for_the_gateway(pool: PgPool) {
    use toolgate_store::secrets::SecretKey;
    let key = SecretKey::generate();
    let account = toolgate_store::accounts::create_with_owner(
        &pool,
        toolgate_store::accounts::NewAccount {
            name: "A",
            slug_base: "a",
            email: "a@example.com",
            password_hash: "x",
        },
    )
    .await
    .unwrap()
    .0;
    let headers: toolgate_store::servers::Headers =
        [("authorization".to_owned(), "Bearer s3cret".to_owned())]
            .into_iter()
            .collect();
    // Values never reach a Debug line.
    assert_eq!(format!("{headers:?}"), r#"{"authorization"}"#);
    let server = toolgate_store::servers::create(
        &pool,
        &key,
        account.id,
        toolgate_store::servers::NewServer {
            name: &toolgate_store::servers::ServerName::parse("s").unwrap(),
            url: "https://93.184.216.34/",
            headers: &headers,
            timeout_ms: None,
            new_tools: None,
        },
    )
    .await
    .unwrap();
    let opened = toolgate_store::servers::upstream_headers(&pool, &key, account.id, server.id)
        .await
        .unwrap();
    let opened: Vec<_> = opened.expose().collect();
    assert_eq!(opened, [("authorization", "Bearer s3cret")]);
    let wrong_key = toolgate_store::servers::upstream_headers(
        &pool,
        &SecretKey::generate(),
        account.id,
        server.id,
    )
    .await;
    assert!(wrong_key.is_err());
}

#[sqlx::test(migrations = "../../migrations")]
async fn private_upstreams_are_refused_unless_allowed(pool: PgPool) {
    let strict = TestApp::new(pool.clone());
    let (token, _) = strict.signup("ada@example.com", "Acme").await;
    for url in [
        "http://127.0.0.1:3000/mcp",
        "http://localhost/mcp",
        "http://10.1.2.3/",
        "http://169.254.169.254/",
        "http://[::1]/",
        // IPv6 forms that carry an internal IPv4 address.
        "http://[::127.0.0.1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:0:a9fe:a9fe]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[64:ff9b:1::a00:1]/",
        "http://[2002:7f00:1::]/",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    ] {
        let r = strict
            .post("/v1/servers", &token, json!({"name": "s", "url": url}))
            .await;
        assert_eq!(r.error_paths(), vec!["/url"], "{url}");
    }
    let r = strict
        .post(
            "/v1/servers",
            &token,
            json!({"name": "s", "url": "ftp://93.184.216.34/"}),
        )
        .await;
    assert_eq!(r.error_paths(), vec!["/url"]);

    let relaxed = TestApp::with_settings(pool, true);
    let r = relaxed
        .post(
            "/v1/servers",
            &token,
            json!({"name": "local", "url": "http://127.0.0.1:3000/mcp"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_name_resolving_inside_is_refused_with_the_address_it_resolved_to(pool: PgPool) {
    let dns = Arc::new(Dns::default());
    dns.answer("mcp.tenant.example", "172.20.0.5");
    dns.answer("public.tenant.example", "93.184.216.34");
    let app = TestApp::with_resolver(
        pool,
        Arc::new(toolgate_store::secrets::SecretKey::generate()),
        dns,
    );
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let r = app
        .post(
            "/v1/servers",
            &token,
            json!({"name": "s", "url": "https://mcp.tenant.example/mcp"}),
        )
        .await;
    assert_eq!(r.error_paths(), vec!["/url"]);
    assert_eq!(
        r.body["errors"][0]["message"],
        "mcp.tenant.example resolves to an internal address: 172.20.0.5 is in 172.16.0.0/12 \
         (Private-Use, RFC 1918); Toolgate does not call private or internal addresses unless \
         TOOLGATE_ALLOW_PRIVATE_UPSTREAMS=true"
    );
    let r = app
        .post(
            "/v1/servers",
            &token,
            json!({"name": "s", "url": "https://public.tenant.example/mcp"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
}

#[sqlx::test(migrations = "../../migrations")]
async fn invalid_servers_report_every_field(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let r = app
        .post(
            "/v1/servers",
            &token,
            json!({"name": "Not A Slug", "url": "nope", "headers": {"Host": "x", "X-Ok": "fine"}, "timeout_ms": 5}),
        )
        .await;
    assert_eq!(
        r.error_paths(),
        vec!["/name", "/url", "/headers/Host", "/timeout_ms"]
    );
    let count = sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM servers"#)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[sqlx::test(migrations = "../../migrations")]
async fn lists_paginate_with_cursors(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    for i in 0..5 {
        app.create_server(&token, &format!("s{i}")).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/servers?limit=2&cursor={c}"),
            None => "/v1/servers?limit=2".to_owned(),
        };
        let page = app.get(&path, &token).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.raw);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|s| s["name"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vec!["s0", "s1", "s2", "s3", "s4"]);
    app.get("/v1/servers?cursor=bogus", &token)
        .await
        .problem(StatusCode::BAD_REQUEST);
    app.get("/v1/servers?limit=abc", &token)
        .await
        .problem(StatusCode::BAD_REQUEST);
}
