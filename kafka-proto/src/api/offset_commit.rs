//! OffsetCommit (key 8): commit consumed offsets.

use crate::error::ErrorCode;
use crate::primitives::Uuid;

kafka_struct! {
    /// Commits offsets for a group.
    pub struct OffsetCommitRequest {
        /// Group id.
        group_id: String = "0+";
        /// Generation id (classic) or member epoch (consumer protocol).
        generation_id_or_member_epoch: i32 = "1+" default -1;
        /// Member id.
        member_id: String = "1+";
        /// Static instance id.
        group_instance_id: Option<String> = "7+" nullable "7+";
        /// Retention, in milliseconds, or -1 (v2-4).
        retention_time_ms: i64 = "2-4" default -1;
        /// Offsets per topic.
        topics: Vec<OffsetCommitRequestTopic> = "0+";
    }
}

kafka_struct! {
    /// One topic's offsets.
    pub struct OffsetCommitRequestTopic {
        /// Topic name (up to v9).
        name: String = "0-9";
        /// Topic id (v10+, KIP-848).
        topic_id: Uuid = "10+";
        /// Offsets per partition.
        partitions: Vec<OffsetCommitRequestPartition> = "0+";
    }
}

kafka_struct! {
    /// One partition's offset.
    pub struct OffsetCommitRequestPartition {
        /// Partition index.
        partition_index: i32 = "0+";
        /// The offset to commit (the next one to consume).
        committed_offset: i64 = "0+";
        /// Leader epoch of the last consumed record.
        committed_leader_epoch: i32 = "6+" default -1;
        /// Metadata string.
        committed_metadata: Option<String> = "0+" nullable "0+";
    }
}

kafka_struct! {
    /// The result of a commit.
    pub struct OffsetCommitResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "3+";
        /// Results per topic.
        topics: Vec<OffsetCommitResponseTopic> = "0+";
    }
}

kafka_struct! {
    /// One topic's results.
    pub struct OffsetCommitResponseTopic {
        /// Topic name (up to v9).
        name: String = "0-9";
        /// Topic id (v10+).
        topic_id: Uuid = "10+";
        /// Results per partition.
        partitions: Vec<OffsetCommitResponsePartition> = "0+";
    }
}

kafka_struct! {
    /// One partition's result.
    pub struct OffsetCommitResponsePartition {
        /// Partition index.
        partition_index: i32 = "0+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
    }
}

// "Version 10 adds support for topic ids and removes support for topic
// names (KIP-848)": a request naming a topic whose id is unknown is written
// at v9 at most.
kafka_api!(OffsetCommitRequest => OffsetCommitResponse, key OFFSET_COMMIT, versions 2..=10, flexible Some(8),
    max_usable_version |r| if r.topics.iter().any(|t| t.topic_id.is_zero()) { 9 } else { 10 });
