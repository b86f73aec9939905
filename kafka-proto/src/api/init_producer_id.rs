//! InitProducerId (key 22): producer id and epoch for idempotence and
//! transactions.

use crate::error::ErrorCode;

kafka_struct! {
    /// Asks for a producer id.
    pub struct InitProducerIdRequest {
        /// Transactional id, or `None` for idempotence only.
        transactional_id: Option<String> = "0+" nullable "0+";
        /// Transaction timeout, in milliseconds.
        transaction_timeout_ms: i32 = "0+";
        /// Existing producer id, to bump its epoch; -1 otherwise.
        producer_id: i64 = "3+" default -1;
        /// Existing producer epoch; -1 otherwise.
        producer_epoch: i16 = "3+" default -1;
        /// Whether to enable two-phase commit (v6+, KIP-939).
        enable2_pc: bool = "6+" default false;
        /// Whether to keep an ongoing prepared transaction instead of
        /// aborting it (v6+, KIP-939).
        keep_prepared_txn: bool = "6+" default false;
    }
}

kafka_struct! {
    /// The producer id.
    pub struct InitProducerIdResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Producer id.
        producer_id: i64 = "0+" default -1;
        /// Producer epoch.
        producer_epoch: i16 = "0+";
        /// Producer id of the ongoing transaction kept by
        /// `keep_prepared_txn`, or -1 (v6+).
        ongoing_txn_producer_id: i64 = "6+" default -1;
        /// Epoch of that producer id, or -1 (v6+).
        ongoing_txn_producer_epoch: i16 = "6+" default -1;
    }
}

kafka_api!(InitProducerIdRequest => InitProducerIdResponse, key INIT_PRODUCER_ID, versions 0..=6, flexible Some(2));
