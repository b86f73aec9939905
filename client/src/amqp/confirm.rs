//! Publisher confirms: the future a publish returns, and the bookkeeping
//! the driver settles them in.
//!
//! A publish in confirm mode takes the next publish number of its
//! connection (in the [`PublishQueue`], under the lock that queues it); its
//! [`Confirm`] holds the publish queue and that number. The driver settles
//! numbers as the broker's acks and nacks come in, collecting the wakers
//! of the confirms that wait, and wakes them once per turn, after its
//! writes: no allocation per publish, one lock per ack frame, one wake-up
//! per batch of confirms.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

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
    /// The publish queue and the publish number; `None` once resolved, or for a
    /// publish outside confirm mode.
    pending: Option<(Arc<PublishQueue>, u64)>,
    /// The confirm timeout, started at the publish (on the heap: most
    /// publishes have none, and the future stays small).
    timer: Option<(Duration, Pin<Box<tokio::time::Sleep>>)>,
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
        Confirm {
            pending: None,
            timer: None,
        }
    }

    pub(crate) fn pending(publish_queue: Arc<PublishQueue>, number: u64) -> Self {
        Confirm {
            pending: Some((publish_queue, number)),
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
        let Some((publish_queue, number)) = &self.pending else {
            return Poll::Ready(Ok(()));
        };
        match publish_queue.poll_confirm(*number, cx) {
            Poll::Pending => {}
            Poll::Ready(r) => {
                self.pending = None;
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
        self.timer = None;
        if let Some((publish_queue, number)) = self.pending.take() {
            publish_queue.forget_confirm(number);
        }
        Poll::Ready(Err(Error::ConfirmTimeout { after }))
    }
}

impl Drop for Confirm {
    fn drop(&mut self) {
        if let Some((publish_queue, number)) = self.pending.take() {
            publish_queue.forget_confirm(number);
        }
    }
}
