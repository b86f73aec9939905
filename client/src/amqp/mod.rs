//! The RabbitMQ (AMQP 0-9-1) client.
//!
//! ```no_run
//! # async fn f() -> Result<(), mq_client::amqp::Error> {
//! use futures_util::StreamExt;
//! use mq_client::amqp::{
//!     ConsumeOptions, Connection, ExchangeKind, ExchangeOptions, FieldTable, BasicProperties,
//!     QueueOptions,
//! };
//!
//! let conn = Connection::connect("amqp://guest:guest@127.0.0.1:5672/%2f").await?;
//! let ch = conn.open_channel().await?;
//! ch.exchange_declare("orders", ExchangeKind::Topic, ExchangeOptions::durable()).await?;
//! let q = ch.queue_declare("", QueueOptions::default().exclusive()).await?;
//! ch.queue_bind(q.name(), "orders", "order.*", FieldTable::new()).await?;
//! ch.confirm_select().await?;
//! let confirm = ch
//!     .publish("orders", "order.created", &b"{}"[..], BasicProperties::default().persistent())
//!     .await?;
//! confirm.await?;
//! let mut deliveries = ch.consume(q.name(), ConsumeOptions::default().prefetch(100)).await?;
//! while let Some(d) = deliveries.next().await {
//!     let d = d?;
//!     println!("{} bytes", d.body().len());
//!     d.ack().await?;
//! }
//! # Ok(()) }
//! ```
//!
//! One driver task per [`Connection`] owns the socket, the read buffer and
//! the sans-IO `amqp_proto::Connection`; [`Channel`]s, [`Consumer`]s and
//! [`Delivery`]s are handles that talk to it through bounded queues.
//! Recovery (on by default) reconnects with backoff and restores channels,
//! QoS, confirm mode, recorded topology and consumers; see
//! [`ConnectionEvent`] for what it reports.
//!
//! [`Connection::metrics`] counts bytes, publishes, confirms, deliveries,
//! recoveries and channels ([`ConnectionMetrics`], with a Prometheus text
//! rendering, and a `publish` to the `metrics` facade under the `metrics`
//! feature).

mod batch_queue;
mod channel;
mod command;
mod command_queue;
mod config;
mod confirm;
mod confirm_cell;
mod connection;
mod consumer;
mod delivery_queue;
mod driver;
mod error;
mod events;
mod handles;
mod last_target;
mod metrics;
mod options;
mod publish_queue;
mod publisher;
mod queue_types;
mod returns;
#[cfg(feature = "test-broker")]
pub mod test_broker;
mod topology;
pub mod uri;

pub use amqp_proto::{
    BasicProperties, FieldTable, FieldValue, ReplyCode, Returned, ShortStr, TableBuilder,
};
pub use channel::{Channel, Queue};
pub use config::{ConnectionBuilder, RecoveryConfig};
pub use confirm::Confirm;
pub use connection::Connection;
pub use consumer::{Consumer, Delivery};
pub use error::{Error, Result};
pub use events::{ConnectionEvent, ConnectionEvents};
pub use metrics::ConnectionMetrics;
pub use options::{
    ConsumeOptions, ExchangeKind, ExchangeOptions, PublishOptions, QueueDeleteOptions, QueueOptions,
};
pub use publisher::{Publisher, Unconfirmed};
pub use queue_types::{DeadLetterStrategy, Overflow, StreamOffset};
pub use returns::Returns;
pub use uri::{AmqpUri, AuthMechanism, Secret, UriError};
