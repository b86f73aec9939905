//! LeaveGroup (key 13): leave a group.

use crate::error::ErrorCode;

kafka_struct! {
    /// Members leaving a group.
    pub struct LeaveGroupRequest {
        /// Group id.
        group_id: String = "0+";
        /// Member id (up to v2).
        member_id: String = "0-2";
        /// Members leaving (v3+).
        members: Vec<MemberIdentity> = "3+";
    }
}

kafka_struct! {
    /// A member leaving.
    pub struct MemberIdentity {
        /// Member id.
        member_id: String = "3+";
        /// Static instance id.
        group_instance_id: Option<String> = "3+" nullable "3+";
        /// Reason for leaving.
        reason: Option<String> = "5+" nullable "5+";
    }
}

kafka_struct! {
    /// The result of leaving.
    pub struct LeaveGroupResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "1+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Per-member results (v3+).
        members: Vec<MemberResponse> = "3+";
    }
}

kafka_struct! {
    /// One member's result.
    pub struct MemberResponse {
        /// Member id.
        member_id: String = "3+";
        /// Static instance id.
        group_instance_id: Option<String> = "3+" nullable "3+";
        /// Error, or NONE.
        error_code: ErrorCode = "3+";
    }
}

kafka_api!(LeaveGroupRequest => LeaveGroupResponse, key LEAVE_GROUP, versions 0..=5, flexible Some(4));
