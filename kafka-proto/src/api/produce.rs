//! Produce (key 0): write record batches. The records are opaque bytes here
//! (encoded record batches, built by the `record` module).

use bytes::Bytes;

use crate::error::ErrorCode;
use crate::primitives::Uuid;

kafka_struct! {
    /// Writes record batches to partitions.
    pub struct ProduceRequest {
        /// Transactional id, or `None`.
        transactional_id: Option<String> = "3+" nullable "3+";
        /// Acknowledgements required: 0, 1 or -1 (all in-sync replicas). With
        /// 0 the broker sends no response.
        acks: i16 = "0+";
        /// Time to await acknowledgements, in milliseconds.
        timeout_ms: i32 = "0+";
        /// Data per topic.
        topic_data: Vec<TopicProduceData> = "0+";
    }
}

kafka_struct! {
    /// One topic's data.
    pub struct TopicProduceData {
        /// Topic name (up to v12).
        name: String = "0-12";
        /// Topic id (v13+, KIP-516): Produce v13 names topics by id only.
        topic_id: Uuid = "13+";
        /// Data per partition.
        partition_data: Vec<PartitionProduceData> = "0+";
    }
}

kafka_struct! {
    /// One partition's data.
    pub struct PartitionProduceData {
        /// Partition index.
        index: i32 = "0+";
        /// Encoded record batches (zero-copy).
        records: Option<Bytes> = "0+" nullable "0+" schema records;
    }
}

kafka_struct! {
    /// The result of a produce.
    pub struct ProduceResponse {
        /// Results per topic.
        responses: Vec<TopicProduceResponse> = "0+";
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "1+" default 0;
        /// Endpoints of leaders named in `current_leader`.
        node_endpoints: Vec<ProduceResponseNodeEndpoint> = "10+" tag 0 "10+";
    }
}

kafka_struct! {
    /// One topic's results.
    pub struct TopicProduceResponse {
        /// Topic name (up to v12).
        name: String = "0-12";
        /// Topic id (v13+).
        topic_id: Uuid = "13+";
        /// Results per partition.
        partition_responses: Vec<PartitionProduceResponse> = "0+";
    }
}

kafka_struct! {
    /// One partition's result.
    pub struct PartitionProduceResponse {
        /// Partition index.
        index: i32 = "0+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Offset of the first record written.
        base_offset: i64 = "0+";
        /// Log append time, or -1 for create time.
        log_append_time_ms: i64 = "2+" default -1;
        /// Log start offset.
        log_start_offset: i64 = "5+" default -1;
        /// Per-batch errors that caused the batch to be dropped.
        record_errors: Vec<BatchIndexAndErrorMessage> = "8+";
        /// Error message.
        error_message: Option<String> = "8+" nullable "8+";
        /// The current leader, on NOT_LEADER_OR_FOLLOWER and similar.
        current_leader: ProduceResponseLeaderIdAndEpoch = "10+" tag 0 "10+";
    }
}

kafka_struct! {
    /// A record that caused its batch to be dropped.
    pub struct BatchIndexAndErrorMessage {
        /// Index of the record in the batch.
        batch_index: i32 = "8+";
        /// Error message.
        batch_index_error_message: Option<String> = "8+" nullable "8+";
    }
}

kafka_struct! {
    /// A leader and its epoch.
    pub struct ProduceResponseLeaderIdAndEpoch as "LeaderIdAndEpoch" {
        /// Leader id, or -1.
        leader_id: i32 = "10+" default -1;
        /// Leader epoch, or -1.
        leader_epoch: i32 = "10+" default -1;
    }
}

kafka_struct! {
    /// A broker endpoint.
    pub struct ProduceResponseNodeEndpoint as "NodeEndpoint" {
        /// Broker id.
        node_id: i32 = "10+";
        /// Host name.
        host: String = "10+";
        /// Port.
        port: i32 = "10+";
        /// Rack, if any.
        rack: Option<String> = "10+" nullable "10+";
    }
}

// "Version 13 replaces topic names with topic IDs (KIP-516)": a request
// naming a topic whose id is unknown is written at v12 at most.
kafka_api!(ProduceRequest => ProduceResponse, key PRODUCE, versions 3..=13, flexible Some(9),
    expects_response |r| r.acks != 0,
    max_usable_version |r| if r.topic_data.iter().any(|t| t.topic_id.is_zero()) { 12 } else { 13 });
