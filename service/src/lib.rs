//! Service messaging over RabbitMQ and Kafka, on `mq-client`'s public API:
//! one publisher/subscriber API for both brokers, with the practices
//! services otherwise write by hand.
//!
//! ```no_run
//! use std::time::Duration;
//! use mq_service::{Backoff, Bus, HandlerError, Json, Message};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct OrderEvent { order_id: String, amount: i64 }
//!
//! async fn bill(order: &OrderEvent) -> Result<(), HandlerError> {
//!     if order.amount < 0 {
//!         return Err(HandlerError::permanent("negative amount"));
//!     }
//!     Ok(())
//! }
//!
//! # async fn demo() -> Result<(), mq_service::Error> {
//! let bus = Bus::kafka("127.0.0.1:9092"); // or Bus::amqp(connection)
//! let orders = bus.publisher::<OrderEvent, Json>("orders");
//! let event = OrderEvent { order_id: "o-1".into(), amount: 42 };
//! orders.publish(&event).key(&event.order_id).await?; // acks=all; trace context injected
//!
//! bus.subscriber::<OrderEvent, Json>("orders", "billing")
//!     .concurrency(16)
//!     .ordered_by_key()
//!     .rate_limit(500, Duration::from_secs(1))
//!     .retry(Backoff::exponential(Duration::from_millis(100), 2.0, Duration::from_secs(30))
//!         .jitter(0.2)
//!         .attempts(5))
//!     .dead_letter("orders.dead")
//!     .handler_timeout(Duration::from_secs(10))
//!     .run(|msg: Message<OrderEvent>| async move { bill(msg.payload()).await })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # The two brokers
//!
//! | | Kafka | RabbitMQ |
//! |---|---|---|
//! | publish to | topic `destination` | exchange `destination` (durable topic, declared) |
//! | confirmed by | acks=all | a publisher confirm |
//! | key | the record key (picks the partition) | header `x-mq-key`, and the routing key unless set |
//! | subscribe `(source, group)` | topic `source`, consumer group `group` | queue `<source>.<group>` bound to exchange `source` (`#`) |
//! | in-flight bound | pulling stops | the prefetch |
//! | settle | commit the contiguous processed prefix | ack each message |
//! | dead letters | topic (created if allowed) | fanout exchange + queue of one name (declared) |
//! | delayed retries | topic `<source>.<group>.retry.<delay>` per delay, read in group `<group>.retry` | queue `<queue>.retry.<delay>` per delay (TTL, dead-lettered to `<queue>.retry`) |
//!
//! Escape hatches: [`Publish::partition`] (Kafka), [`Publish::exchange`],
//! [`Publish::routing_key`], [`Publish::properties`] (RabbitMQ),
//! [`KafkaConfig::producer`], [`SubscriberBuilder::kafka_consumer`],
//! [`SubscriberBuilder::queue`], [`SubscriberBuilder::binding_key`],
//! [`SubscriberBuilder::key_header`], [`Bus::amqp_without_declares`].
//!
//! # The pipeline
//!
//! Each message, in order:
//!
//! 1. **decode**: the content type is checked (the AMQP `content_type`
//!    property, the Kafka `content-type` header; absent is accepted), then
//!    the [`Codec`] decodes. A failure is *poison*: straight to the dead
//!    letters with the reason, no handler call.
//! 2. **trace extract**: `traceparent`/`tracestate` become the parent of
//!    the `process` span and of the handler's [`TraceContext`].
//! 3. **dedup**, with [`SubscriberBuilder::deduplicate`]: a key already
//!    processed settles the message as a duplicate without a call; in
//!    claim mode the key is claimed with a lease first, renewed while the
//!    handler runs; see [`dedup`] for the modes, the stores and their crash
//!    windows.
//! 4. **rate limit**: a token bucket per subscriber, one token per call.
//! 5. **handler** on one of `concurrency` workers, under
//!    `handler_timeout`; a panic is caught and counts as a retriable
//!    failure, a timeout too.
//! 6. **retry**: a [`HandlerError`] is retriable (any error, by default) or
//!    permanent; retriable ones are tried again after the [`Backoff`]
//!    (exponential, jitter) until the attempts run out.
//! 7. **delayed retry**, with [`SubscriberBuilder::delayed_retries`]: once
//!    the in-process attempts are spent, the message is forwarded to the
//!    retry stage of the next delay (a queue or topic, confirmed before the
//!    original is settled) and comes back when it is due, with its
//!    attempts counted; see [`delayed_retry`].
//! 8. **dead letter** after the last attempt (and the last delay) or a
//!    permanent failure, confirmed before the original is settled.
//! 9. **ack / commit**.
//!
//! Messages of one key are handled in order, one at a time; different keys
//! in parallel, beyond Kafka's partition count ([`OrderBy`]). On Kafka only
//! the contiguous processed prefix of each partition is committed, so a
//! crash never skips a record that was not processed: delivery is
//! at-least-once on both brokers. Before a rebalance takes partitions
//! away, their in-flight records finish (up to the drain timeout) and
//! their processed prefix is committed, so the next owner starts where
//! this one stopped.
//!
//! In-process retries keep the message's lane: later messages of its key
//! wait behind it (other keys do not). A delayed retry frees the lane, so
//! **later messages of the same key pass the failed one** while it waits
//! in its stage. For keys whose order matters,
//! [`SubscriberBuilder::retry_holds_key`] holds the key, not the partition
//! or queue: later messages of that key wait in process (as in-flight
//! messages, so fetching stops at [`SubscriberBuilder::max_in_flight`])
//! until the retried one is processed or dead-lettered. The hold is kept
//! in the subscriber's memory: if the retried message comes back to
//! another subscriber (another Kafka group member, or after a restart),
//! the hold ends at a deadline and the order is given up, with a warning.
//!
//! # Headers
//!
//! Set on publish:
//!
//! | header | what |
//! |---|---|
//! | `content-type` | the codec's (on RabbitMQ the `content_type` property) |
//! | `x-mq-message-id` | the message id (on RabbitMQ also the `message_id` property) |
//! | `x-mq-key` | RabbitMQ only: the key |
//! | `traceparent`, `tracestate` | W3C trace context |
//!
//! Added to dead letters, which otherwise keep the original body, key,
//! headers and properties (all values UTF-8 text, times RFC 3339 UTC with
//! milliseconds):
//!
//! | header | what |
//! |---|---|
//! | `x-mq-origin-topic`, `x-mq-origin-partition`, `x-mq-origin-offset` | Kafka: where it was read |
//! | `x-mq-origin-exchange`, `x-mq-origin-routing-key`, `x-mq-origin-queue` | RabbitMQ: where it was published and read |
//! | `x-mq-consumer-group` | the subscriber's group |
//! | `x-mq-error` | `<error type>: <message>` of the last failure |
//! | `x-mq-error-type` | the error type alone: `decode`, `content_type`, `empty_payload`, `timeout`, `panic`, or the handler error's type name |
//! | `x-mq-reason` | `poison`, `permanent` or `exhausted` |
//! | `x-mq-attempts` | handler calls made, across delayed-retry stages (0 for poison) |
//! | `x-mq-first-failure`, `x-mq-last-failure` | when the first and last attempts failed |
//!
//! A message on its way to a delayed-retry stage carries the same headers
//! but `x-mq-reason`, and `x-mq-retry-stage` (1 for the first delay) and
//! `x-mq-retry-due` (milliseconds since the epoch); back from the stage,
//! its origin stays the first one. The names are constants in
//! [`dead_letter`], [`delayed_retry`] and [`publisher`].
//!
//! `mq dead-letters list` shows a dead-letter queue or topic by these
//! headers, and `mq dead-letters replay` publishes chosen dead letters to
//! their origin again, without the failure headers.
//!
//! # Tracing, logs and metrics
//!
//! Publishes run in a `send` span and handlers in a `process` span, with
//! the OpenTelemetry messaging attributes ([`semconv`]) and the full names
//! (`send orders`) in `otel.name`. The trace context comes from
//! [`TraceContext::current`] (set around every handler), an explicit
//! [`Publish::trace_context`], or a new trace. Every settled message logs
//! one `INFO` line (target `mq_service::message`) with its trace id,
//! destination, message id, duration, outcome and attempts. Metrics go
//! through the `metrics` facade; the names are in [`metrics`].
//!
//! With the `otel` feature and a `tracing_opentelemetry` layer installed,
//! the `send` and `process` spans are exported as one trace: a `process`
//! span's remote parent is the `send` span its message's `traceparent`
//! names, a `send` span's parent is the current trace context or else the
//! enclosing `tracing` span, and the ids the crate writes (headers, the
//! handler's [`TraceContext::current`], log lines) are the exported
//! spans' own. `service/examples/otel_orders.rs` exports them over OTLP.
//!
//! # Transactional outbox
//!
//! With the `postgres` feature, `outbox` writes events in the
//! application's own PostgreSQL transaction, and its `Relay`s publish them
//! afterwards in order per aggregate, with confirms, deleting each row
//! once confirmed; several relays share the rows. Every row keeps one
//! message id, so a subscriber that deduplicates absorbs what a crashed
//! relay sends again.
//!
//! # Shutdown
//!
//! [`RunningSubscriber::shutdown`] (or a [`Shutdown`] signal): stop
//! fetching, let in-flight handlers finish up to the drain timeout, ack or
//! commit what finished, leave the rest to be redelivered, then close the
//! channel or leave the group. [`Bus::close`] closes the connection or the
//! producer.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod bus;
mod codec;
pub mod dead_letter;
pub mod dedup;
pub mod delayed_retry;
mod error;
mod message;
pub mod metrics;
mod offsets;
#[cfg(feature = "otel")]
mod otel;
#[cfg(feature = "postgres")]
pub mod outbox;
mod pool;
pub mod publisher;
mod random;
mod rate_limit;
mod retry;
pub mod semconv;
mod shutdown;
mod subscriber;
mod trace;

pub use bus::{Bus, ConsumerHook, KafkaConfig, ProducerHook};
pub use codec::Codec;
#[cfg(feature = "json")]
pub use codec::Json;
#[cfg(feature = "protobuf")]
pub use codec::Protobuf;
pub use error::{CodecError, Error, FailureKind, HandlerError};
pub use message::{Headers, Message, Metadata};
pub use publisher::{Publish, Published, Publisher};
pub use retry::{Backoff, RetryDecision};
pub use shutdown::Shutdown;
pub use subscriber::{Handler, OrderBy, RunningSubscriber, Subscriber, SubscriberBuilder};
pub use trace::{ParseError as TraceParentError, TRACEPARENT, TRACESTATE, TraceContext};

/// The README's examples (RabbitMQ, Kafka, TLS and SASL, the service
/// layer), compiled as doc tests here, where both mq-client and this crate
/// are in scope.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
mod readme {}
