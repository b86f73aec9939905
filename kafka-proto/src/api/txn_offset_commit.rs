//! TxnOffsetCommit (key 28): commits consumed offsets inside a transaction,
//! with the group's metadata (KIP-447).
//!
//! "If transaction V2 (KIP-890 part 2) is enabled, the TxnOffsetCommit
//! request will also include the function for a AddOffsetsToTxn call. If V2
//! is disabled, the client can't use TxnOffsetCommit request version higher
//! than 4 within a transaction": the sender caps the version it writes
//! (the schema cannot say which protocol the transaction uses).

use crate::error::ErrorCode;

kafka_struct! {
    /// Commits offsets as part of a transaction.
    pub struct TxnOffsetCommitRequest {
        /// The transactional id.
        transactional_id: String = "0+";
        /// The consumer group.
        group_id: String = "0+";
        /// The producer id.
        producer_id: i64 = "0+";
        /// The producer epoch.
        producer_epoch: i16 = "0+";
        /// The group's generation (v3+).
        generation_id: i32 = "3+" default -1;
        /// The member id (v3+).
        member_id: String = "3+";
        /// The static instance id (v3+).
        group_instance_id: Option<String> = "3+" nullable "3+";
        /// Offsets per topic.
        topics: Vec<TxnOffsetCommitRequestTopic> = "0+";
    }
}

kafka_struct! {
    /// One topic's offsets.
    pub struct TxnOffsetCommitRequestTopic {
        /// Topic name.
        name: String = "0+";
        /// Offsets per partition.
        partitions: Vec<TxnOffsetCommitRequestPartition> = "0+";
    }
}

kafka_struct! {
    /// One partition's offset.
    pub struct TxnOffsetCommitRequestPartition {
        /// Partition index.
        partition_index: i32 = "0+";
        /// The offset to commit (the next one to consume).
        committed_offset: i64 = "0+";
        /// Leader epoch of the last consumed record (v2+).
        committed_leader_epoch: i32 = "2+" default -1;
        /// Metadata string.
        committed_metadata: Option<String> = "0+" nullable "0+";
    }
}

kafka_struct! {
    /// The result per partition.
    pub struct TxnOffsetCommitResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// Results per topic.
        topics: Vec<TxnOffsetCommitResponseTopic> = "0+";
    }
}

kafka_struct! {
    /// One topic's results.
    pub struct TxnOffsetCommitResponseTopic {
        /// Topic name.
        name: String = "0+";
        /// Results per partition.
        partitions: Vec<TxnOffsetCommitResponsePartition> = "0+";
    }
}

kafka_struct! {
    /// One partition's result.
    pub struct TxnOffsetCommitResponsePartition {
        /// Partition index.
        partition_index: i32 = "0+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
    }
}

kafka_api!(TxnOffsetCommitRequest => TxnOffsetCommitResponse, key TXN_OFFSET_COMMIT,
    versions 0..=5, flexible Some(3));
