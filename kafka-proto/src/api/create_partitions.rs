//! CreatePartitions (key 37): add partitions to topics.

use crate::error::ErrorCode;

kafka_struct! {
    /// Adds partitions.
    pub struct CreatePartitionsRequest {
        /// Topics to grow.
        topics: Vec<CreatePartitionsTopic> = "0+";
        /// How long to wait, in milliseconds.
        timeout_ms: i32 = "0+";
        /// Only validate.
        validate_only: bool = "0+";
    }
}

kafka_struct! {
    /// A topic to grow.
    pub struct CreatePartitionsTopic {
        /// Topic name.
        name: String = "0+";
        /// New total partition count.
        count: i32 = "0+";
        /// Replicas of the new partitions, or `None` for automatic.
        assignments: Option<Vec<CreatePartitionsAssignment>> = "0+" nullable "0+";
    }
}

kafka_struct! {
    /// Replicas of one new partition.
    pub struct CreatePartitionsAssignment {
        /// Broker ids.
        broker_ids: Vec<i32> = "0+";
    }
}

kafka_struct! {
    /// Results.
    pub struct CreatePartitionsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// One per topic.
        results: Vec<CreatePartitionsTopicResult> = "0+";
    }
}

kafka_struct! {
    /// One topic's result.
    pub struct CreatePartitionsTopicResult {
        /// Topic name.
        name: String = "0+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Error message.
        error_message: Option<String> = "0+" nullable "0+";
    }
}

kafka_api!(CreatePartitionsRequest => CreatePartitionsResponse, key CREATE_PARTITIONS, versions 0..=3, flexible Some(2));
