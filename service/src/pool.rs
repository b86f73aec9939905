//! The keyed worker pool: jobs of one key run one after another, in the
//! order they were submitted; jobs of different keys run in parallel.
//!
//! Two bounds:
//! - *slots*, the messages in flight (queued in a lane, waiting for a
//!   worker, in a handler or a backoff): [`KeyedPool::submit`] waits for a
//!   free slot, so the subscriber stops pulling from the broker when the
//!   bound is reached and memory stays bounded whatever the handlers'
//!   speed;
//! - *workers*, the handlers running at once: a job takes a worker only
//!   around its handler call ([`KeyedPool::workers`]), not while it waits
//!   out a backoff.
//!
//! Each key with work has a *lane*: one task that runs the key's jobs in
//! order and ends when the lane is empty, so an idle key costs nothing.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A job: one message's whole pipeline.
pub(crate) type Job = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The lane key: a hash of the message key (a collision only makes two
/// keys share a lane, which keeps both in order).
pub(crate) fn lane_key(key: &[u8]) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

/// A slot in flight, from [`KeyedPool::reserve`].
#[derive(Debug)]
pub(crate) struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

/// The pool. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct KeyedPool {
    inner: Arc<Inner>,
}

struct Inner {
    workers: Arc<Semaphore>,
    slots: Arc<Semaphore>,
    max_in_flight: u32,
    lanes: Mutex<HashMap<u64, VecDeque<Job>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedPool")
            .field("workers", &self.workers)
            .field("slots", &self.slots)
            .field("lanes", &self.lanes().len())
            .finish()
    }
}

impl Inner {
    fn lanes(&self) -> MutexGuard<'_, HashMap<u64, VecDeque<Job>>> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KeyedPool {
    /// `workers` handlers at once, `max_in_flight` messages in flight (both
    /// at least 1, checked at build time).
    pub(crate) fn new(workers: usize, max_in_flight: u32) -> Self {
        KeyedPool {
            inner: Arc::new(Inner {
                workers: Arc::new(Semaphore::new(workers.max(1))),
                slots: Arc::new(Semaphore::new(max_in_flight.max(1) as usize)),
                max_in_flight: max_in_flight.max(1),
                lanes: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A pool of its own slots and lanes that shares `workers` with
    /// another: the messages back from the retry stages, which must not
    /// wait for slots (or lanes) that the source's messages hold.
    pub(crate) fn with_workers(workers: Arc<Semaphore>, max_in_flight: u32) -> Self {
        KeyedPool {
            inner: Arc::new(Inner {
                workers,
                slots: Arc::new(Semaphore::new(max_in_flight.max(1) as usize)),
                max_in_flight: max_in_flight.max(1),
                lanes: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The worker semaphore, which jobs hold around their handler calls.
    pub(crate) fn workers(&self) -> Arc<Semaphore> {
        self.inner.workers.clone()
    }

    /// Waits for a free slot: a message may be taken from the broker.
    pub(crate) async fn reserve(&self) -> Slot {
        // The semaphore is never closed, so this never fails.
        match self.inner.slots.clone().acquire_owned().await {
            Ok(p) => Slot(p),
            Err(_) => unreachable!("the slot semaphore is never closed"),
        }
    }

    /// Waits for a free slot, then queues `job` (see [`Self::submit_reserved`]).
    #[cfg(test)]
    pub(crate) async fn submit(&self, key: Option<u64>, job: Job) {
        let slot = self.reserve().await;
        self.submit_reserved(slot, key, job);
    }

    /// Queues `job`, which holds `slot` until it ends, behind the jobs of
    /// the same key (`None`: no order, any worker).
    pub(crate) fn submit_reserved(&self, slot: Slot, key: Option<u64>, job: Job) {
        let job: Job = Box::pin(async move {
            job.await;
            drop(slot);
        });
        match key {
            None => {
                tokio::spawn(run_caught(job));
            }
            Some(k) => {
                let mut lanes = self.inner.lanes();
                if let Some(queue) = lanes.get_mut(&k) {
                    queue.push_back(job);
                    return;
                }
                lanes.insert(k, VecDeque::new());
                drop(lanes);
                tokio::spawn(run_lane(self.inner.clone(), k, job));
            }
        }
    }

    /// Messages in flight.
    pub(crate) fn in_flight(&self) -> usize {
        (self.inner.max_in_flight as usize).saturating_sub(self.inner.slots.available_permits())
    }

    /// Waits until nothing is in flight.
    pub(crate) async fn drained(&self) {
        if let Ok(all) = self
            .inner
            .slots
            .acquire_many(self.inner.max_in_flight)
            .await
        {
            drop(all);
        }
    }
}

/// Runs a job; a panic in it (a bug: handler panics are caught closer to
/// the handler) is logged, and its slot is released by the unwinding.
async fn run_caught(job: Job) {
    if AssertUnwindSafe(job).catch_unwind().await.is_err() {
        tracing::error!("a message job panicked outside its handler");
    }
}

async fn run_lane(inner: Arc<Inner>, key: u64, first: Job) {
    let mut job = first;
    loop {
        run_caught(job).await;
        let next = {
            let mut lanes = inner.lanes();
            match lanes.get_mut(&key).and_then(VecDeque::pop_front) {
                Some(next) => next,
                None => {
                    lanes.remove(&key);
                    return;
                }
            }
        };
        job = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::splitmix64;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_stay_in_order_and_run_in_parallel() {
        let pool = KeyedPool::new(8, 64);
        let seen: Arc<Mutex<HashMap<u32, Vec<u32>>>> = Arc::default();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut rng = 7u64;
        const KEYS: u32 = 40;
        const PER_KEY: u32 = 25;
        for seq in 0..PER_KEY {
            for key in 0..KEYS {
                let delay = splitmix64(&mut rng) % 3;
                let (seen, running, peak, workers) =
                    (seen.clone(), running.clone(), peak.clone(), pool.workers());
                let job: Job = Box::pin(async move {
                    let _w = workers.acquire().await.unwrap();
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    seen.lock().unwrap().entry(key).or_default().push(seq);
                    running.fetch_sub(1, Ordering::SeqCst);
                });
                pool.submit(Some(lane_key(&key.to_be_bytes())), job).await;
                assert!(pool.in_flight() <= 64);
            }
        }
        pool.drained().await;
        assert_eq!(pool.in_flight(), 0);
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.len(), KEYS as usize);
            for (key, seqs) in seen.iter() {
                let expected: Vec<u32> = (0..PER_KEY).collect();
                assert_eq!(seqs, &expected, "key {key} out of order");
            }
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!(peak > 1, "different keys ran in parallel");
        assert!(peak <= 8, "at most 8 workers at once, saw {peak}");
        // A lane is removed just after its last job released its slot.
        for _ in 0..100 {
            if pool.inner.lanes().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(pool.inner.lanes().is_empty(), "idle lanes are removed");
    }

    #[tokio::test]
    async fn submit_waits_for_a_slot() {
        let pool = KeyedPool::new(1, 2);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let gate = Arc::new(tokio::sync::Mutex::new(Some(rx)));
        for _ in 0..2 {
            let gate = gate.clone();
            pool.submit(
                None,
                Box::pin(async move {
                    if let Some(rx) = gate.lock().await.take() {
                        let _ = rx.await;
                    }
                }),
            )
            .await;
        }
        tokio::task::yield_now().await;
        // Both slots are taken until the first job is let go.
        let third = pool.submit(None, Box::pin(async {}));
        tokio::pin!(third);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), third.as_mut())
                .await
                .is_err()
        );
        tx.send(()).unwrap();
        third.await;
        pool.drained().await;
    }

    #[tokio::test]
    async fn a_panicking_job_frees_its_lane_and_slot() {
        let pool = KeyedPool::new(2, 2);
        pool.submit(Some(1), Box::pin(async { panic!("bug") }))
            .await;
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        pool.submit(
            Some(1),
            Box::pin(async move {
                d.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .await;
        pool.drained().await;
        assert_eq!(done.load(Ordering::SeqCst), 1);
    }
}
