//! OffsetForLeaderEpoch (key 23): end offsets of leader epochs, for log
//! truncation detection.

use crate::error::ErrorCode;

kafka_struct! {
    /// Asks for the end offset of epochs.
    pub struct OffsetForLeaderEpochRequest {
        /// Broker id of the follower; -1 for consumers, -2 for debugging.
        replica_id: i32 = "3+" default -2;
        /// Topics.
        topics: Vec<OffsetForLeaderTopic> = "0+";
    }
}

kafka_struct! {
    /// A topic.
    pub struct OffsetForLeaderTopic {
        /// Topic name.
        topic: String = "0+";
        /// Partitions.
        partitions: Vec<OffsetForLeaderPartition> = "0+";
    }
}

kafka_struct! {
    /// A partition.
    pub struct OffsetForLeaderPartition {
        /// Partition index.
        partition: i32 = "0+";
        /// Current leader epoch, for fencing.
        current_leader_epoch: i32 = "2+" default -1;
        /// The epoch to look up.
        leader_epoch: i32 = "0+";
    }
}

kafka_struct! {
    /// End offsets.
    pub struct OffsetForLeaderEpochResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "2+";
        /// Topics.
        topics: Vec<OffsetForLeaderTopicResult> = "0+";
    }
}

kafka_struct! {
    /// A topic's results.
    pub struct OffsetForLeaderTopicResult {
        /// Topic name.
        topic: String = "0+";
        /// Partitions.
        partitions: Vec<EpochEndOffset> = "0+";
    }
}

kafka_struct! {
    /// A partition's result.
    pub struct EpochEndOffset {
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Partition index.
        partition: i32 = "0+";
        /// The largest epoch not above the requested one.
        leader_epoch: i32 = "1+" default -1;
        /// End offset of that epoch.
        end_offset: i64 = "0+" default -1;
    }
}

kafka_api!(OffsetForLeaderEpochRequest => OffsetForLeaderEpochResponse, key OFFSET_FOR_LEADER_EPOCH, versions 2..=4, flexible Some(4));
