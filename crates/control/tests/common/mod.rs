//! A control-plane router over a fresh, migrated database per test, driven
//! in-process.

#![allow(dead_code, clippy::unwrap_used)]

pub mod smtp;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_changes::{ApprovalBus, ChangeBus};
use toolgate_control::auth::jwt::JwtKeys;
use toolgate_control::mail::{MailSettings, Outbox, RetryPolicy, SmtpUrl};
use toolgate_control::{app, AppState, Settings, SignupMode};
use toolgate_netguard::{Resolve, Resolving};
use toolgate_store::approvals::{self, NewApproval};
use toolgate_store::ids::{AccountId, ApprovalId, GrantId, ServerId};
use toolgate_store::secrets::SecretKey;
use tower::ServiceExt;

pub const JWT_SECRET: &[u8] = b"test-jwt-secret-test-jwt-secret-0123";
pub const PUBLIC_URL: &str = "https://gw.example.test";
pub const PASSWORD: &str = "correct horse battery staple";
pub const MAIL_FROM: &str = "Toolgate <noreply@toolgate.test>";
/// The password the control plane logs in to the SMTP sink with.
pub const SMTP_PASSWORD: &str = "smtp-password-never-logged";

pub struct TestApp {
    pub router: Router,
    pub pool: PgPool,
    /// The in-process bus the router announces account changes on.
    pub changes: ChangeBus,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Response {
    /// Asserts a problem+json error with this status, and returns its body.
    pub fn problem(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "body: {}", self.raw);
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap()),
            Some("application/problem+json"),
            "body: {}",
            self.raw
        );
        assert_eq!(self.body["status"], status.as_u16());
        assert!(
            self.body["type"].is_string()
                && self.body["title"].is_string()
                && self.body["detail"].is_string()
        );
        &self.body
    }

    /// The JSON pointers of a 422's `errors`.
    pub fn error_paths(&self) -> Vec<String> {
        self.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"]
            .as_array()
            .expect("errors array")
            .iter()
            .map(|e| e["path"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl TestApp {
    pub fn new(pool: PgPool) -> Self {
        Self::with_settings(pool, false)
    }

    pub fn with_settings(pool: PgPool, allow_private_upstreams: bool) -> Self {
        let key = Arc::new(SecretKey::generate());
        Self::build(
            pool,
            key,
            allow_private_upstreams,
            SignupMode::Open,
            |state| state,
        )
    }

    /// The mail settings of a `verify`-mode app mailing through `sink`.
    pub fn mail_settings(sink: &smtp::SmtpSink) -> MailSettings {
        MailSettings {
            smtp: SmtpUrl::parse(&format!("smtp://mailer:{SMTP_PASSWORD}@{}", sink.addr)).unwrap(),
            from: MAIL_FROM.parse().unwrap(),
        }
    }

    /// Sign-up in `verify` mode, mailing through `sink` (retries are quick).
    pub fn verifying(pool: PgPool, sink: &smtp::SmtpSink) -> Self {
        let policy = RetryPolicy {
            attempts: 4,
            first_retry: Duration::from_millis(50),
            timeout: Duration::from_secs(5),
        };
        let (outbox, _drain) = Outbox::start(&Self::mail_settings(sink), policy).unwrap();
        let key = Arc::new(SecretKey::generate());
        Self::build(pool, key, false, SignupMode::Verify(outbox), |state| state)
    }

    /// An `open`-mode app whose state `adjust` changes (its throttle, its
    /// trusted proxies).
    pub fn adjusted(pool: PgPool, adjust: impl FnOnce(AppState) -> AppState) -> Self {
        let key = Arc::new(SecretKey::generate());
        Self::build(pool, key, false, SignupMode::Open, adjust)
    }

    /// Approval decisions are announced on `bus`, for tests that listen.
    pub fn with_approvals(pool: PgPool, bus: ApprovalBus) -> Self {
        let key = Arc::new(SecretKey::generate());
        Self::build(pool, key, false, SignupMode::Open, |state| {
            state.with_approvals(bus)
        })
    }

    /// Secrets are sealed with `key`, for tests that also run what reads
    /// them (a webhook dispatcher) beside the router.
    pub fn with_key(pool: PgPool, key: Arc<SecretKey>, allow_private_upstreams: bool) -> Self {
        Self::build(
            pool,
            key,
            allow_private_upstreams,
            SignupMode::Open,
            |state| state,
        )
    }

    /// Private upstreams are not allowed, and names resolve with `dns`.
    pub fn with_resolver(pool: PgPool, key: Arc<SecretKey>, dns: Arc<Dns>) -> Self {
        Self::build(pool, key, false, SignupMode::Open, |state| {
            state.with_resolver(dns)
        })
    }

    fn build(
        pool: PgPool,
        key: Arc<SecretKey>,
        allow_private_upstreams: bool,
        signup: SignupMode,
        adjust: impl FnOnce(AppState) -> AppState,
    ) -> Self {
        let changes = ChangeBus::in_process();
        let state = AppState::new(
            pool.clone(),
            key,
            JwtKeys::new(JWT_SECRET, 3600),
            Settings {
                public_url: PUBLIC_URL.to_owned(),
                allow_private_upstreams,
                signup,
            },
            changes.clone(),
        );
        // Tests that allow no private upstreams register placeholder public
        // addresses: discovery must never dial them.
        let state = adjust(state);
        let state = if allow_private_upstreams {
            state
        } else {
            state.without_discovery()
        };
        Self {
            router: app(state),
            pool,
            changes,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Response {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let raw = String::from_utf8_lossy(&bytes).into_owned();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Response {
            status,
            headers,
            body,
            raw,
        }
    }

    /// A JSON request; `token` goes in `Authorization: Bearer`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(body) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(&body).unwrap())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Response {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Signs up a new account; returns its session token and the response body.
    pub async fn signup(&self, email: &str, account: &str) -> (String, Value) {
        let r = self
            .call(
                Method::POST,
                "/v1/signup",
                None,
                Some(json!({"email": email, "password": PASSWORD, "account": account})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
        (r.body["token"].as_str().unwrap().to_owned(), r.body)
    }

    /// Registers a server on a public address; returns its JSON.
    pub async fn create_server(&self, token: &str, name: &str) -> Value {
        let r = self
            .post(
                "/v1/servers",
                token,
                json!({"name": name, "url": "https://93.184.216.34/mcp", "headers": {"Authorization": "Bearer upstream-secret-value"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
        r.body
    }

    /// Creates a grant to every server; returns its JSON.
    pub async fn create_grant(&self, token: &str, name: &str) -> Value {
        let r = self.post("/v1/grants", token, json!({"name": name})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.raw);
        r.body
    }

    /// Signs up account "Acme" with a server, `payments`, and a grant to it.
    pub async fn tenant(&self, email: &str) -> Tenant {
        let (token, body) = self.signup(email, "Acme").await;
        let server = self.create_server(&token, "payments").await;
        let grant = self.create_grant(&token, "agent").await;
        Tenant {
            token,
            account: parse_id(&body["account"]),
            server: parse_id(&server),
            grant: parse_id(&grant),
        }
    }

    /// What the gateway records when it holds a call of `create_charge`.
    pub async fn hold(&self, t: &Tenant, arguments: Value, timeout: Duration) -> ApprovalId {
        approvals::create(
            &self.pool,
            t.account,
            NewApproval {
                server: t.server,
                grant: t.grant,
                kind: toolgate_store::target_kind::TargetKind::Tool,
                tool: "create_charge",
                arguments: &arguments,
                timeout,
            },
        )
        .await
        .unwrap()
        .id
    }
}

/// DNS whose answers a test changes, e.g. between registering a URL and
/// calling it.
#[derive(Default)]
pub struct Dns(Mutex<HashMap<String, IpAddr>>);

impl Dns {
    pub fn answer(&self, host: &str, ip: &str) {
        let ip = ip.parse().unwrap();
        self.0.lock().unwrap().insert(host.to_owned(), ip);
    }
}

impl Resolve for Dns {
    fn resolve<'a>(&'a self, host: &'a str) -> Resolving<'a> {
        let answer = self.0.lock().unwrap().get(host).copied();
        Box::pin(async move {
            answer
                .map(|ip| vec![ip])
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"))
        })
    }
}

/// A signed-up account, its session token, and the ids of its server and grant.
pub struct Tenant {
    pub token: String,
    pub account: AccountId,
    pub server: ServerId,
    pub grant: GrantId,
}

/// The `id` of a resource's JSON.
pub fn parse_id<T: std::str::FromStr<Err: std::fmt::Debug>>(resource: &Value) -> T {
    resource["id"].as_str().unwrap().parse().unwrap()
}

/// A minimal valid policy document.
pub fn policy(default: &str) -> Value {
    json!({"version": "1", "default": default, "tools": {"echo": {}}})
}
