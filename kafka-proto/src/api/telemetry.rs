//! KIP-714 client telemetry: GetTelemetrySubscriptions (key 71) asks the
//! broker which client metrics it wants and how often; PushTelemetry
//! (key 72) sends them, as OpenTelemetry `MetricsData` (protobuf).

use bytes::Bytes;

use crate::error::ErrorCode;
use crate::primitives::Uuid;

kafka_struct! {
    /// Asks for the client's metrics subscription.
    pub struct GetTelemetrySubscriptionsRequest {
        /// The client instance id: zero on the first request, then the one
        /// the broker assigned.
        client_instance_id: Uuid = "0+";
    }
}

kafka_struct! {
    /// The metrics the broker wants, and how.
    pub struct GetTelemetrySubscriptionsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// NONE, or why not.
        error_code: ErrorCode = "0+";
        /// The id assigned, if the request sent zero.
        client_instance_id: Uuid = "0+";
        /// The subscription set's id, sent back with each push.
        subscription_id: i32 = "0+";
        /// Compression types the broker accepts for pushes.
        accepted_compression_types: Vec<i8> = "0+";
        /// How often to push, in milliseconds.
        push_interval_ms: i32 = "0+";
        /// The largest push the broker accepts, in bytes.
        telemetry_max_bytes: i32 = "0+";
        /// Counters as deltas (true) or cumulative (false).
        delta_temporality: bool = "0+";
        /// Metric name prefixes wanted: none (empty), or all (one empty
        /// string).
        requested_metrics: Vec<String> = "0+";
    }
}

kafka_struct! {
    /// Pushes the client's metrics.
    pub struct PushTelemetryRequest {
        /// The client instance id.
        client_instance_id: Uuid = "0+";
        /// The subscription the metrics answer.
        subscription_id: i32 = "0+";
        /// The client is closing: its last push.
        terminating: bool = "0+";
        /// The codec of `metrics` (0: none).
        compression_type: i8 = "0+";
        /// OpenTelemetry `MetricsData` v1, protobuf-encoded.
        metrics: Bytes = "0+";
    }
}

kafka_struct! {
    /// The broker's answer to a push.
    pub struct PushTelemetryResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// NONE, or why the push was refused.
        error_code: ErrorCode = "0+";
    }
}

kafka_api!(GetTelemetrySubscriptionsRequest => GetTelemetrySubscriptionsResponse, key GET_TELEMETRY_SUBSCRIPTIONS, versions 0..=0, flexible Some(0));
kafka_api!(PushTelemetryRequest => PushTelemetryResponse, key PUSH_TELEMETRY, versions 0..=0, flexible Some(0));
