//! Metadata (key 3): brokers, topics, partitions and leaders.

use crate::error::ErrorCode;
use crate::primitives::Uuid;

kafka_struct! {
    /// Asks for cluster and topic metadata.
    pub struct MetadataRequest {
        /// Topics to describe; `None` (v1+) means all topics.
        topics: Option<Vec<MetadataRequestTopic>> = "0+" nullable "1+";
        /// Whether the broker may auto-create missing topics.
        allow_auto_topic_creation: bool = "4+" default true;
        /// Whether to include cluster authorized operations.
        include_cluster_authorized_operations: bool = "8-10";
        /// Whether to include per-topic authorized operations.
        include_topic_authorized_operations: bool = "8+";
    }
}

kafka_struct! {
    /// A topic to describe.
    pub struct MetadataRequestTopic {
        /// The topic id.
        topic_id: Uuid = "10+";
        /// The topic name.
        name: Option<String> = "0+" nullable "10+";
    }
}

kafka_struct! {
    /// Cluster and topic metadata.
    pub struct MetadataResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "3+";
        /// The brokers.
        brokers: Vec<MetadataResponseBroker> = "0+";
        /// The cluster id.
        cluster_id: Option<String> = "2+" nullable "2+";
        /// The controller's broker id, or -1.
        controller_id: i32 = "1+" default -1;
        /// Each requested topic.
        topics: Vec<MetadataResponseTopic> = "0+";
        /// Cluster authorized operations bit field.
        cluster_authorized_operations: i32 = "8-10" default -2147483648;
        /// Top-level error (v13+), or NONE.
        error_code: ErrorCode = "13+";
    }
}

kafka_struct! {
    /// A broker.
    pub struct MetadataResponseBroker {
        /// The broker id.
        node_id: i32 = "0+";
        /// Host name.
        host: String = "0+";
        /// Port.
        port: i32 = "0+";
        /// Rack, if any.
        rack: Option<String> = "1+" nullable "1+";
    }
}

kafka_struct! {
    /// A topic's metadata.
    pub struct MetadataResponseTopic {
        /// Topic-level error.
        error_code: ErrorCode = "0+";
        /// Topic name.
        name: Option<String> = "0+" nullable "12+";
        /// Topic id.
        topic_id: Uuid = "10+";
        /// Whether the topic is internal.
        is_internal: bool = "1+" default false;
        /// Each partition.
        partitions: Vec<MetadataResponsePartition> = "0+";
        /// Topic authorized operations bit field.
        topic_authorized_operations: i32 = "8+" default -2147483648;
    }
}

kafka_struct! {
    /// A partition's metadata.
    pub struct MetadataResponsePartition {
        /// Partition-level error.
        error_code: ErrorCode = "0+";
        /// Partition index.
        partition_index: i32 = "0+";
        /// Leader broker id.
        leader_id: i32 = "0+";
        /// Leader epoch.
        leader_epoch: i32 = "7+" default -1;
        /// Replica broker ids.
        replica_nodes: Vec<i32> = "0+";
        /// In-sync replica broker ids.
        isr_nodes: Vec<i32> = "0+";
        /// Offline replica broker ids.
        offline_replicas: Vec<i32> = "5+";
    }
}

kafka_api!(MetadataRequest => MetadataResponse, key METADATA, versions 0..=13, flexible Some(9));
