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
//! The fast paths: [`Producer::enqueue`] puts a record in its batch and
//! returns its [`DeliveryFuture`] at once, so many records are in flight
//! without a task each (await the futures later, or drop the ones you do
//! not need); [`PartitionReader::next_batch`] hands out a partition's
//! fetched records as one [`FetchedBatch`], whose [`FetchedBatch::iter`]
//! yields zero-copy [`Record`] views with no allocation per record.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mq_client::kafka::Error> {
//! use mq_client::kafka::{self, DeliveryFuture, Error, Offset, OffsetSpec, ProducerRecord, Record};
//!
//! let producer = kafka::Producer::builder("127.0.0.1:9092").build().await?;
//! let mut deliveries: Vec<DeliveryFuture> = Vec::with_capacity(100_000);
//! for i in 0..100_000u32 {
//!     let value = i.to_be_bytes();
//!     deliveries.push(producer.enqueue(ProducerRecord::new("orders").value(&value)).await?);
//! }
//! for delivery in deliveries {
//!     let (_partition, _offset) = delivery.await?; // written, acks=all
//! }
//!
//! // Every partition from its start, up to the end it has now.
//! let mut reader = kafka::PartitionReader::builder("127.0.0.1:9092")
//!     .assign_topic("orders", Offset::Earliest)
//!     .stop_at_end()
//!     .build()
//!     .await?;
//! let mut bytes = 0;
//! loop {
//!     let batch = match reader.next_batch().await {
//!         Ok(batch) => batch,
//!         Err(Error::ReachedEnd) => break,
//!         Err(e) => return Err(e),
//!     };
//!     for record in batch.iter() {
//!         let record: Record<'_> = record?;
//!         bytes += record.value().map_or(0, <[u8]>::len);
//!     }
//! }
//! let admin = kafka::Admin::builder("127.0.0.1:9092").build().await?;
//! let ends = admin.list_offsets("orders", &[0, 1], OffsetSpec::Latest).await?;
//! println!("{bytes} bytes; partition 0 ends at {}", ends[&0].offset);
//! # Ok(()) }
//! ```
//!
//! - [`Cluster`]: the metadata cache and one connection driver per broker.
//! - [`Producer`]: batches, compression, acks, retries, idempotence.
//! - [`Admin`]: topics, partitions, configs, records and offsets; groups,
//!   ACLs, leader elections, reassignments, log directories, producers,
//!   transactions and SCRAM credentials.
//! - [`PartitionReader`]: fetches assigned partitions; a `Stream` of
//!   records, or zero-copy batches with [`PartitionReader::next_batch`].
//! - [`Consumer`]: a member of a consumer group; subscribes, rebalances
//!   (range, roundrobin, cooperative-sticky), heartbeats in the background,
//!   commits; a `Stream` of records or batches. See its docs.
//! - [`ShareConsumer`]: a member of a share group (KIP-932, queues for
//!   Kafka): records shared among members one by one, each accepted,
//!   released or rejected on its own; a `Stream` of [`ShareRecord`]s.
//!
//! Each client's `metrics()` returns a [`ClientMetrics`] snapshot: bytes,
//! connections, requests per API with latencies, and the producer's or
//! consumer's own figures (batches, records, buffer, lag), with a
//! Prometheus text rendering, and a `publish` to the `metrics` facade
//! under the `metrics` feature.

mod acl;
mod admin;
mod admin_ops;
mod cluster;
mod config;
mod conn;
mod error;
mod group;
mod metrics;
mod oauth;
pub mod partitioner;
mod producer;
mod properties;
mod reader;
mod share;
mod telemetry;

pub use acl::{
    AclBinding, AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType,
};
pub use admin::{
    Admin, AdminBuilder, AlterConfigOp, ClusterDescription, ConfigEntry, ConfigResource,
    ListedOffset, NewTopic, TopicDescription,
};
pub use admin_ops::{
    ActiveProducer, ElectionType, ListTransactionsOptions, LogDirDescription,
    PartitionReassignment, ReplicaInfo, ScramCredentialInfo, TransactionDescription,
    TransactionListing, UserScramCredentialAlteration,
};
pub use cluster::{BrokerMeta, Cluster, Metadata, PartitionMeta, TopicMeta};
pub use config::{AddressMap, ClientConfig};
pub use error::{Error, Result};
pub use group::{
    Assignor, CommitFuture, Consumer, ConsumerBuilder, ConsumerGroupMetadata,
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupDescription, GroupListing,
    GroupMemberDescription, GroupProtocol, NoopListener, OffsetAndEpoch, Rebalance,
    RebalanceListener, TopicPartition, TopicPattern, Transformed,
};
pub use kafka_proto::ErrorCode;
pub use metrics::{
    ClientKind, ClientMetrics, ConsumerMetrics, PartitionLag, ProducerMetrics, RequestMetrics,
};
// Types the public API hands out or takes, so that users can name them
// without depending on `kafka-proto`: the zero-copy record views of
// `FetchedBatch::iter` and their headers, the topic id of `TopicMeta`, the
// sources of `Error`, and the SASL settings of `ClientConfig`.
pub use kafka_proto::connection::{Sasl, SaslOAuthBearer, SaslPlain, SaslScram, ScramMechanism};
pub use kafka_proto::record::{ControlRecordKey, EndTxnMarker, Header, Headers, Record};
pub use kafka_proto::{ConnectionError, DecodeError, Uuid};
pub use oauth::{OAuthBearer, OAuthToken};

pub use kafka_proto::compression::Compression;
pub use producer::{Acks, DeliveryFuture, Producer, ProducerBuilder, ProducerRecord};
pub use reader::{
    ConsumerRecord, FetchedBatch, IsolationLevel, Offset, OffsetReset, OffsetSpec, PartitionReader,
    PartitionReaderBuilder,
};
pub use share::{
    AcknowledgeType, AcknowledgementMode, AcquireMode, ShareConsumer, ShareConsumerBuilder,
    ShareGroupDescription, ShareMemberDescription, ShareRecord,
};
