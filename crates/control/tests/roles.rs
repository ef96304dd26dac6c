//! Roles on every route: each route the OpenAPI document lists is called by
//! a member of every role and by an API key of every role, and answers as
//! the role descriptions say it should: served, refused with a 403
//! problem, or (for callers it serves) a 404 for another account's ids.
//! The expectations are written here from the role descriptions, not read
//! from the permission table, and a documented route without one fails.
//! Then the finer rules: credentials stay with admins, a key is never
//! stronger than its creator, and another account's ids in a body are not
//! found either.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use axum::http::{header, Method, StatusCode};
use common::{Response, Tenant, TestApp, PASSWORD};
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_catalog::ToolDefinition;
use toolgate_store::catalog::{self, Found};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Admin,
    PolicyManager,
    Approver,
    Viewer,
    Auditor,
}

use Role::*;

const ROLES: [Role; 5] = [Admin, PolicyManager, Approver, Viewer, Auditor];

impl Role {
    fn name(self) -> &'static str {
        match self {
            Admin => "admin",
            PolicyManager => "policy_manager",
            Approver => "approver",
            Viewer => "viewer",
            Auditor => "auditor",
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Who {
    /// Anyone, without credentials.
    Anyone,
    /// A signed-in person of any role, acting on themselves; no API key.
    Person,
    /// Members and API keys of these roles.
    Roles(&'static [Role]),
    /// Members of these roles; no API key (there is no person to act as).
    PeopleOf(&'static [Role]),
}

use Who::*;

/// Everyone in the account reads the account, who is in it, its servers
/// and their catalogs, and its approvals (argument values aside).
const EVERY_ROLE: &[Role] = &ROLES;
/// Members, API keys, grants (agents' credentials), upstream credentials,
/// the webhook and its secret.
const ADMIN: &[Role] = &[Admin];
/// Servers (without credentials), catalogs and policies.
const MANAGERS: &[Role] = &[Admin, PolicyManager];
/// Decide approvals.
const DECIDERS: &[Role] = &[Admin, PolicyManager, Approver];
/// Policies, grants' metadata and the gateway's audit trail: every role but
/// the approver, who reads only what deciding needs (servers, catalogs,
/// approvals).
const READERS: &[Role] = &[Admin, PolicyManager, Viewer, Auditor];
/// The account's own trail of changes: the auditor's, beside the admin.
const TRAIL: &[Role] = &[Admin, Auditor];

/// Every route of the API and who may call it.
const EXPECTED: &[(&str, &str, Who)] = &[
    ("GET", "/healthz", Anyone),
    ("GET", "/readyz", Anyone),
    ("GET", "/v1/openapi.json", Anyone),
    ("POST", "/v1/signup", Anyone),
    ("POST", "/v1/signup/verify", Anyone),
    ("GET", "/v1/signup/verify", Anyone),
    ("POST", "/v1/login", Anyone),
    ("POST", "/v1/invitations/accept", Anyone),
    ("POST", "/v1/password-reset", Anyone),
    ("POST", "/v1/password-reset/confirm", Anyone),
    ("GET", "/v1/me", Person),
    ("POST", "/v1/me/switch", Person),
    ("POST", "/v1/me/password", Person),
    ("POST", "/v1/logout", Person),
    ("POST", "/v1/logout/everywhere", Person),
    ("POST", "/v1/session", Anyone),
    ("DELETE", "/v1/session", Person),
    ("POST", "/v1/session/switch", Person),
    (
        "GET",
        "/v1/servers/{id}/tools/{name}/pinned",
        Roles(EVERY_ROLE),
    ),
    ("GET", "/v1/usage", Roles(READERS)),
    ("GET", "/v1/usage/grants", Roles(READERS)),
    ("GET", "/v1/account", Roles(EVERY_ROLE)),
    ("PATCH", "/v1/account", Roles(ADMIN)),
    ("POST", "/v1/account/handover", PeopleOf(ADMIN)),
    ("GET", "/v1/account/events", Roles(TRAIL)),
    ("GET", "/v1/account/events/export", Roles(TRAIL)),
    ("GET", "/v1/members", Roles(EVERY_ROLE)),
    ("PATCH", "/v1/members/{id}", Roles(ADMIN)),
    ("DELETE", "/v1/members/{id}", Roles(ADMIN)),
    ("POST", "/v1/members/{id}/password-reset", Roles(ADMIN)),
    ("POST", "/v1/invitations", Roles(ADMIN)),
    ("GET", "/v1/invitations", Roles(ADMIN)),
    ("DELETE", "/v1/invitations/{id}", Roles(ADMIN)),
    ("POST", "/v1/api-keys", Roles(ADMIN)),
    ("GET", "/v1/api-keys", Roles(ADMIN)),
    ("DELETE", "/v1/api-keys/{id}", Roles(ADMIN)),
    ("POST", "/v1/servers", Roles(MANAGERS)),
    ("GET", "/v1/servers", Roles(EVERY_ROLE)),
    ("GET", "/v1/servers/{id}", Roles(EVERY_ROLE)),
    ("PATCH", "/v1/servers/{id}", Roles(MANAGERS)),
    ("DELETE", "/v1/servers/{id}", Roles(MANAGERS)),
    ("GET", "/v1/servers/{id}/tools", Roles(EVERY_ROLE)),
    ("POST", "/v1/servers/{id}/tools/refresh", Roles(MANAGERS)),
    ("POST", "/v1/servers/{id}/tools/{name}/pin", Roles(MANAGERS)),
    ("GET", "/v1/tools", Roles(EVERY_ROLE)),
    ("PUT", "/v1/servers/{id}/policy", Roles(MANAGERS)),
    ("GET", "/v1/servers/{id}/policy", Roles(READERS)),
    ("GET", "/v1/servers/{id}/policy/versions", Roles(READERS)),
    ("GET", "/v1/servers/{id}/policy/recommended", Roles(READERS)),
    ("POST", "/v1/servers/{id}/policy/simulate", Roles(READERS)),
    ("GET", "/v1/servers/{id}/policy/shadow", Roles(READERS)),
    ("PUT", "/v1/servers/{id}/policy/shadow", Roles(MANAGERS)),
    ("DELETE", "/v1/servers/{id}/policy/shadow", Roles(MANAGERS)),
    (
        "POST",
        "/v1/servers/{id}/policy/shadow/promote",
        Roles(MANAGERS),
    ),
    ("POST", "/v1/servers/{id}/policy/explain", Roles(READERS)),
    ("POST", "/v1/grants", Roles(ADMIN)),
    ("GET", "/v1/grants", Roles(READERS)),
    ("GET", "/v1/grants/{id}", Roles(READERS)),
    ("DELETE", "/v1/grants/{id}", Roles(ADMIN)),
    ("GET", "/v1/approvals", Roles(EVERY_ROLE)),
    ("GET", "/v1/approvals/{id}", Roles(EVERY_ROLE)),
    ("POST", "/v1/approvals/{id}/approve", Roles(DECIDERS)),
    ("POST", "/v1/approvals/{id}/deny", Roles(DECIDERS)),
    ("GET", "/v1/audit", Roles(READERS)),
    ("GET", "/v1/audit/export", Roles(READERS)),
];

/// Calls the sweep makes to be refused on purpose by the handler, not the
/// role: the answer an allowed caller gets (every other allowed call must
/// succeed).
const DELIBERATE: &[(&str, &str, StatusCode)] = &[
    // A weak new password: refused for its strength, after the right
    // current password, so the caller's sessions survive the sweep.
    ("POST", "/v1/me/password", StatusCode::UNPROCESSABLE_ENTITY),
    // Sign-up here is open: no token awaits verification (the GET only
    // answers the page that posts one).
    (
        "POST",
        "/v1/signup/verify",
        StatusCode::UNPROCESSABLE_ENTITY,
    ),
];

/// The tool every server's catalog lists.
const TOOL: &str = "echo";
const NEW_PASSWORD: &str = "a brand new passphrase 7";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    Session,
    Key,
}

struct Caller {
    role: Role,
    via: Via,
    token: String,
    /// A member's address, to sign in again.
    email: Option<String>,
}

impl Caller {
    fn label(&self) -> String {
        format!("{} {:?}", self.role.name(), self.via)
    }
}

/// Another account's resources, one of each kind a path names.
struct Other {
    tenant: Tenant,
    member: String,
    invitation: String,
    key: String,
    approval: String,
}

struct World {
    app: TestApp,
    /// An admin API key of the account, to set up what calls use up.
    setup: String,
    acme: Tenant,
    /// A viewer in the account only, for the member routes.
    spare: String,
    /// A pending approval, for the reads.
    pending: String,
    invitation: String,
    key: String,
    other: Other,
    n: usize,
}

/// Invites `email` as `role` with `token`, accepts, and answers the new
/// member's session token and user id.
async fn join(app: &TestApp, token: &str, email: &str, role: Role) -> (String, String) {
    let invited = app
        .post(
            "/v1/invitations",
            token,
            json!({"email": email, "role": role.name()}),
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
    let session = accepted.body["token"].as_str().unwrap().to_owned();
    let me = app.get("/v1/me", &session).await;
    assert_eq!(me.body["role"], role.name(), "{}", me.raw);
    (session, me.body["id"].as_str().unwrap().to_owned())
}

async fn login(app: &TestApp, email: &str) -> String {
    let r = app
        .call(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
    r.body["token"].as_str().unwrap().to_owned()
}

async fn key(app: &TestApp, token: &str, name: &str, role: Role) -> (String, String) {
    let r = app
        .post(
            "/v1/api-keys",
            token,
            json!({"name": name, "role": role.name()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
    assert_eq!(r.body["role"], role.name());
    (
        r.body["secret"].as_str().unwrap().to_owned(),
        r.body["id"].as_str().unwrap().to_owned(),
    )
}

/// Records a discovery of the server that found [`TOOL`].
async fn discover(app: &TestApp, t: &Tenant) {
    let tool = ToolDefinition::from_wire(&json!({
        "name": TOOL, "description": "Echoes its message",
        "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}}
    }))
    .unwrap();
    let none = json!([]);
    catalog::record_success(
        &app.pool,
        t.account,
        t.server,
        Found {
            tools: &[tool],
            resources: &none,
            prompts: &none,
            era: "legacy",
            detail: None,
        },
    )
    .await
    .unwrap();
}

async fn hold(app: &TestApp, t: &Tenant) -> String {
    app.hold(t, json!({"message": "hi"}), Duration::from_secs(600))
        .await
        .to_string()
}

/// Account "Acme" with an admin (Ada), a member of every other role and an
/// API key of every role; and another account with one of everything.
async fn world(pool: PgPool) -> (World, Vec<Caller>) {
    let app = TestApp::new(pool);
    let acme = app.tenant("ada@example.com").await;
    let (setup, _) = key(&app, &acme.token, "setup", Admin).await;
    let mut callers = vec![Caller {
        role: Admin,
        via: Via::Session,
        token: acme.token.clone(),
        email: Some("ada@example.com".to_owned()),
    }];
    for role in [PolicyManager, Approver, Viewer, Auditor] {
        let email = format!("{}@acme.test", role.name().replace('_', "-"));
        let (token, _) = join(&app, &acme.token, &email, role).await;
        callers.push(Caller {
            role,
            via: Via::Session,
            token,
            email: Some(email),
        });
    }
    for role in ROLES {
        let (token, _) = key(&app, &acme.token, &format!("{} key", role.name()), role).await;
        callers.push(Caller {
            role,
            via: Via::Key,
            token,
            email: None,
        });
    }
    let (_, spare) = join(&app, &acme.token, "spare@acme.test", Viewer).await;
    discover(&app, &acme).await;
    let policy = app
        .call(
            Method::PUT,
            &format!("/v1/servers/{}/policy", acme.server),
            Some(&setup),
            Some(common::policy("allow")),
        )
        .await;
    assert_eq!(policy.status, StatusCode::OK, "{}", policy.raw);
    let pending = hold(&app, &acme).await;
    let invitation = app
        .post(
            "/v1/invitations",
            &setup,
            json!({"email": "pending@acme.test", "role": "viewer"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, key_id) = key(&app, &setup, "kept", Viewer).await;

    let (zed_token, zed) = app.signup("zed@example.com", "Zed").await;
    let zed_server = app.create_server(&zed_token, "payments").await;
    let zed_grant = app.create_grant(&zed_token, "agent").await;
    let tenant = Tenant {
        token: zed_token,
        account: zed["account"]["id"].as_str().unwrap().parse().unwrap(),
        server: common::parse_id(&zed_server),
        grant: common::parse_id(&zed_grant),
    };
    discover(&app, &tenant).await;
    let approval = hold(&app, &tenant).await;
    let invitation_there = app
        .post(
            "/v1/invitations",
            &tenant.token,
            json!({"email": "someone@zed.test", "role": "viewer"}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, key_there) = key(&app, &tenant.token, "theirs", Admin).await;
    let other = Other {
        member: zed["user"]["id"].as_str().unwrap().to_owned(),
        invitation: invitation_there,
        key: key_there,
        approval,
        tenant,
    };
    let world = World {
        app,
        setup,
        acme,
        spare,
        pending,
        invitation,
        key: key_id,
        other,
        n: 0,
    };
    (world, callers)
}

impl World {
    /// The concrete path and body of a call of `method template`. What a
    /// call would use up if served (a member, a server, a pending
    /// approval…) is made for it, refused or not, so that a refusal wrongly
    /// served leaves the rest of the sweep intact and reported.
    async fn prepare(&mut self, method: &str, template: &str) -> (String, Option<Value>) {
        self.n += 1;
        let n = self.n;
        let app = &self.app;
        let setup = self.setup.as_str();
        let uses_up = method == "DELETE" || template.starts_with("/v1/approvals/{id}/");
        let id = if template.starts_with("/v1/servers/{id}") {
            if uses_up {
                let r = app
                    .post(
                        "/v1/servers",
                        setup,
                        json!({"name": format!("doomed-{n}"), "url": "https://93.184.216.34/mcp"}),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
                r.body["id"].as_str().unwrap().to_owned()
            } else {
                self.acme.server.to_string()
            }
        } else if template.starts_with("/v1/members/{id}") {
            if uses_up {
                join(app, setup, &format!("leaving{n}@acme.test"), Viewer)
                    .await
                    .1
            } else {
                self.spare.clone()
            }
        } else if template.starts_with("/v1/invitations/{id}") {
            if uses_up {
                let r = app
                    .post(
                        "/v1/invitations",
                        setup,
                        json!({"email": format!("withdrawn{n}@acme.test"), "role": "viewer"}),
                    )
                    .await;
                r.body["id"].as_str().unwrap().to_owned()
            } else {
                self.invitation.clone()
            }
        } else if template.starts_with("/v1/api-keys/{id}") {
            if uses_up {
                key(app, setup, &format!("doomed {n}"), Viewer).await.1
            } else {
                self.key.clone()
            }
        } else if template.starts_with("/v1/grants/{id}") {
            if uses_up {
                app.create_grant(setup, &format!("doomed {n}")).await["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            } else {
                self.acme.grant.to_string()
            }
        } else if template.starts_with("/v1/approvals/{id}") {
            if uses_up {
                hold(app, &self.acme).await
            } else {
                self.pending.clone()
            }
        } else {
            String::new()
        };
        // A shadow to read, remove or promote, set afresh for each call.
        if template.starts_with("/v1/servers/{id}/policy/shadow") && method != "PUT" {
            let r = app
                .call(
                    axum::http::Method::PUT,
                    &format!("/v1/servers/{id}/policy/shadow"),
                    Some(setup),
                    Some(common::policy("deny")),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
        }
        let path = template.replace("{id}", &id).replace("{name}", TOOL);
        let body = self.body(method, template, n).await;
        (path, body)
    }

    /// The same call naming the other account's resource.
    async fn foreign(&mut self, method: &str, template: &str) -> (String, Option<Value>) {
        self.n += 1;
        let o = &self.other;
        let id = if template.starts_with("/v1/servers/{id}") {
            o.tenant.server.to_string()
        } else if template.starts_with("/v1/members/{id}") {
            o.member.clone()
        } else if template.starts_with("/v1/invitations/{id}") {
            o.invitation.clone()
        } else if template.starts_with("/v1/api-keys/{id}") {
            o.key.clone()
        } else if template.starts_with("/v1/grants/{id}") {
            o.tenant.grant.to_string()
        } else if template.starts_with("/v1/approvals/{id}") {
            o.approval.clone()
        } else {
            panic!("no other account's id for {template}");
        };
        let path = template.replace("{id}", &id).replace("{name}", TOOL);
        let body = self.body(method, template, self.n).await;
        (path, body)
    }

    /// A body that makes sense for the call.
    async fn body(&self, method: &str, template: &str, n: usize) -> Option<Value> {
        let app = &self.app;
        Some(match (method, template) {
            ("POST", "/v1/signup") => json!({
                "email": format!("new{n}@example.com"), "password": PASSWORD,
                "account": format!("New {n}")
            }),
            ("POST", "/v1/signup/verify") => json!({"token": "tgv_nothing"}),
            ("POST", "/v1/login" | "/v1/session") => {
                json!({"email": "ada@example.com", "password": PASSWORD})
            }
            ("POST", "/v1/session/switch") => json!({"account_id": self.acme.account.to_string()}),
            ("POST", "/v1/invitations/accept") => {
                let r = app
                    .post(
                        "/v1/invitations",
                        &self.setup,
                        json!({"email": format!("joining{n}@acme.test"), "role": "viewer"}),
                    )
                    .await;
                json!({"token": r.body["token"], "password": PASSWORD})
            }
            ("POST", "/v1/password-reset") => json!({"email": "spare@acme.test"}),
            ("POST", "/v1/password-reset/confirm") => {
                let r = app
                    .call(
                        Method::POST,
                        &format!("/v1/members/{}/password-reset", self.spare),
                        Some(&self.setup),
                        None,
                    )
                    .await;
                assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
                json!({"token": r.body["token"], "password": NEW_PASSWORD})
            }
            ("POST", "/v1/me/switch") => json!({"account_id": self.acme.account.to_string()}),
            ("POST", "/v1/me/password") => {
                json!({"current_password": PASSWORD, "new_password": "short"})
            }
            ("PATCH", "/v1/account") => json!({"name": "Acme"}),
            // The spare becomes an admin beside the caller, who stays one.
            ("POST", "/v1/account/handover") => json!({"to": self.spare, "then": "admin"}),
            ("PATCH", "/v1/members/{id}") => json!({"role": "viewer"}),
            ("POST", "/v1/invitations") => {
                json!({"email": format!("invitee{n}@acme.test"), "role": "viewer"})
            }
            ("POST", "/v1/api-keys") => json!({"name": format!("key {n}"), "role": "viewer"}),
            ("POST", "/v1/servers") => {
                json!({"name": format!("server-{n}"), "url": "https://93.184.216.34/mcp"})
            }
            ("PATCH", "/v1/servers/{id}") => json!({"timeout_ms": 5000}),
            ("PUT", "/v1/servers/{id}/policy") => common::policy("allow"),
            ("POST", "/v1/servers/{id}/policy/simulate") => {
                json!({"document": common::policy("deny")})
            }
            ("PUT", "/v1/servers/{id}/policy/shadow") => common::policy("deny"),
            ("POST", "/v1/servers/{id}/policy/explain") => json!({"tool": "echo"}),
            ("POST", "/v1/grants") => json!({"name": format!("agent {n}")}),
            ("POST", "/v1/approvals/{id}/approve" | "/v1/approvals/{id}/deny") => {
                json!({"reason": "checked"})
            }
            _ => return None,
        })
    }
}

fn query(method: &str, template: &str) -> &'static str {
    match (method, template) {
        ("GET", "/v1/signup/verify") => "?token=tgv_nothing",
        _ => "",
    }
}

/// Why `r` is not a 403 problem of the forbidden kind, if it is not.
fn not_forbidden(r: &Response) -> Option<String> {
    let problem = r
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/problem+json");
    (r.status != StatusCode::FORBIDDEN || !problem || r.body["type"] != "/problems/forbidden")
        .then(|| format!("{} {}", r.status, r.raw))
}

fn not_problem(r: &Response, status: StatusCode) -> Option<String> {
    let problem = r
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/problem+json");
    (r.status != status || !problem || r.body["status"] != status.as_u16())
        .then(|| format!("{} {}", r.status, r.raw))
}

/// Why `r` is not what an allowed call of the route answers, if it is not.
fn not_served(method: &str, template: &str, r: &Response) -> Option<String> {
    let deliberate = DELIBERATE
        .iter()
        .find(|(m, p, _)| *m == method && *p == template)
        .map(|(_, _, status)| *status);
    let ok = match deliberate {
        Some(status) => r.status == status,
        None => r.status.is_success(),
    };
    (!ok).then(|| format!("{} {}", r.status, r.raw))
}

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> Response {
    app.call(Method::PATCH, path, Some(token), Some(body)).await
}

/// The routes the OpenAPI document lists.
async fn documented(app: &TestApp) -> BTreeSet<(String, String)> {
    let doc = app.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    let mut routes = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method != "parameters" {
                routes.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

#[sqlx::test(migrations = "../../migrations")]
async fn every_route_answers_every_role_and_key_as_the_roles_say(pool: PgPool) {
    let (mut w, mut callers) = world(pool).await;
    let routes = documented(&w.app).await;
    let expected: BTreeMap<(String, String), Who> = EXPECTED
        .iter()
        .map(|(m, p, who)| ((m.to_string(), p.to_string()), *who))
        .collect();
    let unexpected: Vec<_> = routes
        .iter()
        .filter(|r| !expected.contains_key(*r))
        .collect();
    assert!(
        unexpected.is_empty(),
        "routes with no expectation in this test: {unexpected:?}"
    );
    let stale: Vec<_> = expected.keys().filter(|r| !routes.contains(*r)).collect();
    assert!(stale.is_empty(), "expectations for no route: {stale:?}");

    let mut failures: Vec<String> = Vec::new();
    let mut calls = 0;
    for (method, template) in &routes {
        let who = expected[&(method.clone(), template.clone())];
        let verb = Method::from_bytes(method.as_bytes()).unwrap();
        let suffix = query(method, template);
        let route = format!("{method} {template}");

        if let Anyone = who {
            let (path, body) = w.prepare(method, template).await;
            let r = w
                .app
                .call(verb, &format!("{path}{suffix}"), None, body)
                .await;
            calls += 1;
            if let Some(why) = not_served(method, template, &r) {
                failures.push(format!("{route} without credentials: {why}"));
            }
            continue;
        }
        // Nothing but public routes answers without credentials.
        let (path, body) = w.prepare(method, template).await;
        let r = w.app.call(verb.clone(), &path, None, body).await;
        calls += 1;
        if let Some(why) = not_problem(&r, StatusCode::UNAUTHORIZED) {
            failures.push(format!("{route} without credentials: {why}"));
        }

        for caller in callers.iter_mut() {
            let allowed = match who {
                Anyone => unreachable!(),
                Person => caller.via == Via::Session,
                Roles(roles) => roles.contains(&caller.role),
                PeopleOf(roles) => caller.via == Via::Session && roles.contains(&caller.role),
            };
            let (path, body) = w.prepare(method, template).await;
            // Signing out ends a session of its own; everywhere, all of
            // them, so the caller signs in again after.
            let token = match (template.as_str(), &caller.email) {
                ("/v1/logout" | "/v1/session" | "/v1/session/switch", Some(email)) => {
                    login(&w.app, email).await
                }
                _ => caller.token.clone(),
            };
            let r = w.app.call(verb.clone(), &path, Some(&token), body).await;
            calls += 1;
            let who = caller.label();
            if allowed {
                if let Some(why) = not_served(method, template, &r) {
                    failures.push(format!("{route} as {who}: should be allowed, got {why}"));
                }
            } else if let Some(why) = not_forbidden(&r) {
                failures.push(format!("{route} as {who}: should be 403, got {why}"));
            }
            if template == "/v1/logout/everywhere" {
                if let Some(email) = &caller.email {
                    caller.token = login(&w.app, email).await;
                }
            }
            if allowed && template.contains("{id}") {
                let (path, body) = w.foreign(method, template).await;
                let r = w
                    .app
                    .call(verb.clone(), &path, Some(&caller.token), body)
                    .await;
                calls += 1;
                if let Some(why) = not_problem(&r, StatusCode::NOT_FOUND) {
                    failures.push(format!(
                        "{route} as {who} with another account's id: should be 404, got {why}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls answered otherwise than expected:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The other account's things are all still there.
    let o = &w.other;
    for path in [
        format!("/v1/servers/{}", o.tenant.server),
        format!("/v1/grants/{}", o.tenant.grant),
        format!("/v1/approvals/{}", o.approval),
    ] {
        assert_eq!(
            w.app.get(&path, &o.tenant.token).await.status,
            StatusCode::OK
        );
    }
    let approval = w
        .app
        .get(&format!("/v1/approvals/{}", o.approval), &o.tenant.token)
        .await;
    assert_eq!(approval.body["status"], "pending");
}

/// A policy manager manages servers but never their credentials: not
/// setting headers, not changing or clearing them, and not moving a server
/// that has them to another URL (its credentials would go there).
#[sqlx::test(migrations = "../../migrations")]
async fn credentials_stay_with_admins(pool: PgPool) {
    let (w, callers) = world(pool).await;
    let app = &w.app;
    let headed = format!("/v1/servers/{}", w.acme.server);
    let managers = callers.iter().filter(|c| c.role == PolicyManager);
    for (i, pm) in managers.enumerate() {
        let who = pm.label();
        let token = pm.token.as_str();
        let with_headers = app
            .post(
                "/v1/servers",
                token,
                json!({"name": format!("headed-{i}"), "url": "https://93.184.216.34/mcp",
                       "headers": {"Authorization": "Bearer pm-secret"}}),
            )
            .await;
        assert!(
            not_forbidden(&with_headers).is_none(),
            "{who}: {}",
            with_headers.raw
        );
        let plain = app
            .post(
                "/v1/servers",
                token,
                json!({"name": format!("plain-{i}"), "url": "https://93.184.216.34/mcp",
                       "headers": {}}),
            )
            .await;
        assert_eq!(plain.status, StatusCode::CREATED, "{who}: {}", plain.raw);
        let plain = format!("/v1/servers/{}", plain.body["id"].as_str().unwrap());

        for (path, body) in [
            (&headed, json!({"headers": {"X-Api-Key": "pm-secret"}})),
            (&headed, json!({"headers": {}})),
            (&plain, json!({"headers": {"X-Api-Key": "pm-secret"}})),
            (&headed, json!({"url": "https://93.184.216.35/mcp"})),
            (
                &headed,
                json!({"url": "https://93.184.216.35/mcp", "timeout_ms": 5000}),
            ),
        ] {
            let r = patch(app, path, token, body.clone()).await;
            assert!(
                not_forbidden(&r).is_none(),
                "{who} PATCH {body}: {} {}",
                r.status,
                r.raw
            );
        }
        // What needs no credentials is theirs.
        let moved = patch(
            app,
            &plain,
            token,
            json!({"url": "https://93.184.216.35/mcp"}),
        )
        .await;
        assert_eq!(moved.status, StatusCode::OK, "{who}: {}", moved.raw);
        let tuned = patch(app, &headed, token, json!({"timeout_ms": 4000})).await;
        assert_eq!(tuned.status, StatusCode::OK, "{who}: {}", tuned.raw);
        let shown = app.get(&headed, token).await;
        assert!(
            !shown.raw.contains("upstream-secret-value"),
            "{}",
            shown.raw
        );
    }
    // Nothing refused changed anything: the server is where it was, with
    // its credentials.
    let server = app.get(&headed, &w.setup).await;
    assert_eq!(server.body["url"], "https://93.184.216.34/mcp");
    assert_eq!(server.body["header_names"], json!(["authorization"]));
    assert_eq!(server.body["timeout_ms"], 4000);
    // An admin, member or key, does all of it.
    for admin in [&w.acme.token, &w.setup] {
        for body in [
            json!({"headers": {"X-Api-Key": "admin-secret"}}),
            json!({"url": "https://93.184.216.35/mcp"}),
            json!({"url": "https://93.184.216.34/mcp", "headers": {"Authorization": "Bearer again"}}),
        ] {
            let r = patch(app, &headed, admin, body).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.raw);
        }
    }
}

/// Keys carry at most their creator's role: an admin makes keys of every
/// role; once the creator is demoted, their keys stronger than the new role
/// stop working (401) while the others go on, and come back if the creator
/// is promoted again; keys made by keys answer to the same person.
#[sqlx::test(migrations = "../../migrations")]
async fn a_key_is_never_stronger_than_its_creator(pool: PgPool) {
    let app = TestApp::new(pool);
    let (ada, _) = app.signup("ada@example.com", "Acme").await;
    let (kim, kim_id) = join(&app, &ada, "kim@acme.test", Admin).await;
    let mut keys = Vec::new();
    for role in ROLES {
        keys.push((role, key(&app, &kim, role.name(), role).await.0));
    }
    let admin_key = keys[0].1.clone();
    // Made by Kim's admin key: Kim's too.
    let (minted, _) = key(&app, &admin_key, "minted by a key", Admin).await;
    keys.push((Admin, minted));
    // No role is unknown: a precise refusal.
    let r = app
        .post("/v1/api-keys", &kim, json!({"name": "x", "role": "owner"}))
        .await;
    assert!(r.status == StatusCode::UNPROCESSABLE_ENTITY, "{}", r.raw);

    let kim_path = format!("/v1/members/{kim_id}");
    let set_role = |role: Role| patch(&app, &kim_path, &ada, json!({"role": role.name()}));
    assert_eq!(set_role(Auditor).await.status, StatusCode::OK);
    // An auditor covers a viewer and itself, nothing else.
    for (role, secret) in &keys {
        let r = app.get("/v1/account", secret).await;
        if matches!(role, Auditor | Viewer) {
            assert_eq!(r.status, StatusCode::OK, "{} key: {}", role.name(), r.raw);
        } else {
            assert!(
                not_problem(&r, StatusCode::UNAUTHORIZED).is_none(),
                "{} key of a demoted creator: {} {}",
                role.name(),
                r.status,
                r.raw
            );
        }
    }
    // Promoted again, the keys work again.
    assert_eq!(set_role(Admin).await.status, StatusCode::OK);
    for (role, secret) in &keys {
        let r = app.get("/v1/api-keys", secret).await;
        let expected = if *role == Admin {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(r.status, expected, "{} key: {}", role.name(), r.raw);
    }
    // Removed, none of them works.
    let removed = app.delete(&format!("/v1/members/{kim_id}"), &ada).await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT, "{}", removed.raw);
    for (role, secret) in &keys {
        let r = app.get("/v1/account", secret).await;
        assert!(
            not_problem(&r, StatusCode::UNAUTHORIZED).is_none(),
            "{} key of a removed creator: {}",
            role.name(),
            r.raw
        );
    }
}

/// Another account's ids in a body are not found either: a grant to its
/// server, a hand-over to its admin, a switch into it.
#[sqlx::test(migrations = "../../migrations")]
async fn another_accounts_ids_in_bodies_are_not_found(pool: PgPool) {
    let (w, _) = world(pool).await;
    let app = &w.app;
    let o = &w.other;
    for token in [&w.acme.token, &w.setup] {
        let grant = app
            .post(
                "/v1/grants",
                token,
                json!({"name": "sneaky", "servers": [o.tenant.server.to_string()]}),
            )
            .await;
        assert!(
            not_problem(&grant, StatusCode::NOT_FOUND).is_none(),
            "{}",
            grant.raw
        );
    }
    let handover = app
        .post(
            "/v1/account/handover",
            &w.acme.token,
            json!({"to": o.member, "then": "viewer"}),
        )
        .await;
    assert!(
        not_problem(&handover, StatusCode::NOT_FOUND).is_none(),
        "{}",
        handover.raw
    );
    let me = app.get("/v1/me", &w.acme.token).await;
    assert_eq!(me.body["role"], "admin", "nothing was handed over");
    let switch = app
        .post(
            "/v1/me/switch",
            &w.acme.token,
            json!({"account_id": o.tenant.account.to_string()}),
        )
        .await;
    assert!(
        not_problem(&switch, StatusCode::NOT_FOUND).is_none(),
        "{}",
        switch.raw
    );
}
