//! The admin client: topics, partitions, configs, records and offsets.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use kafka_proto::ErrorCode;
use kafka_proto::api::create_partitions::CreatePartitionsTopic;
use kafka_proto::api::create_topics::{CreatableTopic, CreatableTopicConfig};
use kafka_proto::api::delete_records::{DeleteRecordsPartition, DeleteRecordsTopic};
use kafka_proto::api::delete_topics::DeleteTopicState;
use kafka_proto::api::describe_configs::DescribeConfigsResource;
use kafka_proto::api::incremental_alter_configs::{AlterConfigsResource, AlterableConfig};
use kafka_proto::api::list_offsets::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_proto::api::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteRecordsRequest, DeleteTopicsRequest,
    DescribeConfigsRequest, IncrementalAlterConfigsRequest, ListOffsetsRequest,
};
use tracing::{Instrument, debug, info_span};

use super::cluster::{BrokerMeta, Cluster, Metadata, TopicMeta, fetch_metadata_from};
use super::config::{ClientConfig, client_config_setters};
use super::error::{Error, Result};
use super::reader::{IsolationLevel, OffsetSpec};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partition count (-1: the broker's default).
    pub partitions: i32,
    /// Replication factor (-1: the broker's default).
    pub replication_factor: i16,
    /// Topic configs (`cleanup.policy`, `retention.ms`, ...).
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` partitions of `replication_factor` replicas.
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor,
            configs: Vec::new(),
        }
    }

    /// Adds a topic config.
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((key.into(), value.into()));
        self
    }
}

/// A topic's description: its metadata.
pub type TopicDescription = TopicMeta;

/// The cluster's description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// The controller's id (in KRaft, a broker that forwards to it).
    pub controller_id: i32,
    /// The brokers, by id.
    pub brokers: Vec<BrokerMeta>,
}

/// What [`Admin::describe_configs`] describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigResource {
    /// A topic's configs.
    Topic(String),
    /// A broker's configs.
    Broker(i32),
    /// A group's configs (resource type 32, Kafka 4.0+): a share group's
    /// `share.auto.offset.reset`, `share.record.lock.duration.ms`, ...
    Group(String),
}

impl ConfigResource {
    /// The resource type (2 topic, 4 broker, 32 group), its name, and the
    /// broker a request about it must go to (a broker's own configs).
    fn wire(&self) -> (i8, String, Option<i32>) {
        match self {
            ConfigResource::Topic(t) => (2, t.clone(), None),
            ConfigResource::Broker(id) => (4, id.to_string(), Some(*id)),
            ConfigResource::Group(g) => (32, g.clone(), None),
        }
    }
}

/// One config entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Name.
    pub name: String,
    /// Value (`None` for sensitive entries, which the broker hides).
    pub value: Option<String>,
    /// Whether it cannot be changed.
    pub read_only: bool,
    /// Whether it is sensitive.
    pub sensitive: bool,
    /// Where the value comes from (Kafka's `ConfigSource`: 1 topic, 5 default, ...).
    pub source: i8,
}

/// One change of [`Admin::incremental_alter_configs`] (Java's
/// `AlterConfigOp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Sets the entry.
    Set {
        /// Config name.
        name: String,
        /// New value.
        value: String,
    },
    /// Removes the entry: it falls back to its default.
    Delete {
        /// Config name.
        name: String,
    },
    /// Adds values to a list entry (`cleanup.policy`, ...).
    Append {
        /// Config name.
        name: String,
        /// Values to add, comma-separated.
        value: String,
    },
    /// Removes values from a list entry.
    Subtract {
        /// Config name.
        name: String,
        /// Values to remove, comma-separated.
        value: String,
    },
}

impl AlterConfigOp {
    /// `name=value`.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp::Set {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Back to the default.
    pub fn delete(name: impl Into<String>) -> Self {
        AlterConfigOp::Delete { name: name.into() }
    }

    fn wire(&self) -> AlterableConfig {
        let (name, operation, value) = match self {
            AlterConfigOp::Set { name, value } => (name, 0, Some(value)),
            AlterConfigOp::Delete { name } => (name, 1, None),
            AlterConfigOp::Append { name, value } => (name, 2, Some(value)),
            AlterConfigOp::Subtract { name, value } => (name, 3, Some(value)),
        };
        AlterableConfig {
            name: name.clone(),
            config_operation: operation,
            value: value.cloned(),
            ..Default::default()
        }
    }
}

/// An offset found by [`Admin::list_offsets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset (-1 when no record has a timestamp at or after the one asked).
    pub offset: i64,
    /// The record's timestamp, for timestamp look-ups; -1 otherwise.
    pub timestamp: i64,
    /// The leader epoch of the offset, or -1.
    pub leader_epoch: i32,
}

/// Builds an [`Admin`].
#[derive(Debug, Clone)]
pub struct AdminBuilder {
    client: ClientConfig,
    operation_timeout: Duration,
    isolation: IsolationLevel,
}

impl AdminBuilder {
    client_config_setters!();

    /// How long each operation (with its retries) may take. Default 60 s.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Which end [`Admin::list_offsets`] reports for
    /// [`OffsetSpec::Latest`], and how far a timestamp look-up searches:
    /// under [`IsolationLevel::ReadCommitted`] (the default, as for
    /// readers and group consumers) the last stable offset, the first
    /// offset of the oldest open transaction, which is where a
    /// read_committed reader stops; under
    /// [`IsolationLevel::ReadUncommitted`] the high watermark.
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.isolation = level;
        self
    }

    /// Connects and fetches the cluster metadata.
    pub async fn build(self) -> Result<Admin> {
        let cluster = Cluster::connect(self.client).await?;
        let telemetry = {
            let c = cluster.clone();
            super::telemetry::start(
                &cluster,
                std::sync::Arc::new(move || {
                    c.stats()
                        .snapshot(super::ClientKind::Admin, &c.config().client_id)
                }),
            )
        };
        Ok(Admin {
            cluster,
            timeout: self.operation_timeout,
            isolation: self.isolation,
            _telemetry: telemetry.map(std::sync::Arc::new),
        })
    }
}

/// The admin client.
#[derive(Debug, Clone)]
pub struct Admin {
    cluster: Cluster,
    timeout: Duration,
    isolation: IsolationLevel,
    /// KIP-714 pushes, while any clone lives.
    _telemetry: Option<std::sync::Arc<super::telemetry::Telemetry>>,
}

impl Admin {
    /// A builder for the comma-separated `bootstrap` list.
    pub fn builder(bootstrap: &str) -> AdminBuilder {
        AdminBuilder {
            client: ClientConfig::new(bootstrap),
            operation_timeout: Duration::from_secs(60),
            isolation: IsolationLevel::default(),
        }
    }

    /// The cluster this client talks to.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// A snapshot of the admin client's metrics: connections and requests
    /// per API with their latencies. See [`ClientMetrics`](super::ClientMetrics).
    pub fn metrics(&self) -> super::ClientMetrics {
        let client_id = &self.cluster.config().client_id;
        (self.cluster.stats()).snapshot(super::ClientKind::Admin, client_id)
    }

    /// How long each operation may take.
    pub(crate) fn operation_timeout(&self) -> Duration {
        self.timeout
    }

    pub(crate) fn timeout_ms(&self) -> i32 {
        i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX)
    }

    /// Creates topics and waits until their partitions have leaders. An
    /// existing topic fails with `TOPIC_ALREADY_EXISTS`.
    pub async fn create_topics<I: IntoIterator<Item = NewTopic>>(&self, topics: I) -> Result<()> {
        let topics: Vec<NewTopic> = topics.into_iter().collect();
        let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
        let request = CreateTopicsRequest {
            topics: topics
                .iter()
                .map(|t| CreatableTopic {
                    name: t.name.clone(),
                    num_partitions: t.partitions,
                    replication_factor: t.replication_factor,
                    configs: t
                        .configs
                        .iter()
                        .map(|(k, v)| CreatableTopicConfig {
                            name: k.clone(),
                            value: Some(v.clone()),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            timeout_ms: self.timeout_ms(),
            ..Default::default()
        };
        let span = info_span!("kafka_create_topics", topics = ?names);
        async {
            let response = self
                .retry(|| async { self.cluster.controller()?.call(request.clone()).await })
                .await?;
            for t in &response.topics {
                if !t.error_code.is_ok() {
                    return Err(Error::broker(
                        t.error_code,
                        format!("{}: {}", t.name, t.error_message.as_deref().unwrap_or("")),
                    ));
                }
            }
            for name in &names {
                self.cluster.wait_for_topic(name, self.timeout).await?;
            }
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Deletes topics.
    pub async fn delete_topics<I: IntoIterator<Item = S>, S: Into<String>>(
        &self,
        topics: I,
    ) -> Result<()> {
        let names: Vec<String> = topics.into_iter().map(Into::into).collect();
        let request = DeleteTopicsRequest {
            // v6+ names topics in `topics`, older versions in `topic_names`.
            topics: names
                .iter()
                .map(|n| DeleteTopicState {
                    name: Some(n.clone()),
                    ..Default::default()
                })
                .collect(),
            topic_names: names.clone(),
            timeout_ms: self.timeout_ms(),
            ..Default::default()
        };
        let response = self
            .retry(|| async { self.cluster.controller()?.call(request.clone()).await })
            .await?;
        for t in &response.responses {
            if !t.error_code.is_ok() {
                return Err(Error::broker(
                    t.error_code,
                    t.name.clone().unwrap_or_default(),
                ));
            }
        }
        Ok(())
    }

    /// Every topic's name (internal topics included).
    pub async fn list_topics(&self) -> Result<Vec<String>> {
        let response = fetch_metadata_from(&self.cluster, None).await?;
        let mut names: Vec<String> = response.topics.into_iter().filter_map(|t| t.name).collect();
        names.sort();
        Ok(names)
    }

    /// Describes topics: partitions, leaders, replicas, in-sync replicas.
    /// A missing topic fails with `UNKNOWN_TOPIC_OR_PARTITION`.
    pub async fn describe_topics<I: IntoIterator<Item = S>, S: Into<String>>(
        &self,
        topics: I,
    ) -> Result<Vec<TopicDescription>> {
        let names: Vec<String> = topics.into_iter().map(Into::into).collect();
        let response = fetch_metadata_from(&self.cluster, Some(&names)).await?;
        let md = Metadata::from_response(response, 0);
        names
            .iter()
            .map(|n| match md.topics.get(n) {
                Some(t) if t.error.is_ok() => Ok(t.clone()),
                Some(t) => Err(Error::broker(t.error, n.clone())),
                None => Err(Error::broker(
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    n.clone(),
                )),
            })
            .collect()
    }

    /// Describes the cluster: its id, controller and brokers.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let response = fetch_metadata_from(&self.cluster, Some(&[])).await?;
        let md = Metadata::from_response(response, 0);
        Ok(ClusterDescription {
            cluster_id: md.cluster_id,
            controller_id: md.controller_id,
            brokers: md.brokers.into_values().collect(),
        })
    }

    /// Grows `topic` to `total` partitions.
    pub async fn create_partitions(&self, topic: &str, total: i32) -> Result<()> {
        let request = CreatePartitionsRequest {
            topics: vec![CreatePartitionsTopic {
                name: topic.to_owned(),
                count: total,
                assignments: None,
                ..Default::default()
            }],
            timeout_ms: self.timeout_ms(),
            validate_only: false,
            ..Default::default()
        };
        let response = self
            .retry(|| async { self.cluster.controller()?.call(request.clone()).await })
            .await?;
        for r in &response.results {
            if !r.error_code.is_ok() {
                return Err(Error::broker(
                    r.error_code,
                    format!("{}: {}", r.name, r.error_message.as_deref().unwrap_or("")),
                ));
            }
        }
        // Done once the cluster's metadata shows the new partitions with
        // leaders, as create_topics waits for its topics.
        self.cluster.add_topics([topic]);
        let want = usize::try_from(total).unwrap_or(0);
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let md = self.cluster.wait_for_topic(topic, self.timeout).await?;
            if md.topic(topic).is_some_and(|t| t.partitions.len() >= want) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    what: "the new partitions to appear in the metadata",
                    after: self.timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = self.cluster.refresh().await;
        }
    }

    /// Describes a topic's or broker's configs.
    pub async fn describe_configs(&self, resource: ConfigResource) -> Result<Vec<ConfigEntry>> {
        let (resource_type, name, broker) = resource.wire();
        let request = DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type,
                resource_name: name.clone(),
                configuration_keys: None,
                ..Default::default()
            }],
            ..Default::default()
        };
        let response = self.config_call(broker, &request).await?;
        let result = response.results.into_iter().next().ok_or_else(|| {
            Error::broker(ErrorCode::UNKNOWN_SERVER_ERROR, "empty DescribeConfigs")
        })?;
        if !result.error_code.is_ok() {
            return Err(Error::broker(result.error_code, name));
        }
        Ok(result
            .configs
            .into_iter()
            .map(|c| ConfigEntry {
                name: c.name,
                value: c.value,
                read_only: c.read_only,
                sensitive: c.is_sensitive,
                source: c.config_source,
            })
            .collect())
    }

    /// Sends a config request to the broker whose configs it is about, or
    /// to any broker for a topic's, with retries.
    async fn config_call<R: kafka_proto::Request>(
        &self,
        broker: Option<i32>,
        request: &R,
    ) -> Result<R::Response> {
        self.retry(|| async {
            let conn = match broker {
                Some(id) => self.cluster.broker(id)?,
                None => self.cluster.any_broker()?,
            };
            conn.call(request.clone()).await
        })
        .await
    }

    /// Changes single config entries of a topic or a broker, leaving the
    /// others as they are (IncrementalAlterConfigs). An unknown name or a
    /// bad value is refused by the broker (`INVALID_CONFIG`, with its
    /// message naming the entry), and nothing changes.
    pub async fn incremental_alter_configs(
        &self,
        resource: ConfigResource,
        ops: &[AlterConfigOp],
    ) -> Result<()> {
        let (resource_type, name, broker) = resource.wire();
        let request = IncrementalAlterConfigsRequest {
            resources: vec![AlterConfigsResource {
                resource_type,
                resource_name: name.clone(),
                configs: ops.iter().map(AlterConfigOp::wire).collect(),
                ..Default::default()
            }],
            validate_only: false,
            ..Default::default()
        };
        let response = self.config_call(broker, &request).await?;
        for r in &response.responses {
            if !r.error_code.is_ok() {
                // The broker's message names the entry ("Unknown topic
                // config name: ...").
                let context = match r.error_message.as_deref().map(str::trim) {
                    Some(m) if !m.is_empty() => m.to_owned(),
                    _ => name.clone(),
                };
                return Err(Error::broker(r.error_code, context));
            }
        }
        Ok(())
    }

    /// Deletes the records of `topic` before the given offsets (per
    /// partition); returns each partition's new low watermark.
    pub async fn delete_records(
        &self,
        topic: &str,
        before: &[(i32, i64)],
    ) -> Result<BTreeMap<i32, i64>> {
        self.cluster.add_topics([topic]);
        self.cluster.wait_for_topic(topic, self.timeout).await?;
        let mut out = BTreeMap::new();
        for (leader, parts) in self.by_leader(topic, before.iter().copied())? {
            let request = DeleteRecordsRequest {
                topics: vec![DeleteRecordsTopic {
                    name: topic.to_owned(),
                    partitions: parts
                        .iter()
                        .map(|&(partition_index, offset)| DeleteRecordsPartition {
                            partition_index,
                            offset,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                timeout_ms: self.timeout_ms(),
                ..Default::default()
            };
            let response = self
                .retry(|| async { self.cluster.broker(leader)?.call(request.clone()).await })
                .await?;
            for p in response.topics.iter().flat_map(|t| &t.partitions) {
                if !p.error_code.is_ok() {
                    return Err(Error::broker(
                        p.error_code,
                        format!("{topic}/{}", p.partition_index),
                    ));
                }
                out.insert(p.partition_index, p.low_watermark);
            }
        }
        Ok(out)
    }

    /// The earliest or latest offset of each partition, or the first offset
    /// whose timestamp is at or after [`OffsetSpec::Timestamp`].
    ///
    /// "Latest" follows the admin's
    /// [`isolation_level`](AdminBuilder::isolation_level): by default
    /// (read_committed) the last stable offset, which stops at the first
    /// record of a transaction still open; under read_uncommitted the high
    /// watermark.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partitions: &[i32],
        spec: OffsetSpec,
    ) -> Result<BTreeMap<i32, ListedOffset>> {
        self.cluster.add_topics([topic]);
        self.cluster.wait_for_topic(topic, self.timeout).await?;
        let timestamp = spec.timestamp();
        let asks: Vec<(i32, i64)> = partitions.iter().map(|&p| (p, timestamp)).collect();
        list_offsets_isolated(
            &self.cluster,
            topic,
            &asks,
            self.timeout,
            self.isolation.wire(),
        )
        .await
    }

    fn by_leader(
        &self,
        topic: &str,
        parts: impl Iterator<Item = (i32, i64)>,
    ) -> Result<HashMap<i32, Vec<(i32, i64)>>> {
        group_by_leader(&self.cluster.metadata(), topic, parts)
    }

    async fn retry<T, F, Fut>(&self, f: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        retry(&self.cluster, self.timeout, f).await
    }
}

pub(crate) fn group_by_leader(
    md: &Metadata,
    topic: &str,
    parts: impl Iterator<Item = (i32, i64)>,
) -> Result<HashMap<i32, Vec<(i32, i64)>>> {
    let mut out: HashMap<i32, Vec<(i32, i64)>> = HashMap::new();
    for (partition, value) in parts {
        let leader = md.leader_for(topic, partition).ok_or_else(|| {
            if md
                .topic(topic)
                .is_some_and(|t| t.partition(partition).is_none())
            {
                Error::UnknownPartition {
                    topic: topic.to_owned(),
                    partition,
                }
            } else {
                Error::broker(
                    ErrorCode::LEADER_NOT_AVAILABLE,
                    format!("{topic}/{partition}"),
                )
            }
        })?;
        out.entry(leader).or_default().push((partition, value));
    }
    Ok(out)
}

/// Runs `f` until it succeeds, fails for good, or `timeout` passes,
/// refreshing metadata after errors that call for it.
pub(crate) async fn retry<T, F, Fut>(cluster: &Cluster, timeout: Duration, f: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    let mut backoff = cluster.config().retry_backoff.start();
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retriable() => {
                let delay = backoff.next_delay().unwrap_or(Duration::from_secs(1));
                if tokio::time::Instant::now() + delay > deadline {
                    return Err(e);
                }
                debug!(error = %e, retry = backoff.attempts(), "retrying");
                if e.needs_metadata_refresh() {
                    let _ = cluster.refresh().await;
                }
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// ListOffsets for `(partition, timestamp)` pairs of one topic (timestamp -2
/// earliest, -1 latest), asking each partition's leader, with retries, at
/// an isolation level: with 1 (read_committed) "latest" is the last stable
/// offset, not the high watermark.
pub(crate) async fn list_offsets_isolated(
    cluster: &Cluster,
    topic: &str,
    asks: &[(i32, i64)],
    timeout: Duration,
    isolation_level: i8,
) -> Result<BTreeMap<i32, ListedOffset>> {
    retry(cluster, timeout, || async {
        let mut out = BTreeMap::new();
        for (leader, parts) in group_by_leader(&cluster.metadata(), topic, asks.iter().copied())? {
            let request = ListOffsetsRequest {
                replica_id: -1,
                isolation_level,
                topics: vec![ListOffsetsTopic {
                    name: topic.to_owned(),
                    partitions: parts
                        .iter()
                        .map(|&(partition_index, timestamp)| ListOffsetsPartition {
                            partition_index,
                            timestamp,
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
                ..Default::default()
            };
            let response = cluster.broker(leader)?.call(request).await?;
            for p in response.topics.iter().flat_map(|t| &t.partitions) {
                if !p.error_code.is_ok() {
                    return Err(Error::broker(
                        p.error_code,
                        format!("{topic}/{}", p.partition_index),
                    ));
                }
                out.insert(
                    p.partition_index,
                    ListedOffset {
                        offset: p.offset,
                        timestamp: p.timestamp,
                        leader_epoch: p.leader_epoch,
                    },
                );
            }
        }
        Ok(out)
    })
    .await
}
