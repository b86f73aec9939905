//! DeleteGroups (key 42): deletes empty consumer groups and their offsets.

use crate::error::ErrorCode;

kafka_struct! {
    /// Deletes groups.
    pub struct DeleteGroupsRequest {
        /// The groups to delete.
        groups_names: Vec<String> = "0+";
    }
}

kafka_struct! {
    /// What became of each group.
    pub struct DeleteGroupsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// One per group.
        results: Vec<DeletableGroupResult> = "0+";
    }
}

kafka_struct! {
    /// One group's result.
    pub struct DeletableGroupResult {
        /// Group id.
        group_id: String = "0+";
        /// NONE, or why it was not deleted (NON_EMPTY_GROUP while it has
        /// members, GROUP_ID_NOT_FOUND, ...).
        error_code: ErrorCode = "0+";
    }
}

kafka_api!(DeleteGroupsRequest => DeleteGroupsResponse, key DELETE_GROUPS, versions 0..=2, flexible Some(2));
