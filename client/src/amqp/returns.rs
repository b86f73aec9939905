//! Returned messages: the stream of a channel's basic.return, whether
//! or not the channel is in confirm mode.

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use amqp_proto::Returned;
use futures_core::Stream;
use tokio::sync::mpsc;

use super::batch_queue::lock;

/// Returned messages a [`Returns`] stream holds before the driver drops
/// further ones (with a warning in the log).
pub(crate) const RETURNS_CAPACITY: usize = 1024;

/// A `futures::Stream` of the messages the broker returned on one channel
/// (basic.return: a mandatory publish that no queue took), with their
/// reply code, exchange, routing key, properties and body. Made by
/// [`Channel::returns`](super::Channel::returns).
///
/// Every returned message comes here, in confirm mode too (where its
/// [`Confirm`](super::Confirm) also fails with
/// [`Error::Returned`](super::Error::Returned)). The stream ends when the
/// channel closes. It holds up to 1024 messages: the driver never waits
/// for a reader, so past that it logs each message it cannot hand over
/// and drops it.
#[derive(Debug)]
pub struct Returns {
    rx: mpsc::Receiver<Returned>,
}

impl Stream for Returns {
    type Item = Returned;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Returned>> {
        self.rx.poll_recv(cx)
    }
}

/// The channel's end of its returns stream, shared with the driver.
#[derive(Debug, Default)]
pub(crate) struct ReturnsSender(Mutex<Option<mpsc::Sender<Returned>>>);

impl ReturnsSender {
    /// A new stream; one made before stops receiving.
    pub(crate) fn subscribe(&self) -> Returns {
        let (tx, rx) = mpsc::channel(RETURNS_CAPACITY);
        *lock(&self.0) = Some(tx);
        Returns { rx }
    }

    /// Hands a returned message to the stream. `Err` gives it back when
    /// nobody reads returns, or the stream is full.
    pub(crate) fn send(&self, r: Returned) -> Result<(), Returned> {
        let mut slot = lock(&self.0);
        let Some(tx) = slot.as_ref() else {
            return Err(r);
        };
        match tx.try_send(r) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(r)) => Err(r),
            Err(mpsc::error::TrySendError::Closed(r)) => {
                *slot = None;
                Err(r)
            }
        }
    }

    /// Whether a stream is open.
    pub(crate) fn is_subscribed(&self) -> bool {
        lock(&self.0).as_ref().is_some_and(|tx| !tx.is_closed())
    }

    /// The channel is gone: the stream ends.
    pub(crate) fn close(&self) {
        *lock(&self.0) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn nobody_subscribed_gives_the_message_back_and_close_ends_the_stream() {
        let s = ReturnsSender::default();
        assert!(!s.is_subscribed());
        let mut returns = s.subscribe();
        assert!(s.is_subscribed());
        s.close();
        assert!(!s.is_subscribed());
        assert!(returns.next().await.is_none());
        drop(s.subscribe());
        assert!(!s.is_subscribed(), "a dropped stream is not a subscriber");
    }
}
