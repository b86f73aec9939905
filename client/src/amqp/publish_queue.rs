//! The publish queue from handles to the driver.
//!
//! Handles push one publish at a time; the driver takes everything
//! queued in one move. A publish to the same exchange and routing key as
//! the one queued before it carries no target of its own (the driver
//! reuses the last one), so a stream of publishes touches no shared
//! reference count. The queue is bounded: a full queue makes publishers
//! wait for the driver to take a batch.
//!
//! While confirms are outstanding the driver parks *lazily*: the broker
//! owes it frames, so it will wake for them and take whatever was queued
//! meanwhile; publishers on other threads then do not wake it. A wake-up
//! from another thread costs a handful of system calls and context
//! switches (on the multi-thread runtime, the application's thread
//! signals a worker, which often signals another), so this halves the
//! wake-ups of a publisher that keeps a window of confirms open. On the
//! driver's own thread a wake-up only queues the task, so publishers there
//! wake it as usual. Two things bound the wait: a [`Confirm`]
//! polled while its own publish is still queued wakes the driver (a
//! caller that awaits its publish's confirm never waits for others), and
//! the driver's linger timer (see the driver) takes what is queued at the
//! latest a millisecond after it parked.
//!
//! [`Confirm`]: super::confirm::Confirm

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use amqp_proto::BasicProperties;
use bytes::Bytes;
use tokio::sync::Notify;

use super::batch_queue::lock;
use super::batch_queue::{BatchQueue, DriverWaker, Refused};
use super::command::{ChanKey, Publish, Target};
use super::confirm_cell::{ConfirmCell, Settler};
use super::error::{Error, Result};
use super::last_target::LastTarget;

/// What a handle publishes.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub(crate) chan: ChanKey,
    pub(crate) exchange: &'a str,
    pub(crate) routing_key: &'a str,
    pub(crate) mandatory: bool,
    /// `None` for the default (empty) properties.
    pub(crate) properties: Option<Box<BasicProperties>>,
    pub(crate) body: Bytes,
    /// Make a confirm (the channel is in confirm mode).
    pub(crate) confirm: bool,
    /// The channel's count of queued publishes: counted under the lock
    /// that queues them, so a plain load and store suffice.
    pub(crate) published: &'a AtomicU64,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct PublishQueue {
    state: Mutex<State>,
    /// Publishers wait here for room.
    room: Notify,
    /// Publishes queued at positions below this one were taken by the
    /// driver (a copy stored under the lock at each take): a confirm
    /// polled after its publish was taken needs no lock to know.
    taken_below: AtomicU64,
}

#[derive(Debug)]
struct State {
    queue: BatchQueue<Publish>,
    /// The target of the newest queued publish.
    last_target: LastTarget,
    /// The driver waits for publishes (lazily: pushes from other
    /// threads do not wake it).
    driver: DriverWaker,
    /// Publishes queued so far: the position of the next one.
    pushed: u64,
}

/// A queued publish's confirm: the cell it waits on and the publish's
/// position in the queue.
pub(crate) type Queued = Option<(Arc<ConfirmCell>, u64)>;

impl PublishQueue {
    /// A publish queue for up to `capacity` queued publishes (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        PublishQueue {
            state: Mutex::new(State {
                queue: BatchQueue::new(capacity),
                last_target: LastTarget::default(),
                driver: DriverWaker::default(),
                pushed: 0,
            }),
            room: Notify::new(),
            taken_below: AtomicU64::new(0),
        }
    }

    /// Queues the request (taking it out of `slot`); its confirm in
    /// confirm mode. A full queue leaves the request in `slot`.
    pub(crate) fn try_push(
        &self,
        slot: &mut Option<Request<'_>>,
    ) -> std::result::Result<Queued, Refused> {
        let mut s = lock(&self.state);
        s.queue.check(true)?;
        let Some(r) = slot.take() else {
            return Err(Refused::Full);
        };
        let target = if s.last_target.is(r.exchange, r.routing_key) {
            None
        } else {
            s.last_target.set(r.exchange, r.routing_key);
            Some(Arc::new(Target {
                exchange: r.exchange.to_owned(),
                routing_key: r.routing_key.to_owned(),
            }))
        };
        let position = s.pushed;
        s.pushed += 1;
        let (settler, confirm) = match r.confirm {
            true => {
                let (settler, cell) = Settler::new();
                (Some(settler), Some((cell, position)))
            }
            false => (None, None),
        };
        s.queue.push_checked(Publish {
            chan: r.chan,
            target,
            mandatory: r.mandatory,
            properties: r.properties,
            body: r.body,
            confirm: settler,
        });
        // Every count of this channel's publishes happens under this lock.
        let published = r.published.load(Ordering::Relaxed);
        r.published.store(published + 1, Ordering::Release);
        let driver = s.driver.for_push(true);
        drop(s);
        if let Some(w) = driver {
            w.wake();
        }
        Ok(confirm)
    }

    /// Queues a publish, waiting for room while the queue is full.
    /// Cancel-safe: dropped while waiting, nothing was queued.
    pub(crate) async fn push(&self, slot: &mut Option<Request<'_>>) -> Result<Queued> {
        loop {
            let mut room = pin!(self.room.notified());
            room.as_mut().enable();
            match self.try_push(slot) {
                Ok(n) => return Ok(n),
                Err(Refused::Closed) => return Err(Error::lost("the connection driver stopped")),
                Err(Refused::Full) => {}
            }
            room.await;
        }
    }

    /// Moves up to `max` queued publishes to the back of `out`.
    pub(crate) fn take(&self, out: &mut VecDeque<Publish>, max: usize) {
        let mut s = lock(&self.state);
        let full = s.queue.take(out, max);
        let taken = s.pushed - s.queue.len() as u64;
        self.taken_below.store(taken, Ordering::Release);
        drop(s);
        if full {
            self.room.notify_waiters();
        }
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.state).queue.is_empty()
    }

    /// Ready once a publish is queued; else the driver's waker is kept
    /// for the next push. `lazy`: pushes do not wake the driver (only a
    /// confirm awaited while its publish is queued does); the driver
    /// takes what was queued when something else wakes it.
    pub(crate) fn poll_queued(&self, cx: &mut Context<'_>, lazy: bool) -> Poll<()> {
        let mut s = lock(&self.state);
        let ready = !s.queue.is_empty() && !lazy;
        s.driver.park(cx, lazy, ready)
    }

    /// Waits until a publish is queued (see [`poll_queued`](Self::poll_queued)).
    pub(crate) async fn queued(&self, lazy: bool) {
        poll_fn(|cx| self.poll_queued(cx, lazy)).await
    }

    /// The driver is gone for good: later pushes are refused, and the
    /// confirms of queued publishes fail with `error`.
    pub(crate) fn close(&self, error: &Error, wakes: &mut Vec<Waker>) {
        let queued = {
            let mut s = lock(&self.state);
            s.driver.clear();
            s.queue.close()
        };
        for settler in queued.into_iter().filter_map(|p| p.confirm) {
            settler.fail(error.clone(), wakes);
        }
        self.room.notify_waiters();
    }

    /// A confirm waits for the publish at `position`: while that publish
    /// is still queued and the driver parked lazily, the driver is woken,
    /// so that an awaited confirm never waits for the linger timer.
    pub(crate) fn wake_if_queued(&self, position: u64) {
        if position < self.taken_below.load(Ordering::Acquire) {
            return;
        }
        let mut s = lock(&self.state);
        let queued = position >= s.pushed - s.queue.len() as u64;
        let driver = if queued && s.driver.is_lazy() {
            s.driver.take()
        } else {
            None
        };
        drop(s);
        if let Some(w) = driver {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::confirm::Confirm;
    use std::future::Future;
    use std::pin::Pin;

    static PUBLISHED: AtomicU64 = AtomicU64::new(0);

    fn request(routing_key: &str, confirm: bool) -> Request<'_> {
        Request {
            published: &PUBLISHED,
            chan: 1,
            exchange: "",
            routing_key,
            mandatory: false,
            properties: None,
            body: Bytes::from_static(b"x"),
            confirm,
        }
    }

    fn position(queued: std::result::Result<Queued, Refused>) -> Option<u64> {
        queued.ok().flatten().map(|(_, position)| position)
    }

    fn confirm(o: &Arc<PublishQueue>, queued: std::result::Result<Queued, Refused>) -> Confirm {
        let (cell, position) = queued.ok().flatten().expect("a confirm");
        Confirm::pending(o.clone(), cell, position)
    }

    #[test]
    fn same_target_is_shared_and_batches_move_whole() {
        let o = PublishQueue::new(8);
        assert_eq!(position(o.try_push(&mut Some(request("a", true)))), Some(0));
        assert_eq!(
            o.try_push(&mut Some(request("a", false)))
                .ok()
                .map(|q| q.is_none()),
            Some(true)
        );
        assert_eq!(position(o.try_push(&mut Some(request("b", true)))), Some(2));
        let mut batch = VecDeque::new();
        o.take(&mut batch, 8);
        assert!(o.is_empty());
        let targets: Vec<_> = batch
            .iter()
            .map(|p| p.target.as_ref().map(|t| t.routing_key.clone()))
            .collect();
        assert_eq!(targets, [Some("a".into()), None, Some("b".into())]);
        let settlers: Vec<bool> = batch.iter().map(|p| p.confirm.is_some()).collect();
        assert_eq!(settlers, [true, false, true]);
    }

    #[tokio::test]
    async fn a_full_queue_makes_publishers_wait_for_a_batch() {
        let o = Arc::new(PublishQueue::new(2));
        o.try_push(&mut Some(request("a", false))).expect("room");
        o.try_push(&mut Some(request("a", false))).expect("room");
        assert!(matches!(
            o.try_push(&mut Some(request("a", false))),
            Err(Refused::Full)
        ));
        let waiting = tokio::spawn({
            let o = o.clone();
            async move { o.push(&mut Some(request("a", true))).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let mut batch = VecDeque::new();
        o.take(&mut batch, 1);
        assert_eq!(batch.len(), 1);
        let queued = waiting.await.expect("task").expect("queued");
        assert_eq!(queued.map(|(_, position)| position), Some(2));
        o.take(&mut batch, 8);
        assert_eq!(batch.len(), 3);
    }

    #[tokio::test]
    async fn close_refuses_pushes_and_fails_the_confirms_of_queued_publishes() {
        let o = Arc::new(PublishQueue::new(2));
        let mut confirm = confirm(&o, o.try_push(&mut Some(request("a", true))));
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut confirm).poll(&mut cx).is_pending());
        let mut wakes = Vec::new();
        o.close(&Error::ConfirmLost, &mut wakes);
        assert_eq!(wakes.len(), 1);
        assert!(matches!(
            Pin::new(&mut confirm).poll(&mut cx),
            Poll::Ready(Err(Error::ConfirmLost))
        ));
        assert!(o.is_empty());
        assert!(matches!(
            o.try_push(&mut Some(request("a", true))),
            Err(Refused::Closed)
        ));
        assert!(o.push(&mut Some(request("a", true))).await.is_err());
    }

    #[test]
    fn a_taken_publish_s_confirm_resolves_only_by_its_settler() {
        let o = Arc::new(PublishQueue::new(8));
        let mut first = confirm(&o, o.try_push(&mut Some(request("a", true))));
        let mut second = confirm(&o, o.try_push(&mut Some(request("a", true))));
        let mut batch = VecDeque::new();
        o.take(&mut batch, 8);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(Pin::new(&mut first).poll(&mut cx).is_pending());
        let mut wakes = Vec::new();
        let settlers: Vec<Settler> = batch.drain(..).filter_map(|p| p.confirm).collect();
        let mut settlers = settlers.into_iter();
        settlers
            .next()
            .expect("first")
            .broker_verdict(true, None, &mut wakes);
        assert!(matches!(
            Pin::new(&mut first).poll(&mut cx),
            Poll::Ready(Ok(()))
        ));
        assert!(Pin::new(&mut second).poll(&mut cx).is_pending());
        // The driver drops a publish unsettled: its confirm fails.
        drop(settlers);
        assert!(matches!(
            Pin::new(&mut second).poll(&mut cx),
            Poll::Ready(Err(Error::ConfirmLost))
        ));
    }

    #[tokio::test]
    async fn the_driver_is_woken_by_the_first_push() {
        let o = Arc::new(PublishQueue::new(4));
        let driver = tokio::spawn({
            let o = o.clone();
            async move { o.queued(false).await }
        });
        tokio::task::yield_now().await;
        assert!(!driver.is_finished());
        o.try_push(&mut Some(request("a", false))).expect("room");
        tokio::time::timeout(std::time::Duration::from_secs(5), driver)
            .await
            .expect("woken")
            .expect("task");
    }

    #[test]
    fn a_lazy_driver_is_woken_only_by_a_confirm_awaited_while_queued() {
        use crate::amqp::confirm_cell::tests::Count;
        use std::sync::atomic::AtomicUsize;
        let o = Arc::new(PublishQueue::new(8));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let driver = Waker::from(count.clone());
        let app = Waker::noop();
        let mut app_cx = Context::from_waker(app);
        let woken = || count.0.load(Ordering::SeqCst);
        // The driver parks on another thread.
        let park = |lazy: bool| {
            let (o, driver) = (o.clone(), driver.clone());
            std::thread::spawn(move || o.poll_queued(&mut Context::from_waker(&driver), lazy))
                .join()
                .expect("parked")
        };
        // Parked lazily: pushes from this thread queue without a wake-up.
        assert!(park(true).is_pending());
        let mut first = confirm(&o, o.try_push(&mut Some(request("a", true))));
        let mut second = confirm(&o, o.try_push(&mut Some(request("a", true))));
        assert_eq!(woken(), 0);
        // Taken and sent: awaiting its confirm wakes nobody.
        let mut batch = VecDeque::new();
        o.take(&mut batch, 8);
        assert!(Pin::new(&mut first).poll(&mut app_cx).is_pending());
        assert_eq!(woken(), 0);
        // Parked lazily again; a new publish is awaited while queued.
        assert!(park(true).is_pending());
        let mut third = confirm(&o, o.try_push(&mut Some(request("a", true))));
        assert!(Pin::new(&mut second).poll(&mut app_cx).is_pending());
        assert_eq!(woken(), 0, "the second was taken");
        assert!(Pin::new(&mut third).poll(&mut app_cx).is_pending());
        assert_eq!(woken(), 1, "the third is still queued");
        // Not lazy: the first push wakes the driver.
        o.take(&mut batch, 8);
        assert!(park(false).is_pending());
        o.try_push(&mut Some(request("a", false))).expect("room");
        assert_eq!(woken(), 2);
        // Lazy, but parked on this thread: a push wakes it.
        o.take(&mut batch, 8);
        let mut cx = Context::from_waker(&driver);
        assert!(o.poll_queued(&mut cx, true).is_pending());
        o.try_push(&mut Some(request("a", false))).expect("room");
        assert_eq!(woken(), 3);
    }
}
