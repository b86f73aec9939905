//! SyncGroup (key 14): distribute and receive assignments.

use bytes::Bytes;

use crate::error::ErrorCode;

kafka_struct! {
    /// Sends (leader) or asks for (follower) the group's assignment.
    pub struct SyncGroupRequest {
        /// Group id.
        group_id: String = "0+";
        /// Generation id.
        generation_id: i32 = "0+";
        /// Member id.
        member_id: String = "0+";
        /// Static instance id.
        group_instance_id: Option<String> = "3+" nullable "3+";
        /// Protocol type.
        protocol_type: Option<String> = "5+" nullable "5+";
        /// Protocol name.
        protocol_name: Option<String> = "5+" nullable "5+";
        /// Assignments (from the leader).
        assignments: Vec<SyncGroupRequestAssignment> = "0+";
    }
}

kafka_struct! {
    /// One member's assignment.
    pub struct SyncGroupRequestAssignment {
        /// Member id.
        member_id: String = "0+";
        /// Assignment bytes.
        assignment: Bytes = "0+";
    }
}

kafka_struct! {
    /// This member's assignment.
    pub struct SyncGroupResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "1+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Protocol type.
        protocol_type: Option<String> = "5+" nullable "5+";
        /// Protocol name.
        protocol_name: Option<String> = "5+" nullable "5+";
        /// Assignment bytes.
        assignment: Bytes = "0+";
    }
}

kafka_api!(SyncGroupRequest => SyncGroupResponse, key SYNC_GROUP, versions 0..=5, flexible Some(4));
