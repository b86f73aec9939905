//! Fetch (key 1): read record batches. The records are opaque, zero-copy
//! bytes here; the `record` module iterates them lazily (and skips a partial
//! batch at the end).

use bytes::Bytes;

use crate::error::ErrorCode;
use crate::primitives::Uuid;

kafka_struct! {
    /// Reads records from partitions.
    pub struct FetchRequest {
        /// The cluster id, if known.
        cluster_id: Option<String> = "12+" nullable "12+" tag 0 "12+";
        /// Broker id of the follower; -1 for consumers.
        replica_id: i32 = "0-14" default -1;
        /// State of the replica in the follower (brokers only).
        replica_state: ReplicaState = "15+" tag 1 "15+";
        /// Maximum time to wait for `min_bytes`, in milliseconds.
        max_wait_ms: i32 = "0+";
        /// Minimum bytes to accumulate before answering.
        min_bytes: i32 = "0+";
        /// Maximum bytes in the response.
        max_bytes: i32 = "3+" default 0x7fffffff;
        /// 0 = READ_UNCOMMITTED, 1 = READ_COMMITTED.
        isolation_level: i8 = "4+" default 0;
        /// Fetch session id.
        session_id: i32 = "7+" default 0;
        /// Fetch session epoch.
        session_epoch: i32 = "7+" default -1;
        /// Topics to fetch.
        topics: Vec<FetchTopic> = "0+";
        /// Partitions to remove from the fetch session.
        forgotten_topics_data: Vec<ForgottenTopic> = "7+";
        /// Rack of the consumer.
        rack_id: String = "11+";
    }
}

kafka_struct! {
    /// The follower's replica state.
    pub struct ReplicaState {
        /// Replica id.
        replica_id: i32 = "15+" default -1;
        /// Replica broker epoch.
        replica_epoch: i64 = "15+" default -1;
    }
}

kafka_struct! {
    /// A topic to fetch.
    pub struct FetchTopic {
        /// Topic name (up to v12).
        topic: String = "0-12";
        /// Topic id (v13+).
        topic_id: Uuid = "13+";
        /// Partitions to fetch.
        partitions: Vec<FetchPartition> = "0+";
    }
}

kafka_struct! {
    /// A partition to fetch.
    pub struct FetchPartition {
        /// Partition index.
        partition: i32 = "0+";
        /// Current leader epoch, for fencing.
        current_leader_epoch: i32 = "9+" default -1;
        /// Offset to fetch from.
        fetch_offset: i64 = "0+";
        /// Epoch of the last fetched record, or -1.
        last_fetched_epoch: i32 = "12+" default -1;
        /// Follower's log start offset (brokers only).
        log_start_offset: i64 = "5+" default -1;
        /// Maximum bytes from this partition.
        partition_max_bytes: i32 = "0+";
        /// Directory id of the replica (brokers only).
        replica_directory_id: Uuid = "17+" tag 0 "17+";
        /// High watermark known by the replica (brokers only, KIP-1166):
        /// -1 if unknown, `i64::MAX` if the feature is not supported.
        high_watermark: i64 = "18+" tag 1 "18+" default 9223372036854775807;
    }
}

kafka_struct! {
    /// Partitions to forget from an incremental fetch session.
    pub struct ForgottenTopic {
        /// Topic name (up to v12).
        topic: String = "7-12";
        /// Topic id (v13+).
        topic_id: Uuid = "13+";
        /// Partition indexes.
        partitions: Vec<i32> = "7+";
    }
}

kafka_struct! {
    /// Records and partition states.
    pub struct FetchResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "1+";
        /// Top-level error.
        error_code: ErrorCode = "7+";
        /// Fetch session id.
        session_id: i32 = "7+" default 0;
        /// Results per topic.
        responses: Vec<FetchableTopicResponse> = "0+";
        /// Endpoints of leaders named in `current_leader`.
        node_endpoints: Vec<FetchResponseNodeEndpoint> = "16+" tag 0 "16+";
    }
}

kafka_struct! {
    /// One topic's results.
    pub struct FetchableTopicResponse {
        /// Topic name (up to v12).
        topic: String = "0-12";
        /// Topic id (v13+).
        topic_id: Uuid = "13+";
        /// Results per partition.
        partitions: Vec<PartitionData> = "0+";
    }
}

kafka_struct! {
    /// One partition's result.
    pub struct PartitionData {
        /// Partition index.
        partition_index: i32 = "0+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// High watermark.
        high_watermark: i64 = "0+";
        /// Last stable offset.
        last_stable_offset: i64 = "4+" default -1;
        /// Log start offset.
        log_start_offset: i64 = "5+" default -1;
        /// Where the follower's log diverges (brokers only).
        diverging_epoch: FetchResponseEpochEndOffset = "12+" tag 0 "12+";
        /// The current leader, on leadership errors.
        current_leader: FetchResponseLeaderIdAndEpoch = "12+" tag 1 "12+";
        /// Snapshot to fetch instead (KRaft).
        snapshot_id: SnapshotId = "12+" tag 2 "12+";
        /// Aborted transactions in the returned range.
        aborted_transactions: Option<Vec<AbortedTransaction>> = "4+" nullable "4+";
        /// Preferred read replica, or -1.
        preferred_read_replica: i32 = "11+" default -1;
        /// Record batches (zero-copy; may end with a partial batch).
        records: Option<Bytes> = "0+" nullable "0+" schema records;
    }
}

kafka_struct! {
    /// An epoch and its end offset.
    pub struct FetchResponseEpochEndOffset as "EpochEndOffset" {
        /// Epoch.
        epoch: i32 = "12+" default -1;
        /// End offset.
        end_offset: i64 = "12+" default -1;
    }
}

kafka_struct! {
    /// A leader and its epoch.
    pub struct FetchResponseLeaderIdAndEpoch as "LeaderIdAndEpoch" {
        /// Leader id, or -1.
        leader_id: i32 = "12+" default -1;
        /// Leader epoch, or -1.
        leader_epoch: i32 = "12+" default -1;
    }
}

kafka_struct! {
    /// A snapshot id.
    pub struct SnapshotId {
        /// End offset.
        end_offset: i64 = "0+" default -1;
        /// Epoch.
        epoch: i32 = "0+" default -1;
    }
}

kafka_struct! {
    /// An aborted transaction.
    pub struct AbortedTransaction {
        /// Producer id.
        producer_id: i64 = "4+";
        /// First offset of the aborted transaction.
        first_offset: i64 = "4+";
    }
}

kafka_struct! {
    /// A broker endpoint.
    pub struct FetchResponseNodeEndpoint as "NodeEndpoint" {
        /// Broker id.
        node_id: i32 = "16+";
        /// Host name.
        host: String = "16+";
        /// Port.
        port: i32 = "16+";
        /// Rack, if any.
        rack: Option<String> = "16+" nullable "16+";
    }
}

// Topic ids replace names from v13: a request naming a topic whose id is
// unknown is written at v12 at most.
kafka_api!(FetchRequest => FetchResponse, key FETCH, versions 4..=18, flexible Some(12),
max_usable_version |r| {
    let unknown_id = r.topics.iter().any(|t| t.topic_id.is_zero())
        || r.forgotten_topics_data.iter().any(|t| t.topic_id.is_zero());
    if unknown_id { 12 } else { 18 }
});
