//! Consumer groups: the [`Consumer`] that services use to share a topic's
//! partitions, on the classic group protocol (JoinGroup / SyncGroup /
//! Heartbeat) or on the consumer protocol of KIP-848
//! (ConsumerGroupHeartbeat), interoperable with Java and librdkafka
//! members.
//!
//! - [`coordinator`]: FindCoordinator and a dedicated coordinator
//!   connection.
//! - [`membership`]: the membership state machine and the join (JoinGroup,
//!   the leader's assignment, SyncGroup), in its own task.
//! - [`assignor`]: range, roundrobin and cooperative-sticky, with Java's
//!   member order.
//! - [`protocol`]: the consumer protocol's subscription and assignment
//!   (formats from kafka-proto) built from and read into this client's
//!   partitions.
//! - [`heartbeat`]: the background heartbeat, session and
//!   `max_poll_interval` watch.
//! - [`kip848`]: the consumer protocol of KIP-848 instead (one
//!   ConsumerGroupHeartbeat loop that joins, heartbeats, reports owned
//!   partitions and receives the coordinator's assignment).
//! - [`offsets`]: commits through one ordered committer task, OffsetFetch,
//!   and log-truncation checks with OffsetForLeaderEpoch.
//! - [`listener`] and [`rebalance`]: the rebalance listener and the
//!   consumer's side of a rebalance (revoke, lose, assign).
//! - [`subscription`]: topic lists and patterns, and the metadata watch
//!   that triggers rebalances when topics change.
//! - [`consumer`] and [`config`]: the public consumer and its builder.
//! - [`admin`]: describing groups and their committed offsets.

pub(crate) mod admin;
pub(crate) mod assignor;
pub(crate) mod config;
pub(crate) mod consumer;
pub(crate) mod coordinator;
pub(crate) mod group_metadata;
pub(crate) mod heartbeat;
pub(crate) mod kip848;
pub(crate) mod listener;
mod manage;
pub(crate) mod membership;
pub(crate) mod offsets;
pub(crate) mod progress;
pub(crate) mod protocol;
pub(crate) mod rebalance;
pub(crate) mod subscription;
pub(crate) mod topic_partition;
pub(crate) mod transform;

pub use admin::{GroupDescription, GroupMemberDescription};
pub use assignor::Assignor;
pub use config::{ConsumerBuilder, GroupProtocol};
pub use consumer::Consumer;
pub use group_metadata::ConsumerGroupMetadata;
pub use kafka_proto::api::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription,
};
pub use listener::{NoopListener, RebalanceListener};
pub use manage::GroupListing;
pub use offsets::CommitFuture;
pub use rebalance::Rebalance;
pub use subscription::TopicPattern;
pub use topic_partition::{OffsetAndEpoch, TopicPartition};
pub use transform::Transformed;
