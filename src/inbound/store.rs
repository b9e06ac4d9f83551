//! Where nonces and event ids are remembered: in this process (one replica), or in Redis
//! so that every replica sees what any one of them accepted.
//!
//! One primitive carries both uses: `claim` sets a key only if it is absent, with an
//! expiry (Redis `SET NX PX`), and tells who holds it otherwise.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

use crate::secret::Secret;

/// Redis calls that take longer than this fail the callback (503) rather than hang it.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);
/// The in-memory store refuses new keys beyond this, so a flood cannot exhaust memory.
const MEMORY_MAX_KEYS: usize = 1_000_000;
/// How often at most the in-memory store walks its keys to drop the expired ones.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The outcome of [`Store::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was absent and is now ours.
    Claimed,
    /// Someone holds it, with this value (empty if it expired in between).
    Held(String),
}

/// Why the store could not answer. Never carries the Redis URL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis did not answer within {REDIS_TIMEOUT:?}")]
    Timeout,
    #[error("the in-memory store holds {MEMORY_MAX_KEYS} keys; use a redis store")]
    Full,
}

/// `inbound.store`: `memory` or a `redis://` URL.
#[derive(Debug, Clone)]
pub enum StoreSettings {
    Memory,
    /// The URL may carry a password, hence a secret.
    Redis(Secret),
}

/// The configured store.
pub enum Store {
    Memory(Mutex<Memory>),
    Redis(ConnectionManager),
}

/// Keys with their value and expiry; expired ones are dropped at most every second.
#[derive(Debug)]
pub struct Memory {
    entries: HashMap<String, (String, Instant)>,
    next_sweep: Instant,
}

impl Store {
    /// Builds the store; a Redis connection is opened on first use and re-opened when lost.
    pub fn new(settings: &StoreSettings) -> Result<Self, StoreError> {
        match settings {
            StoreSettings::Memory => Ok(Store::Memory(Mutex::new(Memory {
                entries: HashMap::new(),
                next_sweep: Instant::now(),
            }))),
            StoreSettings::Redis(url) => {
                let client = redis::Client::open(url.expose())?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(REDIS_TIMEOUT))
                    .set_response_timeout(Some(REDIS_TIMEOUT))
                    .set_number_of_retries(2);
                Ok(Store::Redis(ConnectionManager::new_lazy_with_config(
                    client, config,
                )?))
            }
        }
    }

    /// Sets `key` to `value` for `ttl` unless it is already set.
    pub async fn claim(&self, key: &str, value: &str, ttl: Duration) -> Result<Claim, StoreError> {
        match self {
            Store::Memory(memory) => lock(memory).claim(key, value, ttl),
            Store::Redis(redis) => {
                let mut conn = redis.clone();
                let set: Option<String> = within(
                    redis::cmd("SET")
                        .arg(key)
                        .arg(value)
                        .arg("NX")
                        .arg("PX")
                        .arg(millis(ttl))
                        .query_async(&mut conn),
                )
                .await?;
                if set.is_some() {
                    return Ok(Claim::Claimed);
                }
                // Not `SET … NX GET`: that needs Redis 7, and this read is only informative.
                let held: Option<String> =
                    within(redis::cmd("GET").arg(key).query_async(&mut conn)).await?;
                Ok(Claim::Held(held.unwrap_or_default()))
            }
        }
    }

    /// Sets `key` to `value` for `ttl`, whoever held it.
    pub async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), StoreError> {
        match self {
            Store::Memory(memory) => {
                let deadline = Instant::now() + ttl;
                lock(memory)
                    .entries
                    .insert(key.to_owned(), (value.to_owned(), deadline));
                Ok(())
            }
            Store::Redis(redis) => {
                let mut conn = redis.clone();
                let cmd = redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(millis(ttl))
                    .to_owned();
                within::<()>(cmd.query_async(&mut conn)).await
            }
        }
    }

    /// Forgets `key`, so the provider's retry of a request we failed is not a replay.
    pub async fn release(&self, key: &str) -> Result<(), StoreError> {
        match self {
            Store::Memory(memory) => {
                lock(memory).entries.remove(key);
                Ok(())
            }
            Store::Redis(redis) => {
                let mut conn = redis.clone();
                within::<()>(redis::cmd("DEL").arg(key).query_async(&mut conn)).await
            }
        }
    }
}

impl Memory {
    fn claim(&mut self, key: &str, value: &str, ttl: Duration) -> Result<Claim, StoreError> {
        let now = Instant::now();
        if now >= self.next_sweep {
            self.entries.retain(|_, (_, expires)| *expires > now);
            self.next_sweep = now + SWEEP_EVERY;
        }
        match self.entries.get(key) {
            Some((held, expires)) if *expires > now => return Ok(Claim::Held(held.clone())),
            _ => {}
        }
        if self.entries.len() >= MEMORY_MAX_KEYS {
            return Err(StoreError::Full);
        }
        self.entries
            .insert(key.to_owned(), (value.to_owned(), now + ttl));
        Ok(Claim::Claimed)
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Store::Memory(_) => "Store::Memory",
            Store::Redis(_) => "Store::Redis",
        })
    }
}

/// A poisoned lock only means another callback panicked mid-insert; the map is still sound.
fn lock(memory: &Mutex<Memory>) -> std::sync::MutexGuard<'_, Memory> {
    memory.lock().unwrap_or_else(|e| e.into_inner())
}

async fn within<T>(
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Timeout),
    }
}

fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn memory_claims_expire_after_their_ttl() {
        let store = Store::new(&StoreSettings::Memory).unwrap();
        let ttl = Duration::from_secs(600);
        assert_eq!(store.claim("k", "1", ttl).await.unwrap(), Claim::Claimed);
        assert_eq!(
            store.claim("k", "2", ttl).await.unwrap(),
            Claim::Held("1".into())
        );
        tokio::time::advance(ttl + Duration::from_millis(1)).await;
        assert_eq!(store.claim("k", "3", ttl).await.unwrap(), Claim::Claimed);
        store.release("k").await.unwrap();
        assert_eq!(store.claim("k", "4", ttl).await.unwrap(), Claim::Claimed);
        store.set("k", "done", ttl).await.unwrap();
        assert_eq!(
            store.claim("k", "5", ttl).await.unwrap(),
            Claim::Held("done".into())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn memory_drops_expired_keys_so_it_stays_bounded() {
        let store = Store::new(&StoreSettings::Memory).unwrap();
        for i in 0..1000 {
            let key = format!("k{i}");
            store
                .claim(&key, "1", Duration::from_secs(1))
                .await
                .unwrap();
        }
        tokio::time::advance(Duration::from_secs(2)).await;
        store
            .claim("last", "1", Duration::from_secs(1))
            .await
            .unwrap();
        let Store::Memory(memory) = &store else {
            unreachable!()
        };
        assert_eq!(lock(memory).entries.len(), 1);
    }
}
