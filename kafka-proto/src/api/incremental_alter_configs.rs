//! IncrementalAlterConfigs (key 44): sets, deletes, appends to or
//! subtracts from single config entries of topics and brokers.

use crate::error::ErrorCode;

kafka_struct! {
    /// Alters configs entry by entry.
    pub struct IncrementalAlterConfigsRequest {
        /// The resources and their changes.
        resources: Vec<AlterConfigsResource> = "0+";
        /// Only validate; change nothing.
        validate_only: bool = "0+";
    }
}

kafka_struct! {
    /// One resource's changes.
    pub struct AlterConfigsResource {
        /// Resource type (2 = topic, 4 = broker, ...).
        resource_type: i8 = "0+";
        /// Resource name (a topic name, a broker id, or empty for the
        /// cluster-wide broker default).
        resource_name: String = "0+";
        /// The changes.
        configs: Vec<AlterableConfig> = "0+";
    }
}

kafka_struct! {
    /// One change.
    pub struct AlterableConfig {
        /// Config name.
        name: String = "0+";
        /// 0 set, 1 delete (back to the default), 2 append, 3 subtract.
        config_operation: i8 = "0+";
        /// The value (`None` for a delete).
        value: Option<String> = "0+" nullable "0+";
    }
}

kafka_struct! {
    /// The results.
    pub struct IncrementalAlterConfigsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// One per resource.
        responses: Vec<AlterConfigsResourceResponse> = "0+";
    }
}

kafka_struct! {
    /// One resource's result.
    pub struct AlterConfigsResourceResponse {
        /// NONE, or why (INVALID_CONFIG names an unknown or bad entry).
        error_code: ErrorCode = "0+";
        /// The broker's message.
        error_message: Option<String> = "0+" nullable "0+";
        /// Resource type.
        resource_type: i8 = "0+";
        /// Resource name.
        resource_name: String = "0+";
    }
}

kafka_api!(IncrementalAlterConfigsRequest => IncrementalAlterConfigsResponse, key INCREMENTAL_ALTER_CONFIGS, versions 0..=1, flexible Some(1));
