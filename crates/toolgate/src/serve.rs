//! Starting a serving process: database, secrets, router, socket.

use anyhow::Context;
use sqlx::PgPool;
use toolgate_changes::ChangeBus;
use toolgate_control::auth::jwt::JwtKeys;
use toolgate_control::{AppState, Settings};
use toolgate_store::secrets::SecretKey;
use toolgate_store::{db, dev_secrets};

use crate::config::{Bus, DatabaseArgs, ServeArgs};

/// Creates the database if missing, connects and migrates it.
pub async fn prepare_database(args: &DatabaseArgs) -> anyhow::Result<PgPool> {
    let created = db::create_database_if_missing(&args.database_url)
        .await
        .context("cannot reach Postgres at DATABASE_URL")?;
    if created {
        tracing::info!("created the database named in DATABASE_URL");
    }
    let pool = db::connect(&args.database_url, args.db_max_connections)
        .await
        .context("cannot connect to DATABASE_URL")?;
    db::migrate(&pool)
        .await
        .context("migrating the database failed")?;
    Ok(pool)
}

/// The configured secret, or a development one kept in the database.
async fn secret_or_dev(
    pool: &PgPool,
    configured: Option<&str>,
    name: &str,
    variable: &str,
) -> anyhow::Result<Vec<u8>> {
    if let Some(value) = configured {
        return Ok(value.as_bytes().to_vec());
    }
    tracing::warn!(
        "{variable} is not set: using a generated development key stored in the database. \
         Anyone who can read the database can read it. Set {variable} in production."
    );
    Ok(dev_secrets::get_or_create(pool, name).await?.to_vec())
}

/// Where account changes are announced to gateway replicas.
fn change_bus(args: &ServeArgs) -> anyhow::Result<ChangeBus> {
    match args.bus {
        Bus::Redis => ChangeBus::redis(&args.redis_url).context("REDIS_URL"),
        Bus::Memory => {
            tracing::info!(
                "TOOLGATE_BUS=memory: account changes reach this process only; \
                 run a single replica"
            );
            Ok(ChangeBus::in_process())
        }
    }
}

pub async fn state(args: &ServeArgs, pool: PgPool) -> anyhow::Result<AppState> {
    let changes = change_bus(args)?;
    let jwt_secret = secret_or_dev(
        &pool,
        args.jwt_secret.as_deref(),
        "jwt_secret",
        "TOOLGATE_JWT_SECRET",
    )
    .await?;
    let secret_key = match &args.secret_key {
        Some(key) => {
            SecretKey::parse(key).map_err(|e| anyhow::anyhow!("TOOLGATE_SECRET_KEY {e}"))?
        }
        None => {
            let bytes = secret_or_dev(&pool, None, "secret_key", "TOOLGATE_SECRET_KEY").await?;
            let bytes: [u8; 32] = bytes
                .try_into()
                .map_err(|_| anyhow::anyhow!("stored development key is not 32 bytes"))?;
            SecretKey::from_bytes(bytes)
        }
    };
    Ok(AppState::new(
        pool,
        secret_key,
        JwtKeys::new(&jwt_secret, i64::from(args.jwt_ttl)),
        Settings {
            public_url: args.public_url(),
            allow_private_upstreams: args.allow_private_upstreams,
        },
        changes,
    ))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    args.validate()?;
    let pool = prepare_database(&args.database).await?;
    let state = state(&args, pool).await?;
    let app = toolgate_control::app(state);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on TOOLGATE_LISTEN={}", args.listen))?;
    tracing::info!(listen = %args.listen, public_url = %args.public_url(), "toolgate is serving");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
