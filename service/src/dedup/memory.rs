//! The in-memory store: bounded, with TTL. For tests and single-process
//! services (keys are lost when the process ends).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::{Claim, DedupStore, StoreError};

/// Keys in this process's memory, at most `capacity` of them: when full,
/// expired keys go first, then the oldest. A clone shares the keys.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
    capacity: usize,
    max_key_len: usize,
}

#[derive(Debug, Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// Insertion order, for eviction: sequence number to key.
    order: BTreeMap<u64, String>,
    next: u64,
}

#[derive(Debug)]
struct Entry {
    /// `None`: done; else the owner holding the lease.
    owner: Option<String>,
    expires: Instant,
    seq: u64,
}

impl MemoryStore {
    /// A store of at most `capacity` keys (at least 1); keys up to 1024
    /// bytes.
    pub fn new(capacity: usize) -> Self {
        MemoryStore {
            inner: Arc::default(),
            capacity: capacity.max(1),
            max_key_len: 1024,
        }
    }

    /// The longest key it takes (default 1024 bytes).
    pub fn max_key_len(mut self, bytes: usize) -> Self {
        self.max_key_len = bytes;
        self
    }

    /// Keys held now, expired ones not yet evicted included.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether it holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent maps.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    /// Sets `key`, evicting to stay within `capacity`.
    fn put(
        &mut self,
        key: &str,
        owner: Option<&str>,
        ttl: Duration,
        now: Instant,
        capacity: usize,
    ) {
        let seq = self.next;
        self.next += 1;
        if let Some(old) = self.entries.remove(key) {
            self.order.remove(&old.seq);
        }
        while self.entries.len() >= capacity && self.evict_one(now) {}
        self.order.insert(seq, key.to_owned());
        // A TTL past what an Instant holds: a century will do.
        let expires = now
            .checked_add(ttl)
            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
        self.entries.insert(
            key.to_owned(),
            Entry {
                owner: owner.map(str::to_owned),
                expires,
                seq,
            },
        );
    }

    /// Drops an expired key if there is one among the oldest, else the
    /// oldest.
    fn evict_one(&mut self, now: Instant) -> bool {
        let expired = self
            .order
            .iter()
            .take(64)
            .find(|(_, k)| self.entries.get(*k).is_some_and(|e| e.expires <= now))
            .map(|(s, _)| *s);
        let seq = match expired.or_else(|| self.order.keys().next().copied()) {
            Some(s) => s,
            None => return false,
        };
        if let Some(k) = self.order.remove(&seq) {
            self.entries.remove(&k);
        }
        true
    }

    fn live(&self, key: &str, now: Instant) -> Option<&Entry> {
        self.entries.get(key).filter(|e| e.expires > now)
    }
}

impl DedupStore for MemoryStore {
    fn max_key_len(&self) -> usize {
        self.max_key_len
    }

    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async move {
            let now = Instant::now();
            let mut g = self.lock();
            if let Some(e) = g.live(key, now) {
                match &e.owner {
                    None => return Ok(Claim::Done),
                    Some(o) if o != owner => {
                        return Ok(Claim::Held {
                            expires_in: e.expires - now,
                        });
                    }
                    // Held by the caller: the lease starts again.
                    Some(_) => {}
                }
            }
            g.put(key, Some(owner), lease, now, self.capacity);
            Ok(Claim::Acquired)
        })
    }

    fn renew<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let now = Instant::now();
            let mut g = self.lock();
            match g.entries.get_mut(key) {
                Some(e) if e.expires > now && e.owner.as_deref() == Some(owner) => {
                    e.expires = now + lease;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut g = self.lock();
            if g.entries.get(key).and_then(|e| e.owner.as_deref()) == Some(owner) {
                if let Some(e) = g.entries.remove(key) {
                    g.order.remove(&e.seq);
                }
            }
            Ok(())
        })
    }

    fn mark_done<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.lock()
                .put(key, None, ttl, Instant::now(), self.capacity);
            Ok(())
        })
    }

    fn is_done<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let g = self.lock();
            Ok(g.live(key, Instant::now())
                .is_some_and(|e| e.owner.is_none()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test]
    async fn claims_leases_and_marks() {
        let s = MemoryStore::new(10);
        assert_eq!(s.claim("k", "a", ms(50)).await, Ok(Claim::Acquired));
        assert!(matches!(
            s.claim("k", "b", ms(50)).await,
            Ok(Claim::Held { .. })
        ));
        // The owner may claim again (a retry).
        assert_eq!(s.claim("k", "a", ms(50)).await, Ok(Claim::Acquired));
        assert_eq!(s.renew("k", "b", ms(50)).await, Ok(false));
        assert_eq!(s.renew("k", "a", ms(50)).await, Ok(true));
        s.release("k", "b").await.unwrap();
        assert!(matches!(
            s.claim("k", "b", ms(50)).await,
            Ok(Claim::Held { .. })
        ));
        s.release("k", "a").await.unwrap();
        assert_eq!(s.claim("k", "b", ms(20)).await, Ok(Claim::Acquired));
        // An expired lease is taken over.
        tokio::time::sleep(ms(30)).await;
        assert_eq!(s.claim("k", "c", ms(50)).await, Ok(Claim::Acquired));
        assert!(!s.is_done("k").await.unwrap());
        s.mark_done("k", ms(30)).await.unwrap();
        assert!(s.is_done("k").await.unwrap());
        assert_eq!(s.claim("k", "d", ms(50)).await, Ok(Claim::Done));
        assert_eq!(s.renew("k", "c", ms(50)).await, Ok(false));
        // The TTL frees it.
        tokio::time::sleep(ms(40)).await;
        assert!(!s.is_done("k").await.unwrap());
        assert_eq!(s.claim("k", "d", ms(50)).await, Ok(Claim::Acquired));
    }

    #[tokio::test]
    async fn it_is_bounded_expired_keys_first_then_the_oldest() {
        let s = MemoryStore::new(3);
        s.mark_done("a", ms(10_000)).await.unwrap();
        s.mark_done("b", ms(1)).await.unwrap();
        s.mark_done("c", ms(10_000)).await.unwrap();
        tokio::time::sleep(ms(5)).await;
        s.mark_done("d", ms(10_000)).await.unwrap();
        assert_eq!(s.len(), 3);
        assert!(s.is_done("a").await.unwrap(), "the expired b went first");
        s.mark_done("e", ms(10_000)).await.unwrap();
        assert_eq!(s.len(), 3);
        assert!(!s.is_done("a").await.unwrap(), "then the oldest");
        for k in ["c", "d", "e"] {
            assert!(s.is_done(k).await.unwrap(), "{k}");
        }
    }
}
