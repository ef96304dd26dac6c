//! Starting a serving process: database, secrets, router, socket.

use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use sqlx::PgPool;
use toolgate_audit::SinkDrain;
use toolgate_changes::{ApprovalBus, ChangeBus};
use toolgate_control::auth::jwt::JwtKeys;
use toolgate_control::auth::throttle::Throttle;
use toolgate_control::mail::{Outbox, OutboxDrain, RetryPolicy};
use toolgate_control::webhooks::{DeliveryPolicy, WebhookDispatcher};
use toolgate_control::{AppState, Settings, SignupMode};
use toolgate_limits::CounterStore;
use toolgate_proxy::approval::{self, Approvals};
use toolgate_proxy::cache::SnapshotCache;
use toolgate_proxy::limiting::Limiter;
use toolgate_proxy::outcome::{RequestSeries, LATENCY_BUCKETS};
use toolgate_proxy::session::SessionSealer;
use toolgate_proxy::upstream::UpstreamClient;
use toolgate_proxy::ProxyState;
use toolgate_store::secrets::SecretKey;
use toolgate_store::{db, dev_secrets};

use crate::config::{Bus, Counters, DatabaseArgs, ServeArgs, Signup};
use crate::redis_names::RedisNames;

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
fn change_bus(args: &ServeArgs, names: &RedisNames) -> anyhow::Result<ChangeBus> {
    match args.bus {
        Bus::Redis => {
            ChangeBus::redis_with_channel(args.redis_url.expose_secret(), names.changes_channel())
                .context("REDIS_URL")
        }
        Bus::Memory => {
            tracing::info!(
                "TOOLGATE_BUS=memory: account changes reach this process only; \
                 run a single replica"
            );
            Ok(ChangeBus::in_process())
        }
    }
}

/// Where approval decisions reach the gateway replica holding the call: the
/// same transport as account changes, on its own channel.
fn approval_bus(args: &ServeArgs, names: &RedisNames) -> anyhow::Result<ApprovalBus> {
    match args.bus {
        Bus::Redis => ApprovalBus::redis_with_channel(
            args.redis_url.expose_secret(),
            names.approvals_channel(),
        )
        .context("REDIS_URL"),
        Bus::Memory => Ok(ApprovalBus::in_process()),
    }
}

/// The deployment's keys, from the environment or the database.
struct Keys {
    jwt_secret: Vec<u8>,
    secret_key: Arc<SecretKey>,
}

async fn keys(args: &ServeArgs, pool: &PgPool) -> anyhow::Result<Keys> {
    let jwt_secret = secret_or_dev(
        pool,
        args.jwt_secret.as_ref().map(ExposeSecret::expose_secret),
        "jwt_secret",
        "TOOLGATE_JWT_SECRET",
    )
    .await?;
    let secret_key = match &args.secret_key {
        Some(key) => SecretKey::parse(key.expose_secret())
            .map_err(|e| anyhow::anyhow!("TOOLGATE_SECRET_KEY {e}"))?,
        None => {
            let bytes = secret_or_dev(pool, None, "secret_key", "TOOLGATE_SECRET_KEY").await?;
            let bytes: [u8; 32] = bytes
                .try_into()
                .map_err(|_| anyhow::anyhow!("stored development key is not 32 bytes"))?;
            SecretKey::from_bytes(bytes)
        }
    };
    Ok(Keys {
        jwt_secret,
        secret_key: Arc::new(secret_key),
    })
}

/// Which planes a process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Control plane and gateway on one port.
    All,
    Control,
    Gateway,
}

impl Role {
    /// The subcommand that runs this role, e.g. for the default service name.
    pub fn name(self) -> &'static str {
        match self {
            Self::All => "serve",
            Self::Control => "control",
            Self::Gateway => "proxy",
        }
    }
}

/// Where rate-limit counters live.
fn counter_store(args: &ServeArgs, names: &RedisNames) -> anyhow::Result<CounterStore> {
    match args.counters {
        Counters::Redis => {
            let deadline = Duration::from_millis(args.counters_deadline_ms);
            CounterStore::redis_in(args.redis_url.expose_secret(), deadline, names.namespace())
                .context("REDIS_URL")
        }
        Counters::Memory => {
            tracing::info!("TOOLGATE_COUNTERS=memory: rate limits count in this process only; run a single replica");
            Ok(CounterStore::memory())
        }
    }
}

/// Sign-up's mode; in `verify` mode, with the outbox that mails its links.
fn signup_mode(args: &ServeArgs) -> anyhow::Result<(SignupMode, Option<OutboxDrain>)> {
    match args.signup()? {
        (Signup::Verify, Some(mail)) => {
            let (outbox, drain) =
                Outbox::start(&mail, RetryPolicy::default()).context("TOOLGATE_SMTP_URL")?;
            tracing::info!(
                smtp = %mail.smtp,
                from = %mail.from,
                "TOOLGATE_SIGNUP=verify: sign-up gives one answer to every email and mails a link to finish"
            );
            Ok((SignupMode::Verify(outbox), Some(drain)))
        }
        (Signup::Verify, None) => anyhow::bail!("TOOLGATE_SIGNUP=verify needs TOOLGATE_SMTP_URL"),
        (Signup::Open, _) => {
            tracing::warn!(
                "TOOLGATE_SIGNUP=open: sign-up answers 409 for a registered email, so anyone can \
                 test which addresses have accounts. Fine for a single node or development; \
                 anywhere others reach, set TOOLGATE_SMTP_URL and TOOLGATE_MAIL_FROM so that \
                 sign-up mails a link instead."
            );
            Ok((SignupMode::Open, None))
        }
    }
}

/// Where failed logins and sign-ups are counted: in Redis beside the change
/// bus (every control-plane replica shares it), or in process with it.
fn sign_in_throttle(args: &ServeArgs, names: &RedisNames) -> anyhow::Result<Throttle> {
    let settings = args.sign_in.throttle()?;
    match args.bus {
        Bus::Redis => Throttle::redis(args.redis_url.expose_secret(), names.namespace(), settings)
            .context("REDIS_URL"),
        Bus::Memory => Ok(Throttle::in_process(settings)),
    }
}

fn control_app(
    args: &ServeArgs,
    names: &RedisNames,
    pool: PgPool,
    keys: &Keys,
    changes: ChangeBus,
    approvals: ApprovalBus,
    limiter: Option<&Limiter>,
) -> anyhow::Result<(Router, Option<OutboxDrain>)> {
    // Approval notifications leave from the control plane, off any request.
    let dispatcher = WebhookDispatcher::new(
        pool.clone(),
        keys.secret_key.clone(),
        &args.public_url(),
        args.allow_private_upstreams,
        DeliveryPolicy::default(),
    )
    .context("building the webhook HTTP client")?;
    tokio::spawn(dispatcher.run());
    crate::audit::start_control(args, names, &pool)?;
    let (signup, outbox) = signup_mode(args)?;
    let state = AppState::new(
        pool,
        keys.secret_key.clone(),
        JwtKeys::new(&keys.jwt_secret, i64::from(args.jwt_ttl)),
        Settings {
            public_url: args.public_url(),
            allow_private_upstreams: args.allow_private_upstreams,
            signup,
        },
        changes,
    )
    .with_approvals(approvals)
    .with_throttle(sign_in_throttle(args, names)?)
    .with_trusted_proxies(args.sign_in.trusted_proxies()?);
    let state = match limiter {
        Some(limiter) => {
            let store = limiter.store().clone();
            state.with_probe(
                "counters",
                Arc::new(move || {
                    let store = store.clone();
                    Box::pin(async move { store.ping().await.is_ok() })
                }),
            )
        }
        None => state,
    };
    if args.catalog_refresh_secs > 0 {
        let refresher = toolgate_control::catalog::refresh::PeriodicRefresh {
            state: state.clone(),
            every: std::time::Duration::from_secs(args.catalog_refresh_secs),
        };
        tokio::spawn(refresher.run());
    }
    Ok((toolgate_control::app(state), outbox))
}

fn gateway_app(
    args: &ServeArgs,
    names: &RedisNames,
    pool: PgPool,
    keys: &Keys,
    changes: &ChangeBus,
    approvals: &ApprovalBus,
    limiter: Limiter,
) -> anyhow::Result<(Router, SinkDrain)> {
    let cache = Arc::new(SnapshotCache::new(
        pool.clone(),
        keys.secret_key.clone(),
        Duration::from_secs(args.snapshot_ttl),
    ));
    tokio::spawn(cache.clone().follow(changes.subscribe()));
    let (audit, drain) = crate::audit::sink(args, names, &pool)?;
    let state = ProxyState {
        cache,
        upstream: UpstreamClient::new(args.allow_private_upstreams)
            .context("building the upstream HTTP client")?,
        sealer: Arc::new(SessionSealer::new(keys.secret_key.expose_bytes())),
        limiter,
        audit,
        approvals: Approvals::new(pool, approvals.clone()),
        sightings: Default::default(),
    };
    Ok((toolgate_proxy::router(state), drain))
}

pub async fn run(args: ServeArgs, role: Role) -> anyhow::Result<()> {
    args.validate()?;
    let pool = prepare_database(&args.database).await?;
    let keys = keys(&args, &pool).await?;
    let names = RedisNames::resolve(&args, &pool).await?;
    tracing::info!(namespace = names.namespace(), "Redis names");
    let changes = change_bus(&args, &names)?;
    let approvals = approval_bus(&args, &names)?;
    let (app, drain, outbox) = match role {
        Role::Control => {
            let (control, outbox) =
                control_app(&args, &names, pool, &keys, changes, approvals, None)?;
            (control, None, outbox)
        }
        Role::All | Role::Gateway => {
            let limiter = Limiter::new(counter_store(&args, &names)?);
            let (gateway, drain) = gateway_app(
                &args,
                &names,
                pool.clone(),
                &keys,
                &changes,
                &approvals,
                limiter.clone(),
            )?;
            let (rest, outbox) = if role == Role::All {
                control_app(
                    &args,
                    &names,
                    pool,
                    &keys,
                    changes,
                    approvals,
                    Some(&limiter),
                )?
            } else {
                (toolgate_proxy::health_router(pool, limiter), None)
            };
            (gateway.merge(rest), Some(drain), outbox)
        }
    };
    let app = app.merge(metrics_router()?);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on TOOLGATE_LISTEN={}", args.listen))?
        // Without TCP_NODELAY a relayed SSE answer (several small writes) waits
        // on the agent's delayed ACK: ~40 ms added to every streamed call.
        .tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY on an accepted connection");
            }
        });
    tracing::info!(listen = %args.listen, public_url = %args.public_url(), ?role, "toolgate is serving");
    // The peer address feeds sign-in throttling (ClientAddr).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")?;
    // Every request is answered: store the audit events still held.
    if let Some(drain) = drain {
        drain.finish(AUDIT_DRAIN_TIMEOUT).await;
    }
    // The router, and every outbox handle in it, is gone: send what is queued.
    if let Some(outbox) = outbox {
        outbox.finish(MAIL_DRAIN_TIMEOUT).await;
    }
    Ok(())
}

/// How long a stopping process keeps trying to store its audit events.
const AUDIT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stopping process keeps trying to send queued sign-up mail.
const MAIL_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// `GET /metrics` in the Prometheus text format: the `metrics` recorder's
/// series, then the gateway's request series (kept apart, see
/// [`RequestSeries`]).
fn metrics_router() -> anyhow::Result<Router> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
        .context("histogram buckets")?
        // A full match wins over the suffix.
        .set_buckets_for_metric(
            Matcher::Full(approval::WAIT_DURATION_METRIC.to_owned()),
            &approval::WAIT_BUCKETS,
        )
        .context("histogram buckets")?
        .install_recorder()
        .context("installing the metrics recorder")?;
    // Histogram samples pile up until folded in by upkeep; without it a
    // gateway nobody scrapes would grow without bound.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let render = move || {
        let mut text = handle.render();
        RequestSeries::global().render(&mut text);
        std::future::ready(text)
    };
    Ok(Router::new().route("/metrics", get(render)))
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
