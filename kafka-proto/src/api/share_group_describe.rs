//! ShareGroupDescribe (key 77): describes share groups (KIP-932): their
//! state, epochs and members with their assignments. A group of another
//! type is answered with GROUP_ID_NOT_FOUND.
//!
//! Version 0 was Kafka 4.0's early-access version; the 4.3.1 schema lists
//! only version 1.

use crate::error::ErrorCode;
use crate::primitives::Uuid;

kafka_struct! {
    /// Describes share groups.
    pub struct ShareGroupDescribeRequest {
        /// The groups.
        group_ids: Vec<String> = "0+";
        /// Whether to include the operations the caller may perform.
        include_authorized_operations: bool = "0+";
    }
}

kafka_struct! {
    /// The groups, in order.
    pub struct ShareGroupDescribeResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// One per group asked for.
        groups: Vec<ShareGroupDescribedGroup> = "0+";
    }
}

kafka_struct! {
    /// One share group.
    pub struct ShareGroupDescribedGroup as "DescribedGroup" {
        /// NONE, or why it could not be described.
        error_code: ErrorCode = "0+";
        /// The broker's message, if it failed.
        error_message: Option<String> = "0+" nullable "0+";
        /// The group id.
        group_id: String = "0+";
        /// `Empty`, `Stable` or `Dead`.
        group_state: String = "0+";
        /// The group epoch.
        group_epoch: i32 = "0+";
        /// The epoch of the target assignment.
        assignment_epoch: i32 = "0+";
        /// The server-side assignor (`simple`).
        assignor_name: String = "0+";
        /// The members.
        members: Vec<ShareGroupMember> = "0+";
        /// The operations the caller may perform, as a bit field.
        authorized_operations: i32 = "0+" default -2147483648;
    }
}

kafka_struct! {
    /// One member.
    pub struct ShareGroupMember as "Member" {
        /// Member id.
        member_id: String = "0+";
        /// Rack id, if any.
        rack_id: Option<String> = "0+" nullable "0+";
        /// Member epoch.
        member_epoch: i32 = "0+";
        /// Client id.
        client_id: String = "0+";
        /// Client host.
        client_host: String = "0+";
        /// Topics subscribed by name.
        subscribed_topic_names: Vec<String> = "0+";
        /// The member's partitions.
        assignment: ShareGroupDescribeAssignment = "0+";
    }
}

kafka_struct! {
    /// A member's partitions.
    pub struct ShareGroupDescribeAssignment as "Assignment" {
        /// By topic.
        topic_partitions: Vec<ShareGroupDescribeTopicPartitions> = "0+";
    }
}

kafka_struct! {
    /// A topic's partitions.
    pub struct ShareGroupDescribeTopicPartitions as "TopicPartitions" {
        /// Topic id.
        topic_id: Uuid = "0+";
        /// Topic name.
        topic_name: String = "0+";
        /// Partitions.
        partitions: Vec<i32> = "0+";
    }
}

kafka_api!(ShareGroupDescribeRequest => ShareGroupDescribeResponse, key SHARE_GROUP_DESCRIBE, versions 1..=1, flexible Some(0));
