//! Leader elections (ElectLeaders): moving leadership back to each
//! partition's preferred replica, or electing an out-of-sync replica when
//! no in-sync one is left.

use std::collections::BTreeMap;

use kafka_proto::api::ElectLeadersRequest;
use kafka_proto::api::elect_leaders::ElectLeadersTopicPartitions;

use super::{by_topic, partition_result};
use crate::kafka::admin::Admin;
use crate::kafka::error::Result;
use crate::kafka::group::TopicPartition;

/// Which replica [`Admin::elect_leaders`] makes the leader (Java's
/// `ElectionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ElectionType {
    /// The preferred replica (the first of the replica list), if it is in
    /// sync. A partition it already leads answers
    /// [`ELECTION_NOT_NEEDED`](crate::kafka::ErrorCode::ELECTION_NOT_NEEDED).
    Preferred,
    /// Any live replica, in sync or not, when the partition has no leader
    /// and no in-sync replica left: records may be lost.
    Unclean,
}

impl ElectionType {
    fn wire(self) -> i8 {
        match self {
            ElectionType::Preferred => 0,
            ElectionType::Unclean => 1,
        }
    }
}

impl Admin {
    /// Elects leaders for `partitions`, or for every partition of the
    /// cluster with `None` (which the broker answers with the partitions
    /// whose election was needed or failed). Each partition's result is
    /// `Ok`, or the broker's error for it:
    /// [`ELECTION_NOT_NEEDED`](crate::kafka::ErrorCode::ELECTION_NOT_NEEDED)
    /// when the replica asked for already leads,
    /// `UNKNOWN_TOPIC_OR_PARTITION`, `PREFERRED_LEADER_NOT_AVAILABLE`,
    /// `ELIGIBLE_LEADERS_NOT_AVAILABLE`, ... A request-wide error (such as
    /// `CLUSTER_AUTHORIZATION_FAILED`) is the `Err`.
    ///
    /// Sent to any broker, which forwards it to the KRaft controller. An
    /// unclean election needs ElectLeaders v1 (Kafka 2.4); a broker with
    /// only v0 fails it with [`Error::Connection`](crate::kafka::Error::Connection)
    /// rather than hold a preferred one.
    pub async fn elect_leaders(
        &self,
        election: ElectionType,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<BTreeMap<TopicPartition, Result<()>>> {
        let request = ElectLeadersRequest {
            election_type: election.wire(),
            topic_partitions: partitions.map(|ps| {
                by_topic(ps)
                    .into_iter()
                    .map(|(topic, partitions)| ElectLeadersTopicPartitions {
                        topic: topic.to_owned(),
                        partitions,
                        ..Default::default()
                    })
                    .collect()
            }),
            timeout_ms: self.timeout_ms(),
            ..Default::default()
        };
        let response = self
            .controller_call(&request, "ElectLeaders", |r| (r.error_code, None))
            .await?;
        let mut out = BTreeMap::new();
        for topic in response.replica_election_results {
            for p in topic.partition_result {
                let tp = TopicPartition::new(topic.topic.as_str(), p.partition_id);
                let result = partition_result(&tp, p.error_code, p.error_message.as_deref());
                out.insert(tp, result);
            }
        }
        Ok(out)
    }
}
