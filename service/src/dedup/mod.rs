//! Idempotent consumption: deduplicate messages on a business key, in one
//! of two modes, with the keys kept in a [`DedupStore`].
//!
//! Brokers deliver at least once: a redelivery after a crash, a retried
//! publish, or a rebalance hands a service the same event twice. A
//! subscriber given a [`Deduplication`]
//! ([`SubscriberBuilder::deduplicate`](crate::SubscriberBuilder::deduplicate))
//! computes each message's **key** (by default its message id; or a header,
//! [`Deduplication::key_header`]; or any function of the decoded message,
//! [`Deduplication::key`], such as an order number plus an operation),
//! prefixes it with the subscriber's group (so that two groups each process
//! an event once), and asks the store before calling the handler. A
//! message whose key function gives `None` is not deduplicated.
//!
//! ```no_run
//! # #[cfg(feature = "json")] {
//! use std::time::Duration;
//! use mq_service::{Bus, Json, Message, HandlerError};
//! use mq_service::dedup::{Deduplication, MemoryStore};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Order { id: String }
//!
//! # async fn demo() -> Result<(), mq_service::Error> {
//! let bus = Bus::kafka("127.0.0.1:9092");
//! bus.subscriber::<Order, Json>("orders", "billing")
//!     .deduplicate(
//!         Deduplication::claim(MemoryStore::new(100_000), Duration::from_secs(30))
//!             .key(|m: &Message<Order>| Some(format!("bill:{}", m.payload().id))),
//!     )
//!     .run(|_m: Message<Order>| async { Ok::<(), HandlerError>(()) })
//!     .await
//! # } }
//! ```
//!
//! # The two modes and their crash windows
//!
//! **Mark after success** ([`Deduplication::mark_after_success`]): before
//! the handler, a key marked done settles the message as a duplicate;
//! after the handler succeeds, the key is marked done (kept for
//! [`remember_for`](Deduplication::remember_for)). One store call before
//! and one after. Windows:
//! - a crash (or a failed mark) *after the handler's effect and before the
//!   mark* leaves the key unmarked: the redelivery runs the handler again,
//!   and **the effect repeats**;
//! - two deliveries of one key handled *at the same time* (two competing
//!   consumers, or one key published twice under different ordering keys)
//!   both see it unmarked and **both run**.
//!
//! **Claim before processing** ([`Deduplication::claim`]): before the
//! handler the subscriber claims the key with a lease, an in-progress
//! marker that expires; while the handler runs the lease is renewed
//! (every third of it). A delivery that finds the key claimed by another
//! worker waits until that one marks it done (then it is a duplicate) or
//! its lease runs out (then it claims it and runs). After success the key
//! is marked done; after a failure the claim is released before the retry
//! (so the retry, or another consumer, claims it again). Windows:
//! - a crash *after the handler's effect and before the mark*: the claim
//!   stays until its lease runs out, then the redelivery claims it and
//!   **the effect repeats**, once per such crash, never concurrently;
//! - a handler that outlives its lease without renewing it (the store
//!   unreachable for a whole lease, or a process paused longer than the
//!   lease) may run **at the same time** as the one that takes the key
//!   over;
//! - a crash costs the key's next delivery up to one lease of waiting.
//!
//! Effects that must happen exactly once belong in the same transaction
//! as the mark: the PostgreSQL inbox (`PostgresStore::claim_in`, feature
//! `postgres`) does that.
//!
//! # Failures of the store
//!
//! A store that is down, or slower than
//! [`store_timeout`](Deduplication::store_timeout), fails the attempt as a
//! retriable failure of type `dedup_store`: it follows the retry policy
//! (in-process retries, delayed retries, then the dead letters with
//! `x-mq-error-type: dedup_store`); the message is never settled as
//! processed without the store's answer. When only the mark after a
//! successful handler fails, the retries retry the mark, not the handler.
//! A key longer than the store allows is a permanent failure
//! ([`StoreError::KeyTooLong`]): straight to the dead letters, saying so.
//!
//! # Stores
//!
//! - [`MemoryStore`]: bounded, with TTL; for tests and single-process
//!   services.
//! - `EmbeddedStore` (feature `redb`): a file, pure Rust; survives a
//!   restart.
//! - `RedisStore` (feature `redis`): `SET key value NX PX ttl`.
//! - `PostgresStore` (feature `postgres`): a table with a unique key, and
//!   the inbox.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redb")]
mod redb_store;
#[cfg(feature = "redis")]
mod redis_store;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "postgres")]
pub(crate) use postgres::{describe, plain_name};
#[cfg(feature = "redb")]
pub use redb_store::EmbeddedStore;
#[cfg(feature = "redis")]
pub use redis_store::RedisStore;
/// The PostgreSQL client the store and the inbox run on: open the
/// handler's transaction with it ([`PostgresStore::claim_in`]).
#[cfg(feature = "postgres")]
pub use tokio_postgres;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::message::{Message, Metadata};

/// The answer to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The key is now claimed by the caller, for the lease (also when the
    /// caller held it already: the lease starts again).
    Acquired,
    /// The key was processed already.
    Done,
    /// Another owner holds it; its lease runs out in about this long.
    Held {
        /// What is left of the other owner's lease.
        expires_in: Duration,
    },
}

/// A store's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or failed the request (retriable).
    #[error("the deduplication store is unavailable: {0}")]
    Unavailable(String),
    /// The store did not answer in time (retriable).
    #[error("the deduplication store did not answer within {0:?}")]
    Timeout(Duration),
    /// The key is longer than the store takes (permanent).
    #[error("the deduplication key is {len} bytes, over the store's limit of {max} bytes")]
    KeyTooLong {
        /// The key's length in bytes (group prefix included).
        len: usize,
        /// The store's limit.
        max: usize,
    },
}

impl StoreError {
    /// Whether trying again may help: everything but a key that is too long.
    pub fn is_retriable(&self) -> bool {
        !matches!(self, StoreError::KeyTooLong { .. })
    }

    #[cfg(feature = "redb")]
    pub(crate) fn unavailable(e: impl fmt::Display) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// Where deduplication keys live. Keys are UTF-8 text of at most
/// [`max_key_len`](Self::max_key_len) bytes; `owner` is a random token
/// per message, the same across its retries.
///
/// A key is in one of three states: absent, claimed by an owner until a
/// deadline (the lease), or done until a deadline (the TTL). Expired
/// entries count as absent.
pub trait DedupStore: Send + Sync + 'static {
    /// The longest key it takes, in bytes.
    fn max_key_len(&self) -> usize;

    /// Claims `key` for `owner` for `lease`, unless it is done or another
    /// owner's lease is running.
    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;

    /// Extends `owner`'s lease on `key` to `lease` from now; false if
    /// `owner` no longer holds it.
    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Drops `owner`'s claim on `key` (nothing if another holds it).
    fn release<'a>(&'a self, key: &'a str, owner: &'a str)
    -> BoxFuture<'a, Result<(), StoreError>>;

    /// Marks `key` done for `ttl`, whoever held it.
    fn mark_done<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Whether `key` is done (and not expired).
    fn is_done<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
}

impl<S: DedupStore + ?Sized> DedupStore for Arc<S> {
    fn max_key_len(&self) -> usize {
        (**self).max_key_len()
    }
    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        (**self).claim(key, owner, lease)
    }
    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).renew(key, owner, lease)
    }
    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).release(key, owner)
    }
    fn mark_done<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        (**self).mark_done(key, ttl)
    }
    fn is_done<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        (**self).is_done(key)
    }
}

/// Which of the two modes; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DedupMode {
    /// Check before the handler, mark after its success.
    MarkAfterSuccess,
    /// Claim with a lease before the handler, renew it while the handler
    /// runs, mark after success.
    Claim {
        /// How long a claim lasts without renewal.
        lease: Duration,
    },
}

type KeyFn<T> = Arc<dyn Fn(&Message<T>) -> Option<String> + Send + Sync>;

/// A subscriber's deduplication: the store, the mode, the key and the
/// timings. See the [module docs](self).
pub struct Deduplication<T> {
    pub(crate) store: Arc<dyn DedupStore>,
    pub(crate) mode: DedupMode,
    key: KeyFn<T>,
    pub(crate) remember: Duration,
    pub(crate) timeout: Duration,
}

impl<T> Clone for Deduplication<T> {
    fn clone(&self) -> Self {
        Deduplication {
            store: self.store.clone(),
            mode: self.mode,
            key: self.key.clone(),
            remember: self.remember,
            timeout: self.timeout,
        }
    }
}

impl<T> fmt::Debug for Deduplication<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deduplication")
            .field("mode", &self.mode)
            .field("remember", &self.remember)
            .field("store_timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> Deduplication<T> {
    /// Mark after success, in `store`.
    pub fn mark_after_success(store: impl DedupStore) -> Self {
        Self::new(Arc::new(store), DedupMode::MarkAfterSuccess)
    }

    /// Claim before processing with a `lease`, in `store`. The lease
    /// should be well above a store round trip; a crashed worker's claim
    /// is taken over after at most this long.
    pub fn claim(store: impl DedupStore, lease: Duration) -> Self {
        Self::new(Arc::new(store), DedupMode::Claim { lease })
    }

    fn new(store: Arc<dyn DedupStore>, mode: DedupMode) -> Self {
        Deduplication {
            store,
            mode,
            key: Arc::new(default_key),
            remember: Duration::from_secs(7 * 24 * 3600),
            timeout: Duration::from_secs(5),
        }
    }

    /// The key is this function of the decoded message (`None`: do not
    /// deduplicate this one). For example an order number and an
    /// operation: `|m| Some(format!("{}:bill", m.payload().order_id))`.
    pub fn key<F>(mut self, f: F) -> Self
    where
        F: Fn(&Message<T>) -> Option<String> + Send + Sync + 'static,
    {
        self.key = Arc::new(f);
        self
    }

    /// The key is this header's value (UTF-8); a message without it is
    /// not deduplicated.
    pub fn key_header(self, name: &str) -> Self {
        let name = name.to_owned();
        self.key(move |m| m.headers().get_str(&name).map(str::to_owned))
    }

    /// How long a processed key is remembered (default 7 days).
    pub fn remember_for(mut self, ttl: Duration) -> Self {
        self.remember = ttl;
        self
    }

    /// How long one store call may take before it counts as a retriable
    /// failure (default 5 s).
    pub fn store_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The mode.
    pub fn mode(&self) -> DedupMode {
        self.mode
    }

    /// Checks the settings (called by the subscriber's `build`).
    pub(crate) fn validate(&self) -> Result<(), crate::Error> {
        let bad = |reason: &str| {
            Err(crate::Error::Config {
                setting: "deduplicate",
                reason: reason.to_owned(),
            })
        };
        if let DedupMode::Claim { lease } = self.mode {
            if lease < Duration::from_millis(30) {
                return bad("the lease is under 30 ms, shorter than store round trips");
            }
        }
        if self.remember.is_zero() {
            return bad("processed keys are remembered for zero time");
        }
        if self.timeout.is_zero() {
            return bad("the store timeout is zero");
        }
        Ok(())
    }

    /// The store key of `message` for subscriber group `group`, if any.
    pub(crate) fn key_of(&self, message: &Message<T>, group: &str) -> Option<String> {
        (self.key)(message).map(|k| format!("{group}:{k}"))
    }

    /// Runs one store call under the timeout, checking the key's length.
    pub(crate) async fn call<'a, R>(
        &'a self,
        key: &str,
        f: impl FnOnce(&'a dyn DedupStore) -> BoxFuture<'a, Result<R, StoreError>>,
    ) -> Result<R, StoreError> {
        let max = self.store.max_key_len();
        if key.len() > max {
            return Err(StoreError::KeyTooLong {
                len: key.len(),
                max,
            });
        }
        match tokio::time::timeout(self.timeout, f(&*self.store)).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }
}

/// The message id, else a Kafka record's coordinates (a RabbitMQ message
/// without an id has no key).
fn default_key<T>(m: &Message<T>) -> Option<String> {
    if let Some(id) = m.message_id() {
        return Some(id.to_owned());
    }
    match m.metadata() {
        Metadata::Kafka {
            topic,
            partition,
            offset,
            ..
        } => Some(format!("{topic}/{partition}/{offset}")),
        Metadata::Amqp { .. } => None,
    }
}

/// A random owner token: 128 bits, hex.
pub(crate) fn owner_token() -> String {
    format!("{:016x}{:016x}", crate::random::u64(), crate::random::u64())
}

/// Milliseconds of a duration, for stores that take integers (at least 1).
#[cfg(any(feature = "redis", feature = "postgres", feature = "redb"))]
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}
