//! Server-side scripts and how one is called.
//!
//! `EVALSHA` first; on `NOSCRIPT` (the cache was emptied by a restart, a
//! failover or `SCRIPT FLUSH`: nothing ran) one `EVAL` with the body, which
//! also caches it again. Unlike `Script::invoke_async`, whose `SCRIPT LOAD`
//! then `EVALSHA` fails again if a flush lands in between, this cannot see
//! `NOSCRIPT` twice. Nothing else is ever re-sent: a call that failed or
//! timed out may have run.

use std::sync::LazyLock;

use redis::aio::ConnectionLike;
use redis::{ErrorKind, FromRedisValue, RedisResult, ToRedisArgs};

/// A Lua script and its SHA1.
pub(crate) struct LuaScript {
    source: &'static str,
    sha1: String,
}

impl LuaScript {
    fn new(source: &'static str) -> Self {
        Self {
            source,
            sha1: redis::Script::new(source).get_hash().to_owned(),
        }
    }
}

pub(crate) static ACQUIRE: LazyLock<LuaScript> =
    LazyLock::new(|| LuaScript::new(include_str!("scripts/acquire.lua")));
pub(crate) static RELEASE: LazyLock<LuaScript> =
    LazyLock::new(|| LuaScript::new(include_str!("scripts/release.lua")));
pub(crate) static USAGE: LazyLock<LuaScript> =
    LazyLock::new(|| LuaScript::new(include_str!("scripts/usage.lua")));

/// The keys and arguments of one script call.
pub(crate) struct ScriptCall {
    script: &'static LuaScript,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl ScriptCall {
    pub fn new(script: &'static LazyLock<LuaScript>) -> Self {
        Self {
            script,
            keys: Vec::new(),
            args: Vec::new(),
        }
    }

    pub fn key(&mut self, key: &str) -> &mut Self {
        self.keys.push(key.as_bytes().to_vec());
        self
    }

    pub fn arg(&mut self, arg: impl ToRedisArgs) -> &mut Self {
        self.args.extend(arg.to_redis_args());
        self
    }

    fn command(&self, name: &str, script: &str) -> redis::Cmd {
        let mut command = redis::cmd(name);
        command
            .arg(script)
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        command
    }

    pub async fn invoke<T: FromRedisValue>(
        &self,
        connection: &mut impl ConnectionLike,
    ) -> RedisResult<T> {
        match self
            .command("EVALSHA", &self.script.sha1)
            .query_async(connection)
            .await
        {
            Err(err) if err.kind() == ErrorKind::NoScriptError => {
                self.command("EVAL", self.script.source)
                    .query_async(connection)
                    .await
            }
            result => result,
        }
    }
}
