//! Seeds a fresh benchmark database through `toolgate_store`, the same code the
//! control plane uses (upstream header values sealed with the secret key).
//!
//! - `bench`: one account `bench` with four servers on the same upstream, one
//!   per gateway configuration measured, and one grant; prints the grant token.
//! - `accounts`: N accounts, each with a server, a small policy and a grant;
//!   writes `SLUG<TAB>TOKEN` lines for `toolgate-load accounts`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use sqlx::PgPool;
use toolgate_store::secrets::SecretKey;
use toolgate_store::servers::{Headers, ServerName};
use toolgate_store::{accounts, db, grants, policies, servers};

#[derive(Parser)]
#[command(about = "Seeds a fresh Toolgate benchmark database")]
struct Args {
    /// The database to (re)create; it is dropped first if it exists.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The key upstream header values are sealed with (as the gateway reads them).
    #[arg(long, env = "TOOLGATE_SECRET_KEY")]
    secret_key: String,
    /// The upstream MCP endpoint every server points at.
    #[arg(long)]
    upstream: String,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// One account with the four benchmark configurations.
    Bench {
        /// Also a fifth server, `everything`, allowing every tool of this
        /// upstream (the realism run with @modelcontextprotocol/server-everything).
        #[arg(long)]
        everything: Option<String>,
    },
    /// Many accounts, one server, policy and grant each.
    Accounts {
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        /// Where to write `SLUG<TAB>TOKEN` lines.
        #[arg(long)]
        out: String,
    },
}

/// The four gateway configurations: server name and policy.
fn configurations() -> Vec<(&'static str, Value)> {
    // 47 exact names and 3 globs; `echo` is governed by a glob, so every call
    // goes through the glob ranking.
    let mut tools = serde_json::Map::new();
    for i in 0..47 {
        tools.insert(format!("tool_{i:02}"), json!({}));
    }
    tools.insert("tool_5*".to_owned(), json!({}));
    tools.insert("delete_*".to_owned(), json!({"action": "deny"}));
    tools.insert("ec*o".to_owned(), json!({}));
    vec![
        ("allow-all", json!({"version": "1", "default": "allow"})),
        (
            "globs",
            json!({"version": "1", "default": "deny", "tools": tools}),
        ),
        (
            "limited",
            json!({"version": "1", "default": "deny", "tools": {"echo": {"limits": [
                {"counter": "echo_rate", "window": "minute", "max": 1_000_000_000_000_u64, "scope": "grant"}
            ]}}}),
        ),
        (
            "schema",
            json!({"version": "1", "default": "deny", "tools": {"echo": {"arguments": {
                "type": "object",
                "properties": {"text": {"type": "string", "maxLength": 1000}},
                "required": ["text"],
                "additionalProperties": false
            }}}}),
        ),
    ]
}

async fn fresh_database(url: &str) -> anyhow::Result<PgPool> {
    let (base, name) = url
        .rsplit_once('/')
        .context("DATABASE_URL must end with the database name")?;
    let admin = PgPool::connect(&format!("{base}/postgres")).await?;
    // Dynamic: a database name is an identifier, which no parameter can be.
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&admin)
        .await?;
    admin.close().await;
    db::create_database_if_missing(url).await?;
    let pool = db::connect(url, 16).await?;
    db::migrate(&pool).await?;
    Ok(pool)
}

async fn seed_bench(
    pool: &PgPool,
    key: &SecretKey,
    upstream: &str,
    everything: Option<&str>,
) -> anyhow::Result<()> {
    let (account, _) = accounts::create_with_owner(
        pool,
        accounts::NewAccount {
            name: "Bench",
            slug_base: "bench",
            email: "bench@example.com",
            password_hash: "not-a-login",
        },
    )
    .await?;
    let headers: Headers = [("Authorization".to_owned(), "Bearer upstream".to_owned())]
        .into_iter()
        .collect();
    let mut servers_to_seed: Vec<(&str, &str, Value)> = configurations()
        .into_iter()
        .map(|(name, policy)| (name, upstream, policy))
        .collect();
    if let Some(url) = everything {
        servers_to_seed.push((
            "everything",
            url,
            json!({"version": "1", "default": "allow"}),
        ));
    }
    for (name, url, policy) in servers_to_seed {
        let server = servers::create(
            pool,
            key,
            account.id,
            servers::NewServer {
                name: &ServerName::parse(name).map_err(anyhow::Error::msg)?,
                url,
                headers: &headers,
                timeout_ms: Some(10_000),
                new_tools: None,
            },
        )
        .await?;
        policies::put(pool, account.id, server.id, &policy, None).await?;
    }
    let (_, token) = grants::create(
        pool,
        account.id,
        grants::NewGrant {
            name: "bench",
            servers: None,
            expires_at: None,
        },
    )
    .await?;
    println!("{}", json!({"slug": account.slug, "token": token}));
    Ok(())
}

async fn seed_one(
    pool: &PgPool,
    key: &SecretKey,
    upstream: &str,
    i: usize,
) -> anyhow::Result<(String, String)> {
    let slug = format!("acct-{i:05}");
    let email = format!("{slug}@example.com");
    let (account, _) = accounts::create_with_owner(
        pool,
        accounts::NewAccount {
            name: &slug,
            slug_base: &slug,
            email: &email,
            password_hash: "not-a-login",
        },
    )
    .await?;
    let headers: Headers = [("Authorization".to_owned(), format!("Bearer upstream-{i}"))]
        .into_iter()
        .collect();
    let server = servers::create(
        pool,
        key,
        account.id,
        servers::NewServer {
            name: &ServerName::parse("tools").map_err(anyhow::Error::msg)?,
            url: upstream,
            headers: &headers,
            timeout_ms: Some(10_000),
            new_tools: None,
        },
    )
    .await?;
    let policy = json!({"version": "1", "default": "deny", "tools": {
        "echo": {}, "tool_0*": {}, "delete_*": {"action": "deny"}}});
    policies::put(pool, account.id, server.id, &policy, None).await?;
    let (_, token) = grants::create(
        pool,
        account.id,
        grants::NewGrant {
            name: "agent",
            servers: None,
            expires_at: None,
        },
    )
    .await?;
    Ok((account.slug, token))
}

async fn seed_accounts(
    pool: &PgPool,
    key: Arc<SecretKey>,
    upstream: &str,
    count: usize,
    out: &str,
) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let lines = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let mut workers = Vec::new();
    for _ in 0..12 {
        let (pool, key, next, lines) = (pool.clone(), key.clone(), next.clone(), lines.clone());
        let upstream = upstream.to_owned();
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(());
                }
                let (slug, token) = seed_one(&pool, &key, &upstream, i).await?;
                if let Ok(mut lines) = lines.lock() {
                    lines.push(format!("{slug}\t{token}\n"));
                }
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let text: String = lines
        .lock()
        .map_err(|_| anyhow::anyhow!("a seeding task panicked"))?
        .concat();
    std::fs::write(out, text).with_context(|| format!("writing {out}"))?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let key = SecretKey::parse(&args.secret_key)
        .map_err(|e| anyhow::anyhow!("TOOLGATE_SECRET_KEY: {e}"))?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let pool = fresh_database(&args.database_url).await?;
            match args.mode {
                Mode::Bench { everything } => {
                    seed_bench(&pool, &key, &args.upstream, everything.as_deref()).await
                }
                Mode::Accounts { count, out } => {
                    seed_accounts(&pool, Arc::new(key), &args.upstream, count, &out).await
                }
            }
        })
}
