//! DescribeConfigs (key 32): topic and broker configs.

use crate::error::ErrorCode;

kafka_struct! {
    /// Describes configs of resources.
    pub struct DescribeConfigsRequest {
        /// Resources.
        resources: Vec<DescribeConfigsResource> = "0+";
        /// Whether to include synonyms.
        include_synonyms: bool = "1+" default false;
        /// Whether to include documentation.
        include_documentation: bool = "3+" default false;
    }
}

kafka_struct! {
    /// A resource.
    pub struct DescribeConfigsResource {
        /// Resource type (2 = topic, 4 = broker, ...).
        resource_type: i8 = "0+";
        /// Resource name.
        resource_name: String = "0+";
        /// Config keys, or `None` for all.
        configuration_keys: Option<Vec<String>> = "0+" nullable "0+";
    }
}

kafka_struct! {
    /// Configs.
    pub struct DescribeConfigsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// One per resource.
        results: Vec<DescribeConfigsResult> = "0+";
    }
}

kafka_struct! {
    /// One resource's configs.
    pub struct DescribeConfigsResult {
        /// Error, or NONE.
        error_code: ErrorCode = "0+";
        /// Error message.
        error_message: Option<String> = "0+" nullable "0+";
        /// Resource type.
        resource_type: i8 = "0+";
        /// Resource name.
        resource_name: String = "0+";
        /// Configs.
        configs: Vec<DescribeConfigsResourceResult> = "0+";
    }
}

kafka_struct! {
    /// A config.
    pub struct DescribeConfigsResourceResult {
        /// Name.
        name: String = "0+";
        /// Value.
        value: Option<String> = "0+" nullable "0+";
        /// Whether it is read-only.
        read_only: bool = "0+";
        /// Config source.
        config_source: i8 = "1+" default -1;
        /// Whether it is sensitive.
        is_sensitive: bool = "0+";
        /// Synonyms.
        synonyms: Vec<DescribeConfigsSynonym> = "1+";
        /// Config type.
        config_type: i8 = "3+" default 0;
        /// Documentation.
        documentation: Option<String> = "3+" nullable "0+";
    }
}

kafka_struct! {
    /// A config synonym.
    pub struct DescribeConfigsSynonym {
        /// Name.
        name: String = "1+";
        /// Value.
        value: Option<String> = "1+" nullable "0+";
        /// Source.
        source: i8 = "1+";
    }
}

kafka_api!(DescribeConfigsRequest => DescribeConfigsResponse, key DESCRIBE_CONFIGS, versions 1..=4, flexible Some(4));
