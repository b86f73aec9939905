//! The Redis store: a claim is `SET key lease:<owner> NX PX <lease>`, a
//! done key `done` with a TTL; renewing and releasing check the owner in a
//! Lua script, so only the holder extends or drops its claim.

use std::fmt;
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::aio::ConnectionManager;
use redis::{Script, Value};

use super::{Claim, DedupStore, StoreError, millis};

/// Every key gets this prefix.
const PREFIX: &str = "mq:dedup:";
/// The value of a done key.
const DONE: &str = "done";
/// The longest key taken, in bytes (Redis takes far more; long keys cost
/// memory and bandwidth on every message).
const MAX_KEY_LEN: usize = 1024;

/// Run when `SET NX` found the key: the state in one step (taken over
/// meanwhile by expiry, done, the caller's own, or another's).
const CLAIM: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {1, 0}
end
if v == 'done' then return {2, 0} end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, 0}
end
return {3, redis.call('PTTL', KEYS[1])}
";
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Keys in Redis (`redis://[:password@]host:port/db`), over one
/// multiplexed connection that reconnects after a failure.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    /// `host:port/db`, without credentials.
    addr: String,
    claim: Script,
    renew: Script,
    release: Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

fn lease_value(owner: &str) -> String {
    format!("lease:{owner}")
}

fn key_of(key: &str) -> String {
    format!("{PREFIX}{key}")
}

impl RedisStore {
    /// Connects to `url`. The URL (which may hold a password) appears in
    /// no error or log.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid Redis URL ({:?})", e.kind())))?;
        let info = client.get_connection_info();
        let addr = format!("{}/{}", info.addr, info.redis.db);
        // Reconnects after a failure quickly and often (at most a second
        // apart), and gives up on a connect that hangs: a store that comes
        // back is used again within a second or two.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_factor(50)
            .set_max_delay(1000)
            .set_number_of_retries(8)
            .set_connection_timeout(std::time::Duration::from_secs(2));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to Redis at {addr}: {e}"))
            })?;
        Ok(RedisStore {
            conn,
            addr,
            claim: Script::new(CLAIM),
            renew: Script::new(RENEW),
            release: Script::new(RELEASE),
        })
    }

    fn err(&self, e: redis::RedisError) -> StoreError {
        StoreError::Unavailable(format!("Redis at {}: {e}", self.addr))
    }
}

impl DedupStore for RedisStore {
    fn max_key_len(&self) -> usize {
        MAX_KEY_LEN
    }

    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let k = key_of(key);
            let v = lease_value(owner);
            let ms = millis(lease);
            let set: Value = redis::cmd("SET")
                .arg(&k)
                .arg(&v)
                .arg("NX")
                .arg("PX")
                .arg(ms)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            if matches!(set, Value::Okay) {
                return Ok(Claim::Acquired);
            }
            let (state, pttl): (i64, i64) = self
                .claim
                .key(&k)
                .arg(&v)
                .arg(ms)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            Ok(match state {
                1 => Claim::Acquired,
                2 => Claim::Done,
                _ => Claim::Held {
                    expires_in: Duration::from_millis(u64::try_from(pttl).unwrap_or(0)),
                },
            })
        })
    }

    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let n: i64 = self
                .renew
                .key(key_of(key))
                .arg(lease_value(owner))
                .arg(millis(lease))
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            Ok(n == 1)
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: i64 = self
                .release
                .key(key_of(key))
                .arg(lease_value(owner))
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    fn mark_done<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let _: Value = redis::cmd("SET")
                .arg(key_of(key))
                .arg(DONE)
                .arg("PX")
                .arg(millis(ttl))
                .query_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            Ok(())
        })
    }

    fn is_done<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let v: Option<String> = redis::cmd("GET")
                .arg(key_of(key))
                .query_async(&mut conn)
                .await
                .map_err(|e| self.err(e))?;
            Ok(v.as_deref() == Some(DONE))
        })
    }
}
