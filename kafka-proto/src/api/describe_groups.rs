//! DescribeGroups (key 15): group state and members.

use bytes::Bytes;

use crate::error::ErrorCode;

kafka_struct! {
    /// Describes groups.
    pub struct DescribeGroupsRequest {
        /// Group ids.
        groups: Vec<String> = "0+";
        /// Whether to include authorized operations.
        include_authorized_operations: bool = "3+";
    }
}

kafka_struct! {
    /// Group descriptions.
    pub struct DescribeGroupsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "1+";
        /// One per group.
        groups: Vec<DescribedGroup> = "0+";
    }
}

kafka_struct! {
    /// A group.
    pub struct DescribedGroup {
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Error message (v6+), or `None`.
        error_message: Option<String> = "6+" nullable "6+";
        /// Group id.
        group_id: String = "0+";
        /// State (`"Stable"`, `"Empty"`, ...).
        group_state: String = "0+";
        /// Protocol type.
        protocol_type: String = "0+";
        /// Protocol (assignor) in use.
        protocol_data: String = "0+";
        /// Members.
        members: Vec<DescribedGroupMember> = "0+";
        /// Authorized operations bit field.
        authorized_operations: i32 = "3+" default -2147483648;
    }
}

kafka_struct! {
    /// A group member.
    pub struct DescribedGroupMember {
        /// Member id.
        member_id: String = "0+";
        /// Static instance id.
        group_instance_id: Option<String> = "4+" nullable "4+";
        /// Client id.
        client_id: String = "0+";
        /// Client host.
        client_host: String = "0+";
        /// Protocol metadata.
        member_metadata: Bytes = "0+";
        /// Current assignment.
        member_assignment: Bytes = "0+";
    }
}

kafka_api!(DescribeGroupsRequest => DescribeGroupsResponse, key DESCRIBE_GROUPS, versions 0..=6, flexible Some(5));
