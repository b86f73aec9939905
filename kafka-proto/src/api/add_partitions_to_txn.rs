//! AddPartitionsToTxn (key 24): adds partitions to a producer's ongoing
//! transaction, before the first produce to each (transaction version 1).
//!
//! "Versions 3 and below will be exclusively used by clients and versions
//! 4 and above will be used by brokers": a client's request fills the
//! `v3_and_below_*` fields and is written at v3 at most (see
//! [`Request::max_usable_version`](crate::api::Request::max_usable_version));
//! a request with `transactions` (the brokers' batched form) goes up to v5.

use crate::error::ErrorCode;

kafka_struct! {
    /// Adds partitions to one transaction (v0-3) or to several (v4+).
    pub struct AddPartitionsToTxnRequest {
        /// The transactions (v4+, sent by brokers).
        transactions: Vec<AddPartitionsToTxnTransaction> = "4+";
        /// The transactional id (up to v3).
        v3_and_below_transactional_id: String = "0-3";
        /// The producer id (up to v3).
        v3_and_below_producer_id: i64 = "0-3";
        /// The producer epoch (up to v3).
        v3_and_below_producer_epoch: i16 = "0-3";
        /// The partitions to add (up to v3).
        v3_and_below_topics: Vec<AddPartitionsToTxnTopic> = "0-3";
    }
}

kafka_struct! {
    /// One transaction of a batched request (v4+).
    pub struct AddPartitionsToTxnTransaction {
        /// The transactional id.
        transactional_id: String = "4+";
        /// The producer id.
        producer_id: i64 = "4+";
        /// The producer epoch.
        producer_epoch: i16 = "4+";
        /// Only check that the partitions are in the transaction.
        verify_only: bool = "4+" default false;
        /// The partitions to add.
        topics: Vec<AddPartitionsToTxnTopic> = "4+";
    }
}

kafka_struct! {
    /// One topic's partitions.
    pub struct AddPartitionsToTxnTopic {
        /// Topic name.
        name: String = "0+";
        /// Partition indexes.
        partitions: Vec<i32> = "0+";
    }
}

kafka_struct! {
    /// The result per partition.
    pub struct AddPartitionsToTxnResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// Top-level error (v4+).
        error_code: ErrorCode = "4+";
        /// Results per transaction (v4+).
        results_by_transaction: Vec<AddPartitionsToTxnResult> = "4+";
        /// Results per topic (up to v3).
        results_by_topic_v3_and_below: Vec<AddPartitionsToTxnTopicResult> = "0-3";
    }
}

kafka_struct! {
    /// One transaction's results (v4+).
    pub struct AddPartitionsToTxnResult {
        /// The transactional id.
        transactional_id: String = "4+";
        /// Results per topic.
        topic_results: Vec<AddPartitionsToTxnTopicResult> = "4+";
    }
}

kafka_struct! {
    /// One topic's results.
    pub struct AddPartitionsToTxnTopicResult {
        /// Topic name.
        name: String = "0+";
        /// Results per partition.
        results_by_partition: Vec<AddPartitionsToTxnPartitionResult> = "0+";
    }
}

kafka_struct! {
    /// One partition's result.
    pub struct AddPartitionsToTxnPartitionResult {
        /// Partition index.
        partition_index: i32 = "0+";
        /// Error, or NONE.
        partition_error_code: ErrorCode = "0+";
    }
}

kafka_api!(AddPartitionsToTxnRequest => AddPartitionsToTxnResponse, key ADD_PARTITIONS_TO_TXN,
    versions 0..=5, flexible Some(3),
    max_usable_version |r| if r.transactions.is_empty() { 3 } else { 5 });
