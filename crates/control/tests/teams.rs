//! Teams: invitations, members and roles, switching accounts, sessions that
//! end, password resets, and the account's trail of changes.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use common::{TestApp, PASSWORD};
use serde_json::{json, Value};
use sqlx::PgPool;

const NEW_PASSWORD: &str = "a brand new passphrase 7";

/// Invites `email` with `role`; the invitation's answer.
async fn invite(app: &TestApp, token: &str, email: &str, role: &str) -> Value {
    let r = app
        .post(
            "/v1/invitations",
            token,
            json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    r.body
}

async fn accept(app: &TestApp, invitation_token: &str, password: &str) -> common::Response {
    app.call(
        Method::POST,
        "/v1/invitations/accept",
        None,
        Some(json!({"token": invitation_token, "password": password})),
    )
    .await
}

async fn login(
    app: &TestApp,
    email: &str,
    password: &str,
    account: Option<&str>,
) -> common::Response {
    let mut body = json!({"email": email, "password": password});
    if let Some(account) = account {
        body["account"] = json!(account);
    }
    app.call(Method::POST, "/v1/login", None, Some(body)).await
}

fn token(r: &common::Response) -> String {
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    r.body["token"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrations = "../../migrations")]
async fn an_invitation_is_accepted_once_by_its_address_before_it_expires(pool: PgPool) {
    let app = TestApp::new(pool);
    let (admin, _) = app.signup("ada@example.com", "Acme").await;

    let invited = invite(&app, &admin, "Bob@Example.com", "viewer").await;
    assert_eq!(invited["email"], "bob@example.com");
    assert_eq!(invited["status"], "pending");
    let link = invited["link"].as_str().unwrap();
    let secret = invited["token"].as_str().unwrap();
    assert!(link.ends_with(&format!("#token={secret}")), "{link}");
    // The token is shown once: never listed.
    let listed = app.get("/v1/invitations", &admin).await;
    assert!(!listed.raw.contains(secret));

    // A new person: created with the password given, in the account.
    let bob = token(&accept(&app, secret, PASSWORD).await);
    let me = app.get("/v1/me", &bob).await;
    assert_eq!(me.body["email"], "bob@example.com");
    assert_eq!(me.body["role"], "viewer");
    // Not twice.
    accept(&app, secret, PASSWORD)
        .await
        .problem(StatusCode::BAD_REQUEST);
    let listed = app.get("/v1/invitations", &admin).await;
    assert_eq!(listed.body["items"][0]["status"], "accepted");

    // Not after expiry.
    let late = invite(&app, &admin, "carol@example.com", "approver").await;
    sqlx::query("UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = 'carol@example.com'")
        .execute(&app.pool)
        .await
        .unwrap();
    accept(&app, late["token"].as_str().unwrap(), PASSWORD)
        .await
        .problem(StatusCode::BAD_REQUEST);

    // Not withdrawn.
    let withdrawn = invite(&app, &admin, "dan@example.com", "approver").await;
    let id = withdrawn["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/v1/invitations/{id}"), &admin)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    accept(&app, withdrawn["token"].as_str().unwrap(), PASSWORD)
        .await
        .problem(StatusCode::BAD_REQUEST);

    // Not by another address: Eve, signed in, cannot take Frank's invitation.
    let (eve, _) = app.signup("eve@example.com", "Eve Inc").await;
    let franks = invite(&app, &admin, "frank@example.com", "admin").await;
    let r = app
        .post(
            "/v1/invitations/accept",
            &eve,
            json!({"token": franks["token"]}),
        )
        .await;
    r.problem(StatusCode::FORBIDDEN);
    // ...and the invitation is still there for Frank.
    assert_eq!(
        accept(&app, franks["token"].as_str().unwrap(), PASSWORD)
            .await
            .status,
        StatusCode::OK
    );

    // An unknown token and a weak new password are refused precisely.
    accept(&app, "tgi_nothing", PASSWORD)
        .await
        .problem(StatusCode::BAD_REQUEST);
    let weak = invite(&app, &admin, "gus@example.com", "viewer").await;
    let r = accept(&app, weak["token"].as_str().unwrap(), "short").await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["path"],
        "/password"
    );
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_person_in_two_accounts_sees_each_only_with_its_token(pool: PgPool) {
    let app = TestApp::new(pool);
    let (ada, ada_body) = app.signup("ada@example.com", "Acme").await;
    let (bob, bob_body) = app.signup("bob@example.com", "Bobs").await;
    app.create_server(&ada, "acme-server").await;
    app.create_server(&bob, "bobs-server").await;
    let acme = ada_body["account"]["id"].as_str().unwrap();
    let bobs = bob_body["account"]["id"].as_str().unwrap();

    // Bob, who has a login, joins Acme with his own password.
    let invited = invite(&app, &ada, "bob@example.com", "policy_manager").await;
    accept(
        &app,
        invited["token"].as_str().unwrap(),
        "not bob's password",
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);
    let in_acme = token(&accept(&app, invited["token"].as_str().unwrap(), PASSWORD).await);

    let me = app.get("/v1/me", &in_acme).await;
    assert_eq!(me.body["account_id"], acme);
    let mut accounts: Vec<&str> = me.body["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["account_id"].as_str().unwrap())
        .collect();
    accounts.sort_unstable();
    let mut expected = vec![acme, bobs];
    expected.sort_unstable();
    assert_eq!(accounts, expected);

    let names = |r: common::Response| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(app.get("/v1/servers", &in_acme).await),
        ["acme-server"]
    );
    assert_eq!(names(app.get("/v1/servers", &bob).await), ["bobs-server"]);

    // Switching: a token for the other account; never for one he is not in.
    let switched = app
        .post("/v1/me/switch", &in_acme, json!({"account_id": bobs}))
        .await;
    assert_eq!(switched.body["role"], "admin");
    let back_home = token(&switched);
    assert_eq!(
        names(app.get("/v1/servers", &back_home).await),
        ["bobs-server"]
    );
    let (_, carol_body) = app.signup("carol@example.com", "Carols").await;
    app.post(
        "/v1/me/switch",
        &in_acme,
        json!({"account_id": carol_body["account"]["id"]}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);

    // Login picks the first account unless told; told, it is that one.
    let first = login(&app, "bob@example.com", PASSWORD, None).await;
    assert_eq!(first.body["account_id"], bobs);
    let chosen = login(&app, "bob@example.com", PASSWORD, Some(acme)).await;
    assert_eq!(chosen.body["account_id"], acme);
    assert_eq!(chosen.body["role"], "policy_manager");
    login(
        &app,
        "bob@example.com",
        PASSWORD,
        carol_body["account"]["id"].as_str(),
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);
}

#[sqlx::test(migrations = "../../migrations")]
async fn the_last_admin_stays_and_an_account_can_be_handed_over(pool: PgPool) {
    let app = TestApp::new(pool);
    let (ada, ada_body) = app.signup("ada@example.com", "Acme").await;
    let ada_id = ada_body["user"]["id"].as_str().unwrap();
    let invited = invite(&app, &ada, "bob@example.com", "viewer").await;
    let bob = token(&accept(&app, invited["token"].as_str().unwrap(), PASSWORD).await);
    let bob_id = app.get("/v1/me", &bob).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let demote = app
        .call(
            Method::PATCH,
            &format!("/v1/members/{ada_id}"),
            Some(&ada),
            Some(json!({"role": "viewer"})),
        )
        .await;
    demote.problem(StatusCode::CONFLICT);
    app.delete(&format!("/v1/members/{ada_id}"), &ada)
        .await
        .problem(StatusCode::CONFLICT);

    let handed = app
        .post(
            "/v1/account/handover",
            &ada,
            json!({"to": bob_id, "then": "auditor"}),
        )
        .await;
    assert_eq!(handed.status, StatusCode::OK, "{}", handed.raw);
    assert_eq!(handed.body["admin"]["role"], "admin");
    assert_eq!(handed.body["you"]["role"], "auditor");
    // Roles are read on every request: Ada's token now acts as an auditor.
    app.get("/v1/api-keys", &ada)
        .await
        .problem(StatusCode::FORBIDDEN);
    assert_eq!(app.get("/v1/api-keys", &bob).await.status, StatusCode::OK);

    // Bob removes Ada: her token ends with her membership.
    assert_eq!(
        app.delete(&format!("/v1/members/{ada_id}"), &bob)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    app.get("/v1/account", &ada)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    // Another account's member id is not found.
    let (other, _) = app.signup("zed@example.com", "Zed").await;
    app.delete(&format!("/v1/members/{bob_id}"), &other)
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[sqlx::test(migrations = "../../migrations")]
async fn sessions_end_on_logout_everywhere_and_password_change_on_every_replica(pool: PgPool) {
    // Two control-plane replicas sharing the database.
    let one = TestApp::new(pool.clone());
    let two = TestApp::new(pool);
    let (first, _) = one.signup("ada@example.com", "Acme").await;
    let second = token(&login(&one, "ada@example.com", PASSWORD, None).await);
    let third = token(&login(&two, "ada@example.com", PASSWORD, None).await);

    // Logging out on one ends that token on the other at once.
    assert_eq!(
        one.call(Method::POST, "/v1/logout", Some(&first), None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let started = Instant::now();
    two.get("/v1/account", &first)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(two.get("/v1/account", &second).await.status, StatusCode::OK);

    // A password change ends every other session and answers a new one.
    let changed = two
        .post(
            "/v1/me/password",
            &second,
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    let fourth = token(&changed);
    for stale in [&second, &third] {
        one.get("/v1/account", stale)
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
    assert_eq!(one.get("/v1/account", &fourth).await.status, StatusCode::OK);
    login(&one, "ada@example.com", PASSWORD, None)
        .await
        .problem(StatusCode::UNAUTHORIZED);

    // Everywhere: every session of the person.
    let fifth = token(&login(&two, "ada@example.com", NEW_PASSWORD, None).await);
    let ended = one
        .call(Method::POST, "/v1/logout/everywhere", Some(&fourth), None)
        .await;
    assert_eq!(ended.body["sessions_ended"], 2, "{}", ended.raw);
    for stale in [&fourth, &fifth] {
        two.get("/v1/account", stale)
            .await
            .problem(StatusCode::UNAUTHORIZED);
    }
}

#[sqlx::test(migrations = "../../migrations")]
async fn a_reset_link_works_once_and_ends_every_session(pool: PgPool) {
    let app = TestApp::new(pool);
    let (ada, _) = app.signup("ada@example.com", "Acme").await;
    let invited = invite(&app, &ada, "bob@example.com", "viewer").await;
    let bob = token(&accept(&app, invited["token"].as_str().unwrap(), PASSWORD).await);
    let bob_id = app.get("/v1/me", &bob).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let issued = app
        .call(
            Method::POST,
            &format!("/v1/members/{bob_id}/password-reset"),
            Some(&ada),
            None,
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.raw);
    let reset = issued.body["token"].as_str().unwrap();
    let confirm = |password: &str| {
        app.call(
            Method::POST,
            "/v1/password-reset/confirm",
            None,
            Some(json!({"token": reset, "password": password})),
        )
    };
    assert_eq!(confirm(NEW_PASSWORD).await.status, StatusCode::NO_CONTENT);
    app.get("/v1/account", &bob)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    token(&login(&app, "bob@example.com", NEW_PASSWORD, None).await);
    confirm("yet another passphrase 9")
        .await
        .problem(StatusCode::BAD_REQUEST);

    // Expired.
    let issued = app
        .call(
            Method::POST,
            &format!("/v1/members/{bob_id}/password-reset"),
            Some(&ada),
            None,
        )
        .await;
    sqlx::query("UPDATE password_resets SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    app.call(
        Method::POST,
        "/v1/password-reset/confirm",
        None,
        Some(json!({"token": issued.body["token"], "password": "yet another passphrase 9"})),
    )
    .await
    .problem(StatusCode::BAD_REQUEST);

    // An admin cannot take over someone who belongs to another account too.
    let (carol, _) = app.signup("carol@example.com", "Carols").await;
    let to_carol = invite(&app, &carol, "bob@example.com", "viewer").await;
    app.post(
        "/v1/invitations/accept",
        &token(&login(&app, "bob@example.com", NEW_PASSWORD, None).await),
        json!({"token": to_carol["token"]}),
    )
    .await;
    app.call(
        Method::POST,
        &format!("/v1/members/{bob_id}/password-reset"),
        Some(&ada),
        None,
    )
    .await
    .problem(StatusCode::CONFLICT);

    // Asking by mail answers the same for anyone, with or without mail.
    for email in ["bob@example.com", "nobody@example.com"] {
        let r = app
            .call(
                Method::POST,
                "/v1/password-reset",
                None,
                Some(json!({"email": email})),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        assert_eq!(
            r.raw,
            app.call(
                Method::POST,
                "/v1/password-reset",
                None,
                Some(json!({"email": "x@example.com"}))
            )
            .await
            .raw
        );
    }
}

/// Every kind of change, each recorded exactly once with who made it and a
/// summary; and no secret used anywhere in the test appears in any event.
#[sqlx::test(migrations = "../../migrations")]
async fn every_change_is_on_the_record_once_and_no_secret_is(pool: PgPool) {
    let app = TestApp::new(pool);
    let (ada, body) = app.signup("ada@example.com", "Acme").await;
    let ada_id = body["user"]["id"].as_str().unwrap().to_owned();
    let mut secrets: Vec<String> = vec![PASSWORD.into(), NEW_PASSWORD.into(), ada.clone()];

    let upstream_secret = "Bearer upstream-secret-value";
    secrets.push(upstream_secret.into());
    let server = app.create_server(&ada, "payments").await;
    let server_id = server["id"].as_str().unwrap().to_owned();
    let patched = app
        .call(
            Method::PATCH,
            &format!("/v1/servers/{server_id}"),
            Some(&ada),
            Some(json!({"headers": {"X-Api-Key": "another-upstream-secret"}, "timeout_ms": 5000})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.raw);
    secrets.push("another-upstream-secret".into());
    let put = app
        .call(
            Method::PUT,
            &format!("/v1/servers/{server_id}/policy"),
            Some(&ada),
            Some(common::policy("allow")),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.raw);
    let grant = app.create_grant(&ada, "agent").await;
    secrets.push(grant["token"].as_str().unwrap().into());
    let key = app
        .post(
            "/v1/api-keys",
            &ada,
            json!({"name": "ci", "role": "viewer"}),
        )
        .await;
    secrets.push(key.body["secret"].as_str().unwrap().into());
    let hook = app
        .call(
            Method::PATCH,
            "/v1/account",
            Some(&ada),
            Some(json!({"approval_webhook_url": "https://93.184.216.34/hook"})),
        )
        .await;
    secrets.push(
        hook.body["approval_webhook_secret"]
            .as_str()
            .unwrap()
            .into(),
    );
    let invited = invite(&app, &ada, "bob@example.com", "viewer").await;
    secrets.push(invited["token"].as_str().unwrap().into());
    let bob = token(&accept(&app, invited["token"].as_str().unwrap(), PASSWORD).await);
    secrets.push(bob.clone());
    let bob_id = app.get("/v1/me", &bob).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.call(
        Method::PATCH,
        &format!("/v1/members/{bob_id}"),
        Some(&ada),
        Some(json!({"role": "approver"})),
    )
    .await;
    let reset = app
        .call(
            Method::POST,
            &format!("/v1/members/{bob_id}/password-reset"),
            Some(&ada),
            None,
        )
        .await;
    secrets.push(reset.body["token"].as_str().unwrap().into());
    let second = token(&login(&app, "ada@example.com", PASSWORD, None).await);
    secrets.push(second.clone());
    let changed = app
        .post(
            "/v1/me/password",
            &second,
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    let third = token(&changed);
    secrets.push(third.clone());
    let t = common::Tenant {
        token: third.clone(),
        account: body["account"]["id"].as_str().unwrap().parse().unwrap(),
        server: server_id.parse().unwrap(),
        grant: grant["id"].as_str().unwrap().parse().unwrap(),
    };
    let held = app
        .hold(&t, json!({"amount": 1}), Duration::from_secs(600))
        .await;
    app.post(
        &format!("/v1/approvals/{held}/deny"),
        &third,
        json!({"reason": "no"}),
    )
    .await;
    app.delete(
        &format!("/v1/grants/{}", grant["id"].as_str().unwrap()),
        &third,
    )
    .await;
    app.delete(
        &format!("/v1/api-keys/{}", key.body["id"].as_str().unwrap()),
        &third,
    )
    .await;
    app.call(Method::POST, "/v1/logout", Some(&third), None)
        .await;

    let admin = token(&login(&app, "ada@example.com", NEW_PASSWORD, None).await);
    let export = app.get("/v1/account/events/export", &admin).await;
    assert_eq!(export.status, StatusCode::OK);
    let events: Vec<Value> = export
        .raw
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut kinds: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{}.{}",
                e["resource"].as_str().unwrap(),
                e["action"].as_str().unwrap()
            )
        })
        .collect();
    kinds.reverse(); // oldest first
    assert_eq!(
        kinds,
        [
            "account.create",
            "server.create",
            "server.update",
            "policy.update",
            "grant.create",
            "api_key.create",
            "account.update",
            "invitation.create",
            "member.join",
            "member.change_role",
            "user.issue_password_reset",
            "session.sign_in",
            "user.change_password",
            "approval.deny",
            "grant.revoke",
            "api_key.delete",
            "session.sign_out",
            "session.sign_in",
        ]
    );
    for event in &events {
        assert_eq!(event["actor"]["kind"], "user", "{event}");
        assert!(event["summary"].is_object(), "{event}");
        assert!(event["at"].is_string());
    }
    let by = |kind: &str| {
        events
            .iter()
            .find(|e| {
                format!(
                    "{}.{}",
                    e["resource"].as_str().unwrap(),
                    e["action"].as_str().unwrap()
                ) == kind
            })
            .unwrap()
    };
    assert_eq!(by("member.join")["actor"]["label"], "bob@example.com");
    assert_eq!(by("member.change_role")["summary"]["to"], "approver");
    assert_eq!(by("member.change_role")["resource_id"], bob_id.as_str());
    assert_eq!(
        by("server.update")["summary"]["header_names"],
        json!(["x-api-key"])
    );
    assert_eq!(by("policy.update")["summary"]["version"], 1);
    assert_eq!(by("approval.deny")["summary"]["reason"], "no");
    assert_eq!(by("account.create")["actor"]["id"], ada_id.as_str());
    assert_eq!(by("api_key.create")["summary"]["role"], "viewer");

    for secret in &secrets {
        assert!(
            !export.raw.contains(secret.as_str()),
            "a secret is in the trail: {secret}"
        );
    }
    // Filters and pages agree with the export.
    let servers = app
        .get("/v1/account/events?resource=server&limit=1", &admin)
        .await;
    assert_eq!(servers.body["items"][0]["action"], "update");
    let next = servers.body["next_cursor"].as_str().unwrap();
    let older = app
        .get(
            &format!("/v1/account/events?resource=server&limit=1&cursor={next}"),
            &admin,
        )
        .await;
    assert_eq!(older.body["items"][0]["action"], "create");
    assert!(older.body["next_cursor"].is_null());
    let r = app.get("/v1/account/events?since=yesterday", &admin).await;
    assert_eq!(
        r.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["path"],
        "since"
    );
    // Another account sees none of it.
    let (zed, _) = app.signup("zed@example.com", "Zed").await;
    let theirs = app.get("/v1/account/events", &zed).await;
    assert_eq!(theirs.body["items"].as_array().unwrap().len(), 1);
}

/// Accepting as an existing person checks their password like a sign-in
/// does, so it is throttled like one; and joining another account spends
/// any reset link an admin of the first had issued.
#[sqlx::test(migrations = "../../migrations")]
async fn accepting_is_no_way_round_the_lockout_nor_a_reset_link(pool: PgPool) {
    let app = TestApp::new(pool);
    let (mallet, _) = app.signup("mallet@example.com", "Mallet").await;
    let (_bob, _) = app.signup("bob@example.com", "Bobs").await;
    let invited = invite(&app, &mallet, "bob@example.com", "viewer").await;
    let secret = invited["token"].as_str().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(accept(&app, secret, "a wrong guess at bob's").await.status);
    }
    assert_eq!(statuses[..5], [StatusCode::UNAUTHORIZED; 5]);
    let locked = accept(&app, secret, PASSWORD).await;
    locked.problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(locked.headers.contains_key("retry-after"));

    // Carol's account issues a reset link for Dan, a member of it alone...
    let (carol, _) = app.signup("carol@example.com", "Carols").await;
    let to_dan = invite(&app, &carol, "dan@example.com", "viewer").await;
    let dan = token(&accept(&app, to_dan["token"].as_str().unwrap(), PASSWORD).await);
    let dan_id = app.get("/v1/me", &dan).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let issued = app
        .call(
            Method::POST,
            &format!("/v1/members/{dan_id}/password-reset"),
            Some(&carol),
            None,
        )
        .await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.raw);
    // ...then Dan joins Erin's account: the link no longer opens his login.
    let (erin, _) = app.signup("erin@example.com", "Erins").await;
    let to_erin = invite(&app, &erin, "dan@example.com", "admin").await;
    app.post(
        "/v1/invitations/accept",
        &dan,
        json!({"token": to_erin["token"]}),
    )
    .await;
    app.call(
        Method::POST,
        "/v1/password-reset/confirm",
        None,
        Some(json!({"token": issued.body["token"], "password": NEW_PASSWORD})),
    )
    .await
    .problem(StatusCode::BAD_REQUEST);
    token(&login(&app, "dan@example.com", PASSWORD, None).await);
}

/// HEAD is answered like GET, behind the same permission: never a 500.
#[sqlx::test(migrations = "../../migrations")]
async fn head_requests_pass_the_same_gate_as_gets(pool: PgPool) {
    let app = TestApp::new(pool);
    let (ada, _) = app.signup("ada@example.com", "Acme").await;
    assert_eq!(
        app.call(Method::HEAD, "/v1/account", Some(&ada), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.call(Method::HEAD, "/v1/account", None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}
