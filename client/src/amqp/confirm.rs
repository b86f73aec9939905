//! The future a publish returns: resolved by the broker's confirm.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

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
#[derive(Debug)]
#[must_use = "a confirm tells whether the broker took the message"]
pub struct Confirm {
    rx: Option<oneshot::Receiver<Result<()>>>,
}

impl Confirm {
    pub(crate) fn ready() -> Self {
        Confirm { rx: None }
    }

    pub(crate) fn pending(rx: oneshot::Receiver<Result<()>>) -> Self {
        Confirm { rx: Some(rx) }
    }
}

impl Future for Confirm {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match &mut self.rx {
            None => Poll::Ready(Ok(())),
            Some(rx) => match Pin::new(rx).poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(r)) => Poll::Ready(r),
                Poll::Ready(Err(_)) => Poll::Ready(Err(Error::ConfirmLost)),
            },
        }
    }
}
