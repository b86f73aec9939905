//! OffsetDelete (key 47): deletes a group's committed offsets of some
//! partitions (the group must not be subscribed to their topics).

use crate::error::ErrorCode;

kafka_struct! {
    /// Deletes committed offsets.
    pub struct OffsetDeleteRequest {
        /// Group id.
        group_id: String = "0+";
        /// Topics and their partitions.
        topics: Vec<OffsetDeleteRequestTopic> = "0+";
    }
}

kafka_struct! {
    /// A topic's partitions whose offsets go.
    pub struct OffsetDeleteRequestTopic {
        /// Topic name.
        name: String = "0+";
        /// Partitions.
        partitions: Vec<OffsetDeleteRequestPartition> = "0+";
    }
}

kafka_struct! {
    /// A partition.
    pub struct OffsetDeleteRequestPartition {
        /// Partition index.
        partition_index: i32 = "0+";
    }
}

kafka_struct! {
    /// The results.
    pub struct OffsetDeleteResponse {
        /// Error for the whole request (GROUP_ID_NOT_FOUND,
        /// NON_EMPTY_GROUP, ...), or NONE.
        error_code: ErrorCode = "0+";
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// One per topic.
        topics: Vec<OffsetDeleteResponseTopic> = "0+";
    }
}

kafka_struct! {
    /// A topic's results.
    pub struct OffsetDeleteResponseTopic {
        /// Topic name.
        name: String = "0+";
        /// One per partition.
        partitions: Vec<OffsetDeleteResponsePartition> = "0+";
    }
}

kafka_struct! {
    /// A partition's result.
    pub struct OffsetDeleteResponsePartition {
        /// Partition index.
        partition_index: i32 = "0+";
        /// NONE, or GROUP_SUBSCRIBED_TO_TOPIC while the group reads it.
        error_code: ErrorCode = "0+";
    }
}

kafka_api!(OffsetDeleteRequest => OffsetDeleteResponse, key OFFSET_DELETE, versions 0..=0, flexible None);
