//! CreateTopics (key 19).

use crate::error::ErrorCode;
use crate::primitives::Uuid;

kafka_struct! {
    /// Creates topics.
    pub struct CreateTopicsRequest {
        /// Topics to create.
        topics: Vec<CreatableTopic> = "0+";
        /// How long to wait for creation, in milliseconds.
        timeout_ms: i32 = "0+" default 60000;
        /// Only validate, do not create.
        validate_only: bool = "1+" default false;
    }
}

kafka_struct! {
    /// A topic to create.
    pub struct CreatableTopic {
        /// Topic name.
        name: String = "0+";
        /// Partitions, or -1 for the broker default.
        num_partitions: i32 = "0+";
        /// Replication factor, or -1 for the broker default.
        replication_factor: i16 = "0+";
        /// Manual replica assignment (empty = automatic).
        assignments: Vec<CreatableReplicaAssignment> = "0+";
        /// Topic configs.
        configs: Vec<CreatableTopicConfig> = "0+";
    }
}

kafka_struct! {
    /// Replicas of one partition.
    pub struct CreatableReplicaAssignment {
        /// Partition index.
        partition_index: i32 = "0+";
        /// Broker ids.
        broker_ids: Vec<i32> = "0+";
    }
}

kafka_struct! {
    /// A topic config.
    pub struct CreatableTopicConfig {
        /// Config name.
        name: String = "0+";
        /// Config value.
        value: Option<String> = "0+" nullable "0+";
    }
}

kafka_struct! {
    /// Results of creation.
    pub struct CreateTopicsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "2+";
        /// One per topic.
        topics: Vec<CreatableTopicResult> = "0+";
    }
}

kafka_struct! {
    /// One topic's result.
    pub struct CreatableTopicResult {
        /// Topic name.
        name: String = "0+";
        /// Topic id.
        topic_id: Uuid = "7+";
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Error message.
        error_message: Option<String> = "1+" nullable "0+";
        /// Error reading the configs back.
        topic_config_error_code: ErrorCode = "5+" tag 0 "5+";
        /// Partitions.
        num_partitions: i32 = "5+" default -1;
        /// Replication factor.
        replication_factor: i16 = "5+" default -1;
        /// Configs of the topic.
        configs: Option<Vec<CreatableTopicConfigs>> = "5+" nullable "5+";
    }
}

kafka_struct! {
    /// A config of a created topic.
    pub struct CreatableTopicConfigs {
        /// Name.
        name: String = "5+";
        /// Value.
        value: Option<String> = "5+" nullable "5+";
        /// Whether it is read-only.
        read_only: bool = "5+";
        /// Config source.
        config_source: i8 = "5+" default -1;
        /// Whether it is sensitive.
        is_sensitive: bool = "5+";
    }
}

kafka_api!(CreateTopicsRequest => CreateTopicsResponse, key CREATE_TOPICS, versions 2..=7, flexible Some(5));
