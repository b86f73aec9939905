//! Producers and transactions: the producers a partition's leader knows
//! (DescribeProducers), the transactional ids each coordinator holds
//! (ListTransactions), and one transactional id's state
//! (DescribeTransactions), as `kafka-transactions` shows them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use kafka_proto::api::describe_producers::DescribeProducersTopicRequest;
use kafka_proto::api::{
    DescribeProducersRequest, DescribeTransactionsRequest, ListTransactionsRequest,
};

use super::{partition_result, top_level};
use crate::kafka::admin::{Admin, group_by_leader, retry};
use crate::kafka::error::{Error, Result};
use crate::kafka::group::TopicPartition;
use crate::kafka::group::coordinator::{Coordinator, KEY_TYPE_TRANSACTION, is_coordinator_error};

/// A producer with state in a partition (Java's `ProducerState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    /// Producer id.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i32,
    /// The last sequence number it wrote, or -1.
    pub last_sequence: i32,
    /// The timestamp of the last record it wrote, or -1.
    pub last_timestamp: i64,
    /// The coordinator epoch of its last transaction marker, if any.
    pub coordinator_epoch: Option<i32>,
    /// The first offset of its open transaction in this partition, if one
    /// is open.
    pub current_transaction_start_offset: Option<i64>,
}

/// What [`Admin::list_transactions`] keeps (Java's
/// `ListTransactionsOptions`); the default keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListTransactionsOptions {
    /// States to keep (`Ongoing`, `PrepareCommit`, `CompleteCommit`,
    /// `Empty`, ...); empty for all.
    pub states: Vec<String>,
    /// Producer ids to keep; empty for all.
    pub producer_ids: Vec<i64>,
    /// Keep only transactions open longer than this (ListTransactions
    /// v1+, Kafka 3.8+).
    pub longer_than: Option<Duration>,
    /// Keep only transactional ids matching this regular expression
    /// (v2+, Kafka 4.1+).
    pub transactional_id_pattern: Option<String>,
}

impl ListTransactionsOptions {
    /// Keeps transactions in `state` (added to the states kept).
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.states.push(state.into());
        self
    }

    /// Keeps transactions of `producer_id` (added to the ids kept).
    pub fn producer_id(mut self, producer_id: i64) -> Self {
        self.producer_ids.push(producer_id);
        self
    }

    /// Keeps transactions open longer than `duration`.
    pub fn longer_than(mut self, duration: Duration) -> Self {
        self.longer_than = Some(duration);
        self
    }

    /// Keeps transactional ids matching the regular expression `pattern`.
    pub fn transactional_id_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.transactional_id_pattern = Some(pattern.into());
        self
    }
}

/// A transactional id, as [`Admin::list_transactions`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TransactionListing {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// Its state (`Ongoing`, `CompleteCommit`, ...).
    pub state: String,
    /// The broker that coordinates it.
    pub coordinator_id: i32,
}

/// A transactional id's state, as its coordinator describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    /// Its state (`Empty`, `Ongoing`, `PrepareCommit`, `CompleteAbort`, ...).
    pub state: String,
    /// Its producer id.
    pub producer_id: i64,
    /// Its producer epoch.
    pub producer_epoch: i16,
    /// Its transaction timeout.
    pub transaction_timeout: Duration,
    /// When the open transaction started (milliseconds since the epoch),
    /// if one is open.
    pub transaction_start_time_ms: Option<i64>,
    /// The partitions in the open transaction.
    pub topic_partitions: BTreeSet<TopicPartition>,
}

impl Admin {
    /// The producers with state in each of `partitions`, asking each
    /// partition's leader. A partition's error (after retrying the ones
    /// that say leadership moved) is the `Err`, naming it.
    pub async fn describe_producers(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Vec<ActiveProducer>>> {
        let topics: BTreeSet<&str> = partitions.iter().map(|tp| &*tp.topic).collect();
        self.cluster().add_topics(topics.iter().copied());
        for topic in &topics {
            self.cluster()
                .wait_for_topic(topic, self.operation_timeout())
                .await?;
        }
        retry(self.cluster(), self.operation_timeout(), || async {
            let md = self.cluster().metadata();
            let mut by_leader: BTreeMap<i32, Vec<DescribeProducersTopicRequest>> = BTreeMap::new();
            for topic in &topics {
                let asks = partitions
                    .iter()
                    .filter(|tp| &*tp.topic == *topic)
                    .map(|tp| (tp.partition, 0));
                for (leader, parts) in group_by_leader(&md, topic, asks)? {
                    by_leader
                        .entry(leader)
                        .or_default()
                        .push(DescribeProducersTopicRequest {
                            name: (*topic).to_owned(),
                            partition_indexes: parts.into_iter().map(|(p, _)| p).collect(),
                            ..Default::default()
                        });
                }
            }
            let mut out = BTreeMap::new();
            for (leader, topics) in by_leader {
                let request = DescribeProducersRequest {
                    topics,
                    ..Default::default()
                };
                let response = self.cluster().broker(leader)?.call(request).await?;
                for t in response.topics {
                    let topic: Arc<str> = t.name.into();
                    for p in t.partitions {
                        let tp = TopicPartition::new(topic.clone(), p.partition_index);
                        partition_result(&tp, p.error_code, p.error_message.as_deref())?;
                        let producers = p
                            .active_producers
                            .into_iter()
                            .map(|s| ActiveProducer {
                                producer_id: s.producer_id,
                                producer_epoch: s.producer_epoch,
                                last_sequence: s.last_sequence,
                                last_timestamp: s.last_timestamp,
                                coordinator_epoch: (s.coordinator_epoch >= 0)
                                    .then_some(s.coordinator_epoch),
                                current_transaction_start_offset: (s.current_txn_start_offset >= 0)
                                    .then_some(s.current_txn_start_offset),
                            })
                            .collect();
                        out.insert(tp, producers);
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// The transactional ids of the cluster that `options` keeps: every
    /// broker lists those it coordinates. Sorted by transactional id.
    ///
    /// A filter the broker's ListTransactions version cannot carry
    /// (`longer_than` needs v1, Kafka 3.8; the pattern v2, Kafka 4.1)
    /// fails with [`Error::Connection`] (the broker supports no version
    /// that can say it) rather than list unfiltered.
    pub async fn list_transactions(
        &self,
        options: &ListTransactionsOptions,
    ) -> Result<Vec<TransactionListing>> {
        let request = ListTransactionsRequest {
            state_filters: options.states.clone(),
            producer_id_filters: options.producer_ids.clone(),
            duration_filter: options
                .longer_than
                .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            transactional_id_pattern: options.transactional_id_pattern.clone(),
            ..Default::default()
        };
        let brokers: Vec<i32> = self.cluster().metadata().brokers.keys().copied().collect();
        let mut out = Vec::new();
        for broker in brokers {
            let response = retry(self.cluster(), self.operation_timeout(), || async {
                let response = self.cluster().broker(broker)?.call(request.clone()).await?;
                top_level(
                    response.error_code,
                    None,
                    &format!("ListTransactions on broker {broker}"),
                )?;
                Ok(response)
            })
            .await?;
            out.extend(
                response
                    .transaction_states
                    .into_iter()
                    .map(|t| TransactionListing {
                        transactional_id: t.transactional_id,
                        producer_id: t.producer_id,
                        state: t.transaction_state,
                        coordinator_id: broker,
                    }),
            );
        }
        out.sort();
        Ok(out)
    }

    /// Describes `transactional_id`, asking its transaction coordinator
    /// (found with FindCoordinator, key type 1). An unknown id fails with
    /// `TRANSACTIONAL_ID_NOT_FOUND`.
    pub async fn describe_transaction(
        &self,
        transactional_id: &str,
    ) -> Result<TransactionDescription> {
        let coordinator = Coordinator::with_key_type(
            self.cluster().clone(),
            Arc::from(transactional_id),
            KEY_TYPE_TRANSACTION,
        );
        let state = retry(self.cluster(), self.operation_timeout(), || async {
            let request = DescribeTransactionsRequest {
                transactional_ids: vec![transactional_id.to_owned()],
                ..Default::default()
            };
            let response = coordinator.call(request, None).await?;
            let state = response
                .transaction_states
                .into_iter()
                .find(|s| s.transactional_id == transactional_id)
                .ok_or_else(|| {
                    Error::broker(
                        kafka_proto::ErrorCode::UNKNOWN_SERVER_ERROR,
                        format!("DescribeTransactions did not answer for {transactional_id}"),
                    )
                })?;
            if !state.error_code.is_ok() {
                if is_coordinator_error(state.error_code) {
                    coordinator.invalidate(&state.error_code);
                }
                return Err(Error::broker(
                    state.error_code,
                    format!("transactional id {transactional_id}"),
                ));
            }
            Ok(state)
        })
        .await?;
        let mut topic_partitions = BTreeSet::new();
        for t in state.topics {
            let topic: Arc<str> = t.topic.into();
            topic_partitions.extend(
                t.partitions
                    .into_iter()
                    .map(|p| TopicPartition::new(topic.clone(), p)),
            );
        }
        Ok(TransactionDescription {
            state: state.transaction_state,
            producer_id: state.producer_id,
            producer_epoch: state.producer_epoch,
            transaction_timeout: Duration::from_millis(
                u64::try_from(state.transaction_timeout_ms).unwrap_or(0),
            ),
            transaction_start_time_ms: (state.transaction_start_time_ms >= 0)
                .then_some(state.transaction_start_time_ms),
            topic_partitions,
        })
    }

    /// Describes each of `transactional_ids` (see
    /// [`describe_transaction`](Self::describe_transaction)); the first
    /// that fails is the `Err`.
    pub async fn describe_transactions<I: IntoIterator<Item = S>, S: AsRef<str>>(
        &self,
        transactional_ids: I,
    ) -> Result<BTreeMap<String, TransactionDescription>> {
        let mut out = BTreeMap::new();
        for id in transactional_ids {
            let id = id.as_ref();
            out.insert(id.to_owned(), self.describe_transaction(id).await?);
        }
        Ok(out)
    }
}
