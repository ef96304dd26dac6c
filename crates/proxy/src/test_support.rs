//! Fixtures for tests and benches of the gateway: a seeded account and a
//! gateway wired as production wires one. Here, behind the `test-support`
//! feature, so that this crate's tests and benches and the `toolgate` crate's
//! process-level tests seed a gateway one way.

#![allow(clippy::unwrap_used)] // fixtures: a failure to seed is a failed test

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use sqlx::PgPool;
use toolgate_audit::AuditSink;
use toolgate_changes::ApprovalBus;
use toolgate_store::ids::{AccountId, GrantId, ServerId};
use toolgate_store::secrets::SecretKey;
use toolgate_store::servers::Headers;
use toolgate_store::{accounts, db, grants, policies, servers};

use crate::approval::Approvals;
use crate::cache::SnapshotCache;
use crate::limiting::Limiter;
use crate::session::SessionSealer;
use crate::upstream::UpstreamClient;
use crate::ProxyState;

/// How long a snapshot stays cached: long enough that no reload lands inside
/// a test or a bench run, so only an explicit invalidation changes what the
/// gateway sees.
pub const SNAPSHOT_TTL: Duration = Duration::from_secs(3600);

/// The Postgres server to use: `DATABASE_URL`, else the local default.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// Database `name` on the server of [`admin_url`].
pub fn database_url(name: &str) -> String {
    let admin = admin_url();
    let base = admin.rsplit_once('/').map_or(&*admin, |(base, _)| base);
    format!("{base}/{name}")
}

/// Database `name`, dropped if it exists (with whatever still used it),
/// created and migrated: runs never see each other's rows.
pub async fn fresh_database(name: &str, max_connections: u32) -> PgPool {
    let admin = PgPool::connect(&admin_url()).await.unwrap();
    // Dynamic: a database name is an identifier, which no parameter can be.
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let url = database_url(name);
    db::create_database_if_missing(&url).await.unwrap();
    let pool = db::connect(&url, max_connections).await.unwrap();
    db::migrate(&pool).await.unwrap();
    pool
}

/// Serves `app` on a free loopback port in the background; where it listens.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// `body` as an `application/json` answer, as an upstream MCP server sends one.
pub fn json_response(body: &Value) -> Response {
    ([("content-type", "application/json")], body.to_string()).into_response()
}

/// A JSON-RPC `body` POSTed to the gateway at `url` as an agent sends one.
pub async fn post_mcp(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: String,
) -> reqwest::Response {
    client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// What to seed: one account whose one server, `tools`, has a policy, and
/// grants to every server of the account.
pub struct Seed<'a> {
    /// The account's name; the slug it asks for and its owner's email come
    /// from it in lower case.
    pub account: &'a str,
    pub upstream: &'a str,
    /// Sent to the upstream with every call.
    pub upstream_headers: Headers,
    pub timeout_ms: i32,
    pub policy: &'a Value,
    /// A grant is created per name, in order.
    pub grants: &'a [&'a str],
}

impl<'a> Seed<'a> {
    /// No upstream headers, a 10 s timeout and one grant, `agent`.
    pub fn new(account: &'a str, upstream: &'a str, policy: &'a Value) -> Self {
        Self {
            account,
            upstream,
            upstream_headers: Headers::new(),
            timeout_ms: 10_000,
            policy,
            grants: &["agent"],
        }
    }

    /// Creates it all, sealing the upstream headers with `key`.
    pub async fn create(self, pool: &PgPool, key: &SecretKey) -> Seeded {
        let slug_base = self.account.to_lowercase();
        let (account, _) = accounts::create_with_owner(
            pool,
            accounts::NewAccount {
                name: self.account,
                slug_base: &slug_base,
                email: &format!("{slug_base}@example.com"),
                password_hash: "x",
            },
        )
        .await
        .unwrap();
        let tools = servers::NewServer {
            name: &servers::ServerName::parse("tools").unwrap(),
            url: self.upstream,
            headers: &self.upstream_headers,
            timeout_ms: Some(self.timeout_ms),
            new_tools: None,
        };
        let server = servers::create(pool, key, account.id, tools).await.unwrap();
        policies::put(pool, account.id, server.id, self.policy, None)
            .await
            .unwrap();
        let mut created = Vec::with_capacity(self.grants.len());
        for name in self.grants {
            let new_grant = grants::NewGrant {
                name,
                servers: None,
                expires_at: None,
            };
            let (grant, token) = grants::create(pool, account.id, new_grant).await.unwrap();
            created.push(SeededGrant {
                id: grant.id,
                token,
            });
        }
        Seeded {
            account: account.id,
            slug: account.slug,
            server: server.id,
            grants: created,
        }
    }
}

/// What [`Seed::create`] made.
pub struct Seeded {
    pub account: AccountId,
    /// The account's slug, as in gateway paths.
    pub slug: String,
    pub server: ServerId,
    /// In the order [`Seed::grants`] named them.
    pub grants: Vec<SeededGrant>,
}

pub struct SeededGrant {
    pub id: GrantId,
    pub token: String,
}

impl Seeded {
    /// The token of the first grant.
    pub fn token(&self) -> &str {
        &self.grants[0].token
    }

    /// The gateway path of the server: `/mcp/{slug}/tools`.
    pub fn path(&self) -> String {
        format!("/mcp/{}/tools", self.slug)
    }
}

/// A gateway over `pool` wired as production wires one, with `limiter` and
/// `audit`; it may call upstreams on private addresses (test upstreams are
/// on loopback).
pub fn proxy_state(
    pool: &PgPool,
    key: Arc<SecretKey>,
    limiter: Limiter,
    audit: AuditSink,
) -> ProxyState {
    ProxyState {
        cache: Arc::new(SnapshotCache::new(pool.clone(), key, SNAPSHOT_TTL)),
        upstream: UpstreamClient::new(true).unwrap(),
        sealer: Arc::new(SessionSealer::new(&[3; 32])),
        limiter,
        audit,
        approvals: Approvals::new(pool.clone(), ApprovalBus::in_process()),
        sightings: Default::default(),
    }
}
