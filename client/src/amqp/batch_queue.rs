//! The bounded batch queue under every queue between handles and the
//! driver: commands ([`CommandQueue`]), publishes ([`PublishQueue`]) and
//! each consumer's deliveries ([`DeliveryQueue`]).
//!
//! One side pushes an item at a time; the other moves everything queued
//! out in one move, so the two touch the lock once per batch. Each queue
//! keeps it under its own lock, beside what that queue adds (who is woken
//! when, where each publish sits); this type owns the items, the
//! bound, and the two ways a push is refused.
//!
//! [`CommandQueue`]: super::command_queue::CommandQueue
//! [`PublishQueue`]: super::publish_queue::PublishQueue
//! [`DeliveryQueue`]: super::delivery_queue

use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The queue holds its capacity.
    Full,
    /// The taking side is gone for good.
    Closed,
}

/// Why a push failed; the item comes back.
#[derive(Debug)]
pub(crate) enum PushError<T> {
    /// The queue holds its capacity.
    Full(T),
    /// The taking side is gone for good.
    Closed(T),
}

impl<T> PushError<T> {
    fn new(refused: Refused, item: T) -> Self {
        match refused {
            Refused::Full => PushError::Full(item),
            Refused::Closed => PushError::Closed(item),
        }
    }
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct BatchQueue<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// A push found the queue full since the last take.
    full: bool,
    /// Pushes are refused.
    closed: bool,
}

impl<T> BatchQueue<T> {
    /// A queue for up to `capacity` bounded items (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        BatchQueue {
            items: VecDeque::new(),
            capacity: capacity.max(1),
            full: false,
            closed: false,
        }
    }

    /// Whether an item may be pushed now. A `bounded` item is refused at
    /// capacity (and the refusal remembered, for [`take`](Self::take) to
    /// report); others (the end of a stream) always fit an open queue.
    pub(crate) fn check(&mut self, bounded: bool) -> Result<(), Refused> {
        if self.closed {
            return Err(Refused::Closed);
        }
        if bounded && self.items.len() >= self.capacity {
            self.full = true;
            return Err(Refused::Full);
        }
        Ok(())
    }

    /// Queues an item that [`check`](Self::check) let in.
    pub(crate) fn push_checked(&mut self, item: T) {
        self.items.push_back(item);
    }

    /// Queues an item if [`check`](Self::check) lets it in.
    pub(crate) fn push(&mut self, item: T, bounded: bool) -> Result<(), PushError<T>> {
        match self.check(bounded) {
            Ok(()) => {
                self.items.push_back(item);
                Ok(())
            }
            Err(refused) => Err(PushError::new(refused, item)),
        }
    }

    /// Moves up to `max` items to the back of `out`. True if a push was
    /// refused as full since the last take (its pusher may wait for room).
    pub(crate) fn take(&mut self, out: &mut VecDeque<T>, max: usize) -> bool {
        if out.is_empty() && self.items.len() <= max {
            // An emptied deque starts over at the front of its buffer
            // (`clear` moves its head back; popping does not): the pushing
            // side then writes the same few cache lines batch after batch
            // rather than walking the whole buffer, which outgrows the L1
            // cache after a burst.
            out.clear();
            std::mem::swap(&mut self.items, out);
        } else {
            let n = self.items.len().min(max);
            out.extend(self.items.drain(..n));
        }
        std::mem::take(&mut self.full)
    }

    /// Refuses later pushes; what is queued comes back.
    pub(crate) fn close(&mut self) -> VecDeque<T> {
        self.closed = true;
        std::mem::take(&mut self.items)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many items are queued.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

/// The driver's side of a handle-to-driver queue: its waker, and whether
/// it parked *lazily* (something else is bound to wake it soon, so pushes
/// from other threads need not). A wake-up from another thread costs a
/// handful of system calls and context switches; on the driver's own
/// thread it only queues the task, so pushes there always wake it.
#[derive(Debug, Default)]
pub(crate) struct DriverWaker {
    waker: Option<Waker>,
    lazy: bool,
    /// The thread the driver parked on (see [`this_thread`]).
    thread: usize,
}

impl DriverWaker {
    /// The driver parks (`lazy` or not); `ready` is whether it need not.
    pub(crate) fn park(&mut self, cx: &mut Context<'_>, lazy: bool, ready: bool) -> Poll<()> {
        self.lazy = lazy;
        self.thread = this_thread();
        if ready {
            return Poll::Ready(());
        }
        match &mut self.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The waker to wake for a push; `None` when the push may wait (it
    /// `may_wait`, the driver parked lazily and on another thread).
    pub(crate) fn for_push(&mut self, may_wait: bool) -> Option<Waker> {
        if may_wait && self.lazy && self.thread != this_thread() {
            None
        } else {
            self.waker.take()
        }
    }

    /// Whether the driver parked lazily.
    pub(crate) fn is_lazy(&self) -> bool {
        self.lazy
    }

    /// The waker, whatever the driver's mood; it parks eagerly from now.
    pub(crate) fn take(&mut self) -> Option<Waker> {
        self.lazy = false;
        self.waker.take()
    }

    /// The driver is gone: nobody to wake.
    pub(crate) fn clear(&mut self) {
        self.waker = None;
    }
}

/// Locks a mutex; a poisoned one is used as it is (a panicking handle
/// cannot leave these queues half-changed: every change is one step).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Tells threads apart: the address of a thread-local.
pub(crate) fn this_thread() -> usize {
    thread_local! {
        static HERE: u8 = const { 0 };
    }
    HERE.with(|h| std::ptr::from_ref(h) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_items_are_capped_and_batches_move_whole_and_in_order() {
        let mut q = BatchQueue::new(2);
        q.push(1, true).expect("room");
        q.push(2, true).expect("room");
        assert!(matches!(q.push(3, true), Err(PushError::Full(3))));
        q.push(4, false).expect("an unbounded item fits");
        let mut out = VecDeque::new();
        assert!(q.take(&mut out, 2), "a push was refused as full");
        assert_eq!(out, [1, 2]);
        assert!(!q.take(&mut out, 8));
        assert_eq!(out, [1, 2, 4]);
        assert!(q.is_empty());
        q.push(5, true).expect("room");
        assert_eq!(q.close(), [5]);
        assert!(matches!(q.push(6, false), Err(PushError::Closed(6))));
        assert_eq!(q.check(true), Err(Refused::Closed));
    }
}
