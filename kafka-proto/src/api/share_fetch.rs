//! ShareFetch (key 78): reads records of a share group's partitions
//! (KIP-932) within a share session, and carries acknowledgements of
//! records delivered before. The records are opaque, zero-copy bytes here
//! (the same record batches as Fetch); the response says which offsets of
//! them this member acquired, with their delivery counts.
//!
//! Version 0 was Kafka 4.0's early-access version; the 4.3.1 schema lists
//! versions 1 and 2 (2 adds the acquire mode and renew acknowledgements).

use bytes::Bytes;

use crate::error::ErrorCode;
use crate::primitives::Uuid;

kafka_struct! {
    /// Fetches records for a share group member.
    pub struct ShareFetchRequest {
        /// The group id.
        group_id: Option<String> = "0+" nullable "0+";
        /// The member id.
        member_id: Option<String> = "0+" nullable "0+";
        /// The share session epoch: 0 opens a session, -1 closes it, else
        /// one more than the previous request's.
        share_session_epoch: i32 = "0+";
        /// Longest time to wait for `min_bytes`, in milliseconds.
        max_wait_ms: i32 = "0+";
        /// Minimum bytes to accumulate before answering.
        min_bytes: i32 = "0+";
        /// Maximum bytes in the response.
        max_bytes: i32 = "0+" default 0x7fffffff;
        /// Maximum records to acquire (may be exceeded to keep batches
        /// whole).
        max_records: i32 = "1+";
        /// The preferred number of records per batch of acquired records
        /// and acknowledgements.
        batch_size: i32 = "1+";
        /// 0: batch-optimized, 1: record-limit.
        share_acquire_mode: i8 = "2+";
        /// Whether the acknowledgements include renewals.
        is_renew_ack: bool = "2+";
        /// Topics to fetch (and acknowledge).
        topics: Vec<ShareFetchTopic> = "0+";
        /// Partitions to remove from the share session.
        forgotten_topics_data: Vec<ShareForgottenTopic> = "0+";
    }
}

kafka_struct! {
    /// A topic to fetch from.
    pub struct ShareFetchTopic as "FetchTopic" {
        /// Topic id.
        topic_id: Uuid = "0+";
        /// Its partitions.
        partitions: Vec<ShareFetchPartition> = "0+";
    }
}

kafka_struct! {
    /// A partition to fetch from, with acknowledgements.
    pub struct ShareFetchPartition as "FetchPartition" {
        /// Partition index.
        partition_index: i32 = "0+";
        /// Acknowledgements of records delivered before.
        acknowledgement_batches: Vec<AcknowledgementBatch> = "0+";
    }
}

kafka_struct! {
    /// A range of offsets and how they are acknowledged.
    pub struct AcknowledgementBatch {
        /// First offset.
        first_offset: i64 = "0+";
        /// Last offset (inclusive).
        last_offset: i64 = "0+";
        /// One type for the whole range, or one per offset: 0 gap,
        /// 1 accept, 2 release, 3 reject, 4 renew.
        acknowledge_types: Vec<i8> = "0+";
    }
}

kafka_struct! {
    /// Partitions to forget from the share session.
    pub struct ShareForgottenTopic as "ForgottenTopic" {
        /// Topic id.
        topic_id: Uuid = "0+";
        /// Partition indexes.
        partitions: Vec<i32> = "0+";
    }
}

kafka_struct! {
    /// Records and acknowledgement results.
    pub struct ShareFetchResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// The top-level error, or NONE.
        error_code: ErrorCode = "0+";
        /// The broker's message, if it failed.
        error_message: Option<String> = "0+" nullable "0+";
        /// How long the acquired records stay locked, in milliseconds.
        acquisition_lock_timeout_ms: i32 = "1+";
        /// Results per topic.
        responses: Vec<ShareFetchableTopicResponse> = "0+";
        /// Endpoints of leaders named in `current_leader`.
        node_endpoints: Vec<ShareNodeEndpoint> = "0+";
    }
}

kafka_struct! {
    /// One topic's results.
    pub struct ShareFetchableTopicResponse {
        /// Topic id.
        topic_id: Uuid = "0+";
        /// Results per partition.
        partitions: Vec<SharePartitionData> = "0+";
    }
}

kafka_struct! {
    /// One partition's result.
    pub struct SharePartitionData as "PartitionData" {
        /// Partition index.
        partition_index: i32 = "0+";
        /// The fetch error, or NONE.
        error_code: ErrorCode = "0+";
        /// The fetch error's message.
        error_message: Option<String> = "0+" nullable "0+";
        /// The acknowledgement error, or NONE.
        acknowledge_error_code: ErrorCode = "0+";
        /// The acknowledgement error's message.
        acknowledge_error_message: Option<String> = "0+" nullable "0+";
        /// The current leader, on leadership errors.
        current_leader: ShareLeaderIdAndEpoch = "0+";
        /// Record batches (zero-copy).
        records: Bytes = "0+" nullable "0" schema records;
        /// The offset ranges this member acquired, with delivery counts.
        acquired_records: Vec<AcquiredRecords> = "0+";
    }
}

kafka_struct! {
    /// A leader and its epoch.
    pub struct ShareLeaderIdAndEpoch as "LeaderIdAndEpoch" {
        /// Leader id, or -1.
        leader_id: i32 = "0+";
        /// Leader epoch.
        leader_epoch: i32 = "0+";
    }
}

kafka_struct! {
    /// A range of acquired offsets.
    pub struct AcquiredRecords {
        /// First offset.
        first_offset: i64 = "0+";
        /// Last offset (inclusive).
        last_offset: i64 = "0+";
        /// How many times these records were delivered, this one included.
        delivery_count: i16 = "0+";
    }
}

kafka_struct! {
    /// A broker endpoint.
    pub struct ShareNodeEndpoint as "NodeEndpoint" {
        /// Broker id.
        node_id: i32 = "0+";
        /// Host name.
        host: String = "0+";
        /// Port.
        port: i32 = "0+";
        /// Rack, if any.
        rack: Option<String> = "0+" nullable "0+";
    }
}

kafka_api!(ShareFetchRequest => ShareFetchResponse, key SHARE_FETCH, versions 1..=2, flexible Some(0));
