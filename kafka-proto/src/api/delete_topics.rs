//! DeleteTopics (key 20).

use crate::error::ErrorCode;
use crate::primitives::Uuid;

kafka_struct! {
    /// Deletes topics, by name (up to v5) or by name or id (v6+).
    pub struct DeleteTopicsRequest {
        /// Topics to delete (v6+).
        topics: Vec<DeleteTopicState> = "6+";
        /// Topic names to delete (up to v5).
        topic_names: Vec<String> = "0-5";
        /// How long to wait for deletion, in milliseconds.
        timeout_ms: i32 = "0+";
    }
}

kafka_struct! {
    /// A topic to delete.
    pub struct DeleteTopicState {
        /// Name, or `None` to use the id.
        name: Option<String> = "6+" nullable "6+";
        /// Id, or zero to use the name.
        topic_id: Uuid = "6+";
    }
}

kafka_struct! {
    /// Results of deletion.
    pub struct DeleteTopicsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "1+";
        /// One per topic.
        responses: Vec<DeletableTopicResult> = "0+";
    }
}

kafka_struct! {
    /// One topic's result.
    pub struct DeletableTopicResult {
        /// Name.
        name: Option<String> = "0+" nullable "6+";
        /// Id.
        topic_id: Uuid = "6+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Error message.
        error_message: Option<String> = "5+" nullable "5+";
    }
}

kafka_api!(DeleteTopicsRequest => DeleteTopicsResponse, key DELETE_TOPICS, versions 1..=6, flexible Some(4));
