//! Heartbeat (key 12): keep group membership alive.

use crate::error::ErrorCode;

kafka_struct! {
    /// A member's heartbeat.
    pub struct HeartbeatRequest {
        /// Group id.
        group_id: String = "0+";
        /// Generation id.
        generation_id: i32 = "0+";
        /// Member id.
        member_id: String = "0+";
        /// Static instance id.
        group_instance_id: Option<String> = "3+" nullable "3+";
    }
}

kafka_struct! {
    /// The coordinator's answer (REBALANCE_IN_PROGRESS asks to rejoin).
    pub struct HeartbeatResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "1+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
    }
}

kafka_api!(HeartbeatRequest => HeartbeatResponse, key HEARTBEAT, versions 0..=4, flexible Some(4));
