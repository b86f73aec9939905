//! DescribeProducers (key 61): the active (idempotent or transactional)
//! producers of partitions, as their leader knows them.

use crate::error::ErrorCode;

kafka_struct! {
    /// Describes the producers of partitions led by the receiving broker.
    pub struct DescribeProducersRequest {
        /// The topics.
        topics: Vec<DescribeProducersTopicRequest> = "0+";
    }
}

kafka_struct! {
    /// One topic's partitions.
    pub struct DescribeProducersTopicRequest as "TopicRequest" {
        /// Topic name.
        name: String = "0+";
        /// Partition indexes.
        partition_indexes: Vec<i32> = "0+";
    }
}

kafka_struct! {
    /// The producers.
    pub struct DescribeProducersResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// One per topic.
        topics: Vec<DescribeProducersTopicResponse> = "0+";
    }
}

kafka_struct! {
    /// One topic's partitions.
    pub struct DescribeProducersTopicResponse as "TopicResponse" {
        /// Topic name.
        name: String = "0+";
        /// One per partition.
        partitions: Vec<DescribeProducersPartitionResponse> = "0+";
    }
}

kafka_struct! {
    /// One partition's producers.
    pub struct DescribeProducersPartitionResponse as "PartitionResponse" {
        /// Partition index.
        partition_index: i32 = "0+";
        /// NONE, or why not (NOT_LEADER_OR_FOLLOWER, ...).
        error_code: ErrorCode = "0+";
        /// The broker's message.
        error_message: Option<String> = "0+" nullable "0+" default None;
        /// The producers with state in the partition.
        active_producers: Vec<ProducerState> = "0+";
    }
}

kafka_struct! {
    /// One producer's state in a partition.
    pub struct ProducerState {
        /// Producer id.
        producer_id: i64 = "0+";
        /// Producer epoch.
        producer_epoch: i32 = "0+";
        /// The last sequence number written.
        last_sequence: i32 = "0+" default -1;
        /// The last timestamp written.
        last_timestamp: i64 = "0+" default -1;
        /// The coordinator epoch of its last transaction marker.
        coordinator_epoch: i32 = "0+";
        /// The first offset of its open transaction, or -1.
        current_txn_start_offset: i64 = "0+" default -1;
    }
}

kafka_api!(DescribeProducersRequest => DescribeProducersResponse, key DESCRIBE_PRODUCERS, versions 0..=0, flexible Some(0));
