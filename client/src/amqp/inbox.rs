//! The bounded queue from the driver to one consumer.
//!
//! The driver pushes every delivery a read brought in and wakes the
//! consumer once, after its writes, instead of once per delivery; the
//! consumer moves everything queued into a buffer of its own under one
//! lock, so the two sides touch the lock once per batch.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::command::lock;

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    /// Bounded messages (deliveries) the queue holds at most.
    capacity: usize,
}

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    /// The consumer waits for items.
    waker: Option<Waker>,
    /// The driver let go: nothing more comes.
    sender_gone: bool,
    /// The consumer let go: nothing more is taken.
    receiver_gone: bool,
}

/// Why a push failed; the message comes back.
#[derive(Debug)]
pub(crate) enum PushError<T> {
    /// The queue holds `capacity` messages.
    Full(T),
    /// The consumer is gone.
    Closed(T),
}

/// The driver's end.
#[derive(Debug)]
pub(crate) struct InboxSender<T> {
    shared: Arc<Shared<T>>,
}

/// The consumer's end, with the batch it took last.
#[derive(Debug)]
pub(crate) struct InboxReceiver<T> {
    shared: Arc<Shared<T>>,
    taken: VecDeque<T>,
}

/// A queue for up to `capacity` bounded messages (at least one).
pub(crate) fn inbox<T>(capacity: usize) -> (InboxSender<T>, InboxReceiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            waker: None,
            sender_gone: false,
            receiver_gone: false,
        }),
        capacity: capacity.max(1),
    });
    (
        InboxSender {
            shared: shared.clone(),
        },
        InboxReceiver {
            shared,
            taken: VecDeque::new(),
        },
    )
}

impl<T> InboxSender<T> {
    /// Queues a message without waking the consumer: if it waits, its
    /// waker goes to `wakes`, for the caller to wake once its turn is
    /// done. A `bounded` message (a delivery) is refused when the queue
    /// holds `capacity` messages; others (the end of the stream) always
    /// fit.
    pub(crate) fn push(
        &self,
        msg: T,
        bounded: bool,
        wakes: &mut Vec<Waker>,
    ) -> Result<(), PushError<T>> {
        let mut s = lock(&self.shared.state);
        if s.receiver_gone {
            return Err(PushError::Closed(msg));
        }
        if bounded && s.items.len() >= self.shared.capacity {
            return Err(PushError::Full(msg));
        }
        s.items.push_back(msg);
        wakes.extend(s.waker.take());
        Ok(())
    }
}

impl<T> Drop for InboxSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut s = lock(&self.shared.state);
            s.sender_gone = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> InboxReceiver<T> {
    /// The next message; `None` once the driver let go and all is taken.
    /// `took_batch` is set when this poll moved a new batch out of the
    /// shared queue (room for the driver).
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        took_batch: &mut bool,
    ) -> Poll<Option<T>> {
        if let Some(m) = self.taken.pop_front() {
            return Poll::Ready(Some(m));
        }
        let mut s = lock(&self.shared.state);
        if !s.items.is_empty() {
            // Emptied by popping: `clear` moves its head back to the front
            // of its buffer, which the driver then fills from the start
            // (cache lines it wrote before) rather than walking the buffer.
            self.taken.clear();
            std::mem::swap(&mut s.items, &mut self.taken);
            drop(s);
            *took_batch = true;
            return Poll::Ready(self.taken.pop_front());
        }
        if s.sender_gone {
            return Poll::Ready(None);
        }
        match &mut s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for InboxReceiver<T> {
    fn drop(&mut self) {
        let items = {
            let mut s = lock(&self.shared.state);
            s.receiver_gone = true;
            s.waker = None;
            std::mem::take(&mut s.items)
        };
        drop(items);
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

    #[test]
    fn one_wake_per_batch_and_order_kept() {
        let (tx, mut rx) = inbox::<u32>(4);
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut took = false;
        assert!(rx.poll_recv(&mut cx, &mut took).is_pending());
        let mut wakes = Vec::new();
        for i in 0..3 {
            tx.push(i, true, &mut wakes).expect("room");
        }
        assert_eq!(wakes.len(), 1, "one waker for the batch");
        wakes.drain(..).for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        for want in 0..3 {
            assert_eq!(rx.poll_recv(&mut cx, &mut took), Poll::Ready(Some(want)));
        }
        assert!(took);
        // The batch moved out: the queue has room for 4 more.
        for i in 3..7 {
            tx.push(i, true, &mut wakes).expect("room");
        }
        assert!(wakes.is_empty(), "nobody waited");
        assert_eq!(rx.poll_recv(&mut cx, &mut took), Poll::Ready(Some(3)));
        let rest: Vec<_> = (0..3).map(|_| rx.poll_recv(&mut cx, &mut took)).collect();
        assert_eq!(rest, [4, 5, 6].map(|i| Poll::Ready(Some(i))));
        assert!(rx.poll_recv(&mut cx, &mut took).is_pending());
        drop(tx);
        assert_eq!(count.0.load(Ordering::SeqCst), 2, "the sender's drop wakes");
        assert_eq!(rx.poll_recv(&mut cx, &mut took), Poll::Ready(None));
    }

    #[test]
    fn bounded_messages_are_capped_and_a_gone_receiver_refuses() {
        let (tx, rx) = inbox::<u32>(2);
        let mut wakes = Vec::new();
        tx.push(1, true, &mut wakes).expect("room");
        tx.push(2, true, &mut wakes).expect("room");
        assert!(matches!(
            tx.push(3, true, &mut wakes),
            Err(PushError::Full(3))
        ));
        tx.push(4, false, &mut wakes)
            .expect("an unbounded message fits");
        drop(rx);
        assert!(matches!(
            tx.push(5, false, &mut wakes),
            Err(PushError::Closed(5))
        ));
    }
}
