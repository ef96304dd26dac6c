//! Argument values by role: a viewer sees none anywhere (audit list, audit
//! export, approvals listed and shown, or any other read), an auditor sees
//! them in audit events and approvals, approvers and policy managers in
//! approvals only (what they decide on), an admin everywhere. The same for
//! API keys of each role. Each response is searched for the values
//! themselves, not only for the field that should carry them.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::Utc;
use common::{Response, TestApp, PASSWORD};
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_store::audit::{insert_batch, AuditDecision, AuditEvent, UpstreamOutcome};
use toolgate_store::ids::EventId;

/// Recorded in an audit event's arguments.
const AUDIT_VALUE: &str = "4111-audit-card-9d7e";
/// Held in a pending approval's arguments.
const APPROVAL_VALUE: &str = "IBAN-approval-5f3a";

const ROLES: [&str; 5] = ["admin", "policy_manager", "approver", "viewer", "auditor"];

/// What a role sees: (reads audit, sees audit arguments, sees approval
/// arguments).
fn sight(role: &str) -> (bool, bool, bool) {
    match role {
        "admin" | "auditor" => (true, true, true),
        "policy_manager" => (true, false, true),
        "approver" => (false, false, true),
        "viewer" => (true, false, false),
        _ => unreachable!(),
    }
}

async fn join(app: &TestApp, admin: &str, email: &str, role: &str) -> String {
    let invited = app
        .post(
            "/v1/invitations",
            admin,
            json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.raw);
    let accepted = app
        .call(
            Method::POST,
            "/v1/invitations/accept",
            None,
            Some(json!({"token": invited.body["token"], "password": PASSWORD})),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.raw);
    accepted.body["token"].as_str().unwrap().to_owned()
}

fn assert_shows(r: &Response, value: &str, shown: bool, what: &str) {
    assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.raw);
    assert_eq!(
        r.raw.contains(value),
        shown,
        "{what}: {value} should{} be in {}",
        if shown { "" } else { " not" },
        r.raw
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn only_roles_that_may_see_argument_values_see_them(pool: PgPool) {
    let app = TestApp::new(pool.clone());
    let t = app.tenant("ada@example.com").await;

    // The gateway recorded a call's arguments (its rule said so), and holds
    // another call for approval.
    let event = AuditEvent {
        id: EventId::new(),
        at: Utc::now(),
        account: t.account,
        server: t.server,
        grant: Some(t.grant),
        session: None,
        kind: toolgate_store::target_kind::TargetKind::Tool,
        tool: "create_charge".to_owned(),
        decision: AuditDecision::Allowed,
        rule: Some("create_charge".to_owned()),
        policy_version: Some(1),
        reason: None,
        upstream: UpstreamOutcome::Ok,
        latency_ms: 3,
        argument_keys: vec!["card".to_owned()],
        arguments: Some(json!({"card": AUDIT_VALUE, "nested": [{"again": AUDIT_VALUE}]})),
        shadow: None,
    };
    let mut tx = pool.begin().await.unwrap();
    assert_eq!(insert_batch(&mut tx, &[event]).await.unwrap(), 1);
    tx.commit().await.unwrap();
    let approval = app
        .hold(
            &t,
            json!({"iban": APPROVAL_VALUE, "amount": 4200}),
            Duration::from_secs(600),
        )
        .await;

    // A member and an API key of every role.
    let mut callers: Vec<(String, String)> = vec![("admin session".into(), t.token.clone())];
    for role in &ROLES[1..] {
        let email = format!("{}@acme.test", role.replace('_', "-"));
        let token = join(&app, &t.token, &email, role).await;
        callers.push((format!("{role} session"), token));
    }
    for role in ROLES {
        let r = app
            .post(
                "/v1/api-keys",
                &t.token,
                json!({"name": format!("{role} key"), "role": role}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
        callers.push((
            format!("{role} key"),
            r.body["secret"].as_str().unwrap().to_owned(),
        ));
    }

    let one = format!("/v1/approvals/{approval}");
    for (who, token) in &callers {
        let role = who.split(' ').next().unwrap();
        let (reads_audit, audit_args, approval_args) = sight(role);

        if reads_audit {
            let list = app.get("/v1/audit", token).await;
            assert_shows(&list, AUDIT_VALUE, audit_args, &format!("{who} audit"));
            let item = &list.body["items"][0];
            assert_eq!(item["argument_keys"], json!(["card"]), "{who}");
            if !audit_args {
                assert!(item["arguments"].is_null(), "{who}: {item}");
            }
            let export = app.get("/v1/audit/export", token).await;
            assert_shows(&export, AUDIT_VALUE, audit_args, &format!("{who} export"));
            let lines: Vec<Value> = export
                .raw
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines.len(), 1, "{who}: {}", export.raw);
            assert_eq!(lines[0]["arguments"].is_null(), !audit_args, "{who}");
        } else {
            for path in ["/v1/audit", "/v1/audit/export"] {
                let r = app.get(path, token).await;
                r.problem(StatusCode::FORBIDDEN);
                assert!(!r.raw.contains(AUDIT_VALUE));
            }
        }

        let list = app.get("/v1/approvals", token).await;
        assert_shows(
            &list,
            APPROVAL_VALUE,
            approval_args,
            &format!("{who} approvals"),
        );
        let shown = app.get(&one, token).await;
        assert_shows(
            &shown,
            APPROVAL_VALUE,
            approval_args,
            &format!("{who} approval"),
        );
        for approval in [&list.body["items"][0], &shown.body] {
            assert_eq!(approval["arguments_hidden"], !approval_args, "{who}");
            if approval_args {
                assert_eq!(approval["arguments"]["iban"], APPROVAL_VALUE, "{who}");
            } else {
                assert!(approval["arguments"].is_null(), "{who}: {approval}");
                // Still what is needed to tell calls apart.
                assert!(approval["arguments_digest"].is_string());
            }
        }
    }

    // A viewer sees neither value anywhere: every read route, member or key.
    let doc = app.call(Method::GET, "/v1/openapi.json", None, None).await;
    let mut reads = Vec::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        if item.get("get").is_some() {
            let path = path
                .replace("/servers/{id}", &format!("/servers/{}", t.server))
                .replace("/grants/{id}", &format!("/grants/{}", t.grant))
                .replace("/approvals/{id}", &format!("/approvals/{approval}"));
            reads.push(path);
        }
    }
    assert!(reads.len() > 20, "{reads:?}");
    for (who, token) in callers.iter().filter(|(who, _)| who.starts_with("viewer")) {
        for path in &reads {
            let r = app.get(path, token).await;
            for value in [AUDIT_VALUE, APPROVAL_VALUE] {
                assert!(
                    !r.raw.contains(value),
                    "{who} GET {path} shows {value}: {}",
                    r.raw
                );
            }
        }
    }
}
