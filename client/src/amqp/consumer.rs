//! Consumers (a `Stream` of deliveries) and deliveries with their acks.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use super::batch_queue::PushError;
use amqp_proto::{BasicProperties, GetMessage, ShortStr};
use bytes::Bytes;
use futures_core::Stream;
use tokio::sync::oneshot;

use super::channel::Channel;
use super::command::{ConsumerMsg, Control, Settle};
use super::delivery_queue::DeliveryReceiver;
use super::error::{Error, Result};

/// What a consumer's handles and deliveries share.
#[derive(Debug)]
pub(crate) struct ConsumerShared {
    tag: String,
    /// Cancelled by the application: its unsettled deliveries went back to
    /// the queue.
    cancelled: AtomicBool,
    /// Set by the driver once the consumer is known to read a stream
    /// queue, before it hands over the first delivery.
    stream: Arc<AtomicBool>,
}

impl ConsumerShared {
    pub(crate) fn new(tag: String, stream: Arc<AtomicBool>) -> Self {
        ConsumerShared {
            tag,
            cancelled: AtomicBool::new(false),
            stream,
        }
    }
}

/// A consumer: a `futures::Stream` of [`Delivery`]s.
///
/// The stream survives recovery (the consumer is re-subscribed under the
/// same tag). It ends with an error item when the server cancels the
/// consumer ([`Error::ConsumerCancelled`]), the channel closes
/// ([`Error::ChannelClosed`]) or the connection closes for good, and
/// without one after [`cancel`](Self::cancel).
///
/// Dropping it (or cancelling it) cancels the consumer and sends every
/// delivery it got that was not yet acked, nacked or rejected back to the
/// queue; such deliveries can no longer be settled
/// ([`Error::StaleDelivery`]). On a stream queue, which keeps every
/// message and refuses rejects, they are acked instead.
pub struct Consumer {
    rx: DeliveryReceiver<ConsumerMsg>,
    channel: Channel,
    shared: Arc<ConsumerShared>,
    no_ack: bool,
    done: bool,
}

impl fmt::Debug for Consumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("tag", &self.shared.tag)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    pub(crate) fn new(
        rx: DeliveryReceiver<ConsumerMsg>,
        channel: Channel,
        shared: Arc<ConsumerShared>,
        no_ack: bool,
    ) -> Self {
        Consumer {
            rx,
            channel,
            shared,
            no_ack,
            done: false,
        }
    }

    /// The consumer tag.
    pub fn tag(&self) -> &str {
        &self.shared.tag
    }

    /// The channel it consumes on.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Cancels the consumer and waits for the broker's cancel-ok. What it
    /// got and nobody settled goes back to the queue.
    pub async fn cancel(mut self) -> Result<()> {
        self.done = true;
        self.shared.cancelled.store(true, Ordering::Release);
        let (tx, rx) = oneshot::channel();
        let cmd = Control::Cancel {
            chan: self.channel.key(),
            tag: self.shared.tag.clone(),
            requeue: true,
            reply: Some(tx),
        };
        self.channel.handles().call("basic.cancel", cmd, rx).await
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.shared.cancelled.store(true, Ordering::Release);
        // If the queue is full, the driver cancels the consumer when it
        // finds the stream gone.
        let _ = self.channel.handles().commands.try_push(Control::Cancel {
            chan: self.channel.key(),
            tag: self.shared.tag.clone(),
            requeue: true,
            reply: None,
        });
    }
}

impl Stream for Consumer {
    type Item = Result<Delivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Delivery>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut took_batch = false;
        let msg = self.rx.poll_recv(cx, &mut took_batch);
        if took_batch {
            self.channel.handles().state.made_room();
        }
        match msg {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(ConsumerMsg::Delivery(d, generation))) => {
                let this = &*self;
                Poll::Ready(Some(Ok(Delivery {
                    inner: Inner::Deliver(d),
                    channel: this.channel.clone(),
                    consumer: Some(this.shared.clone()),
                    generation,
                    no_ack: this.no_ack,
                })))
            }
            Poll::Ready(Some(ConsumerMsg::End(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(ConsumerMsg::Finished)) | Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
        }
    }
}

#[derive(Clone)]
enum Inner {
    Deliver(amqp_proto::Delivery),
    Get(GetMessage),
}

/// A message from a consumer or from [`Channel::basic_get`]. The body and
/// strings are zero-copy slices of the read buffer.
#[derive(Clone)]
pub struct Delivery {
    inner: Inner,
    channel: Channel,
    consumer: Option<Arc<ConsumerShared>>,
    generation: u64,
    no_ack: bool,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("delivery_tag", &self.delivery_tag())
            .field("redelivered", &self.redelivered())
            .field("exchange", &self.exchange())
            .field("routing_key", &self.routing_key())
            .field("body_len", &self.body_ref().len())
            .finish_non_exhaustive()
    }
}

impl Delivery {
    pub(crate) fn from_get(m: GetMessage, channel: Channel, generation: u64, no_ack: bool) -> Self {
        Delivery {
            inner: Inner::Get(m),
            channel,
            consumer: None,
            generation,
            no_ack,
        }
    }

    /// The body.
    pub fn body(&self) -> Bytes {
        match &self.inner {
            Inner::Deliver(d) => d.body(),
            Inner::Get(g) => g.body(),
        }
    }

    /// The body, borrowed.
    pub fn body_ref(&self) -> &[u8] {
        match &self.inner {
            Inner::Deliver(d) => d.body_ref(),
            Inner::Get(g) => g.body_ref(),
        }
    }

    /// The properties (headers, priority, correlation id, ...).
    pub fn properties(&self) -> BasicProperties {
        match &self.inner {
            Inner::Deliver(d) => d.properties(),
            Inner::Get(g) => g.properties(),
        }
    }

    /// Whether the broker delivered it before.
    pub fn redelivered(&self) -> bool {
        match &self.inner {
            Inner::Deliver(d) => d.redelivered,
            Inner::Get(g) => g.redelivered,
        }
    }

    /// The channel-scoped delivery tag.
    pub fn delivery_tag(&self) -> u64 {
        match &self.inner {
            Inner::Deliver(d) => d.delivery_tag,
            Inner::Get(g) => g.delivery_tag,
        }
    }

    /// The exchange it was published to.
    pub fn exchange(&self) -> ShortStr {
        match &self.inner {
            Inner::Deliver(d) => d.exchange(),
            Inner::Get(g) => g.exchange(),
        }
    }

    /// The routing key it was published with.
    pub fn routing_key(&self) -> ShortStr {
        match &self.inner {
            Inner::Deliver(d) => d.routing_key(),
            Inner::Get(g) => g.routing_key(),
        }
    }

    /// The consumer tag (`None` for basic.get).
    pub fn consumer_tag(&self) -> Option<ShortStr> {
        match &self.inner {
            Inner::Deliver(d) => Some(d.consumer_tag()),
            Inner::Get(_) => None,
        }
    }

    /// Messages left in the queue (basic.get only).
    pub fn message_count(&self) -> Option<u32> {
        match &self.inner {
            Inner::Deliver(_) => None,
            Inner::Get(g) => Some(g.message_count),
        }
    }

    /// Acknowledges this delivery.
    ///
    /// [`Error::StaleDelivery`] if it came before a connection loss (the
    /// broker redelivers it) or its consumer was cancelled. Settling a
    /// delivery twice is harmless: the second is not sent.
    ///
    /// `Ok` means the ack was queued to the driver, not that the broker has
    /// it: an ack racing a connection loss (queued after this check, taken
    /// by the driver after the loss) is dropped, and the broker redelivers
    /// the message, as it does for every ack lost with a connection.
    pub async fn ack(&self) -> Result<()> {
        self.settle(false, Settle::Ack).await
    }

    /// Acknowledges this delivery and every earlier one on its channel.
    pub async fn ack_multiple(&self) -> Result<()> {
        self.settle(true, Settle::Ack).await
    }

    /// Rejects this delivery; `requeue` puts it back in the queue, else it
    /// is dead-lettered (or dropped).
    ///
    /// A delivery from a stream queue cannot be nacked or rejected: a
    /// stream keeps every message, and RabbitMQ does not support either
    /// there. That is [`Error::Usage`], and nothing is sent; ack it.
    pub async fn nack(&self, requeue: bool) -> Result<()> {
        self.settle(false, Settle::Nack { requeue }).await
    }

    /// basic.reject: like [`nack`](Self::nack), for one delivery.
    pub async fn reject(&self, requeue: bool) -> Result<()> {
        self.settle(false, Settle::Reject { requeue }).await
    }

    async fn settle(&self, multiple: bool, how: Settle) -> Result<()> {
        if self.no_ack {
            return Err(Error::Usage(
                "the delivery needs no ack (consumed with no_ack)",
            ));
        }
        if !matches!(how, Settle::Ack)
            && self
                .consumer
                .as_ref()
                .is_some_and(|c| c.stream.load(Ordering::Acquire))
        {
            return Err(Error::Usage(
                "a stream queue takes no nack or reject (it keeps every message); ack the delivery",
            ));
        }
        let handles = self.channel.handles();
        if self.generation != handles.state.generation()
            || self
                .consumer
                .as_ref()
                .is_some_and(|c| c.cancelled.load(Ordering::Acquire))
        {
            return Err(Error::StaleDelivery);
        }
        if let Some(e) = self.channel.close_reason() {
            return Err(e);
        }
        let cmd = Control::Settle {
            chan: self.channel.key(),
            generation: self.generation,
            delivery_tag: self.delivery_tag(),
            multiple,
            how,
        };
        match handles.commands.try_push(cmd) {
            Ok(()) => Ok(()),
            Err(PushError::Full(cmd)) => {
                let limit = handles.operation_timeout;
                match tokio::time::timeout(limit, handles.commands.push(cmd)).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(_)) => Err(handles.state.gone()),
                    Err(_) => Err(Error::Timeout {
                        operation: "basic.ack",
                        after: limit,
                    }),
                }
            }
            Err(PushError::Closed(_)) => Err(handles.state.gone()),
        }
    }
}
