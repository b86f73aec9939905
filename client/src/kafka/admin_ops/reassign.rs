//! Partition reassignments: moving a partition's replicas to other brokers
//! (AlterPartitionReassignments), cancelling such a move, and listing the
//! moves under way (ListPartitionReassignments).

use std::collections::BTreeMap;

use kafka_proto::api::partition_reassignments::{
    ListPartitionReassignmentsTopics, ReassignablePartition, ReassignableTopic,
};
use kafka_proto::api::{AlterPartitionReassignmentsRequest, ListPartitionReassignmentsRequest};

use super::{by_topic, partition_result};
use crate::kafka::admin::Admin;
use crate::kafka::error::Result;
use crate::kafka::group::TopicPartition;

/// A reassignment under way, as [`Admin::list_partition_reassignments`]
/// reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReassignment {
    /// The partition's current replica set (the old and new replicas
    /// while the move runs).
    pub replicas: Vec<i32>,
    /// Replicas being added.
    pub adding_replicas: Vec<i32>,
    /// Replicas being removed.
    pub removing_replicas: Vec<i32>,
}

impl Admin {
    /// Moves partitions to new replica sets: `Some(broker ids)` starts
    /// moving the partition there (the first id becomes its preferred
    /// leader), `None` cancels the partition's move under way (Java's
    /// `Optional.empty()`). Each partition's result is `Ok` once the
    /// controller accepted it (the data moves afterwards), or the
    /// broker's error: `NO_REASSIGNMENT_IN_PROGRESS` for a cancel with no
    /// move under way, `INVALID_REPLICA_ASSIGNMENT` or
    /// `UNKNOWN_TOPIC_OR_PARTITION`, ... A request-wide error is the `Err`.
    ///
    /// Sent to any broker, which forwards it to the KRaft controller.
    pub async fn alter_partition_reassignments(
        &self,
        reassignments: &BTreeMap<TopicPartition, Option<Vec<i32>>>,
    ) -> Result<BTreeMap<TopicPartition, Result<()>>> {
        let mut topics: BTreeMap<&str, Vec<ReassignablePartition>> = BTreeMap::new();
        for (tp, replicas) in reassignments {
            topics
                .entry(&tp.topic)
                .or_default()
                .push(ReassignablePartition {
                    partition_index: tp.partition,
                    replicas: replicas.clone(),
                    ..Default::default()
                });
        }
        let request = AlterPartitionReassignmentsRequest {
            timeout_ms: self.timeout_ms(),
            allow_replication_factor_change: true,
            topics: topics
                .into_iter()
                .map(|(name, partitions)| ReassignableTopic {
                    name: name.to_owned(),
                    partitions,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let response = self
            .controller_call(&request, "AlterPartitionReassignments", |r| {
                (r.error_code, r.error_message.as_deref())
            })
            .await?;
        let mut out = BTreeMap::new();
        for topic in response.responses {
            for p in topic.partitions {
                let tp = TopicPartition::new(topic.name.as_str(), p.partition_index);
                let result = partition_result(&tp, p.error_code, p.error_message.as_deref());
                out.insert(tp, result);
            }
        }
        Ok(out)
    }

    /// The reassignments under way, of `partitions` or (with `None`) of
    /// the whole cluster. A partition with no move under way is absent.
    ///
    /// Sent to any broker, which forwards it to the KRaft controller.
    pub async fn list_partition_reassignments(
        &self,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<BTreeMap<TopicPartition, PartitionReassignment>> {
        let request = ListPartitionReassignmentsRequest {
            timeout_ms: self.timeout_ms(),
            topics: partitions.map(|ps| {
                by_topic(ps)
                    .into_iter()
                    .map(
                        |(name, partition_indexes)| ListPartitionReassignmentsTopics {
                            name: name.to_owned(),
                            partition_indexes,
                            ..Default::default()
                        },
                    )
                    .collect()
            }),
            ..Default::default()
        };
        let response = self
            .controller_call(&request, "ListPartitionReassignments", |r| {
                (r.error_code, r.error_message.as_deref())
            })
            .await?;
        let mut out = BTreeMap::new();
        for topic in response.topics {
            for p in topic.partitions {
                out.insert(
                    TopicPartition::new(topic.name.as_str(), p.partition_index),
                    PartitionReassignment {
                        replicas: p.replicas,
                        adding_replicas: p.adding_replicas,
                        removing_replicas: p.removing_replicas,
                    },
                );
            }
        }
        Ok(out)
    }
}
