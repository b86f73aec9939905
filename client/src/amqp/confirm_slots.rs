//! The confirm slots of a connection: one per publish number, holding the
//! waker of the [`Confirm`](super::Confirm) that waits and, once the
//! driver settles it, the answer. Kept under the publish queue's lock; the
//! driver settles slots only from the broker's acks and nacks (or fails
//! them when the channel or connection goes), never otherwise.

use std::collections::{HashMap, VecDeque};
use std::task::{Context, Poll, Waker};

use super::error::{Error, Result};

/// The outstanding publish numbers of a connection and the answers not
/// yet taken. Kept under the publish queue's lock.
#[derive(Debug, Default)]
pub(crate) struct Confirms {
    /// Publish numbers below this are settled and have no slot.
    base: u64,
    /// The slot of publish `base + i`.
    slots: VecDeque<Slot>,
    /// Errors of settled publishes whose confirm has not taken them yet.
    failures: HashMap<u64, Error>,
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

impl Confirms {
    fn slot(&mut self, number: u64) -> Option<&mut Slot> {
        let at = usize::try_from(number.checked_sub(self.base)?).ok()?;
        self.slots.get_mut(at)
    }

    /// The error a settled publish failed with (failures are rare: the
    /// map is almost always empty, and then not hashed into).
    fn take_failure(&mut self, number: u64) -> Option<Error> {
        if self.failures.is_empty() {
            return None;
        }
        self.failures.remove(&number)
    }

    /// Every publish number below this one is settled.
    pub(crate) fn settled_below(&self) -> u64 {
        self.base
    }

    /// Some settled publish's error waits for its confirm.
    pub(crate) fn has_failures(&self) -> bool {
        !self.failures.is_empty()
    }

    /// The number the next publish will take.
    pub(crate) fn next_number(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    /// The next publish number.
    pub(crate) fn register(&mut self) -> u64 {
        let n = self.base + self.slots.len() as u64;
        self.slots.push_back(Slot::Waiting(None));
        n
    }

    /// Settles one publish; the waker of its confirm, if one waits, goes
    /// to `wakes`. Settling twice changes nothing.
    pub(crate) fn settle(&mut self, number: u64, result: Result<()>, wakes: &mut Vec<Waker>) {
        if number == self.base && result.is_ok() {
            self.settle_first(wakes);
            return;
        }
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
            while matches!(self.slots.front(), Some(Slot::Settled)) {
                self.slots.pop_front();
                self.base += 1;
            }
        }
    }

    /// Acks the oldest outstanding publish: the common case, acks come in
    /// order. Its slot goes at once.
    fn settle_first(&mut self, wakes: &mut Vec<Waker>) {
        match self.slots.pop_front() {
            Some(Slot::Waiting(waker)) => wakes.extend(waker),
            Some(_) => {}
            None => return,
        }
        self.base += 1;
        while matches!(self.slots.front(), Some(Slot::Settled)) {
            self.slots.pop_front();
            self.base += 1;
        }
    }

    /// Settles every publish still waiting with `error`.
    pub(crate) fn fail_all(&mut self, error: &Error, wakes: &mut Vec<Waker>) {
        let end = self.base + self.slots.len() as u64;
        for n in self.base..end {
            self.settle(n, Err(error.clone()), wakes);
        }
    }

    pub(crate) fn poll(&mut self, number: u64, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.slot(number) {
            Some(Slot::Waiting(w)) => {
                match w {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            // Settled, or below the base: settled with its slot gone.
            _ => Poll::Ready(self.take_failure(number).map_or(Ok(()), Err)),
        }
    }

    /// A confirm was dropped unresolved.
    pub(crate) fn forget(&mut self, number: u64) {
        match self.slot(number) {
            Some(slot @ Slot::Waiting(_)) => *slot = Slot::Abandoned,
            _ => {
                self.take_failure(number);
            }
        }
    }

    /// Nothing is kept: no slot, no unclaimed answer (for tests).
    #[cfg(test)]
    pub(crate) fn is_clear(&self) -> bool {
        self.slots.is_empty() && self.failures.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    pub(crate) struct Count(pub(crate) AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(c: &mut Confirms, n: u64, waker: &Waker) -> Poll<Result<()>> {
        c.poll(n, &mut Context::from_waker(waker))
    }

    #[test]
    fn settles_out_of_order_with_one_waker_per_waiting_confirm() {
        let mut c = Confirms::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let n: Vec<u64> = (0..4).map(|_| c.register()).collect();
        assert_eq!(n, [0, 1, 2, 3]);
        assert!(poll(&mut c, 0, &waker).is_pending());
        assert!(poll(&mut c, 2, &waker).is_pending());
        let mut wakes = Vec::new();
        c.settle(2, Err(Error::Nacked), &mut wakes);
        c.settle(0, Ok(()), &mut wakes);
        c.settle(1, Ok(()), &mut wakes);
        c.settle(1, Err(Error::Nacked), &mut wakes);
        assert_eq!(wakes.len(), 2, "only polled confirms have wakers");
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "waking is the caller's");
        assert!(matches!(poll(&mut c, 0, &waker), Poll::Ready(Ok(()))));
        assert!(matches!(poll(&mut c, 1, &waker), Poll::Ready(Ok(()))));
        assert!(matches!(
            poll(&mut c, 2, &waker),
            Poll::Ready(Err(Error::Nacked))
        ));
        assert!(poll(&mut c, 3, &waker).is_pending());
        c.settle(3, Ok(()), &mut wakes);
        assert!(matches!(poll(&mut c, 3, &waker), Poll::Ready(Ok(()))));
        assert!(c.is_clear());
        assert_eq!(c.register(), 4);
    }

    #[test]
    fn dropped_and_failed_publishes_keep_nothing() {
        let mut c = Confirms::default();
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let (a, b, d, e) = (c.register(), c.register(), c.register(), c.register());
        c.settle(d, Err(Error::Nacked), &mut Vec::new());
        c.forget(d);
        c.forget(a);
        c.settle(b, Ok(()), &mut Vec::new());
        c.settle(a, Err(Error::ConfirmLost), &mut Vec::new());
        assert!(poll(&mut c, e, &waker).is_pending());
        let mut wakes = Vec::new();
        c.fail_all(&Error::ConfirmLost, &mut wakes);
        assert_eq!(wakes.len(), 1);
        assert!(matches!(
            poll(&mut c, e, &waker),
            Poll::Ready(Err(Error::ConfirmLost))
        ));
        assert!(c.is_clear());
    }
}
