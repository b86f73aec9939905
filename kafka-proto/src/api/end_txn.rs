//! EndTxn (key 26): commits or aborts a transaction.
//!
//! "Version 5 enables bumping epoch on every transaction (KIP-890 Part 2)":
//! with transaction version 2 the response carries the producer id and the
//! epoch (bumped by the coordinator) for the next transaction.

use crate::error::ErrorCode;

kafka_struct! {
    /// Ends the transaction.
    pub struct EndTxnRequest {
        /// The transactional id.
        transactional_id: String = "0+";
        /// The producer id.
        producer_id: i64 = "0+";
        /// The producer epoch.
        producer_epoch: i16 = "0+";
        /// True to commit, false to abort.
        committed: bool = "0+";
    }
}

kafka_struct! {
    /// The result, and (v5+) the producer id and epoch to go on with.
    pub struct EndTxnResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// The producer id, or -1 (v5+).
        producer_id: i64 = "5+" default -1;
        /// The producer epoch, or -1 (v5+).
        producer_epoch: i16 = "5+" default -1;
    }
}

kafka_api!(EndTxnRequest => EndTxnResponse, key END_TXN, versions 0..=5, flexible Some(3));
