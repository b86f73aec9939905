//! ApiVersions (key 18): which APIs and versions the broker supports.
//!
//! A broker that does not support the request's version answers with a v0
//! body carrying `UNSUPPORTED_VERSION`; responses always use response header
//! v0, even in flexible versions (see [`crate::header`]).

use crate::error::ErrorCode;

kafka_struct! {
    /// Asks the broker for the API versions it supports.
    pub struct ApiVersionsRequest {
        /// The name of the client software.
        client_software_name: String = "3+";
        /// The version of the client software.
        client_software_version: String = "3+";
    }
}

kafka_struct! {
    /// The broker's supported API versions.
    pub struct ApiVersionsResponse {
        /// The top-level error code.
        error_code: ErrorCode = "0+";
        /// The APIs the broker supports, with their version ranges.
        api_keys: Vec<ApiVersion> = "0+";
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "1+";
        /// Features the broker supports.
        supported_features: Vec<SupportedFeatureKey> = "3+" tag 0 "3+";
        /// Epoch of the finalized features, or -1.
        finalized_features_epoch: i64 = "3+" tag 1 "3+" default -1;
        /// Cluster-wide finalized features.
        finalized_features: Vec<FinalizedFeatureKey> = "3+" tag 2 "3+";
        /// Whether the controller is ready for a ZK migration.
        zk_migration_ready: bool = "3+" tag 3 "3+" default false;
    }
}

kafka_struct! {
    /// One API's supported version range.
    pub struct ApiVersion {
        /// The API.
        api_key: crate::api::ApiKey = "0+";
        /// Lowest supported version.
        min_version: i16 = "0+";
        /// Highest supported version.
        max_version: i16 = "0+";
    }
}

kafka_struct! {
    /// A feature the broker supports.
    pub struct SupportedFeatureKey {
        /// Feature name.
        name: String = "3+";
        /// Lowest supported level.
        min_version: i16 = "3+";
        /// Highest supported level.
        max_version: i16 = "3+";
    }
}

kafka_struct! {
    /// A cluster-wide finalized feature.
    pub struct FinalizedFeatureKey {
        /// Feature name.
        name: String = "3+";
        /// Highest finalized level.
        max_version_level: i16 = "3+";
        /// Lowest finalized level.
        min_version_level: i16 = "3+";
    }
}

kafka_api!(ApiVersionsRequest => ApiVersionsResponse, key API_VERSIONS, versions 0..=4, flexible Some(3));
