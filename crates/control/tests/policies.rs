//! Policy versions: validated on PUT, immutable, numbered per server.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use axum::http::{Method, StatusCode};
use common::{policy, TestApp};
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test(migrations = "../../migrations")]
async fn every_put_is_a_new_version(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let server = app.create_server(&token, "github").await;
    let path = format!("/v1/servers/{}/policy", server["id"].as_str().unwrap());

    app.get(&path, &token).await.problem(StatusCode::NOT_FOUND);
    for (i, default) in ["deny", "allow", "deny"].iter().enumerate() {
        let r = app
            .call(Method::PUT, &path, Some(&token), Some(policy(default)))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
        assert_eq!(r.body["version"], i + 1);
        assert_eq!(r.body["policy"], policy(default));
    }
    let current = app.get(&path, &token).await;
    assert_eq!(current.body["version"], 3);
    assert_eq!(current.body["policy"]["default"], "deny");
    assert!(current.body["created_by"]
        .as_str()
        .unwrap()
        .starts_with("usr_"));

    let versions = app.get(&format!("{path}/versions?limit=2"), &token).await;
    let numbers: Vec<i64> = versions.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![3, 2]);
    let next = versions.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("{path}/versions?limit=2&cursor={next}"), &token)
        .await;
    assert_eq!(rest.body["items"][0]["version"], 1);
    assert_eq!(rest.body["items"][0]["policy"]["default"], "deny");
    assert!(rest.body["next_cursor"].is_null());

    let update = sqlx::query!("UPDATE policy_versions SET document = '{}' WHERE version = 1")
        .execute(&app.pool)
        .await;
    assert!(update.is_err(), "stored versions cannot be rewritten");
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_seed_policy_is_accepted(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let server = app.create_server(&token, "dicom").await;
    let seed = json!({"version":"1","default":"deny","tools":{"start_dicom_import_job":{"limits":[{"counter":"start_dicom_import_job_rate","window":"minute","max":10,"scope":"grant"}]}}});
    let r = app
        .call(
            Method::PUT,
            &format!("/v1/servers/{}/policy", server["id"].as_str().unwrap()),
            Some(&token),
            Some(seed.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    assert_eq!(r.body["policy"], seed);
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_invalid_policy_is_422_with_every_pointer_and_stores_nothing(pool: PgPool) {
    let app = TestApp::new(pool);
    let (token, _) = app.signup("ada@example.com", "Acme").await;
    let server = app.create_server(&token, "github").await;
    let path = format!("/v1/servers/{}/policy", server["id"].as_str().unwrap());
    let ok = app
        .call(Method::PUT, &path, Some(&token), Some(policy("deny")))
        .await;
    assert_eq!(ok.status, StatusCode::OK);

    let invalid = json!({
        "version": "1",
        "default": "maybe",
        "tools": {
            "echo": {"action": "allow", "reason": "reasons belong to deny rules"},
            "search": {"limits": [{"counter": "c", "window": "fortnight", "max": -1, "scope": "grant"}]}
        }
    });
    let r = app
        .call(Method::PUT, &path, Some(&token), Some(invalid))
        .await;
    let paths = r.error_paths();
    for expected in [
        "/default",
        "/tools/echo/reason",
        "/tools/search/limits/0/window",
        "/tools/search/limits/0/max",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} missing from {paths:?}"
        );
    }
    for error in r.body["errors"].as_array().unwrap() {
        assert!(!error["message"].as_str().unwrap().is_empty());
    }

    for not_a_policy in [
        json!([1, 2]),
        json!("text"),
        json!({"version": "2", "default": "deny"}),
    ] {
        let r = app
            .call(Method::PUT, &path, Some(&token), Some(not_a_policy))
            .await;
        r.problem(StatusCode::UNPROCESSABLE_ENTITY);
    }

    let versions = app.get(&format!("{path}/versions"), &token).await;
    assert_eq!(
        versions.body["items"].as_array().unwrap().len(),
        1,
        "only the valid version is stored"
    );
    assert_eq!(app.get(&path, &token).await.body["version"], 1);
}
