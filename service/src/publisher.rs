//! Publishing: [`Publisher`] and the [`Publish`] builder it returns.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use mq_client::amqp::{self, BasicProperties, ExchangeKind, ExchangeOptions};
use mq_client::kafka::ProducerRecord;
use tokio::sync::Mutex;
use tracing::{Instrument, field};

use crate::bus::{Bus, Inner};
use crate::codec::Codec;
use crate::error::Error;
use crate::semconv;
use crate::trace::{self, TraceContext};

/// The message id header (Kafka; on RabbitMQ the `message_id` property
/// carries it, and the header too).
pub const MESSAGE_ID_HEADER: &str = "x-mq-message-id";
/// The key header on RabbitMQ, where a message has no key of its own: the
/// subscriber orders by it.
pub const KEY_HEADER: &str = "x-mq-key";
/// The content type header (Kafka; on RabbitMQ the `content_type`
/// property).
pub const CONTENT_TYPE_HEADER: &str = "content-type";

/// Publishes `T`s to one destination: a Kafka topic, or a RabbitMQ
/// exchange. Cheap to clone; clones share the RabbitMQ channel.
///
/// Every publish is confirmed before it returns: acks=all on Kafka, a
/// publisher confirm on RabbitMQ. It carries the codec's content type, a
/// message id and the W3C trace context.
pub struct Publisher<T, C> {
    bus: Bus,
    destination: Arc<str>,
    codec: Arc<C>,
    channel: Arc<Mutex<Option<amqp::Channel>>>,
    _payload: PhantomData<fn(&T)>,
}

impl<T, C> Clone for Publisher<T, C> {
    fn clone(&self) -> Self {
        Publisher {
            bus: self.bus.clone(),
            destination: self.destination.clone(),
            codec: self.codec.clone(),
            channel: self.channel.clone(),
            _payload: PhantomData,
        }
    }
}

impl<T, C> fmt::Debug for Publisher<T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("bus", &self.bus)
            .field("destination", &self.destination)
            .finish_non_exhaustive()
    }
}

/// Where a published message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Its message id.
    pub message_id: String,
    /// The trace context it carries (the send span's).
    pub trace_context: TraceContext,
    /// Kafka: the partition.
    pub partition: Option<i32>,
    /// Kafka: the offset.
    pub offset: Option<i64>,
}

impl<T, C: Codec<T>> Publisher<T, C> {
    pub(crate) fn new(bus: Bus, destination: &str, codec: C) -> Self {
        Publisher {
            bus,
            destination: destination.into(),
            codec: Arc::new(codec),
            channel: Arc::new(Mutex::new(None)),
            _payload: PhantomData,
        }
    }

    /// The destination.
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// Starts a publish of `value`; set options on the returned builder,
    /// then `.await` it.
    pub fn publish<'a>(&'a self, value: &'a T) -> Publish<'a, T, C> {
        Publish {
            publisher: self,
            value,
            key: None,
            headers: Vec::new(),
            options: None,
        }
    }

    /// The channel, opened (and the exchange declared) on first use, and
    /// opened again if the broker closed it.
    async fn channel(&self, bus: &crate::bus::AmqpBus) -> Result<amqp::Channel, Error> {
        if let Ok(slot) = self.channel.try_lock() {
            if let Some(ch) = slot.as_ref().filter(|c| c.is_open()) {
                return Ok(ch.clone());
            }
        }
        // Boxed: opening and declaring make a large future, which every
        // publish's future would otherwise carry (and be copied with).
        Box::pin(self.open_channel(bus)).await
    }

    async fn open_channel(&self, bus: &crate::bus::AmqpBus) -> Result<amqp::Channel, Error> {
        let mut slot = self.channel.lock().await;
        if let Some(ch) = slot.as_ref().filter(|c| c.is_open()) {
            return Ok(ch.clone());
        }
        let ch = bus.connection.open_channel().await?;
        if bus.declare {
            ch.exchange_declare(
                &self.destination,
                ExchangeKind::Topic,
                ExchangeOptions::durable(),
            )
            .await?;
        }
        ch.confirm_select().await?;
        *slot = Some(ch.clone());
        Ok(ch)
    }
}

/// One publish, built then awaited:
///
/// ```no_run
/// # async fn f(orders: mq_service::Publisher<String, mq_service::Json>) -> Result<(), mq_service::Error> {
/// let event = "created".to_owned();
/// let sent = orders.publish(&event).key("order-1").header("tenant", "acme").await?;
/// println!("{} {:?}", sent.message_id, sent.offset);
/// # Ok(()) }
/// ```
#[must_use = "a publish does nothing until awaited"]
pub struct Publish<'a, T, C> {
    publisher: &'a Publisher<T, C>,
    value: &'a T,
    key: Option<Bytes>,
    headers: Vec<(String, Bytes)>,
    /// The options most publishes leave unset, boxed: every publish's
    /// future holds the builder.
    options: Option<Box<PublishOptions>>,
}

/// A publish's less common options.
#[derive(Debug, Default)]
struct PublishOptions {
    trace: Option<TraceContext>,
    message_id: Option<String>,
    partition: Option<i32>,
    exchange: Option<String>,
    routing_key: Option<String>,
    properties: Option<BasicProperties>,
}

impl<T, C> fmt::Debug for Publish<'_, T, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publish")
            .field("destination", &self.publisher.destination)
            .field("key", &self.key)
            .field("headers", &self.headers)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<'a, T, C: Codec<T>> Publish<'a, T, C> {
    fn options_mut(&mut self) -> &mut PublishOptions {
        self.options.get_or_insert_with(Box::default)
    }

    fn option(&self) -> Option<&PublishOptions> {
        self.options.as_deref()
    }

    /// The key: the Kafka record key (it picks the partition); on RabbitMQ
    /// the `x-mq-key` header and, unless set otherwise, the routing key.
    /// Subscribers keep the order of messages of one key.
    pub fn key(mut self, key: impl AsRef<[u8]>) -> Self {
        self.key = Some(Bytes::copy_from_slice(key.as_ref()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.into(), Bytes::copy_from_slice(value.as_ref())));
        self
    }

    /// The trace context to continue (the default: the current one, see
    /// [`TraceContext::current`], else a new trace).
    pub fn trace_context(mut self, ctx: TraceContext) -> Self {
        self.options_mut().trace = Some(ctx);
        self
    }

    /// The message id (the default: 32 random hex digits).
    pub fn message_id(mut self, id: impl Into<String>) -> Self {
        self.options_mut().message_id = Some(id.into());
        self
    }

    /// Kafka: sends to this partition rather than the key's.
    pub fn partition(mut self, partition: i32) -> Self {
        self.options_mut().partition = Some(partition);
        self
    }

    /// RabbitMQ: publishes to this exchange rather than the destination.
    pub fn exchange(mut self, exchange: impl Into<String>) -> Self {
        self.options_mut().exchange = Some(exchange.into());
        self
    }

    /// RabbitMQ: the routing key (the default: the key, or empty).
    pub fn routing_key(mut self, routing_key: impl Into<String>) -> Self {
        self.options_mut().routing_key = Some(routing_key.into());
        self
    }

    /// RabbitMQ: base properties (priority, expiration, correlation id,
    /// headers...). The content type, message id, persistence and the
    /// trace headers are set over them.
    pub fn properties(mut self, properties: BasicProperties) -> Self {
        self.options_mut().properties = Some(properties);
        self
    }

    /// The publish. An `async move` block rather than an `async fn`: an
    /// `async fn` taking `self` keeps the builder twice in its future.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn would hold the builder twice in its future"
    )]
    fn send(self) -> impl Future<Output = Result<Published, Error>> + 'a {
        async move {
            let (body, ctx, message_id, span) = self.prepare()?;
            // Instrumented (and boxed) only when the span is on: the
            // common future stays small.
            let result = if span.is_disabled() {
                self.send_in_span(body, &ctx, &message_id, &span).await
            } else {
                Box::pin(
                    self.send_in_span(body, &ctx, &message_id, &span)
                        .instrument(span.clone()),
                )
                .await
            };
            if let Err(e) = &result {
                span.record(semconv::ERROR_TYPE, error_type(e));
            }
            result.map(|(partition, offset)| Published {
                message_id,
                trace_context: ctx,
                partition,
                offset,
            })
        }
    }

    /// Encodes the value and makes the trace context, the message id and
    /// the send span.
    fn prepare(&self) -> Result<(Vec<u8>, TraceContext, String, tracing::Span), Error> {
        let p = self.publisher;
        let body = p.codec.encode(self.value)?;
        let parent = self
            .option()
            .and_then(|o| o.trace.clone())
            .or_else(TraceContext::current);
        #[cfg_attr(not(feature = "otel"), allow(unused_mut))]
        let mut ctx = match &parent {
            Some(parent) => parent.child(),
            None => TraceContext::new_root(),
        };
        let message_id = self
            .option()
            .and_then(|o| o.message_id.clone())
            .or_else(|| {
                let id = self.option()?.properties.as_ref()?.message_id.as_ref()?;
                Some(id.to_string_lossy().into_owned())
            })
            .unwrap_or_else(random_id);
        let system = p.bus.system();
        let span = tracing::info_span!(
            "send",
            { semconv::OTEL_NAME } = format!("send {}", p.destination),
            { semconv::OTEL_KIND } = "producer",
            { semconv::MESSAGING_SYSTEM } = system,
            { semconv::MESSAGING_DESTINATION_NAME } = &*p.destination,
            { semconv::MESSAGING_OPERATION_NAME } = semconv::OPERATION_SEND,
            { semconv::MESSAGING_OPERATION_TYPE } = semconv::OPERATION_SEND,
            { semconv::MESSAGING_MESSAGE_ID } = message_id.as_str(),
            { semconv::MESSAGING_KAFKA_MESSAGE_KEY } = field::Empty,
            { semconv::MESSAGING_RABBITMQ_ROUTING_KEY } = field::Empty,
            { semconv::ERROR_TYPE } = field::Empty,
            trace_id = field::Empty,
            span_id = field::Empty,
        );
        #[cfg(feature = "otel")]
        if let Some(own) = crate::otel::join(&span, parent.as_ref()) {
            ctx = own;
        }
        if !span.is_disabled() {
            span.record("trace_id", ctx.trace_id_hex().as_str());
            span.record("span_id", ctx.span_id_hex().as_str());
        }
        Ok((body, ctx, message_id, span))
    }

    async fn send_in_span(
        &self,
        body: Vec<u8>,
        ctx: &TraceContext,
        message_id: &str,
        span: &tracing::Span,
    ) -> Result<(Option<i32>, Option<i64>), Error> {
        // One async fn per broker: a shared body would lay out both
        // brokers' locals side by side in every publish's future.
        match &*self.publisher.bus.inner {
            Inner::Kafka(k) => self.send_kafka(k, body, ctx, message_id, span).await,
            Inner::Amqp(a) => {
                self.send_amqp(a, body, ctx, message_id, span).await?;
                Ok((None, None))
            }
        }
    }

    async fn send_kafka(
        &self,
        k: &crate::bus::KafkaBus,
        body: Vec<u8>,
        ctx: &TraceContext,
        message_id: &str,
        span: &tracing::Span,
    ) -> Result<(Option<i32>, Option<i64>), Error> {
        let p = self.publisher;
        let o = self.option();
        for (set, option) in [
            (o.is_some_and(|o| o.exchange.is_some()), "exchange"),
            (o.is_some_and(|o| o.routing_key.is_some()), "routing_key"),
            (o.is_some_and(|o| o.properties.is_some()), "properties"),
        ] {
            if set {
                return Err(Error::WrongBroker {
                    option,
                    broker: "RabbitMQ",
                });
            }
        }
        if let Some(key) = self.key.as_deref() {
            span.record(
                semconv::MESSAGING_KAFKA_MESSAGE_KEY,
                &*String::from_utf8_lossy(key),
            );
        }
        let traceparent = ctx.traceparent_bytes();
        let traceparent = std::str::from_utf8(&traceparent).unwrap_or_default();
        let mut record = ProducerRecord::new(&p.destination).value(&body);
        record.key = self.key.as_deref();
        record.partition = o.and_then(|o| o.partition);
        let content_type = p.codec.content_type();
        record = record
            .header(CONTENT_TYPE_HEADER, Some(content_type))
            .header(MESSAGE_ID_HEADER, Some(message_id))
            .header(trace::TRACEPARENT, Some(traceparent));
        if let Some(state) = ctx.tracestate() {
            record = record.header(trace::TRACESTATE, Some(state));
        }
        for (k, v) in &self.headers {
            record = record.header(k, Some(v));
        }
        let producer = k.producer().await?;
        let (partition, offset) = producer.send(record).await?;
        Ok((Some(partition), Some(offset)))
    }

    async fn send_amqp(
        &self,
        a: &crate::bus::AmqpBus,
        body: Vec<u8>,
        ctx: &TraceContext,
        message_id: &str,
        span: &tracing::Span,
    ) -> Result<(), Error> {
        let p = self.publisher;
        let o = self.option();
        if o.is_some_and(|o| o.partition.is_some()) {
            return Err(Error::WrongBroker {
                option: "partition",
                broker: "Kafka",
            });
        }
        let exchange = o
            .and_then(|o| o.exchange.as_deref())
            .unwrap_or(&p.destination);
        let routing_key = match (o.and_then(|o| o.routing_key.as_ref()), &self.key) {
            (Some(rk), _) => rk.clone(),
            (None, Some(k)) => String::from_utf8_lossy(k).into_owned(),
            (None, None) => String::new(),
        };
        span.record(
            semconv::MESSAGING_RABBITMQ_ROUTING_KEY,
            routing_key.as_str(),
        );
        let ch = p.channel(a).await?;
        // Built after the channel's await and moved straight into the
        // publish, so the properties are not kept in this future too.
        let properties = self.amqp_properties(ctx, message_id)?;
        // A closed channel is opened again next time.
        let confirm = ch.publish(exchange, &routing_key, body, properties).await?;
        confirm.await?;
        Ok(())
    }

    /// The properties of an AMQP publish: the base ones, persistent, the
    /// codec's content type, the message id, and the headers (the trace
    /// context, the key, the publish's own).
    fn amqp_properties(
        &self,
        ctx: &TraceContext,
        message_id: &str,
    ) -> Result<BasicProperties, Error> {
        let base = self
            .option()
            .and_then(|o| o.properties.clone())
            .unwrap_or_default();
        let mut table = amqp::TableBuilder::with_capacity(256);
        if let Some(h) = &base.headers {
            for (k, v) in h.iter() {
                table.push(&k, v);
            }
        }
        let too_long = |k: &str| {
            Error::Codec(crate::error::CodecError::Encode(
                format!("header name {k:?} is over 255 bytes").into(),
            ))
        };
        // A UTF-8 value is written as a long string without a FieldValue
        // made first; anything else as a byte array.
        let mut put = |k: &str, v: &[u8]| {
            let done = match std::str::from_utf8(v) {
                Ok(s) => table.try_insert_str(k, s).map(|_| ()),
                Err(_) => table
                    .try_insert(k, amqp::FieldValue::Bytes(Bytes::copy_from_slice(v)))
                    .map(|_| ()),
            };
            done.map_err(|_| too_long(k))
        };
        put(MESSAGE_ID_HEADER, message_id.as_bytes())?;
        put(trace::TRACEPARENT, &ctx.traceparent_bytes())?;
        if let Some(state) = ctx.tracestate() {
            put(trace::TRACESTATE, state.as_bytes())?;
        }
        if let Some(key) = &self.key {
            put(KEY_HEADER, key)?;
        }
        for (k, v) in &self.headers {
            put(k, v)?;
        }
        let mut properties = base
            .persistent()
            .with_content_type(self.publisher.codec.content_type())
            .with_headers(table.build());
        if properties.message_id.is_none() && message_id.len() <= 255 {
            properties = properties.with_message_id(message_id);
        }
        Ok(properties)
    }
}

/// 32 random hex digits.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&crate::random::u64().to_be_bytes());
    bytes[8..].copy_from_slice(&crate::random::u64().to_be_bytes());
    trace::hex(&bytes)
}

/// A header value for AMQP: a string if it is UTF-8 (what other clients
/// expect), else a byte array.
pub(crate) fn field_value(v: &Bytes) -> amqp::FieldValue {
    match std::str::from_utf8(v) {
        Ok(s) => amqp::FieldValue::from(s),
        Err(_) => amqp::FieldValue::Bytes(v.clone()),
    }
}

/// The `error.type` of a failed publish.
fn error_type(e: &Error) -> &'static str {
    match e {
        Error::Amqp(_) => "amqp",
        Error::Kafka(_) => "kafka",
        Error::Codec(c) => c.kind(),
        Error::WrongBroker { .. } => "wrong_broker",
        Error::Config { .. } => "config",
        Error::Task(_) => "task",
    }
}

impl<'a, T: Sync, C: Codec<T>> IntoFuture for Publish<'a, T, C> {
    type Output = Result<Published, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
