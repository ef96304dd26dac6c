//! Configuration: one typed struct from flags and environment, checked at
//! start with errors that name the variable.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use secrecy::{ExposeSecret, SecretString};
use toolgate_control::auth::client_addr::TrustedProxies;
use toolgate_control::auth::throttle::{Backoff, ThrottleSettings};
use toolgate_control::mail::{MailSettings, Mailbox, SmtpUrl};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// How "account X changed" reaches gateway replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Bus {
    /// Redis pub/sub at REDIS_URL: any number of replicas.
    Redis,
    /// Inside this process: a single replica only.
    Memory,
}

/// Where rate-limit counters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Counters {
    /// Redis at REDIS_URL: limits hold across every replica.
    Redis,
    /// In this process: a single replica only.
    Memory,
}

/// How audit events travel from gateways to the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditQueue {
    /// A Redis Stream at REDIS_URL: durable, any number of replicas.
    Redis,
    /// Straight from this process to Postgres: a single node only.
    Memory,
}

/// How sign-up proves a person owns their email address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Signup {
    /// Every sign-up gets the same answer; a link to finish arrives by mail.
    /// Needs TOOLGATE_SMTP_URL.
    Verify,
    /// The account is created at once, and the answer tells whether the
    /// email was already registered: single node and development only.
    Open,
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Postgres URL; the database is created if missing and migrated on start.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/toolgate"
    )]
    pub database_url: String,

    /// Largest number of pooled Postgres connections.
    #[arg(long, env = "TOOLGATE_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,
}

/// Settings of a serving process.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TOOLGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Base URL of gateway URLs as agents reach them (default: http://LISTEN).
    #[arg(long, env = "TOOLGATE_PUBLIC_URL")]
    pub public_url: Option<url::Url>,

    /// Key that signs session tokens (at least 32 characters). Unset: a
    /// generated development key kept in the database.
    #[arg(long, env = "TOOLGATE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<SecretString>,

    /// Lifetime of session tokens, in seconds.
    #[arg(long, env = "TOOLGATE_JWT_TTL", default_value_t = 12 * 3600)]
    pub jwt_ttl: u32,

    /// Key that encrypts upstream credentials at rest: 32 bytes as 64 hex
    /// digits or base64. Unset: a generated development key kept in the database.
    #[arg(long, env = "TOOLGATE_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<SecretString>,

    /// Redis URL (change notifications between replicas).
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = "redis://127.0.0.1:6379",
        hide_env_values = true
    )]
    pub redis_url: SecretString,

    /// How account changes reach gateway replicas: `redis`, or `memory` for
    /// a single replica.
    #[arg(long, env = "TOOLGATE_BUS", value_enum, default_value_t = Bus::Redis)]
    pub bus: Bus,

    /// Where rate-limit counters live: `redis`, or `memory` for a single
    /// replica.
    #[arg(long, env = "TOOLGATE_COUNTERS", value_enum, default_value_t = Counters::Redis)]
    pub counters: Counters,

    /// Longest wait for the counter store on a limited call, in milliseconds;
    /// past it the limit's `on_backend_error` decides.
    #[arg(long, env = "TOOLGATE_COUNTERS_DEADLINE_MS", default_value_t = 250)]
    pub counters_deadline_ms: u64,

    /// How audit events reach Postgres: `redis` (a stream the control plane
    /// consumes) or `memory` (written by this process; single node). Default:
    /// `memory` when TOOLGATE_BUS=memory, else `redis`.
    #[arg(long, env = "TOOLGATE_AUDIT_QUEUE", value_enum)]
    pub audit_queue: Option<AuditQueue>,

    /// Prefix of every key and channel this deployment uses in Redis (1 to 64
    /// characters of A-Z a-z 0-9 - _ . :). Default: `toolgate-` and the start
    /// of the deployment id kept in the database, so replicas sharing the
    /// database agree and other deployments on the same Redis stay apart.
    #[arg(long, env = "TOOLGATE_REDIS_NAMESPACE")]
    pub redis_namespace: Option<String>,

    /// The Redis Stream holding queued audit events. Default: NAMESPACE:audit.
    #[arg(long, env = "TOOLGATE_AUDIT_STREAM")]
    pub audit_stream: Option<String>,

    /// This control plane's name in the audit consumer group. Keep it stable
    /// across restarts (default: control-LISTEN) so a restart resumes its own
    /// unacknowledged events at once.
    #[arg(long, env = "TOOLGATE_AUDIT_CONSUMER")]
    pub audit_consumer: Option<String>,

    /// Audit events a gateway keeps in memory while the queue is unreachable;
    /// past it, events are dropped and counted.
    #[arg(long, env = "TOOLGATE_AUDIT_BUFFER", default_value_t = 100_000)]
    pub audit_buffer: usize,

    /// Audit events older than this many days are deleted (0: keep forever).
    #[arg(long, env = "TOOLGATE_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    pub audit_retention_days: u32,

    /// Allow upstream URLs on private, loopback and link-local addresses.
    #[arg(long, env = "TOOLGATE_ALLOW_PRIVATE_UPSTREAMS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub allow_private_upstreams: bool,

    /// How often every server's tools are discovered again, in seconds (0:
    /// never; registration and `POST /v1/servers/{id}/tools/refresh` still
    /// discover). Every control plane running with it refreshes every
    /// server: in a deployment of several, set it on one.
    #[arg(long, env = "TOOLGATE_CATALOG_REFRESH_SECS", default_value_t = 3600)]
    pub catalog_refresh_secs: u64,

    /// How long a gateway keeps an account's configuration without hearing
    /// of a change, in seconds: a safety net behind change notifications.
    #[arg(long, env = "TOOLGATE_SNAPSHOT_TTL", default_value_t = 60)]
    pub snapshot_ttl: u64,

    /// How sign-up works: `verify` (the same answer for every email; a
    /// link to finish arrives by mail) or `open` (the account at once; the
    /// answer reveals whether an email is registered). Default: `verify`
    /// when TOOLGATE_SMTP_URL is set, else `open`.
    #[arg(long, env = "TOOLGATE_SIGNUP", value_enum)]
    pub signup: Option<Signup>,

    /// SMTP server that sends sign-up mail: smtp://host:25 (add
    /// ?tls=required for STARTTLS) or smtps://user:password@host. A secret:
    /// never logged.
    #[arg(long, env = "TOOLGATE_SMTP_URL", hide_env_values = true, value_parser = secret)]
    pub smtp_url: Option<SecretString>,

    /// Sender of sign-up mail, e.g. `Toolgate <noreply@example.com>`;
    /// required with TOOLGATE_SMTP_URL.
    #[arg(long, env = "TOOLGATE_MAIL_FROM")]
    pub mail_from: Option<String>,

    #[command(flatten)]
    pub sign_in: SignInArgs,

    /// Log format.
    #[arg(long, env = "TOOLGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// Sign-in throttling and the client address.
#[derive(Debug, Clone, Args)]
pub struct SignInArgs {
    /// Failed logins per email before it locks (then for
    /// TOOLGATE_LOGIN_BACKOFF_MS, doubling with each further failure).
    #[arg(long, env = "TOOLGATE_LOGIN_FREE_ATTEMPTS", default_value_t = 5)]
    pub login_free_attempts: u32,

    /// Failed logins from one client address (across emails) before it locks.
    #[arg(
        long,
        env = "TOOLGATE_LOGIN_FREE_ATTEMPTS_PER_ADDRESS",
        default_value_t = 20
    )]
    pub login_free_attempts_per_address: u32,

    /// The first lock, in milliseconds.
    #[arg(long, env = "TOOLGATE_LOGIN_BACKOFF_MS", default_value_t = 1000)]
    pub login_backoff_ms: u64,

    /// The longest lock, in seconds.
    #[arg(long, env = "TOOLGATE_LOGIN_BACKOFF_MAX_SECS", default_value_t = 900)]
    pub login_backoff_max_secs: u64,

    /// Seconds after its last lock ends (or its last failure) that an email's
    /// or address's failures are forgotten.
    #[arg(long, env = "TOOLGATE_LOGIN_FORGET_SECS", default_value_t = 3600)]
    pub login_forget_secs: u64,

    /// Sign-ups per client address per hour (0: no limit).
    #[arg(long, env = "TOOLGATE_SIGNUPS_PER_HOUR", default_value_t = 10)]
    pub signups_per_hour: u32,

    /// Proxies whose X-Forwarded-For names the client: addresses and CIDR
    /// ranges, comma-separated. Unset: the TCP peer is the client.
    #[arg(long, env = "TOOLGATE_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
}

impl SignInArgs {
    /// The throttle's settings, checked.
    pub fn throttle(&self) -> anyhow::Result<ThrottleSettings> {
        anyhow::ensure!(
            self.login_free_attempts >= 1,
            "TOOLGATE_LOGIN_FREE_ATTEMPTS must be at least 1"
        );
        anyhow::ensure!(
            self.login_free_attempts_per_address >= 1,
            "TOOLGATE_LOGIN_FREE_ATTEMPTS_PER_ADDRESS must be at least 1"
        );
        anyhow::ensure!(
            self.login_backoff_ms >= 1,
            "TOOLGATE_LOGIN_BACKOFF_MS must be at least 1"
        );
        let base = Duration::from_millis(self.login_backoff_ms);
        let max = Duration::from_secs(self.login_backoff_max_secs);
        anyhow::ensure!(
            max >= base,
            "TOOLGATE_LOGIN_BACKOFF_MAX_SECS must be at least TOOLGATE_LOGIN_BACKOFF_MS"
        );
        let backoff = |free| Backoff {
            free,
            base,
            max,
            forget: Duration::from_secs(self.login_forget_secs),
        };
        Ok(ThrottleSettings {
            per_email: backoff(self.login_free_attempts),
            per_address: backoff(self.login_free_attempts_per_address),
            signups_per_hour: self.signups_per_hour,
        })
    }

    pub fn trusted_proxies(&self) -> anyhow::Result<TrustedProxies> {
        TrustedProxies::parse(self.trusted_proxies.as_deref().unwrap_or_default())
            .map_err(|e| anyhow::anyhow!("TOOLGATE_TRUSTED_PROXIES: {e}"))
    }
}

/// Takes a value as a secret. Parsed later, by code whose errors never
/// quote it (clap's would).
fn secret(raw: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(raw.to_owned()))
}

impl ServeArgs {
    /// The sign-up mode, and the mail settings `verify` mode uses.
    pub fn signup(&self) -> anyhow::Result<(Signup, Option<MailSettings>)> {
        let mail = match &self.smtp_url {
            None => None,
            Some(url) => {
                let smtp = SmtpUrl::parse(url.expose_secret())
                    .map_err(|e| anyhow::anyhow!("TOOLGATE_SMTP_URL {e}"))?;
                let from = self.mail_from.as_deref().ok_or_else(|| {
                    anyhow::anyhow!(
                        "TOOLGATE_MAIL_FROM must be set with TOOLGATE_SMTP_URL: the sender of \
                         sign-up mail, e.g. \"Toolgate <noreply@example.com>\""
                    )
                })?;
                let from = from.parse::<Mailbox>().map_err(|e| {
                    anyhow::anyhow!(
                        "TOOLGATE_MAIL_FROM must be an address such as \
                         \"Toolgate <noreply@example.com>\" ({e})"
                    )
                })?;
                Some(MailSettings { smtp, from })
            }
        };
        let signup = match (self.signup, &mail) {
            (Some(Signup::Verify), None) => anyhow::bail!(
                "TOOLGATE_SIGNUP=verify needs TOOLGATE_SMTP_URL: sign-up links are sent by mail"
            ),
            (Some(signup), _) => signup,
            (None, Some(_)) => Signup::Verify,
            (None, None) => Signup::Open,
        };
        Ok((signup, mail))
    }

    pub fn audit_queue(&self) -> AuditQueue {
        self.audit_queue.unwrap_or(match self.bus {
            Bus::Redis => AuditQueue::Redis,
            Bus::Memory => AuditQueue::Memory,
        })
    }

    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Checks what clap's types cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(secret) = &self.jwt_secret {
            anyhow::ensure!(
                secret.expose_secret().len() >= 32,
                "TOOLGATE_JWT_SECRET must be at least 32 characters"
            );
        }
        if let Some(key) = &self.secret_key {
            toolgate_store::secrets::SecretKey::parse(key.expose_secret())
                .map_err(|e| anyhow::anyhow!("TOOLGATE_SECRET_KEY {e}"))?;
        }
        anyhow::ensure!(
            self.jwt_ttl >= 60,
            "TOOLGATE_JWT_TTL must be at least 60 seconds"
        );
        if let Some(url) = &self.public_url {
            anyhow::ensure!(
                matches!(url.scheme(), "http" | "https"),
                "TOOLGATE_PUBLIC_URL must be an http(s) URL"
            );
        }
        if let Some(namespace) = &self.redis_namespace {
            anyhow::ensure!(
                toolgate_limits::valid_namespace(namespace),
                "TOOLGATE_REDIS_NAMESPACE must be 1 to 64 characters of A-Z a-z 0-9 - _ . :"
            );
        }
        self.signup()?;
        self.sign_in.throttle()?;
        self.sign_in.trusted_proxies()?;
        if let Some(stream) = &self.audit_stream {
            anyhow::ensure!(
                !stream.is_empty() && !stream.contains(['{', '}']),
                "TOOLGATE_AUDIT_STREAM must be a non-empty name without braces"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    #[test]
    fn secrets_never_reach_a_debug_line() {
        let jwt = "jwt-secret-jwt-secret-jwt-secret-0123";
        let key = "0b".repeat(32);
        let redis = "redis://:redis-password-42@127.0.0.1:6379";
        let cli = Cli::try_parse_from([
            "toolgate",
            "--jwt-secret",
            jwt,
            "--secret-key",
            &key,
            "--redis-url",
            redis,
        ])
        .unwrap();
        cli.serve.validate().unwrap();
        let shown = format!("{:?}", cli.serve);
        for secret in [jwt, key.as_str(), "redis-password-42"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert_eq!(cli.serve.redis_url.expose_secret(), redis);
    }

    #[test]
    fn sign_in_settings_default_and_errors_name_the_variable() {
        let cli = Cli::try_parse_from(["toolgate"]).unwrap();
        let settings = cli.serve.sign_in.throttle().unwrap();
        assert_eq!(settings, ThrottleSettings::default());
        assert!(cli.serve.sign_in.trusted_proxies().unwrap().is_empty());

        for (flag, value, variable) in [
            (
                "--login-free-attempts",
                "0",
                "TOOLGATE_LOGIN_FREE_ATTEMPTS ",
            ),
            (
                "--login-free-attempts-per-address",
                "0",
                "TOOLGATE_LOGIN_FREE_ATTEMPTS_PER_ADDRESS ",
            ),
            ("--login-backoff-ms", "0", "TOOLGATE_LOGIN_BACKOFF_MS "),
            (
                "--login-backoff-max-secs",
                "0",
                "TOOLGATE_LOGIN_BACKOFF_MAX_SECS ",
            ),
            (
                "--trusted-proxies",
                "10.0.0.0/8,proxy",
                "TOOLGATE_TRUSTED_PROXIES:",
            ),
        ] {
            let cli = Cli::try_parse_from(["toolgate", flag, value]).unwrap();
            let err = cli.serve.validate().unwrap_err().to_string();
            assert!(err.starts_with(variable), "{flag}: {err}");
        }
        let cli = Cli::try_parse_from([
            "toolgate",
            "--login-backoff-ms",
            "250",
            "--login-backoff-max-secs",
            "60",
            "--signups-per-hour",
            "0",
            "--trusted-proxies",
            "10.0.0.0/8, 192.0.2.1",
        ])
        .unwrap();
        cli.serve.validate().unwrap();
        let settings = cli.serve.sign_in.throttle().unwrap();
        assert_eq!(settings.per_email.base, Duration::from_millis(250));
        assert_eq!(settings.per_address.max, Duration::from_secs(60));
        assert_eq!(settings.signups_per_hour, 0);
        assert!(cli
            .serve
            .sign_in
            .trusted_proxies()
            .unwrap()
            .contains("192.0.2.1".parse().unwrap()));
    }
}
