//! FindCoordinator (key 10): the group or transaction coordinator.

use crate::error::ErrorCode;

kafka_struct! {
    /// Finds the coordinator of a group (key type 0) or transaction (1).
    pub struct FindCoordinatorRequest {
        /// The key (up to v3).
        key: String = "0-3";
        /// 0 = group, 1 = transaction.
        key_type: i8 = "1+" default 0;
        /// The keys (v4+).
        coordinator_keys: Vec<String> = "4+";
    }
}

kafka_struct! {
    /// The coordinator(s).
    pub struct FindCoordinatorResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "1+";
        /// Error (up to v3).
        error_code: ErrorCode = "0-3";
        /// Error message (up to v3).
        error_message: Option<String> = "1-3" nullable "1-3";
        /// Coordinator broker id (up to v3).
        node_id: i32 = "0-3";
        /// Coordinator host (up to v3).
        host: String = "0-3";
        /// Coordinator port (up to v3).
        port: i32 = "0-3";
        /// One coordinator per key (v4+).
        coordinators: Vec<Coordinator> = "4+";
    }
}

kafka_struct! {
    /// The coordinator of one key.
    pub struct Coordinator {
        /// The key.
        key: String = "4+";
        /// Coordinator broker id.
        node_id: i32 = "4+";
        /// Host.
        host: String = "4+";
        /// Port.
        port: i32 = "4+";
        /// Error, or NONE.
        error_code: ErrorCode = "4+";
        /// Error message.
        error_message: Option<String> = "4+" nullable "4+";
    }
}

kafka_api!(FindCoordinatorRequest => FindCoordinatorResponse, key FIND_COORDINATOR, versions 0..=6, flexible Some(3));
