//! The command queue from handles to the driver: requests, consumers,
//! closes and acks, in the order they were issued.
//!
//! Bounded, and moved a batch at a time like the [`PublishQueue`]. Every
//! command wakes the driver except an ack while the driver parks lazily
//! (a consumer's window is far from full, so deliveries, and with them
//! the driver, come anyway; see the driver): then acks from other threads
//! wait for its next turn, or its linger timer. The driver parks lazily
//! only right after a turn that moved deliveries or acks, always with
//! that timer armed, so an ack waits a linger at most. Order is kept: a request
//! queued after an ack wakes the driver, which takes both.
//!
//! [`PublishQueue`]: super::publish_queue::PublishQueue

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use tokio::sync::Notify;

use super::batch_queue::lock;
use super::batch_queue::{BatchQueue, DriverWaker, PushError};
use super::command::Control;

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct CommandQueue {
    state: Mutex<State>,
    /// Senders wait here for room.
    room: Notify,
}

#[derive(Debug)]
struct State {
    queue: BatchQueue<Control>,
    /// Queued commands that are not acks.
    urgent: usize,
    /// The driver waits for commands (lazily: acks from other threads do
    /// not wake it).
    driver: DriverWaker,
    /// Every handle is gone: nothing more comes.
    senders_gone: bool,
}

fn is_ack(c: &Control) -> bool {
    matches!(c, Control::Settle { .. })
}

impl CommandQueue {
    /// A queue for up to `capacity` commands (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        CommandQueue {
            state: Mutex::new(State {
                queue: BatchQueue::new(capacity),
                urgent: 0,
                driver: DriverWaker::default(),
                senders_gone: false,
            }),
            room: Notify::new(),
        }
    }

    /// Queues a command without waiting.
    pub(crate) fn try_push(&self, c: Control) -> Result<(), PushError<Control>> {
        let mut s = lock(&self.state);
        let ack = is_ack(&c);
        s.queue.push(c, true)?;
        if !ack {
            s.urgent += 1;
        }
        let driver = s.driver.for_push(ack);
        drop(s);
        if let Some(w) = driver {
            w.wake();
        }
        Ok(())
    }

    /// Queues a command, waiting for room while the queue is full.
    /// Cancel-safe: dropped while waiting, nothing was queued. `Err`
    /// gives the command back: the driver is gone.
    pub(crate) async fn push(&self, mut c: Control) -> Result<(), Control> {
        loop {
            let mut room = pin!(self.room.notified());
            room.as_mut().enable();
            match self.try_push(c) {
                Ok(()) => return Ok(()),
                Err(PushError::Closed(back)) => return Err(back),
                Err(PushError::Full(back)) => c = back,
            }
            room.await;
        }
    }

    /// Moves up to `max` queued commands to the back of `out`.
    pub(crate) fn take(&self, out: &mut VecDeque<Control>, max: usize) {
        let mut s = lock(&self.state);
        let full = s.queue.take(out, max);
        s.urgent = if s.queue.is_empty() {
            0
        } else {
            s.queue.iter().filter(|c| !is_ack(c)).count()
        };
        drop(s);
        if full {
            self.room.notify_waiters();
        }
    }

    /// Ready once a command is queued (with `lazy`, a command other than
    /// an ack) or every handle is gone; else the driver's waker is kept.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, lazy: bool) -> Poll<()> {
        let mut s = lock(&self.state);
        let ready = s.urgent > 0 || (!lazy && !s.queue.is_empty()) || s.senders_gone;
        s.driver.park(cx, lazy, ready)
    }

    /// Waits for [`poll_ready`](Self::poll_ready).
    pub(crate) async fn ready(&self, lazy: bool) {
        poll_fn(|cx| self.poll_ready(cx, lazy)).await
    }

    /// Whether every handle is gone and every command was taken.
    pub(crate) fn done(&self) -> bool {
        let s = lock(&self.state);
        s.senders_gone && s.queue.is_empty()
    }

    /// The last handle let go.
    pub(crate) fn release(&self) {
        let driver = {
            let mut s = lock(&self.state);
            s.senders_gone = true;
            s.driver.take()
        };
        if let Some(w) = driver {
            w.wake();
        }
    }

    /// The driver is gone for good: later pushes are refused; what is
    /// queued comes back, for its waiters to be failed.
    pub(crate) fn close(&self) -> VecDeque<Control> {
        let queued = {
            let mut s = lock(&self.state);
            s.driver.clear();
            s.urgent = 0;
            s.queue.close()
        };
        self.room.notify_waiters();
        queued
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amqp::command::Settle;
    use crate::amqp::confirm_cell::tests::Count;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Waker;

    fn ack(tag: u64) -> Control {
        Control::Settle {
            chan: 1,
            generation: 0,
            delivery_tag: tag,
            multiple: false,
            how: Settle::Ack,
        }
    }

    fn close() -> Control {
        Control::CloseChannel {
            chan: 1,
            after: 0,
            reply: None,
        }
    }

    fn tags(q: &VecDeque<Control>) -> Vec<Option<u64>> {
        q.iter()
            .map(|c| match c {
                Control::Settle { delivery_tag, .. } => Some(*delivery_tag),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn acks_wait_for_a_lazy_driver_and_order_is_kept() {
        let m = Arc::new(CommandQueue::new(8));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let driver = Waker::from(count.clone());
        let woken = || count.0.load(Ordering::SeqCst);
        let park = |lazy: bool| {
            let (m, driver) = (m.clone(), driver.clone());
            std::thread::spawn(move || m.poll_ready(&mut Context::from_waker(&driver), lazy))
                .join()
                .expect("parked")
        };
        assert!(park(true).is_pending());
        m.try_push(ack(1)).expect("room");
        m.try_push(ack(2)).expect("room");
        assert_eq!(woken(), 0, "acks do not wake a lazy driver");
        assert!(park(true).is_pending(), "only acks are queued");
        m.try_push(close()).expect("room");
        assert_eq!(woken(), 1, "any other command does");
        assert!(park(true).is_ready());
        let mut batch = VecDeque::new();
        m.take(&mut batch, 8);
        assert_eq!(tags(&batch), [Some(1), Some(2), None]);
        // Not lazy: an ack wakes the driver.
        assert!(park(false).is_pending());
        m.try_push(ack(3)).expect("room");
        assert_eq!(woken(), 2);
    }

    #[tokio::test]
    async fn bounded_released_and_closed() {
        let m = Arc::new(CommandQueue::new(1));
        m.try_push(ack(1)).expect("room");
        assert!(matches!(m.try_push(ack(2)), Err(PushError::Full(_))));
        let waiting = tokio::spawn({
            let m = m.clone();
            async move { m.push(ack(2)).await.is_ok() }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        let mut batch = VecDeque::new();
        m.take(&mut batch, 8);
        assert!(waiting.await.expect("task"));
        m.release();
        assert!(!m.done(), "an ack is still queued");
        let waker = Waker::noop();
        assert!(
            m.poll_ready(&mut Context::from_waker(waker), true)
                .is_ready()
        );
        assert_eq!(tags(&m.close()), [Some(2)]);
        assert!(m.done());
        assert!(matches!(m.try_push(ack(3)), Err(PushError::Closed(_))));
        assert!(m.push(ack(4)).await.is_err());
    }
}
