//! ListOffsets (key 2): offsets by timestamp (earliest = -2, latest = -1).

use crate::error::ErrorCode;

kafka_struct! {
    /// Looks up offsets by timestamp.
    pub struct ListOffsetsRequest {
        /// Broker id of the requester; -1 for clients.
        replica_id: i32 = "0+";
        /// 0 = READ_UNCOMMITTED, 1 = READ_COMMITTED.
        isolation_level: i8 = "2+";
        /// Topics to look up.
        topics: Vec<ListOffsetsTopic> = "0+";
        /// Timeout for tiered-storage lookups, in milliseconds.
        timeout_ms: i32 = "10+";
    }
}

kafka_struct! {
    /// A topic to look up.
    pub struct ListOffsetsTopic {
        /// Topic name.
        name: String = "0+";
        /// Partitions to look up.
        partitions: Vec<ListOffsetsPartition> = "0+";
    }
}

kafka_struct! {
    /// A partition to look up.
    pub struct ListOffsetsPartition {
        /// Partition index.
        partition_index: i32 = "0+";
        /// Current leader epoch, for fencing.
        current_leader_epoch: i32 = "4+" default -1;
        /// Timestamp: -1 latest, -2 earliest, -3 max timestamp, or a time.
        timestamp: i64 = "0+";
    }
}

kafka_struct! {
    /// Offsets found.
    pub struct ListOffsetsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "2+";
        /// Results per topic.
        topics: Vec<ListOffsetsTopicResponse> = "0+";
    }
}

kafka_struct! {
    /// One topic's results.
    pub struct ListOffsetsTopicResponse {
        /// Topic name.
        name: String = "0+";
        /// Results per partition.
        partitions: Vec<ListOffsetsPartitionResponse> = "0+";
    }
}

kafka_struct! {
    /// One partition's result.
    pub struct ListOffsetsPartitionResponse {
        /// Partition index.
        partition_index: i32 = "0+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Timestamp of the found offset.
        timestamp: i64 = "1+" default -1;
        /// The offset.
        offset: i64 = "1+" default -1;
        /// Leader epoch of the offset.
        leader_epoch: i32 = "4+" default -1;
    }
}

kafka_api!(ListOffsetsRequest => ListOffsetsResponse, key LIST_OFFSETS, versions 1..=11, flexible Some(6));
