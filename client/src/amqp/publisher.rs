//! A publisher that keeps at most N publishes unconfirmed.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;

use amqp_proto::BasicProperties;
use bytes::Bytes;

use super::channel::Channel;
use super::confirm::Confirm;
use super::error::Error;
use super::options::PublishOptions;

/// A publish the broker did not take, with the tag it was published with.
#[derive(Debug)]
pub struct Unconfirmed<T> {
    /// The caller's tag for the publish (an id, or the message itself to
    /// publish again).
    pub tag: T,
    /// Why: [`Error::Nacked`], [`Error::Returned`], [`Error::ConfirmLost`],
    /// [`Error::ConfirmTimeout`], [`Error::ChannelClosed`], ...
    pub error: Error,
}

impl<T> std::fmt::Display for Unconfirmed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a publish was not confirmed: {}", self.error)
    }
}

impl<T: std::fmt::Debug> std::error::Error for Unconfirmed<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Publishes with publisher confirms, keeping at most a fixed number
/// unconfirmed: a publish that would pass the limit first waits for the
/// oldest confirm. Made by [`Channel::publisher`].
///
/// Each publish carries a tag of the caller's (`T`: an id, or the message
/// itself), handed back with the error of a publish the broker did not
/// take, so it can be published again. Confirms are checked in publish
/// order; the first failure is reported by the call that finds it, and
/// the calls after it go on with the rest.
///
/// ```no_run
/// # async fn f(ch: mq_client::amqp::Channel) -> Result<(), mq_client::amqp::Unconfirmed<u64>> {
/// use mq_client::amqp::BasicProperties;
/// let mut publisher = ch.publisher::<u64>(1000).await.map_err(|error| {
///     mq_client::amqp::Unconfirmed { tag: 0, error }
/// })?;
/// for id in 0..100_000u64 {
///     publisher.publish(id, "", "orders", id.to_string(), BasicProperties::default()).await?;
/// }
/// publisher.flush().await?; // every publish confirmed
/// # Ok(()) }
/// ```
///
/// Every method is safe to cancel: a confirm leaves the window only once
/// it resolved, and a publish is in the window once it was queued.
#[derive(Debug)]
pub struct Publisher<T = ()> {
    channel: Channel,
    limit: usize,
    window: VecDeque<(T, Confirm)>,
}

impl<T> Publisher<T> {
    pub(crate) fn new(channel: Channel, limit: usize) -> Self {
        let limit = limit.max(1);
        Publisher {
            channel,
            limit,
            window: VecDeque::with_capacity(limit.min(4096)),
        }
    }

    /// The channel it publishes on.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes not yet confirmed (or not yet seen confirmed): never more
    /// than the limit.
    pub fn in_flight(&self) -> usize {
        self.window.len()
    }

    /// The most publishes kept unconfirmed.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Publishes a message (not mandatory). See
    /// [`publish_with`](Self::publish_with).
    pub async fn publish(
        &mut self,
        tag: T,
        exchange: &str,
        routing_key: &str,
        body: impl Into<Bytes>,
        properties: BasicProperties,
    ) -> Result<(), Unconfirmed<T>> {
        self.publish_with(
            tag,
            exchange,
            routing_key,
            body,
            properties,
            PublishOptions::default(),
        )
        .await
    }

    /// Publishes a message once fewer than the limit are unconfirmed.
    ///
    /// `Err` with this publish's tag if it could not be queued (the
    /// channel closed, ...), or with an earlier publish's tag if the
    /// confirm it waited for failed: this message is then not published
    /// (call again to publish it).
    pub async fn publish_with(
        &mut self,
        tag: T,
        exchange: &str,
        routing_key: &str,
        body: impl Into<Bytes>,
        properties: BasicProperties,
        options: PublishOptions,
    ) -> Result<(), Unconfirmed<T>> {
        while self.window.len() >= self.limit {
            self.settle_oldest().await?;
        }
        match self
            .channel
            .publish_with(exchange, routing_key, body, properties, options)
            .await
        {
            Ok(confirm) => {
                self.window.push_back((tag, confirm));
                Ok(())
            }
            Err(error) => Err(Unconfirmed { tag, error }),
        }
    }

    /// Waits until every publish so far is confirmed; the first that
    /// failed ends the wait (call again for the rest).
    pub async fn flush(&mut self) -> Result<(), Unconfirmed<T>> {
        while !self.window.is_empty() {
            self.settle_oldest().await?;
        }
        Ok(())
    }

    /// Waits for the oldest confirm and takes it out of the window.
    async fn settle_oldest(&mut self) -> Result<(), Unconfirmed<T>> {
        let result = poll_fn(|cx| match self.window.front_mut() {
            Some((_, confirm)) => Pin::new(confirm).poll(cx),
            None => std::task::Poll::Ready(Ok(())),
        })
        .await;
        let Some((tag, _)) = self.window.pop_front() else {
            return Ok(());
        };
        result.map_err(|error| Unconfirmed { tag, error })
    }
}

impl Channel {
    /// A [`Publisher`] on this channel that keeps at most `max_in_flight`
    /// publishes unconfirmed (at least one). Turns confirm mode on if it
    /// is not on yet.
    pub async fn publisher<T>(&self, max_in_flight: usize) -> Result<Publisher<T>, Error> {
        if !self.is_confirm_mode() {
            self.confirm_select().await?;
        }
        Ok(Publisher::new(self.clone(), max_in_flight))
    }
}
