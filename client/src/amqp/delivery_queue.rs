//! The bounded queue from the driver to one consumer.
//!
//! The driver pushes every delivery a read brought in and wakes the
//! consumer once, after its writes, instead of once per delivery; the
//! consumer moves everything queued into a buffer of its own under one
//! lock, so the two sides touch the lock once per batch.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::batch_queue::lock;
use super::batch_queue::{BatchQueue, PushError};

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
}

#[derive(Debug)]
struct State<T> {
    /// Bounded messages are deliveries; closed once the consumer let go.
    items: BatchQueue<T>,
    /// The consumer waits for items.
    waker: Option<Waker>,
    /// The driver let go: nothing more comes.
    sender_gone: bool,
}

/// The driver's end.
#[derive(Debug)]
pub(crate) struct DeliverySender<T> {
    shared: Arc<Shared<T>>,
}

/// The consumer's end, with the batch it took last.
#[derive(Debug)]
pub(crate) struct DeliveryReceiver<T> {
    shared: Arc<Shared<T>>,
    taken: VecDeque<T>,
}

/// A queue for up to `capacity` bounded messages (at least one).
pub(crate) fn delivery_queue<T>(capacity: usize) -> (DeliverySender<T>, DeliveryReceiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: BatchQueue::new(capacity),
            waker: None,
            sender_gone: false,
        }),
    });
    (
        DeliverySender {
            shared: shared.clone(),
        },
        DeliveryReceiver {
            shared,
            taken: VecDeque::new(),
        },
    )
}

impl<T> DeliverySender<T> {
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
        s.items.push(msg, bounded)?;
        wakes.extend(s.waker.take());
        Ok(())
    }
}

impl<T> Drop for DeliverySender<T> {
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

impl<T> DeliveryReceiver<T> {
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
            // Everything queued, in one move (the batch just popped empty).
            s.items.take(&mut self.taken, usize::MAX);
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

impl<T> Drop for DeliveryReceiver<T> {
    fn drop(&mut self) {
        let items = {
            let mut s = lock(&self.shared.state);
            s.waker = None;
            s.items.close()
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
        let (tx, mut rx) = delivery_queue::<u32>(4);
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
        let (tx, rx) = delivery_queue::<u32>(2);
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
