//! The Apache Kafka client: cluster metadata, producer, admin, partition
//! reader and consumer groups, on tokio, built on `kafka-proto`'s sans-IO
//! connection and codecs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mq_client::kafka::Error> {
//! use std::time::Duration;
//! use mq_client::kafka::{self, Compression, NewTopic, Offset, ProducerRecord};
//!
//! let admin = kafka::Admin::builder("127.0.0.1:9092").build().await?;
//! admin.create_topics([NewTopic::new("orders", 12, 1)]).await?;
//!
//! let producer = kafka::Producer::builder("127.0.0.1:9092")
//!     .compression(Compression::Snappy)
//!     .linger(Duration::from_millis(5))
//!     .build()
//!     .await?;
//! let (partition, offset) = producer
//!     .send(ProducerRecord::new("orders").key("order-1").value("created"))
//!     .await?;
//! producer.close().await?;
//!
//! let mut reader = kafka::PartitionReader::builder("127.0.0.1:9092")
//!     .assign("orders", partition, Offset::At(offset))
//!     .build()
//!     .await?;
//! let batch = reader.next_batch().await?;
//! for record in batch.iter() {
//!     let record = record?;
//!     println!("{} {:?}", record.offset(), record.value());
//! }
//! # Ok(()) }
//! ```
//!
//! - [`Cluster`]: the metadata cache and one connection driver per broker.
//! - [`Producer`]: batches, compression, acks, retries, idempotence.
//! - [`Admin`]: topics, partitions, configs, records and offsets.
//! - [`PartitionReader`]: fetches assigned partitions; a `Stream` of
//!   records, or zero-copy batches with [`PartitionReader::next_batch`].
//! - [`Consumer`]: a member of a consumer group; subscribes, rebalances
//!   (range, roundrobin, cooperative-sticky), heartbeats in the background,
//!   commits; a `Stream` of records or batches. See its docs.

mod admin;
mod cluster;
mod config;
mod conn;
mod error;
mod group;
mod oauth;
pub mod partitioner;
mod producer;
mod properties;
mod reader;

pub use admin::{
    Admin, AdminBuilder, ClusterDescription, ConfigEntry, ConfigResource, ListedOffset, NewTopic,
    TopicDescription,
};
pub use cluster::{BrokerMeta, Cluster, Metadata, PartitionMeta, TopicMeta};
pub use config::{AddressMap, ClientConfig};
pub use error::{Error, Result};
pub use group::{
    Assignor, CommitFuture, Consumer, ConsumerBuilder, ConsumerGroupMetadata,
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupDescription,
    GroupMemberDescription, NoopListener, OffsetAndEpoch, Rebalance, RebalanceListener,
    TopicPartition, TopicPattern, Transformed,
};
pub use kafka_proto::ErrorCode;
pub use oauth::{OAuthBearer, OAuthToken};

pub use kafka_proto::compression::Compression;
pub use producer::{Acks, DeliveryFuture, Producer, ProducerBuilder, ProducerRecord};
pub use reader::{
    ConsumerRecord, FetchedBatch, IsolationLevel, Offset, OffsetReset, PartitionReader,
    PartitionReaderBuilder,
};
