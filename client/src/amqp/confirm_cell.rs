//! One publish's confirm: the cell its [`Confirm`](super::Confirm) waits
//! on, and the driver's side of it.
//!
//! A publish in confirm mode makes a cell. The handle's `Confirm` keeps one
//! reference; the [`Settler`] rides with the publish to the driver and,
//! once the core has numbered the publish, sits in its channel's map of
//! unconfirmed publishes (`driver::publishes`), keyed by the core's
//! sequence number. That map is the one place confirm state lives.
//!
//! A cell resolves only through its settler, and the settler has two
//! ways: [`Settler::broker_verdict`], which the channel's map calls for
//! the broker's basic.ack or basic.nack of its sequence number, and
//! [`Settler::fail`], which takes an error and so can never report a
//! success. A settler dropped unsettled (the driver gone) fails its cell
//! with [`Error::ConfirmLost`]: a confirm never waits for nobody.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use amqp_proto::Returned;

use super::batch_queue::lock;
use super::error::{Error, Result};

/// Acked.
const ACKED: u8 = 1;
/// Failed: the error waits in `parked`.
const FAILED: u8 = 2;
/// A confirm left its waker in `parked`.
const WAKER: u8 = 4;

/// Cells whose confirms resolved, kept for the next publishes of this
/// thread: a publisher keeping a window of confirms open then allocates
/// no cell once the window is full (and leaves the allocator's free lists
/// as they were for the rest of the application).
const SPARE_MAX: usize = 1024;

thread_local! {
    static SPARE: RefCell<Vec<Arc<ConfirmCell>>> = const { RefCell::new(Vec::new()) };
}

/// What a confirm waits on. Shared by the [`Confirm`](super::Confirm)
/// and the publish's [`Settler`]. The common case costs the settler one
/// atomic operation (no confirm waits yet) and the confirm one atomic
/// load (it polls once the verdict is in); the lock is taken only when a
/// confirm parks its waker or a publish fails.
#[derive(Debug, Default)]
pub(crate) struct ConfirmCell {
    /// `ACKED` or `FAILED` once settled, with `WAKER` once a waker waits.
    state: AtomicU8,
    parked: Mutex<Parked>,
}

#[derive(Debug, Default)]
struct Parked {
    waker: Option<Waker>,
    /// The error of a failed publish, until the confirm takes it.
    error: Option<Error>,
}

impl ConfirmCell {
    /// The verdict, once there is one (an error is taken once); else the
    /// waker is kept for the settler.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let state = self.state.load(Ordering::Acquire);
        if state & (ACKED | FAILED) != 0 {
            return Poll::Ready(self.verdict(state));
        }
        {
            let mut p = lock(&self.parked);
            match &p.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => p.waker = Some(cx.waker().clone()),
            }
        }
        // The settler looks for a waker only if it sees this bit; if it
        // settled first, the verdict is in and no wake-up will come.
        let state = self.state.fetch_or(WAKER, Ordering::AcqRel);
        if state & (ACKED | FAILED) != 0 {
            return Poll::Ready(self.verdict(state));
        }
        Poll::Pending
    }

    /// Keeps a cell whose confirm is done for reuse on this thread, if
    /// nothing else holds it (its settler is gone).
    pub(crate) fn recycle(mut cell: Arc<ConfirmCell>) {
        let Some(c) = Arc::get_mut(&mut cell) else {
            return;
        };
        *c.state.get_mut() = 0;
        *c.parked.get_mut().unwrap_or_else(PoisonError::into_inner) = Parked::default();
        let _ = SPARE.try_with(move |spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < SPARE_MAX {
                spare.push(cell);
            }
        });
    }

    fn verdict(&self, state: u8) -> Result<()> {
        if state & ACKED != 0 {
            return Ok(());
        }
        Err(lock(&self.parked)
            .error
            .take()
            .unwrap_or(Error::Usage("the confirm was already taken")))
    }

    /// Puts the verdict in (a settler settles once); the waker of a
    /// waiting confirm goes to `wakes`.
    fn settle(&self, result: Result<()>, wakes: &mut Vec<Waker>) {
        let state = match result {
            Ok(()) => self.state.fetch_or(ACKED, Ordering::AcqRel),
            Err(e) => {
                lock(&self.parked).error = Some(e);
                self.state.fetch_or(FAILED, Ordering::AcqRel)
            }
        };
        if state & WAKER != 0 {
            wakes.extend(lock(&self.parked).waker.take());
        }
    }
}

/// The driver's side of one publish's confirm. Not `Clone`: one publish,
/// one verdict.
#[derive(Debug)]
pub(crate) struct Settler {
    /// `None` once settled.
    cell: Option<Arc<ConfirmCell>>,
}

impl Settler {
    /// A new cell: the settler for the driver, the cell for the confirm.
    pub(crate) fn new() -> (Settler, Arc<ConfirmCell>) {
        let spare = SPARE.try_with(|s| s.borrow_mut().pop()).ok().flatten();
        let cell = spare.unwrap_or_default();
        (
            Settler {
                cell: Some(cell.clone()),
            },
            cell,
        )
    }

    /// The broker acked (`ack`) or nacked the publish. An acked mandatory
    /// publish that came back first (`returned`) fails with the return.
    pub(crate) fn broker_verdict(
        mut self,
        ack: bool,
        returned: Option<Box<Returned>>,
        wakes: &mut Vec<Waker>,
    ) {
        let verdict = match (ack, returned) {
            (false, _) => Err(Error::Nacked),
            (true, Some(r)) => Err(Error::Returned {
                code: r.reply_code,
                text: r.reply_text().to_string(),
                message: r,
            }),
            (true, None) => Ok(()),
        };
        if let Some(cell) = self.cell.take() {
            cell.settle(verdict, wakes);
        }
    }

    /// The publish failed before the broker's verdict: the connection or
    /// channel went, or the publish could not be sent.
    pub(crate) fn fail(mut self, error: Error, wakes: &mut Vec<Waker>) {
        if let Some(cell) = self.cell.take() {
            cell.settle(Err(error), wakes);
        }
    }
}

impl Drop for Settler {
    fn drop(&mut self) {
        if let Some(cell) = self.cell.take() {
            let mut wakes = Vec::new();
            cell.settle(Err(Error::ConfirmLost), &mut wakes);
            wakes.into_iter().for_each(Waker::wake);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    pub(crate) struct Count(pub(crate) AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(cell: &ConfirmCell, waker: &Waker) -> Poll<Result<()>> {
        cell.poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn only_the_broker_acks_and_a_polled_confirm_is_woken_once() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let (settler, cell) = Settler::new();
        assert!(poll(&cell, &waker).is_pending());
        assert!(
            poll(&cell, &waker).is_pending(),
            "nothing settles it but the settler"
        );
        let mut wakes = Vec::new();
        settler.broker_verdict(true, None, &mut wakes);
        assert_eq!(wakes.len(), 1);
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "waking is the caller's");
        assert!(matches!(poll(&cell, &waker), Poll::Ready(Ok(()))));
    }

    #[test]
    fn nacks_failures_and_a_dropped_settler_fail_the_confirm() {
        let waker = Waker::noop();
        let mut wakes = Vec::new();
        let (nacked, a) = Settler::new();
        nacked.broker_verdict(false, None, &mut wakes);
        assert!(matches!(poll(&a, waker), Poll::Ready(Err(Error::Nacked))));
        let (failed, b) = Settler::new();
        assert!(poll(&b, waker).is_pending());
        failed.fail(
            Error::ChannelClosed {
                code: amqp_proto::ReplyCode::SUCCESS,
                text: "bye".into(),
            },
            &mut wakes,
        );
        assert!(matches!(
            poll(&b, waker),
            Poll::Ready(Err(Error::ChannelClosed { .. }))
        ));
        let (dropped, c) = Settler::new();
        drop(dropped);
        assert!(matches!(
            poll(&c, waker),
            Poll::Ready(Err(Error::ConfirmLost))
        ));
        // Unpolled confirms have no waker to wake.
        assert_eq!(wakes.len(), 1);
    }

    #[test]
    fn a_done_cell_is_reused_fresh_and_a_held_one_is_not() {
        let (settler, cell) = Settler::new();
        let mut wakes = Vec::new();
        settler.fail(Error::Nacked, &mut wakes);
        let first = Arc::as_ptr(&cell);
        ConfirmCell::recycle(cell);
        let (settler, cell) = Settler::new();
        assert_eq!(Arc::as_ptr(&cell), first, "the spare cell is taken");
        assert!(
            poll(&cell, Waker::noop()).is_pending(),
            "with no verdict of the last use"
        );
        // Its settler still holds it: not kept.
        ConfirmCell::recycle(cell.clone());
        let (_, other) = Settler::new();
        assert_ne!(Arc::as_ptr(&other), first);
        settler.broker_verdict(true, None, &mut wakes);
        assert!(matches!(poll(&cell, Waker::noop()), Poll::Ready(Ok(()))));
    }

    #[test]
    fn a_confirm_dropped_first_leaves_the_settler_harmless() {
        let (settler, cell) = Settler::new();
        drop(cell);
        let mut wakes = Vec::new();
        settler.broker_verdict(true, None, &mut wakes);
        assert!(wakes.is_empty());
    }
}
