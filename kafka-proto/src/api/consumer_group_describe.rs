//! ConsumerGroupDescribe (key 69): describes groups of the consumer group
//! protocol of KIP-848 (`group.protocol=consumer`), which DescribeGroups
//! does not (it answers GROUP_ID_NOT_FOUND for them, as this one does for a
//! classic group).

use crate::error::ErrorCode;
use crate::primitives::Uuid;

kafka_struct! {
    /// Describes consumer groups.
    pub struct ConsumerGroupDescribeRequest {
        /// The groups.
        group_ids: Vec<String> = "0+";
        /// Whether to include the operations the caller may perform.
        include_authorized_operations: bool = "0+";
    }
}

kafka_struct! {
    /// The groups, in order.
    pub struct ConsumerGroupDescribeResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// One per group asked for.
        groups: Vec<ConsumerGroupDescribedGroup> = "0+";
    }
}

kafka_struct! {
    /// One group.
    pub struct ConsumerGroupDescribedGroup as "DescribedGroup" {
        /// NONE, or why it could not be described (GROUP_ID_NOT_FOUND for
        /// no group, or a group of another type).
        error_code: ErrorCode = "0+";
        /// The broker's message, if it failed.
        error_message: Option<String> = "0+" nullable "0+";
        /// The group id.
        group_id: String = "0+";
        /// `Empty`, `Assigning`, `Reconciling`, `Stable` or `Dead`.
        group_state: String = "0+";
        /// The group epoch.
        group_epoch: i32 = "0+";
        /// The epoch of the target assignment.
        assignment_epoch: i32 = "0+";
        /// The server-side assignor (`uniform`, `range`).
        assignor_name: String = "0+";
        /// The members.
        members: Vec<ConsumerGroupMember> = "0+";
        /// The operations the caller may perform, as a bit field.
        authorized_operations: i32 = "0+" default -2147483648;
    }
}

kafka_struct! {
    /// One member.
    pub struct ConsumerGroupMember as "Member" {
        /// Member id.
        member_id: String = "0+";
        /// Static instance id, if any.
        instance_id: Option<String> = "0+" nullable "0+";
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
        /// Topic subscription regex, if any.
        subscribed_topic_regex: Option<String> = "0+" nullable "0+";
        /// The partitions the member owns now.
        assignment: ConsumerGroupAssignment = "0+";
        /// The partitions the member is moving to.
        target_assignment: ConsumerGroupAssignment = "0+";
        /// 0: consumer protocol, 1: classic protocol member, -1: unknown.
        member_type: i8 = "1+" default -1;
    }
}

kafka_struct! {
    /// A member's partitions.
    pub struct ConsumerGroupAssignment as "Assignment" {
        /// By topic.
        topic_partitions: Vec<ConsumerGroupTopicPartitions> = "0+";
    }
}

kafka_struct! {
    /// A topic's partitions.
    pub struct ConsumerGroupTopicPartitions as "TopicPartitions" {
        /// Topic id.
        topic_id: Uuid = "0+";
        /// Topic name.
        topic_name: String = "0+";
        /// Partitions.
        partitions: Vec<i32> = "0+";
    }
}

kafka_api!(ConsumerGroupDescribeRequest => ConsumerGroupDescribeResponse, key CONSUMER_GROUP_DESCRIBE, versions 0..=1, flexible Some(0));
