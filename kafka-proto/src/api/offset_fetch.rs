//! OffsetFetch (key 9): read committed offsets.

use crate::error::ErrorCode;
use crate::primitives::Uuid;

kafka_struct! {
    /// Reads committed offsets of one group (up to v7) or several (v8+).
    pub struct OffsetFetchRequest {
        /// Group id (up to v7).
        group_id: String = "0-7";
        /// Topics to read, or `None` (v2-7) for all.
        topics: Option<Vec<OffsetFetchRequestTopic>> = "0-7" nullable "2-7";
        /// Groups to read (v8+).
        groups: Vec<OffsetFetchRequestGroup> = "8+";
        /// Whether to wait for pending transactional offsets.
        require_stable: bool = "7+" default false;
    }
}

kafka_struct! {
    /// A topic to read (up to v7).
    pub struct OffsetFetchRequestTopic {
        /// Topic name.
        name: String = "0-7";
        /// Partition indexes.
        partition_indexes: Vec<i32> = "0-7";
    }
}

kafka_struct! {
    /// A group to read (v8+).
    pub struct OffsetFetchRequestGroup {
        /// Group id.
        group_id: String = "8+";
        /// Member id (consumer protocol).
        member_id: Option<String> = "9+" nullable "9+";
        /// Member epoch (consumer protocol).
        member_epoch: i32 = "9+" default -1;
        /// Topics to read, or `None` for all.
        topics: Option<Vec<OffsetFetchRequestTopics>> = "8+" nullable "8+";
    }
}

kafka_struct! {
    /// A topic to read (v8+).
    pub struct OffsetFetchRequestTopics {
        /// Topic name (v8-v9).
        name: String = "8-9";
        /// Topic id (v10+, KIP-848).
        topic_id: Uuid = "10+";
        /// Partition indexes.
        partition_indexes: Vec<i32> = "8+";
    }
}

kafka_struct! {
    /// Committed offsets.
    pub struct OffsetFetchResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "3+";
        /// Results per topic (up to v7).
        topics: Vec<OffsetFetchResponseTopic> = "0-7";
        /// Top-level error (v2-7).
        error_code: ErrorCode = "2-7" default ErrorCode(0);
        /// Results per group (v8+).
        groups: Vec<OffsetFetchResponseGroup> = "8+";
    }
}

kafka_struct! {
    /// One topic's offsets (up to v7).
    pub struct OffsetFetchResponseTopic {
        /// Topic name.
        name: String = "0-7";
        /// Offsets per partition.
        partitions: Vec<OffsetFetchResponsePartition> = "0-7";
    }
}

kafka_struct! {
    /// One partition's offset (up to v7).
    pub struct OffsetFetchResponsePartition {
        /// Partition index.
        partition_index: i32 = "0-7";
        /// Committed offset, or -1.
        committed_offset: i64 = "0-7";
        /// Leader epoch of the committed offset.
        committed_leader_epoch: i32 = "5-7" default -1;
        /// Metadata string.
        metadata: Option<String> = "0-7" nullable "0-7";
        /// Error, or NONE.
        error_code: ErrorCode = "0-7";
    }
}

kafka_struct! {
    /// One group's offsets (v8+).
    pub struct OffsetFetchResponseGroup {
        /// Group id.
        group_id: String = "8+";
        /// Offsets per topic.
        topics: Vec<OffsetFetchResponseTopics> = "8+";
        /// Group-level error.
        error_code: ErrorCode = "8+" default ErrorCode(0);
    }
}

kafka_struct! {
    /// One topic's offsets (v8+).
    pub struct OffsetFetchResponseTopics {
        /// Topic name (v8-v9).
        name: String = "8-9";
        /// Topic id (v10+).
        topic_id: Uuid = "10+";
        /// Offsets per partition.
        partitions: Vec<OffsetFetchResponsePartitions> = "8+";
    }
}

kafka_struct! {
    /// One partition's offset (v8+).
    pub struct OffsetFetchResponsePartitions {
        /// Partition index.
        partition_index: i32 = "8+";
        /// Committed offset, or -1.
        committed_offset: i64 = "8+";
        /// Leader epoch of the committed offset.
        committed_leader_epoch: i32 = "8+" default -1;
        /// Metadata string.
        metadata: Option<String> = "8+" nullable "8+";
        /// Error, or NONE.
        error_code: ErrorCode = "8+";
    }
}

// "Version 10 adds support for topic ids and removes support for topic
// names (KIP-848)": a request naming a topic whose id is unknown is written
// at v9 at most. (A group asking for all its topics, `topics: None`, gets
// them back by id at v10.)
kafka_api!(OffsetFetchRequest => OffsetFetchResponse, key OFFSET_FETCH, versions 1..=10, flexible Some(6),
max_usable_version |r| {
    let unknown_id = r.groups.iter().flat_map(|g| g.topics.iter().flatten())
        .any(|t| t.topic_id.is_zero());
    if unknown_id { 9 } else { 10 }
});
