//! DeleteRecords (key 21): move the log start offset forward.

use crate::error::ErrorCode;

kafka_struct! {
    /// Deletes records before offsets.
    pub struct DeleteRecordsRequest {
        /// Topics.
        topics: Vec<DeleteRecordsTopic> = "0+";
        /// How long to wait, in milliseconds.
        timeout_ms: i32 = "0+";
    }
}

kafka_struct! {
    /// A topic.
    pub struct DeleteRecordsTopic {
        /// Topic name.
        name: String = "0+";
        /// Partitions.
        partitions: Vec<DeleteRecordsPartition> = "0+";
    }
}

kafka_struct! {
    /// A partition.
    pub struct DeleteRecordsPartition {
        /// Partition index.
        partition_index: i32 = "0+";
        /// Delete records before this offset (-1 = high watermark).
        offset: i64 = "0+";
    }
}

kafka_struct! {
    /// Results.
    pub struct DeleteRecordsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// Topics.
        topics: Vec<DeleteRecordsTopicResult> = "0+";
    }
}

kafka_struct! {
    /// A topic's results.
    pub struct DeleteRecordsTopicResult {
        /// Topic name.
        name: String = "0+";
        /// Partitions.
        partitions: Vec<DeleteRecordsPartitionResult> = "0+";
    }
}

kafka_struct! {
    /// A partition's result.
    pub struct DeleteRecordsPartitionResult {
        /// Partition index.
        partition_index: i32 = "0+";
        /// New low watermark.
        low_watermark: i64 = "0+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
    }
}

kafka_api!(DeleteRecordsRequest => DeleteRecordsResponse, key DELETE_RECORDS, versions 0..=2, flexible Some(2));
