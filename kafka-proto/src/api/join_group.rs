//! JoinGroup (key 11): join a classic consumer group.

use bytes::Bytes;

use crate::error::ErrorCode;

kafka_struct! {
    /// Joins a group.
    pub struct JoinGroupRequest {
        /// Group id.
        group_id: String = "0+";
        /// Session timeout, in milliseconds.
        session_timeout_ms: i32 = "0+";
        /// Rebalance timeout, in milliseconds.
        rebalance_timeout_ms: i32 = "1+" default -1;
        /// Member id assigned by the coordinator, or empty.
        member_id: String = "0+";
        /// Static member instance id.
        group_instance_id: Option<String> = "5+" nullable "5+";
        /// Protocol type (`"consumer"`).
        protocol_type: String = "0+";
        /// Supported assignment protocols.
        protocols: Vec<JoinGroupRequestProtocol> = "0+";
        /// Reason for joining.
        reason: Option<String> = "8+" nullable "8+";
    }
}

kafka_struct! {
    /// An assignment protocol the member supports.
    pub struct JoinGroupRequestProtocol {
        /// Protocol name (assignor).
        name: String = "0+";
        /// Protocol metadata (subscription).
        metadata: Bytes = "0+";
    }
}

kafka_struct! {
    /// The result of joining.
    pub struct JoinGroupResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "2+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Generation id.
        generation_id: i32 = "0+" default -1;
        /// Protocol type.
        protocol_type: Option<String> = "7+" nullable "7+";
        /// Chosen protocol.
        protocol_name: Option<String> = "0+" nullable "7+";
        /// Leader member id.
        leader: String = "0+";
        /// Whether the leader should skip assigning.
        skip_assignment: bool = "9+" default false;
        /// This member's id.
        member_id: String = "0+";
        /// Members (for the leader).
        members: Vec<JoinGroupResponseMember> = "0+";
    }
}

kafka_struct! {
    /// A group member.
    pub struct JoinGroupResponseMember {
        /// Member id.
        member_id: String = "0+";
        /// Static instance id.
        group_instance_id: Option<String> = "5+" nullable "5+";
        /// Member's protocol metadata.
        metadata: Bytes = "0+";
    }
}

kafka_api!(JoinGroupRequest => JoinGroupResponse, key JOIN_GROUP, versions 0..=9, flexible Some(6));
