//! The channel handle: declares, binds, publishes, consumers, modes.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use amqp_proto::method::{basic, confirm, exchange, queue, tx};
use amqp_proto::{BasicProperties, CommandError, FieldTable, Method, ShortStr};
use bytes::Bytes;
use tokio::sync::oneshot;

use super::batch_queue::Refused;
use super::command::{ChannelShared, Control, RpcReply};
use super::confirm::Confirm;
use super::consumer::{Consumer, ConsumerShared, Delivery};
use super::error::{Error, Result};
use super::handles::Handles;
use super::options::{
    ConsumeOptions, ExchangeKind, ExchangeOptions, PublishOptions, QueueDeleteOptions, QueueOptions,
};
use super::publish_queue::{Queued, Request};

/// BasicProperties travel boxed, and the default ones not at all (they are
/// most of a publish's size, and publishes are moved between queues).
fn boxed(properties: BasicProperties) -> Option<Box<BasicProperties>> {
    // A flag per field: no flag, no field (cheaper than comparing with a
    // default value field by field).
    (properties.flags() != 0).then(|| Box::new(properties))
}

/// A declared queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    name: String,
    /// Ready messages at declare time.
    pub message_count: u32,
    /// Consumers at declare time.
    pub consumer_count: u32,
}

impl Queue {
    /// The queue's name (the server's choice for a server-named queue).
    pub fn name(&self) -> &str {
        &self.name
    }
}

pub(crate) struct ChannelInner {
    pub(crate) conn: Arc<Handles>,
    pub(crate) shared: Arc<ChannelShared>,
}

impl Drop for ChannelInner {
    fn drop(&mut self) {
        if self.shared.closed.get().is_none() {
            // Best effort: a full queue leaves the channel to the
            // connection's close.
            let _ = self.conn.commands.try_push(Control::CloseChannel {
                chan: self.shared.key,
                after: self.shared.published.load(Ordering::Acquire),
                reply: None,
            });
        }
    }
}

/// An AMQP channel. `Clone + Send + Sync`: clones share the channel, and
/// it closes when the last clone (and every consumer and delivery of it)
/// is dropped, or on [`close`](Self::close).
///
/// Commands keep their order per channel: a request issued after a
/// publish goes out after it. Every async method can be dropped or put
/// under `tokio::time::timeout` without harm: the command still completes
/// in the driver and its answer is discarded. A default operation timeout
/// applies to every request.
#[derive(Clone)]
pub struct Channel {
    pub(crate) inner: Arc<ChannelInner>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("connection", &self.inner.conn.state.label)
            .field("key", &self.inner.shared.key)
            .field("open", &self.is_open())
            .finish()
    }
}

fn short(what: &'static str, s: &str) -> Result<ShortStr> {
    ShortStr::try_from(s)
        .map_err(|e| Error::Command(CommandError::StringTooLong { what, len: e.len }))
}

fn reply_method(r: RpcReply) -> Result<Method> {
    match r {
        RpcReply::Method(m) => Ok(m),
        _ => Err(Error::Usage("unexpected reply")),
    }
}

impl Channel {
    pub(crate) fn new(conn: Arc<Handles>, shared: Arc<ChannelShared>) -> Self {
        Channel {
            inner: Arc::new(ChannelInner { conn, shared }),
        }
    }

    pub(crate) fn handles(&self) -> &Arc<Handles> {
        &self.inner.conn
    }

    pub(crate) fn key(&self) -> u32 {
        self.inner.shared.key
    }

    /// Whether the channel is usable (not closed by the server or the
    /// application). A channel stays usable across recovery.
    pub fn is_open(&self) -> bool {
        self.inner.shared.closed.get().is_none()
    }

    /// Whether confirm.select succeeded on this channel.
    pub fn is_confirm_mode(&self) -> bool {
        self.inner.shared.confirm_mode.load(Ordering::Acquire)
    }

    /// The messages the broker returns on this channel (a mandatory
    /// publish no queue took), in confirm mode or not. Returns that come
    /// while no stream is open are logged and dropped; a second call
    /// replaces the first stream.
    ///
    /// ```no_run
    /// # async fn f(ch: mq_client::amqp::Channel) -> Result<(), mq_client::amqp::Error> {
    /// use mq_client::StreamExt;
    /// use mq_client::amqp::{BasicProperties, PublishOptions};
    /// let mut returns = ch.returns();
    /// ch.publish_with("", "no-such-queue", &b"hi"[..], BasicProperties::default(), PublishOptions::mandatory())
    ///     .await?;
    /// if let Some(r) = returns.next().await {
    ///     println!("{} {}: {} bytes", r.reply_code, r.reply_text(), r.body_ref().len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn returns(&self) -> super::Returns {
        self.inner.shared.returns.subscribe()
    }

    /// Why the channel closed, if it did.
    pub fn close_reason(&self) -> Option<Error> {
        self.inner.shared.closed.get().cloned()
    }

    fn check(&self) -> Result<()> {
        match self.inner.shared.closed.get() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    pub(crate) fn after(&self) -> u64 {
        self.inner.shared.published.load(Ordering::Acquire)
    }

    async fn rpc(&self, operation: &'static str, method: Method) -> Result<RpcReply> {
        self.check()?;
        let (tx, rx) = oneshot::channel();
        let cmd = Control::Rpc {
            chan: self.key(),
            after: self.after(),
            method: Box::new(method),
            reply: tx,
        };
        self.inner.conn.call(operation, cmd, rx).await
    }

    /// Declares an exchange of any type, with arguments.
    pub async fn exchange_declare(
        &self,
        name: &str,
        kind: ExchangeKind,
        options: ExchangeOptions,
    ) -> Result<()> {
        let m = exchange::Declare {
            ticket: 0,
            exchange: short("exchange", name)?,
            kind: short("exchange type", kind.as_str())?,
            passive: options.passive,
            durable: options.durable,
            auto_delete: options.auto_delete,
            internal: options.internal,
            nowait: false,
            arguments: options.arguments,
        };
        self.rpc("exchange.declare", m.into()).await.map(drop)
    }

    /// Deletes an exchange.
    pub async fn exchange_delete(&self, name: &str, if_unused: bool) -> Result<()> {
        let m = exchange::Delete {
            ticket: 0,
            exchange: short("exchange", name)?,
            if_unused,
            nowait: false,
        };
        self.rpc("exchange.delete", m.into()).await.map(drop)
    }

    /// Binds exchange `destination` to exchange `source`
    /// (exchange-to-exchange binding).
    pub async fn exchange_bind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<()> {
        let m = exchange::Bind {
            ticket: 0,
            destination: short("destination", destination)?,
            source: short("source", source)?,
            routing_key: short("routing key", routing_key)?,
            nowait: false,
            arguments,
        };
        self.rpc("exchange.bind", m.into()).await.map(drop)
    }

    /// Removes an exchange-to-exchange binding.
    pub async fn exchange_unbind(
        &self,
        destination: &str,
        source: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<()> {
        let m = exchange::Unbind {
            ticket: 0,
            destination: short("destination", destination)?,
            source: short("source", source)?,
            routing_key: short("routing key", routing_key)?,
            nowait: false,
            arguments,
        };
        self.rpc("exchange.unbind", m.into()).await.map(drop)
    }

    /// Declares a queue; an empty name asks the server for one.
    pub async fn queue_declare(&self, name: &str, options: QueueOptions) -> Result<Queue> {
        let m = queue::Declare {
            ticket: 0,
            queue: short("queue", name)?,
            passive: options.passive,
            durable: options.durable,
            exclusive: options.exclusive,
            auto_delete: options.auto_delete,
            nowait: false,
            arguments: options.arguments,
        };
        match reply_method(self.rpc("queue.declare", m.into()).await?)? {
            Method::QueueDeclareOk(ok) => Ok(Queue {
                name: ok.queue.to_string(),
                message_count: ok.message_count,
                consumer_count: ok.consumer_count,
            }),
            _ => Err(Error::Usage("unexpected reply to queue.declare")),
        }
    }

    /// Binds a queue to an exchange.
    pub async fn queue_bind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<()> {
        let m = queue::Bind {
            ticket: 0,
            queue: short("queue", queue)?,
            exchange: short("exchange", exchange)?,
            routing_key: short("routing key", routing_key)?,
            nowait: false,
            arguments,
        };
        self.rpc("queue.bind", m.into()).await.map(drop)
    }

    /// Removes a queue binding.
    pub async fn queue_unbind(
        &self,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        arguments: FieldTable,
    ) -> Result<()> {
        let m = queue::Unbind {
            ticket: 0,
            queue: short("queue", queue)?,
            exchange: short("exchange", exchange)?,
            routing_key: short("routing key", routing_key)?,
            arguments,
        };
        self.rpc("queue.unbind", m.into()).await.map(drop)
    }

    /// Removes every ready message; returns how many.
    pub async fn queue_purge(&self, queue: &str) -> Result<u32> {
        let m = queue::Purge {
            ticket: 0,
            queue: short("queue", queue)?,
            nowait: false,
        };
        match reply_method(self.rpc("queue.purge", m.into()).await?)? {
            Method::QueuePurgeOk(ok) => Ok(ok.message_count),
            _ => Err(Error::Usage("unexpected reply to queue.purge")),
        }
    }

    /// Deletes a queue; returns how many messages it had.
    pub async fn queue_delete(&self, queue: &str, options: QueueDeleteOptions) -> Result<u32> {
        let m = queue::Delete {
            ticket: 0,
            queue: short("queue", queue)?,
            if_unused: options.if_unused,
            if_empty: options.if_empty,
            nowait: false,
        };
        match reply_method(self.rpc("queue.delete", m.into()).await?)? {
            Method::QueueDeleteOk(ok) => Ok(ok.message_count),
            _ => Err(Error::Usage("unexpected reply to queue.delete")),
        }
    }

    /// Sets the prefetch: unacked deliveries per consumer (`global`
    /// false) or for the channel (`global` true). Restored on recovery.
    pub async fn basic_qos(&self, prefetch_count: u16, global: bool) -> Result<()> {
        let m = basic::Qos {
            prefetch_size: 0,
            prefetch_count,
            global,
        };
        self.rpc("basic.qos", m.into()).await.map(drop)
    }

    /// Turns on publisher confirms: from here on every publish returns a
    /// [`Confirm`] that the broker's ack, nack or return resolves.
    /// Restored on recovery.
    pub async fn confirm_select(&self) -> Result<()> {
        let m = confirm::Select { nowait: false };
        self.rpc("confirm.select", m.into()).await.map(drop)
    }

    /// Starts a transaction mode (tx.select).
    pub async fn tx_select(&self) -> Result<()> {
        self.rpc("tx.select", tx::Select {}.into()).await.map(drop)
    }

    /// Commits the publishes and acks since the last commit.
    pub async fn tx_commit(&self) -> Result<()> {
        self.rpc("tx.commit", tx::Commit {}.into()).await.map(drop)
    }

    /// Discards the publishes and acks since the last commit.
    pub async fn tx_rollback(&self) -> Result<()> {
        self.rpc("tx.rollback", tx::Rollback {}.into())
            .await
            .map(drop)
    }

    /// Asks the broker to redeliver this channel's unacked messages
    /// (RabbitMQ supports only `requeue = true`).
    pub async fn basic_recover(&self, requeue: bool) -> Result<()> {
        self.rpc("basic.recover", basic::Recover { requeue }.into())
            .await
            .map(drop)
    }

    /// Fetches one message, or `None` if the queue is empty.
    pub async fn basic_get(&self, queue: &str, no_ack: bool) -> Result<Option<Delivery>> {
        let m = basic::Get {
            ticket: 0,
            queue: short("queue", queue)?,
            no_ack,
        };
        let generation = self.inner.conn.state.generation();
        match self.rpc("basic.get", m.into()).await? {
            RpcReply::Get(msg) => Ok(Some(Delivery::from_get(
                *msg,
                self.clone(),
                generation,
                no_ack,
            ))),
            RpcReply::GetEmpty => Ok(None),
            RpcReply::Method(_) => Err(Error::Usage("unexpected reply to basic.get")),
        }
    }

    /// Cancels a consumer by tag (see also [`Consumer::cancel`]).
    pub async fn basic_cancel(&self, consumer_tag: &str) -> Result<()> {
        self.check()?;
        let (tx, rx) = oneshot::channel();
        let cmd = Control::Cancel {
            chan: self.key(),
            tag: consumer_tag.to_owned(),
            requeue: true,
            reply: Some(tx),
        };
        self.inner.conn.call("basic.cancel", cmd, rx).await
    }

    /// Publishes a message (not mandatory). See
    /// [`publish_with`](Self::publish_with).
    pub fn publish<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        body: impl Into<Bytes>,
        properties: BasicProperties,
    ) -> impl Future<Output = Result<Confirm>> + Send + 'a {
        self.publish_with(
            exchange,
            routing_key,
            body,
            properties,
            PublishOptions::default(),
        )
    }

    /// Publishes a message. Returns once the driver's publish queue took
    /// it: while the broker blocks publishing (connection.blocked) or too
    /// many bytes wait to be written, this waits, up to the operation
    /// timeout ([`Error::Blocked`] or [`Error::Timeout`] then). The body
    /// is not copied until it is framed.
    ///
    /// In confirm mode the returned [`Confirm`] resolves to the broker's
    /// verdict; otherwise it is ready at once.
    ///
    /// Like any future, it does nothing until polled: nothing is queued
    /// by the call itself.
    pub fn publish_with<'a>(
        &'a self,
        exchange: &'a str,
        routing_key: &'a str,
        body: impl Into<Bytes>,
        properties: BasicProperties,
        options: PublishOptions,
    ) -> impl Future<Output = Result<Confirm>> + Send + 'a {
        // Converted here, before the future exists (pure conversions, no
        // effect): the future then holds a pointer rather than the
        // properties, and is moved and polled once per publish.
        let properties = boxed(properties);
        let body = body.into();
        self.publish_boxed(exchange, routing_key, body, properties, options)
    }

    async fn publish_boxed(
        &self,
        exchange: &str,
        routing_key: &str,
        body: Bytes,
        properties: Option<Box<BasicProperties>>,
        options: PublishOptions,
    ) -> Result<Confirm> {
        self.check()?;
        if exchange.len() > ShortStr::MAX_LEN {
            return Err(Error::Command(CommandError::StringTooLong {
                what: "exchange",
                len: exchange.len(),
            }));
        }
        if routing_key.len() > ShortStr::MAX_LEN {
            return Err(Error::Command(CommandError::StringTooLong {
                what: "routing key",
                len: routing_key.len(),
            }));
        }
        let conn = &self.inner.conn;
        let mut request = Some(Request {
            chan: self.key(),
            exchange,
            routing_key,
            mandatory: options.mandatory,
            properties,
            body,
            confirm: self.is_confirm_mode(),
            published: &self.inner.shared.published,
        });
        let queued = match conn.publish_queue.try_push(&mut request) {
            Ok(n) => n,
            // The wait and its timer live on the heap: the common case
            // (room in the queue) keeps the future small.
            Err(Refused::Full) => Box::pin(self.push_waiting(&mut request)).await?,
            Err(Refused::Closed) => return Err(conn.state.gone()),
        };
        Ok(match queued {
            Some((cell, position)) => Confirm::pending(conn.publish_queue.clone(), cell, position)
                .with_timeout(options.confirm_timeout.or(conn.confirm_timeout)),
            None => Confirm::ready(),
        })
    }

    /// Waits for room in the full publish queue, up to the operation
    /// timeout.
    async fn push_waiting(&self, request: &mut Option<Request<'_>>) -> Result<Queued> {
        let conn = &self.inner.conn;
        let limit = conn.operation_timeout;
        match tokio::time::timeout(limit, conn.publish_queue.push(request)).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(_)) => Err(conn.state.gone()),
            Err(_) => Err(match conn.state.blocked_reason() {
                Some(reason) => Error::Blocked { reason },
                None => Error::Timeout {
                    operation: "basic.publish",
                    after: limit,
                },
            }),
        }
    }

    /// Starts a consumer: a `Stream` of deliveries. With a prefetch set
    /// (the default is 100), basic.qos goes first and the consumer's queue
    /// in the client holds that many; the driver holds any excess and
    /// stops reading the socket past a limit.
    pub async fn consume(&self, queue: &str, options: ConsumeOptions) -> Result<Consumer> {
        self.check()?;
        let capacity = match options.prefetch {
            Some(n) if n > 0 => usize::from(n),
            _ => 1024,
        };
        let no_ack = options.no_ack;
        let (dtx, drx) = super::delivery_queue::delivery_queue(capacity);
        let (tx, rx) = oneshot::channel();
        let stream = Arc::new(AtomicBool::new(false));
        let cmd = Control::Consume {
            chan: self.key(),
            after: self.after(),
            queue: queue.to_owned(),
            options: Box::new(options),
            deliveries: dtx,
            stream: stream.clone(),
            reply: tx,
        };
        let tag = self.inner.conn.call("basic.consume", cmd, rx).await?;
        Ok(Consumer::new(
            drx,
            self.clone(),
            Arc::new(ConsumerShared::new(tag, stream)),
            no_ack,
        ))
    }

    /// Closes the channel (after the publishes queued before this call).
    pub async fn close(&self) -> Result<()> {
        if self.inner.shared.closed.get().is_some() {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        let cmd = Control::CloseChannel {
            chan: self.key(),
            after: self.after(),
            reply: Some(tx),
        };
        match self.inner.conn.call("channel.close", cmd, rx).await {
            Ok(()) | Err(Error::ChannelClosed { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
