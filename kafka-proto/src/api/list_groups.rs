//! ListGroups (key 16): the groups a broker coordinates.

use crate::error::ErrorCode;

kafka_struct! {
    /// Lists groups.
    pub struct ListGroupsRequest {
        /// Only groups in these states (empty = all).
        states_filter: Vec<String> = "4+";
        /// Only groups of these types (empty = all).
        types_filter: Vec<String> = "5+";
    }
}

kafka_struct! {
    /// The groups.
    pub struct ListGroupsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "1+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// The groups.
        groups: Vec<ListedGroup> = "0+";
    }
}

kafka_struct! {
    /// A group.
    pub struct ListedGroup {
        /// Group id.
        group_id: String = "0+";
        /// Protocol type.
        protocol_type: String = "0+";
        /// State.
        group_state: String = "4+";
        /// Type (`"classic"`, `"consumer"`, ...).
        group_type: String = "5+";
    }
}

kafka_api!(ListGroupsRequest => ListGroupsResponse, key LIST_GROUPS, versions 0..=5, flexible Some(3));
