//! The throttle's state in Redis, shared by every control-plane replica: one
//! script call per claim, per success and per sign-up.
//!
//! Keys are `NAMESPACE:{signin}:KIND:HASH`: the deployment's namespace, one
//! hash tag (a claim touches an email's and an address's key in one script,
//! which Redis Cluster allows only within one slot), and a hash of the email
//! or address, never the value itself. Each key expires on its own.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::sync::OnceCell;

use super::{millis, Claimed, StoreFailed};

/// Longest wait for Redis on one attempt; past it the attempt is refused.
const DEADLINE: Duration = Duration::from_secs(1);

/// Claims one failure on every key unless one is locked.
///
/// KEYS: the keys. ARGV, four per key: free failures, base ms, max ms,
/// forget ms. Returns the longest wait in ms (0: claimed). Reads first and
/// writes only when nothing is locked, so a refused attempt changes nothing.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i = 1, #KEYS do
  local locked = tonumber(redis.call('HGET', KEYS[i], 'u') or '0')
  if locked - now > wait then wait = locked - now end
end
if wait > 0 then return wait end
for i = 1, #KEYS do
  local b = (i - 1) * 4
  local free, base, max, forget =
    tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local count = redis.call('HINCRBY', KEYS[i], 'f', 1)
  local lock = 0
  if count >= free then
    lock = base
    for _ = 1, count - free do
      lock = lock * 2
      if lock >= max then break end
    end
    if lock > max then lock = max end
    redis.call('HSET', KEYS[i], 'u', string.format('%d', now + lock))
  end
  redis.call('PEXPIRE', KEYS[i], string.format('%d', lock + forget))
end
return 0
",
    )
});

/// A right password: forgets the email's failures and takes back the
/// address's claim (its lock too, once under its free count).
///
/// KEYS[1] the email's key, KEYS[2] (optional) the address's. ARGV[1] the
/// address's free failures.
static SUCCEED: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('DEL', KEYS[1])
if KEYS[2] then
  local count = redis.call('HINCRBY', KEYS[2], 'f', -1)
  if count <= 0 then
    redis.call('DEL', KEYS[2])
  elseif count < tonumber(ARGV[1]) then
    redis.call('HDEL', KEYS[2], 'u')
  end
end
return 0
",
    )
});

/// Counts one sign-up in a fixed window.
///
/// KEYS[1] the address's key. ARGV[1] max, ARGV[2] window ms. Returns the
/// wait in ms past the limit, else 0.
static SIGNUP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
if count > tonumber(ARGV[1]) then return math.max(ttl, 1) end
return 0
",
    )
});

#[derive(Clone)]
pub(super) struct RedisThrottle {
    client: Client,
    /// Created on first use, so the process starts while Redis is down.
    connection: Arc<OnceCell<ConnectionManager>>,
    prefix: Arc<str>,
}

impl From<redis::RedisError> for StoreFailed {
    fn from(error: redis::RedisError) -> Self {
        Self(error.to_string())
    }
}

impl RedisThrottle {
    pub(super) fn new(url: &str, namespace: &str) -> Result<Self, StoreFailed> {
        Ok(Self {
            client: Client::open(url)?,
            connection: Arc::default(),
            prefix: format!("{namespace}:{{signin}}:").into(),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreFailed> {
        let manager = self
            .connection
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(0)
                    .set_connection_timeout(DEADLINE)
                    .set_response_timeout(DEADLINE);
                ConnectionManager::new_with_config(self.client.clone(), config).await
            })
            .await?;
        Ok(manager.clone())
    }

    /// Runs `invocation` within [`DEADLINE`]. A `NOSCRIPT` (the script cache
    /// was emptied) is answered by loading it again: nothing ran.
    async fn run(&self, invocation: redis::ScriptInvocation<'_>) -> Result<u64, StoreFailed> {
        let work = async {
            let mut connection = self.connection().await?;
            let reply: i64 = invocation.invoke_async(&mut connection).await?;
            Ok::<_, StoreFailed>(u64::try_from(reply).unwrap_or(0))
        };
        tokio::time::timeout(DEADLINE, work)
            .await
            .map_err(|_| StoreFailed("no answer within a second".to_owned()))?
    }

    pub(super) async fn claim(&self, keys: &[&Claimed]) -> Result<Option<Duration>, StoreFailed> {
        let mut invocation = CLAIM.prepare_invoke();
        for claimed in keys {
            let b = claimed.backoff;
            invocation
                .key(self.key(&claimed.key))
                .arg(b.free.max(1))
                .arg(millis(b.base))
                .arg(millis(b.max))
                .arg(millis(b.forget));
        }
        let wait = self.run(invocation).await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }

    pub(super) async fn succeed(
        &self,
        email: &Claimed,
        address: Option<&Claimed>,
    ) -> Result<(), StoreFailed> {
        let mut invocation = SUCCEED.prepare_invoke();
        invocation.key(self.key(&email.key));
        match address {
            Some(address) => invocation
                .key(self.key(&address.key))
                .arg(address.backoff.free.max(1)),
            None => invocation.arg(0),
        };
        self.run(invocation).await.map(drop)
    }

    pub(super) async fn count_signup(
        &self,
        key: &str,
        max: u32,
        window: Duration,
    ) -> Result<Option<Duration>, StoreFailed> {
        let mut invocation = SIGNUP.prepare_invoke();
        invocation.key(self.key(key)).arg(max).arg(millis(window));
        let wait = self.run(invocation).await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait)))
    }
}
