//! Publisher confirms: the future a publish returns.
//!
//! A publish in confirm mode makes a [`ConfirmCell`]; its [`Confirm`]
//! waits on the cell, and the publish carries the cell's settler to the
//! driver, where the channel's map of unconfirmed publishes (keyed by the
//! core's sequence number) settles it from the broker's acks and nacks.
//! The driver collects the wakers of the confirms that wait and wakes them
//! once per turn, after its writes: one wake-up per batch of confirms.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::confirm_cell::ConfirmCell;
use super::error::{Error, Result};
use super::publish_queue::PublishQueue;

/// Resolves when the broker has taken responsibility for a publish.
///
/// - `Ok(())`: acked (or the channel is not in confirm mode: then it is
///   ready at once and proves only that the publish was queued);
/// - [`Error::Nacked`]: the broker could not take it;
/// - [`Error::Returned`]: a mandatory publish no queue took, with the
///   reply code and the message;
/// - [`Error::ConfirmLost`]: the connection was lost first; the message
///   may or may not have been routed, so publish it again;
/// - [`Error::ChannelClosed`]: the channel closed first;
/// - [`Error::ConfirmTimeout`]: the confirm timeout
///   ([`ConnectionBuilder::confirm_timeout`](super::ConnectionBuilder::confirm_timeout),
///   [`PublishOptions::confirm_timeout`](super::PublishOptions::confirm_timeout))
///   passed first.
///
/// Dropping it does not cancel the publish.
#[must_use = "a confirm tells whether the broker took the message"]
pub struct Confirm {
    /// What it waits on; `None` once resolved, or for a publish outside
    /// confirm mode.
    pending: Option<Pending>,
    /// The confirm timeout, started at the publish (on the heap: most
    /// publishes have none, and the future stays small).
    timer: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
}

/// A confirm's cell, and where its publish sits in the publish queue (to
/// wake a lazily parked driver while it is still queued).
struct Pending {
    cell: Arc<ConfirmCell>,
    queue: Arc<PublishQueue>,
    position: u64,
}

impl std::fmt::Debug for Confirm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirm")
            .field("pending", &self.pending.is_some())
            .finish()
    }
}

impl Confirm {
    pub(crate) fn ready() -> Self {
        Confirm {
            pending: None,
            timer: None,
        }
    }

    /// Waits on `cell`, for the publish queued at `position`.
    pub(crate) fn pending(queue: Arc<PublishQueue>, cell: Arc<ConfirmCell>, position: u64) -> Self {
        Confirm {
            pending: Some(Pending {
                cell,
                queue,
                position,
            }),
            timer: None,
        }
    }

    /// Fails the confirm with [`Error::ConfirmTimeout`] once `after`
    /// passes without the broker's verdict.
    pub(crate) fn with_timeout(mut self, after: Option<Duration>) -> Self {
        if let (Some(after), Some(_)) = (after, &self.pending) {
            self.timer = Some((after, Box::pin(tokio::time::sleep(after))));
        }
        self
    }
}

impl Future for Confirm {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let Some(p) = &self.pending else {
            return Poll::Ready(Ok(()));
        };
        match p.cell.poll(cx) {
            Poll::Pending => p.queue.wake_if_queued(p.position),
            Poll::Ready(r) => {
                if let Some(p) = self.pending.take() {
                    ConfirmCell::recycle(p.cell);
                }
                self.timer = None;
                return Poll::Ready(r);
            }
        }
        let Some((after, sleep)) = self.timer.as_mut() else {
            return Poll::Pending;
        };
        let after = *after;
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        // The publish stays with the driver; its verdict, when it comes,
        // reaches nobody.
        self.timer = None;
        self.pending = None;
        Poll::Ready(Err(Error::ConfirmTimeout { after }))
    }
}

impl Drop for Confirm {
    fn drop(&mut self) {
        // Settled and never awaited: the cell can serve again.
        if let Some(p) = self.pending.take() {
            ConfirmCell::recycle(p.cell);
        }
    }
}
