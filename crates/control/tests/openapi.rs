//! The OpenAPI document and the router agree: every documented operation is
//! served, every other method on a documented path is 405, and the document
//! holds exactly the contract's routes.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use common::TestApp;
use sqlx::PgPool;

const CONTRACT: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/signup"),
    ("POST", "/v1/signup/verify"),
    ("GET", "/v1/signup/verify"),
    ("POST", "/v1/login"),
    ("POST", "/v1/session"),
    ("DELETE", "/v1/session"),
    ("POST", "/v1/session/switch"),
    ("GET", "/v1/usage"),
    ("GET", "/v1/usage/grants"),
    ("GET", "/v1/servers/{id}/tools/{name}/pinned"),
    ("POST", "/v1/logout"),
    ("POST", "/v1/logout/everywhere"),
    ("GET", "/v1/me"),
    ("POST", "/v1/me/switch"),
    ("POST", "/v1/me/password"),
    ("POST", "/v1/password-reset"),
    ("POST", "/v1/password-reset/confirm"),
    ("GET", "/v1/account"),
    ("PATCH", "/v1/account"),
    ("POST", "/v1/account/handover"),
    ("GET", "/v1/account/events"),
    ("GET", "/v1/account/events/export"),
    ("GET", "/v1/members"),
    ("PATCH", "/v1/members/{id}"),
    ("DELETE", "/v1/members/{id}"),
    ("POST", "/v1/members/{id}/password-reset"),
    ("POST", "/v1/invitations"),
    ("GET", "/v1/invitations"),
    ("DELETE", "/v1/invitations/{id}"),
    ("POST", "/v1/invitations/accept"),
    ("POST", "/v1/api-keys"),
    ("GET", "/v1/api-keys"),
    ("DELETE", "/v1/api-keys/{id}"),
    ("POST", "/v1/servers"),
    ("GET", "/v1/servers"),
    ("GET", "/v1/servers/{id}"),
    ("PATCH", "/v1/servers/{id}"),
    ("DELETE", "/v1/servers/{id}"),
    ("PUT", "/v1/servers/{id}/policy"),
    ("GET", "/v1/servers/{id}/policy"),
    ("GET", "/v1/servers/{id}/policy/versions"),
    ("POST", "/v1/servers/{id}/policy/simulate"),
    ("PUT", "/v1/servers/{id}/policy/shadow"),
    ("GET", "/v1/servers/{id}/policy/shadow"),
    ("DELETE", "/v1/servers/{id}/policy/shadow"),
    ("POST", "/v1/servers/{id}/policy/shadow/promote"),
    ("POST", "/v1/servers/{id}/policy/explain"),
    ("POST", "/v1/grants"),
    ("GET", "/v1/grants"),
    ("GET", "/v1/grants/{id}"),
    ("DELETE", "/v1/grants/{id}"),
    ("GET", "/v1/approvals"),
    ("GET", "/v1/approvals/{id}"),
    ("POST", "/v1/approvals/{id}/approve"),
    ("POST", "/v1/approvals/{id}/deny"),
    ("GET", "/v1/audit"),
    ("GET", "/v1/audit/export"),
    ("GET", "/v1/servers/{id}/tools"),
    ("POST", "/v1/servers/{id}/tools/refresh"),
    ("POST", "/v1/servers/{id}/tools/{name}/pin"),
    ("GET", "/v1/servers/{id}/policy/recommended"),
    ("GET", "/v1/tools"),
];

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

#[sqlx::test(migrations = "../../migrations")]
async fn the_document_and_the_router_list_the_same_routes(pool: PgPool) {
    let app = TestApp::new(pool);
    let doc = app.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));

    let mut documented = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for method in item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.as_str() != "parameters")
        {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let contract: BTreeSet<(String, String)> = CONTRACT
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, contract);

    let paths: BTreeSet<&String> = documented.iter().map(|(_, p)| p).collect();
    for path in paths {
        let concrete = path.replace("{id}", "xyz_0");
        for method in METHODS {
            let r = app.call(method.clone(), &concrete, None, None).await;
            let is_documented = documented.contains(&(method.to_string(), path.clone()));
            if is_documented {
                assert_ne!(
                    r.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} documented but not routed"
                );
                assert_ne!(
                    r.body["type"], "/problems/no-route",
                    "{method} {path} documented but not routed"
                );
            } else {
                assert_eq!(
                    r.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is routed but undocumented"
                );
            }
        }
    }
}

/// Every served route declares who may call it: the permission table and
/// the document list the same routes, so a route added without a
/// permission fails here (and is refused at run time).
#[sqlx::test(migrations = "../../migrations")]
async fn every_route_declares_its_permission(pool: PgPool) {
    let app = TestApp::new(pool);
    let doc = app.call(Method::GET, "/v1/openapi.json", None, None).await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method != "parameters" {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let declared: BTreeSet<(String, String)> = toolgate_control::permissions::ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let undeclared: Vec<_> = documented.difference(&declared).collect();
    assert!(
        undeclared.is_empty(),
        "routes without a permission: {undeclared:?}"
    );
    let stale: Vec<_> = declared.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "permissions for routes that do not exist: {stale:?}"
    );
}

/// Both sign-up modes' answers are in the contract.
#[sqlx::test(migrations = "../../migrations")]
async fn sign_up_documents_both_modes_and_the_verification_step(pool: PgPool) {
    let app = TestApp::new(pool);
    let doc = app.call(Method::GET, "/v1/openapi.json", None, None).await;
    let signup = &doc.body["paths"]["/v1/signup"]["post"]["responses"];
    for status in ["201", "202", "409", "422", "503"] {
        assert!(signup[status].is_object(), "POST /v1/signup lacks {status}");
    }
    let verify = &doc.body["paths"]["/v1/signup/verify"]["post"];
    for status in ["201", "400", "422"] {
        assert!(
            verify["responses"][status].is_object(),
            "verify lacks {status}"
        );
    }
    let content = verify["requestBody"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/json"));
    assert!(content.contains_key("application/x-www-form-urlencoded"));
}

#[sqlx::test(migrations = "../../migrations")]
async fn health_and_readiness(pool: PgPool) {
    let app = TestApp::new(pool);
    let health = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["postgres"], "up");
    app.pool.close().await;
    let down = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(down.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(down.body["postgres"], "down");
}

/// Every `$ref` in `value`, at any depth.
fn refs<'a>(value: &'a serde_json::Value, found: &mut Vec<&'a str>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(target) = map.get("$ref").and_then(|r| r.as_str()) {
                found.push(target);
            }
            map.values().for_each(|v| refs(v, found));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

/// Every string an `enum` under `value` allows, at any depth.
fn enum_values(value: &serde_json::Value, found: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            if let Some(values) = map.get("enum").and_then(|e| e.as_array()) {
                found.extend(values.iter().filter_map(|v| v.as_str().map(str::to_owned)));
            }
            map.values().for_each(|v| enum_values(v, found));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| enum_values(v, found)),
        _ => {}
    }
}

/// The enums stored in `text` columns are documented with the names they
/// are stored and served by, and every reference resolves.
#[sqlx::test(migrations = "../../migrations")]
async fn stored_enums_are_documented_by_their_names(pool: PgPool) {
    let app = TestApp::new(pool);
    let doc = app.call(Method::GET, "/v1/openapi.json", None, None).await;
    let schemas = &doc.body["components"]["schemas"];
    let mut targets = Vec::new();
    refs(&doc.body, &mut targets);
    for target in targets {
        let name = target.strip_prefix("#/components/schemas/").unwrap();
        assert!(schemas[name].is_object(), "{target} does not resolve");
    }
    for (schema, names) in [
        (
            "CatalogStatus",
            &[
                "pending",
                "ok",
                "unreachable",
                "unauthorized",
                "not_mcp",
                "too_large",
                "timeout",
                "refused_address",
                "error",
            ][..],
        ),
        (
            "ChangeKind",
            &["added", "changed", "removed", "restored"][..],
        ),
        (
            "ApprovalStatus",
            &[
                "pending",
                "approved",
                "denied",
                "expired",
                "abandoned",
                "used",
            ][..],
        ),
        ("NewTools", &["allow", "review"][..]),
        ("TargetKind", &["tool", "resource", "prompt"][..]),
    ] {
        let mut documented = BTreeSet::new();
        enum_values(&schemas[schema], &mut documented);
        let expected: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
        assert_eq!(documented, expected, "{schema}");
    }
}
