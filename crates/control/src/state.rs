use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::PgPool;
use toolgate_changes::{ApprovalBus, ChangeBus};
use toolgate_discovery::Limits;
use toolgate_netguard::OutboundGuard;
use toolgate_store::secrets::SecretKey;

use crate::auth::client_addr::TrustedProxies;
use crate::auth::jwt::JwtKeys;
use crate::auth::throttle::{Throttle, ThrottleSettings};
use crate::mail::Outbox;

/// Deployment settings the API needs at request time.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Base of gateway URLs, without a trailing slash.
    pub public_url: String,
    /// Whether upstream URLs may point at private, loopback or link-local
    /// addresses (off by default: an SSRF guard).
    pub allow_private_upstreams: bool,
    /// How sign-up answers and creates accounts.
    pub signup: SignupMode,
}

/// How `POST /v1/signup` works.
#[derive(Debug, Clone, Default)]
pub enum SignupMode {
    /// The account is created at once and the answer carries a session. The
    /// answer tells whether the email was free: a single-node or
    /// development setting.
    #[default]
    Open,
    /// Every sign-up gets the same 202; what the person needs arrives by
    /// mail (a link to finish, or a notice that the address has an account).
    Verify(Outbox),
}

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub secret_key: Arc<SecretKey>,
    pub jwt: Arc<JwtKeys>,
    pub settings: Arc<Settings>,
    /// Announces "account X changed" to gateway replicas after each committed
    /// write they cache.
    pub changes: ChangeBus,
    /// Announces approval decisions to the gateway replica holding the call.
    pub approvals: ApprovalBus,
    /// Checks the URLs the API is given to call later (upstreams, webhooks),
    /// per `settings.allow_private_upstreams`.
    pub guard: OutboundGuard,
    /// Dependencies besides Postgres that `/readyz` reports (e.g. the
    /// gateway's counter store when both planes share a process).
    pub probes: Vec<(&'static str, ReadinessProbe)>,
    /// Asks upstreams what they offer, through `guard`.
    pub discovery: Discovery,
    /// Failed logins and sign-ups per email and client address (in this
    /// process by default: a single node).
    pub throttle: Throttle,
    /// Proxies whose `X-Forwarded-For` names the client (none by default).
    pub trusted_proxies: Arc<TrustedProxies>,
}

/// The discovery client, if one could be built (it cannot only when TLS
/// cannot start; attempts then end in `error`).
pub type Discovery = Option<toolgate_discovery::Discoverer>;

fn discoverer(guard: &OutboundGuard, limits: Limits) -> Discovery {
    match toolgate_discovery::Discoverer::new(guard.clone(), limits) {
        Ok(discoverer) => Some(discoverer),
        Err(error) => {
            tracing::error!(%error, "cannot build the discovery client; discovery is off");
            None
        }
    }
}

/// Answers whether a dependency is up.
pub type ReadinessProbe = Arc<dyn Fn() -> BoxFuture<'static, bool> + Send + Sync>;

impl AppState {
    pub fn new(
        pool: PgPool,
        secret_key: impl Into<Arc<SecretKey>>,
        jwt: JwtKeys,
        settings: Settings,
        changes: ChangeBus,
    ) -> Self {
        let guard = OutboundGuard::new(settings.allow_private_upstreams);
        Self {
            discovery: discoverer(&guard, Limits::default()),
            guard,
            pool,
            secret_key: secret_key.into(),
            jwt: Arc::new(jwt),
            settings: Arc::new(Settings {
                public_url: settings.public_url.trim_end_matches('/').to_owned(),
                ..settings
            }),
            changes,
            approvals: ApprovalBus::in_process(),
            probes: Vec::new(),
            throttle: Throttle::in_process(ThrottleSettings::default()),
            trusted_proxies: Arc::default(),
        }
    }

    /// Throttles sign-in with `throttle` instead of the in-process default.
    pub fn with_throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    /// Believes `X-Forwarded-For` from `proxies` (see
    /// [`crate::auth::client_addr::ClientAddr`]).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = Arc::new(proxies);
        self
    }

    /// Where approval decisions are announced (in process by default: a
    /// single node).
    pub fn with_approvals(mut self, approvals: ApprovalBus) -> Self {
        self.approvals = approvals;
        self
    }

    /// Resolves names for URL checks with `resolver` instead of the system's.
    pub fn with_resolver(mut self, resolver: Arc<dyn toolgate_netguard::Resolve>) -> Self {
        self.guard = self.guard.with_resolver(resolver);
        let limits = self.discovery_limits();
        self.discovery = discoverer(&self.guard, limits);
        self
    }

    /// Turns tool discovery off: a registration records the catalog as
    /// unavailable instead of calling the upstream (for a control plane that
    /// must not reach upstreams, and tests whose upstream addresses are
    /// placeholders, never to be dialled).
    pub fn without_discovery(mut self) -> Self {
        self.discovery = None;
        self
    }

    /// Bounds discovery attempts by `limits` instead of the defaults.
    pub fn with_discovery_limits(mut self, limits: Limits) -> Self {
        self.discovery = discoverer(&self.guard, limits);
        self
    }

    fn discovery_limits(&self) -> Limits {
        self.discovery
            .as_ref()
            .map(toolgate_discovery::Discoverer::limits)
            .unwrap_or_default()
    }

    /// Adds a dependency to report in `/readyz`.
    pub fn with_probe(mut self, name: &'static str, probe: ReadinessProbe) -> Self {
        self.probes.push((name, probe));
        self
    }

    /// The URL agents use to reach `server` of account `account_slug`.
    pub fn gateway_url(&self, account_slug: &str, server: &str) -> String {
        format!("{}/mcp/{account_slug}/{server}", self.settings.public_url)
    }
}
