//! AddOffsetsToTxn (key 25): adds a consumer group's offsets partition to
//! a transaction (transaction version 1; with version 2 TxnOffsetCommit
//! v5 does it itself).

use crate::error::ErrorCode;

kafka_struct! {
    /// Adds a group's offsets to the transaction.
    pub struct AddOffsetsToTxnRequest {
        /// The transactional id.
        transactional_id: String = "0+";
        /// The producer id.
        producer_id: i64 = "0+";
        /// The producer epoch.
        producer_epoch: i16 = "0+";
        /// The consumer group.
        group_id: String = "0+";
    }
}

kafka_struct! {
    /// The result.
    pub struct AddOffsetsToTxnResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
    }
}

kafka_api!(AddOffsetsToTxnRequest => AddOffsetsToTxnResponse, key ADD_OFFSETS_TO_TXN,
    versions 0..=4, flexible Some(3));
