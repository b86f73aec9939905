//! What the slow rows' handler waits on.
//!
//! A handler that "takes 1 ms" in a service is almost always waiting for
//! I/O: a database query or an HTTP call that answers 1 ms later. Its
//! completion arrives as a wake-up from outside tokio's timer wheel. A
//! `tokio::time::sleep(1 ms)` is not that: the wheel ticks in whole
//! milliseconds and rounds every deadline up to the next tick, so the
//! sleep lasts 1-2 ms (about 2 ms once the handlers run in step with the
//! ticks) and 16 of them in parallel reach about 7,600 a second with no
//! broker at all (the `ceiling` row).
//!
//! [`DelayLine`] stands in for that 1 ms call: one thread keeps the
//! deadlines in order and completes each waiter's oneshot when its
//! deadline has passed. The thread waits on a condition variable with an
//! absolute timeout (a futex with the kernel's 50 µs timer slack), so a
//! 1 ms wait ends 1.0-1.1 ms after it began, as Go's `time.Sleep(1 ms)`
//! does for Watermill's handler. Its CPU is the process's and counts in
//! the rows' client CPU.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::lock;

/// How the slow handler spends its time.
#[derive(Debug, Clone, Copy)]
pub(super) enum Wait {
    /// Returns at once: the no-op rows.
    None,
    /// `tokio::time::sleep` for this long.
    Sleep(Duration),
    /// A call that completes this long after it began ([`DelayLine`]).
    Io(Duration),
}

impl Wait {
    pub(super) async fn run(self) {
        match self {
            Wait::None => {}
            Wait::Sleep(d) => tokio::time::sleep(d).await,
            Wait::Io(d) => {
                let begun = Instant::now();
                DelayLine::global().wait(d).await;
                let took = u64::try_from(begun.elapsed().as_nanos()).unwrap_or(u64::MAX);
                CALLS.fetch_add(1, Ordering::Relaxed);
                CALL_NANOS.fetch_add(took, Ordering::Relaxed);
            }
        }
    }

    /// What the report says about it.
    pub(super) fn describe(self) -> String {
        match self {
            Wait::None => "no wait".into(),
            Wait::Sleep(d) => format!("tokio::time::sleep({d:?})"),
            Wait::Io(d) => format!("a {d:?} call completed from a timer thread"),
        }
    }
}

/// `Wait::Io` calls since the last [`take_call_time`], and their summed
/// length as the waiting task saw it (from the call to the task running
/// again: the delay, the timer thread's lateness and the task's wake).
static CALLS: AtomicU64 = AtomicU64::new(0);
static CALL_NANOS: AtomicU64 = AtomicU64::new(0);

/// The mean length of the `Wait::Io` calls since the last look, as their
/// tasks saw it, and how many there were; `None` if there were none.
pub(super) fn take_call_time() -> Option<(Duration, u64)> {
    let calls = CALLS.swap(0, Ordering::Relaxed);
    let nanos = CALL_NANOS.swap(0, Ordering::Relaxed);
    (calls > 0).then(|| (Duration::from_nanos(nanos / calls), calls))
}

/// Deadlines in the order they fall, each with the waiter to complete.
///
/// Every wait of one run has the same length, so the order of arrival is
/// the order of the deadlines and a queue is enough.
pub(super) struct DelayLine {
    queue: Mutex<VecDeque<(Instant, oneshot::Sender<()>)>>,
    ready: Condvar,
}

impl DelayLine {
    fn global() -> &'static DelayLine {
        static LINE: OnceLock<&'static DelayLine> = OnceLock::new();
        LINE.get_or_init(|| {
            let line: &'static DelayLine = Box::leak(Box::new(DelayLine {
                queue: Mutex::new(VecDeque::new()),
                ready: Condvar::new(),
            }));
            std::thread::Builder::new()
                .name("delay-line".into())
                .spawn(move || line.serve())
                .expect("delay thread");
            line
        })
    }

    async fn wait(&self, d: Duration) {
        let (tx, rx) = oneshot::channel();
        {
            let mut q = lock(&self.queue);
            let at = Instant::now() + d;
            debug_assert!(q.back().is_none_or(|(last, _)| *last <= at));
            q.push_back((at, tx));
            if q.len() == 1 {
                self.ready.notify_one();
            }
        }
        rx.await.expect("the delay thread never drops a waiter");
    }

    fn serve(&self) {
        let mut q = lock(&self.queue);
        loop {
            let now = Instant::now();
            match q.front() {
                Some((at, _)) if *at <= now => {
                    if let Some((_, tx)) = q.pop_front() {
                        let _ = tx.send(());
                    }
                }
                Some((at, _)) => {
                    let left = *at - now;
                    q = self
                        .ready
                        .wait_timeout(q, left)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                None => q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }
}
