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
//! Each key with work has a *lane*: a queue of its jobs, of which the
//! head is running. Lanes live in *runners*, as many long-lived tasks as
//! workers; a key always goes to the same runner, which polls the head
//! jobs of its lanes side by side. An idle key costs nothing, and no task
//! is spawned per message.
//!
//! A pool of one worker runs a job in the submitter's task when its runner
//! holds nothing: the job is polled there once, and goes to the runner
//! only if it waits. A handler that finishes without waiting (a no-op or
//! in-memory handler) then costs no hand-off, no wake of another thread
//! and no queue node. With more workers every job goes to a runner, so
//! that handlers that compute without waiting still run in parallel.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;

use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A job: one message's whole pipeline.
pub(crate) type Job = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The lane key: a hash of the message key (a collision only makes two
/// keys share a lane, which keeps both in order).
pub(crate) fn lane_key(key: &[u8]) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

/// The lanes' map hashes nothing: its keys are [`lane_key`] hashes already.
#[derive(Default)]
struct LaneHasher(u64);

impl std::hash::Hasher for LaneHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed (`write_u64`); anything else folds in.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Lanes = HashMap<u64, VecDeque<Submitted>, BuildHasherDefault<LaneHasher>>;

/// A slot in flight, from [`KeyedPool::reserve`].
#[derive(Debug)]
pub(crate) struct Slot(#[allow(dead_code)] OwnedSemaphorePermit);

/// The pool. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct KeyedPool {
    inner: Arc<Inner>,
}

/// A job on its way to a runner, with the slot it holds until it ends.
struct Submitted {
    key: Option<u64>,
    job: Job,
    slot: Slot,
}

struct Inner {
    workers: Arc<Semaphore>,
    slots: Arc<Semaphore>,
    max_in_flight: u32,
    /// One sender per runner; a key always goes to the same runner.
    runners: Vec<UnboundedSender<Submitted>>,
    /// Where the next job without a key goes.
    next_unkeyed: AtomicUsize,
    /// Lanes open over all runners.
    lanes: Arc<AtomicUsize>,
    /// With one runner: the jobs it holds (queued or running). While it
    /// holds none, a job may run in the submitter's task (see the module
    /// documentation).
    queued: Option<Arc<AtomicUsize>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedPool")
            .field("workers", &self.workers)
            .field("slots", &self.slots)
            .field("runners", &self.runners.len())
            .field("lanes", &self.lanes.load(Ordering::Relaxed))
            .finish()
    }
}

impl KeyedPool {
    /// `workers` handlers at once, `max_in_flight` messages in flight (both
    /// at least 1, checked at build time).
    pub(crate) fn new(workers: usize, max_in_flight: u32) -> Self {
        Self::with_workers(
            Arc::new(Semaphore::new(workers.max(1))),
            workers,
            max_in_flight,
        )
    }

    /// A pool of its own slots and lanes that shares `workers` (a
    /// semaphore of `runners` permits) with another: the messages back
    /// from the retry stages, which must not wait for slots (or lanes)
    /// that the source's messages hold.
    pub(crate) fn with_workers(
        workers: Arc<Semaphore>,
        runners: usize,
        max_in_flight: u32,
    ) -> Self {
        let lanes = Arc::new(AtomicUsize::new(0));
        let queued = (runners <= 1).then(Arc::default);
        let runners = (0..runners.max(1))
            .map(|_| {
                let (tx, rx) = unbounded_channel();
                tokio::spawn(run_lanes(rx, lanes.clone(), queued.clone()));
                tx
            })
            .collect();
        KeyedPool {
            inner: Arc::new(Inner {
                workers,
                slots: Arc::new(Semaphore::new(max_in_flight.max(1) as usize)),
                max_in_flight: max_in_flight.max(1),
                runners,
                next_unkeyed: AtomicUsize::new(0),
                lanes,
                queued,
            }),
        }
    }

    /// The worker semaphore, which jobs hold around their handler calls.
    pub(crate) fn workers(&self) -> Arc<Semaphore> {
        self.inner.workers.clone()
    }

    /// The number of runners (as many as workers).
    pub(crate) fn runners(&self) -> usize {
        self.inner.runners.len()
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
        self.submit_reserved(slot, key, job).await;
    }

    /// Queues `job`, which holds `slot` until it ends, behind the jobs of
    /// the same key (`None`: no order, any worker).
    ///
    /// Each key's jobs go to one runner, a long-lived task that polls its
    /// lanes' current jobs side by side: no task is spawned per message.
    /// In a pool of one worker whose runner holds nothing, the job is
    /// polled here first, and goes to the runner only if it waits. Jobs of
    /// one key keep their order either way.
    pub(crate) async fn submit_reserved(&self, slot: Slot, key: Option<u64>, mut job: Job) {
        if let Some(queued) = &self.inner.queued {
            // Acquire: a count of 0 means every job handed to the runner
            // has ended, and what it did is seen here.
            if queued.load(Ordering::Acquire) == 0 {
                // Unconstrained: the submitter's task has spent its
                // cooperative budget on the messages it took, and a job
                // polled on what is left would find every tokio resource
                // pending and go to the runner for that alone. The
                // submitter still yields where it waits for a slot or a
                // message.
                let first = tokio::task::unconstrained(std::future::poll_fn(|cx| {
                    Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| {
                        job.as_mut().poll(cx)
                    })))
                }))
                .await;
                match first {
                    // The slot goes back as the job ends.
                    Ok(Poll::Ready(())) => return,
                    Ok(Poll::Pending) => {}
                    Err(_) => {
                        tracing::error!("a message job panicked outside its handler");
                        return;
                    }
                }
            }
            queued.fetch_add(1, Ordering::Relaxed);
        }
        self.hand_over(slot, key, job);
    }

    /// Sends a job to the runner of its key.
    fn hand_over(&self, slot: Slot, key: Option<u64>, job: Job) {
        let runners = &self.inner.runners;
        let i = match key {
            Some(k) => (k % runners.len() as u64) as usize,
            None => self.inner.next_unkeyed.fetch_add(1, Ordering::Relaxed) % runners.len(),
        };
        if let Err(e) = runners[i].send(Submitted { key, job, slot }) {
            // Runners end only when the pool is gone (or the runtime shuts
            // down); run the job on its own then.
            let Submitted { job, slot, .. } = e.0;
            let queued = self.inner.queued.clone();
            tokio::spawn(async move {
                run_caught(job).await;
                drop(slot);
                if let Some(q) = queued {
                    q.fetch_sub(1, Ordering::Release);
                }
            });
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

/// One job of a lane (or without one), then its slot back; yields the
/// lane's key so the runner can start the lane's next job.
async fn run_one(s: Submitted) -> Option<u64> {
    run_caught(s.job).await;
    drop(s.slot);
    s.key
}

/// A runner: the lanes of its keys, each a queue whose head job is being
/// polled. A lane exists while it has work; it ends when its last job did.
/// The runner ends once the pool is gone and its jobs are done.
async fn run_lanes(
    mut rx: UnboundedReceiver<Submitted>,
    open: Arc<AtomicUsize>,
    queued: Option<Arc<AtomicUsize>>,
) {
    let mut lanes = Lanes::default();
    let mut running = FuturesUnordered::new();
    let mut intake = true;
    loop {
        tokio::select! {
            biased;
            Some(done) = running.next(), if !running.is_empty() => {
                if let Some(q) = &queued {
                    // Release: pairs with the submitter's Acquire load.
                    q.fetch_sub(1, Ordering::Release);
                }
                let Some(k) = done else { continue };
                match lanes.get_mut(&k).and_then(VecDeque::pop_front) {
                    Some(next) => running.push(run_one(next)),
                    None => {
                        lanes.remove(&k);
                        open.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
            s = rx.recv(), if intake => match s {
                Some(s) => match s.key {
                    None => running.push(run_one(s)),
                    Some(k) => match lanes.entry(k) {
                        Entry::Occupied(mut lane) => lane.get_mut().push_back(s),
                        Entry::Vacant(v) => {
                            v.insert(VecDeque::new());
                            open.fetch_add(1, Ordering::Relaxed);
                            running.push(run_one(s));
                        }
                    },
                },
                None => intake = false,
            },
            else => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::splitmix64;
    use std::sync::Mutex;
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
            if pool.inner.lanes.load(Ordering::Relaxed) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            pool.inner.lanes.load(Ordering::Relaxed),
            0,
            "idle lanes are removed"
        );
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_worker_runs_a_job_in_place_only_when_nothing_is_queued() {
        let pool = KeyedPool::new(1, 8);
        let log: Arc<Mutex<Vec<&'static str>>> = Arc::default();
        let push = |what: &'static str| {
            let log = log.clone();
            move || log.lock().unwrap().push(what)
        };
        // Nothing queued: a job that does not wait has run when submit
        // returns.
        let first = push("first");
        pool.submit(Some(1), Box::pin(async move { first() })).await;
        assert_eq!(*log.lock().unwrap(), ["first"]);
        // A job that waits goes to the runner; the key's next job, which
        // would not wait, queues behind it, and so does another key's.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (waiting, after, other) = (push("waiting"), push("after"), push("other"));
        pool.submit(
            Some(1),
            Box::pin(async move {
                let _ = rx.await;
                waiting();
            }),
        )
        .await;
        pool.submit(Some(1), Box::pin(async move { after() })).await;
        pool.submit(Some(2), Box::pin(async move { other() })).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(*log.lock().unwrap(), ["first", "other"]);
        tx.send(()).unwrap();
        pool.drained().await;
        assert_eq!(*log.lock().unwrap(), ["first", "other", "waiting", "after"]);
        // Once the runner is empty again, jobs run in place again.
        for _ in 0..100 {
            if pool.inner.queued.as_ref().unwrap().load(Ordering::Acquire) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let last = push("last");
        pool.submit(Some(1), Box::pin(async move { last() })).await;
        assert_eq!(log.lock().unwrap().last(), Some(&"last"));
    }

    #[tokio::test]
    async fn a_job_that_panics_in_place_frees_its_slot() {
        let pool = KeyedPool::new(1, 1);
        pool.submit(Some(1), Box::pin(async { panic!("bug") }))
            .await;
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        let next = pool.submit(
            Some(1),
            Box::pin(async move {
                d.fetch_add(1, Ordering::SeqCst);
            }),
        );
        tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("the panicked job's slot came back");
        pool.drained().await;
        assert_eq!(done.load(Ordering::SeqCst), 1);
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
