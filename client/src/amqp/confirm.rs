//! Publisher confirms: the future a publish returns, and the per-channel
//! tracker the driver settles them in.
//!
//! A publish in confirm mode takes the next publish number of its
//! channel's [`ConfirmTracker`]; its [`Confirm`] holds the tracker and
//! that number. The driver settles numbers as the broker's acks and nacks
//! come in, collecting the wakers of the confirms that wait, and wakes
//! them once per turn, after its writes: no allocation per publish, one
//! lock per ack frame, one wake-up per batch of confirms.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::command::lock;
use super::error::{Error, Result};

/// Resolves when the broker has taken responsibility for a publish.
///
/// - `Ok(())`: acked (or the channel is not in confirm mode: then it is
///   ready at once and proves only that the publish was queued);
/// - [`Error::Nacked`]: the broker could not take it;
/// - [`Error::Returned`]: a mandatory publish no queue took, with the
///   reply code and the message;
/// - [`Error::ConfirmLost`]: the connection was lost first; the message
///   may or may not have been routed, so publish it again;
/// - [`Error::ChannelClosed`]: the channel closed first.
///
/// Dropping it does not cancel the publish.
#[must_use = "a confirm tells whether the broker took the message"]
pub struct Confirm {
    /// The tracker and the publish number; `None` once resolved, or for a
    /// publish outside confirm mode.
    pending: Option<(Arc<ConfirmTracker>, u64)>,
}

impl std::fmt::Debug for Confirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirm")
            .field("publish", &self.pending.as_ref().map(|(_, n)| *n))
            .finish()
    }
}

impl Confirm {
    pub(crate) fn ready() -> Self {
        Confirm { pending: None }
    }

    pub(crate) fn pending(tracker: Arc<ConfirmTracker>, number: u64) -> Self {
        Confirm {
            pending: Some((tracker, number)),
        }
    }
}

impl Future for Confirm {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let Some((tracker, number)) = &self.pending else {
            return Poll::Ready(Ok(()));
        };
        match tracker.poll(*number, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(r) => {
                self.pending = None;
                Poll::Ready(r)
            }
        }
    }
}

impl Drop for Confirm {
    fn drop(&mut self) {
        if let Some((tracker, number)) = self.pending.take() {
            tracker.forget(number);
        }
    }
}

/// The outstanding confirms of one logical channel (stable across
/// recovery), shared by the channel's handles, their [`Confirm`]s and the
/// driver.
#[derive(Debug, Default)]
pub(crate) struct ConfirmTracker {
    state: Mutex<TrackerState>,
}

#[derive(Debug, Default)]
struct TrackerState {
    /// Publish numbers below this are settled and have no slot.
    base: u64,
    /// The slot of publish `base + i`.
    slots: VecDeque<Slot>,
    /// Errors of settled publishes whose confirm has not taken them yet.
    failures: HashMap<u64, Error>,
    /// The channel closed for good: publishes are refused with this.
    closed: Option<Error>,
}

#[derive(Debug)]
enum Slot {
    /// The broker has not answered; the waker of the confirm that last
    /// polled it.
    Waiting(Option<Waker>),
    /// The broker has not answered, and nobody waits for the answer (its
    /// confirm was dropped, or the publish never reached the queue).
    Abandoned,
    /// Answered; an error waits in `failures`.
    Settled,
}

impl TrackerState {
    fn slot(&mut self, number: u64) -> Option<&mut Slot> {
        let at = usize::try_from(number.checked_sub(self.base)?).ok()?;
        self.slots.get_mut(at)
    }

    /// Drops the settled slots at the front.
    fn advance(&mut self) {
        while matches!(self.slots.front(), Some(Slot::Settled)) {
            self.slots.pop_front();
            self.base += 1;
        }
    }

    fn settle(&mut self, number: u64, result: Result<()>, wakes: &mut Vec<Waker>) {
        let Some(slot) = self.slot(number) else {
            return;
        };
        match std::mem::replace(slot, Slot::Settled) {
            Slot::Waiting(waker) => {
                if let Err(e) = result {
                    self.failures.insert(number, e);
                }
                wakes.extend(waker);
            }
            Slot::Abandoned => {}
            Slot::Settled => return,
        }
        if number == self.base {
            self.advance();
        }
    }
}

impl ConfirmTracker {
    /// The next publish number, or why the channel takes no publishes.
    pub(crate) fn register(&self) -> Result<u64> {
        let mut s = lock(&self.state);
        if let Some(e) = &s.closed {
            return Err(e.clone());
        }
        let n = s.base + s.slots.len() as u64;
        s.slots.push_back(Slot::Waiting(None));
        Ok(n)
    }

    /// A registered publish that never reached the driver: nobody waits.
    pub(crate) fn withdraw(&self, number: u64) {
        let mut s = lock(&self.state);
        s.settle(number, Ok(()), &mut Vec::new());
        s.failures.remove(&number);
    }

    /// Settles one publish; the waker of its confirm, if one waits, goes
    /// to `wakes`.
    pub(crate) fn settle(&self, number: u64, result: Result<()>, wakes: &mut Vec<Waker>) {
        lock(&self.state).settle(number, result, wakes);
    }

    /// Settles a run of publishes under one lock.
    pub(crate) fn settle_all(
        &self,
        results: impl IntoIterator<Item = (u64, Result<()>)>,
        wakes: &mut Vec<Waker>,
    ) {
        let mut s = lock(&self.state);
        for (n, r) in results {
            s.settle(n, r, wakes);
        }
    }

    /// The channel is gone for good: every waiting publish fails with
    /// `error`, and later publishes are refused with it.
    pub(crate) fn close(&self, error: &Error, wakes: &mut Vec<Waker>) {
        let mut s = lock(&self.state);
        if s.closed.is_none() {
            s.closed = Some(error.clone());
        }
        let base = s.base;
        for i in 0..s.slots.len() {
            s.settle(base + i as u64, Err(error.clone()), wakes);
        }
    }

    fn poll(&self, number: u64, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut s = lock(&self.state);
        match s.slot(number) {
            Some(Slot::Waiting(w)) => {
                match w {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            // Settled, or below the base: settled with its slot gone.
            _ => Poll::Ready(s.failures.remove(&number).map_or(Ok(()), Err)),
        }
    }

    /// A confirm was dropped unresolved.
    fn forget(&self, number: u64) {
        let mut s = lock(&self.state);
        match s.slot(number) {
            Some(slot @ Slot::Waiting(_)) => *slot = Slot::Abandoned,
            _ => {
                s.failures.remove(&number);
            }
        }
    }

    /// Publishes registered and not yet settled (for tests).
    #[cfg(test)]
    fn outstanding(&self) -> usize {
        let s = lock(&self.state);
        s.slots
            .iter()
            .filter(|s| !matches!(s, Slot::Settled))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(c: &mut Confirm, waker: &Waker) -> Poll<Result<()>> {
        Pin::new(c).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn settles_out_of_order_with_one_wake_per_waiting_confirm() {
        let t = Arc::new(ConfirmTracker::default());
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut confirms: Vec<Confirm> = (0..4)
            .map(|_| Confirm::pending(t.clone(), t.register().expect("open")))
            .collect();
        assert!(poll(&mut confirms[0], &waker).is_pending());
        assert!(poll(&mut confirms[2], &waker).is_pending());
        let mut wakes = Vec::new();
        t.settle(2, Err(Error::Nacked), &mut wakes);
        t.settle_all([(0, Ok(())), (1, Ok(()))], &mut wakes);
        assert_eq!(wakes.len(), 2, "only polled confirms have wakers");
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "waking is the caller's");
        wakes.drain(..).for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert!(matches!(
            poll(&mut confirms[0], &waker),
            Poll::Ready(Ok(()))
        ));
        assert!(matches!(
            poll(&mut confirms[1], &waker),
            Poll::Ready(Ok(()))
        ));
        assert!(matches!(
            poll(&mut confirms[2], &waker),
            Poll::Ready(Err(Error::Nacked))
        ));
        assert!(poll(&mut confirms[3], &waker).is_pending());
        assert_eq!(t.outstanding(), 1);
        t.settle(3, Ok(()), &mut wakes);
        assert!(matches!(
            poll(&mut confirms[3], &waker),
            Poll::Ready(Ok(()))
        ));
        let s = lock(&t.state);
        assert_eq!((s.base, s.slots.len(), s.failures.len()), (4, 0, 0));
    }

    #[test]
    fn dropped_and_withdrawn_publishes_keep_nothing() {
        let t = Arc::new(ConfirmTracker::default());
        let a = Confirm::pending(t.clone(), t.register().expect("open"));
        let b = t.register().expect("open");
        let c = Confirm::pending(t.clone(), t.register().expect("open"));
        t.settle(2, Err(Error::Nacked), &mut Vec::new());
        drop(c);
        drop(a);
        t.withdraw(b);
        t.settle(0, Err(Error::ConfirmLost), &mut Vec::new());
        let s = lock(&t.state);
        assert_eq!((s.base, s.slots.len(), s.failures.len()), (3, 0, 0));
    }

    #[test]
    fn close_fails_waiting_confirms_and_refuses_new_publishes() {
        let t = Arc::new(ConfirmTracker::default());
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let mut a = Confirm::pending(t.clone(), t.register().expect("open"));
        assert!(poll(&mut a, &waker).is_pending());
        let mut wakes = Vec::new();
        let err = Error::ChannelClosed {
            code: amqp_proto::ReplyCode::SUCCESS,
            text: "bye".into(),
        };
        t.close(&err, &mut wakes);
        assert_eq!(wakes.len(), 1);
        assert!(matches!(
            poll(&mut a, &waker),
            Poll::Ready(Err(Error::ChannelClosed { .. }))
        ));
        assert!(matches!(t.register(), Err(Error::ChannelClosed { .. })));
        // A late answer for a closed channel changes nothing.
        t.settle(0, Ok(()), &mut wakes);
        assert_eq!(lock(&t.state).failures.len(), 0);
    }

    #[test]
    fn ready_confirm_resolves_at_once() {
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        assert!(matches!(
            poll(&mut Confirm::ready(), &waker),
            Poll::Ready(Ok(()))
        ));
    }
}
