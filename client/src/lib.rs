//! Async clients for RabbitMQ (AMQP 0-9-1) and Apache Kafka.
//!
//! `mq-client` wraps the sans-IO cores from `amqp-proto` and `kafka-proto`
//! in tokio driver tasks: one task per broker connection owns the socket and
//! the protocol state, and cheap handles (channels, producers, consumers)
//! talk to it through bounded queues. Recovery after failures, timeouts on
//! every operation and structured tracing live here.
#![warn(missing_docs)]

pub mod amqp;
/// Consumers, readers and returns are `futures::Stream`s: `StreamExt`
/// gives them `.next()` without a dependency of your own.
pub use futures_util::{Stream, StreamExt};
pub mod backoff;
pub(crate) mod clock;
pub(crate) mod exposition;
pub mod kafka;
#[cfg(feature = "test-broker")]
pub(crate) mod simnet;
#[cfg(feature = "tls")]
pub mod tls;
pub(crate) mod transport;
