//! AlterPartitionReassignments (key 45) and ListPartitionReassignments
//! (key 46): moving partitions' replicas to other brokers (or cancelling
//! such a move), and listing the moves under way.

use crate::error::ErrorCode;

kafka_struct! {
    /// Starts or cancels reassignments.
    pub struct AlterPartitionReassignmentsRequest {
        /// How long the broker may wait, in milliseconds.
        timeout_ms: i32 = "0+" default 60000;
        /// Whether a reassignment may change a partition's replica count
        /// (v1+).
        allow_replication_factor_change: bool = "1+" default true;
        /// The topics.
        topics: Vec<ReassignableTopic> = "0+";
    }
}

kafka_struct! {
    /// One topic's partitions to reassign.
    pub struct ReassignableTopic {
        /// Topic name.
        name: String = "0+";
        /// The partitions.
        partitions: Vec<ReassignablePartition> = "0+";
    }
}

kafka_struct! {
    /// One partition's new replicas.
    pub struct ReassignablePartition {
        /// Partition index.
        partition_index: i32 = "0+";
        /// The new replica broker ids, or `None` to cancel the partition's
        /// reassignment under way.
        replicas: Option<Vec<i32>> = "0+" nullable "0+" default None;
    }
}

kafka_struct! {
    /// The results.
    pub struct AlterPartitionReassignmentsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// Whether a replica-count change was allowed (v1+).
        allow_replication_factor_change: bool = "1+" default true;
        /// A request-wide error.
        error_code: ErrorCode = "0+";
        /// The broker's message.
        error_message: Option<String> = "0+" nullable "0+";
        /// One per topic.
        responses: Vec<ReassignableTopicResponse> = "0+";
    }
}

kafka_struct! {
    /// One topic's results.
    pub struct ReassignableTopicResponse {
        /// Topic name.
        name: String = "0+";
        /// One per partition.
        partitions: Vec<ReassignablePartitionResponse> = "0+";
    }
}

kafka_struct! {
    /// One partition's result.
    pub struct ReassignablePartitionResponse {
        /// Partition index.
        partition_index: i32 = "0+";
        /// NONE, or why not (NO_REASSIGNMENT_IN_PROGRESS for a cancel with
        /// none under way, INVALID_REPLICA_ASSIGNMENT, ...).
        error_code: ErrorCode = "0+";
        /// The broker's message.
        error_message: Option<String> = "0+" nullable "0+";
    }
}

kafka_api!(AlterPartitionReassignmentsRequest => AlterPartitionReassignmentsResponse, key ALTER_PARTITION_REASSIGNMENTS, versions 0..=1, flexible Some(0));

kafka_struct! {
    /// Lists reassignments under way.
    pub struct ListPartitionReassignmentsRequest {
        /// How long the broker may wait, in milliseconds.
        timeout_ms: i32 = "0+" default 60000;
        /// The partitions to look at, or `None` for all.
        topics: Option<Vec<ListPartitionReassignmentsTopics>> = "0+" nullable "0+" default None;
    }
}

kafka_struct! {
    /// One topic's partitions to look at.
    pub struct ListPartitionReassignmentsTopics {
        /// Topic name.
        name: String = "0+";
        /// Partition indexes.
        partition_indexes: Vec<i32> = "0+";
    }
}

kafka_struct! {
    /// The reassignments under way.
    pub struct ListPartitionReassignmentsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// A request-wide error.
        error_code: ErrorCode = "0+";
        /// The broker's message.
        error_message: Option<String> = "0+" nullable "0+";
        /// One per topic with a reassignment under way.
        topics: Vec<OngoingTopicReassignment> = "0+";
    }
}

kafka_struct! {
    /// One topic's reassignments.
    pub struct OngoingTopicReassignment {
        /// Topic name.
        name: String = "0+";
        /// One per partition being reassigned.
        partitions: Vec<OngoingPartitionReassignment> = "0+";
    }
}

kafka_struct! {
    /// One partition's reassignment.
    pub struct OngoingPartitionReassignment {
        /// Partition index.
        partition_index: i32 = "0+";
        /// The current replica set.
        replicas: Vec<i32> = "0+";
        /// Replicas being added.
        adding_replicas: Vec<i32> = "0+";
        /// Replicas being removed.
        removing_replicas: Vec<i32> = "0+";
    }
}

kafka_api!(ListPartitionReassignmentsRequest => ListPartitionReassignmentsResponse, key LIST_PARTITION_REASSIGNMENTS, versions 0..=0, flexible Some(0));
