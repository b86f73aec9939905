//! ElectLeaders (key 43): elects the preferred replica (type 0) or, when
//! no in-sync replica is left, any live replica (type 1, unclean) as the
//! leader of partitions.

use crate::error::ErrorCode;

kafka_struct! {
    /// Elects leaders.
    pub struct ElectLeadersRequest {
        /// 0 preferred, 1 unclean (v1+; v0 is always preferred).
        election_type: i8 = "1+";
        /// The partitions, or `None` for every partition (preferred only).
        topic_partitions: Option<Vec<ElectLeadersTopicPartitions>> = "0+" nullable "0+";
        /// How long the broker may wait for the elections, in milliseconds.
        timeout_ms: i32 = "0+" default 60000;
    }
}

kafka_struct! {
    /// One topic's partitions to elect leaders of.
    pub struct ElectLeadersTopicPartitions as "TopicPartitions" {
        /// Topic name.
        topic: String = "0+";
        /// Partition indexes.
        partitions: Vec<i32> = "0+";
    }
}

kafka_struct! {
    /// The elections' results.
    pub struct ElectLeadersResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// A request-wide error (v1+): CLUSTER_AUTHORIZATION_FAILED, ...
        error_code: ErrorCode = "1+";
        /// One per topic.
        replica_election_results: Vec<ReplicaElectionResult> = "0+";
    }
}

kafka_struct! {
    /// One topic's results.
    pub struct ReplicaElectionResult {
        /// Topic name.
        topic: String = "0+";
        /// One per partition.
        partition_result: Vec<ElectLeadersPartitionResult> = "0+";
    }
}

kafka_struct! {
    /// One partition's result.
    pub struct ElectLeadersPartitionResult as "PartitionResult" {
        /// Partition index.
        partition_id: i32 = "0+";
        /// NONE, or why not (ELECTION_NOT_NEEDED when the preferred replica
        /// already leads, UNKNOWN_TOPIC_OR_PARTITION, ...).
        error_code: ErrorCode = "0+";
        /// The broker's message.
        error_message: Option<String> = "0+" nullable "0+";
    }
}

kafka_api!(ElectLeadersRequest => ElectLeadersResponse, key ELECT_LEADERS, versions 0..=2, flexible Some(2),
    min_usable_version |r| if r.election_type == 0 { 0 } else { 1 });
