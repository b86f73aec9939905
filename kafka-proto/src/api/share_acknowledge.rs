//! ShareAcknowledge (key 79): acknowledges records a share group member
//! was delivered (accept, release, reject) without fetching more, within
//! the member's share session with that broker (KIP-932).
//!
//! Version 0 was Kafka 4.0's early-access version; the 4.3.1 schema lists
//! versions 1 and 2.

use crate::error::ErrorCode;
use crate::primitives::Uuid;

use super::share_fetch::{AcknowledgementBatch, ShareLeaderIdAndEpoch, ShareNodeEndpoint};

kafka_struct! {
    /// Acknowledges delivered records.
    pub struct ShareAcknowledgeRequest {
        /// The group id.
        group_id: Option<String> = "0+" nullable "0+";
        /// The member id.
        member_id: Option<String> = "0+" nullable "0+";
        /// The share session epoch (-1 closes the session).
        share_session_epoch: i32 = "0+";
        /// Whether the acknowledgements include renewals.
        is_renew_ack: bool = "2+";
        /// The topics.
        topics: Vec<ShareAcknowledgeTopic> = "0+";
    }
}

kafka_struct! {
    /// A topic's acknowledgements.
    pub struct ShareAcknowledgeTopic as "AcknowledgeTopic" {
        /// Topic id.
        topic_id: Uuid = "0+";
        /// Its partitions.
        partitions: Vec<ShareAcknowledgePartition> = "0+";
    }
}

kafka_struct! {
    /// A partition's acknowledgements.
    pub struct ShareAcknowledgePartition as "AcknowledgePartition" {
        /// Partition index.
        partition_index: i32 = "0+";
        /// The ranges and their types.
        acknowledgement_batches: Vec<AcknowledgementBatch> = "0+";
    }
}

kafka_struct! {
    /// The results.
    pub struct ShareAcknowledgeResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// The top-level error, or NONE.
        error_code: ErrorCode = "0+";
        /// The broker's message, if it failed.
        error_message: Option<String> = "0+" nullable "0+";
        /// How long acquired records stay locked, in milliseconds.
        acquisition_lock_timeout_ms: i32 = "2+";
        /// Results per topic.
        responses: Vec<ShareAcknowledgeTopicResponse> = "0+";
        /// Endpoints of leaders named in `current_leader`.
        node_endpoints: Vec<ShareNodeEndpoint> = "0+";
    }
}

kafka_struct! {
    /// One topic's results.
    pub struct ShareAcknowledgeTopicResponse {
        /// Topic id.
        topic_id: Uuid = "0+";
        /// Results per partition.
        partitions: Vec<ShareAcknowledgePartitionData> = "0+";
    }
}

kafka_struct! {
    /// One partition's result.
    pub struct ShareAcknowledgePartitionData as "PartitionData" {
        /// Partition index.
        partition_index: i32 = "0+";
        /// The acknowledgement error, or NONE.
        error_code: ErrorCode = "0+";
        /// The error's message.
        error_message: Option<String> = "0+" nullable "0+";
        /// The current leader, on leadership errors.
        current_leader: ShareLeaderIdAndEpoch = "0+";
    }
}

kafka_api!(ShareAcknowledgeRequest => ShareAcknowledgeResponse, key SHARE_ACKNOWLEDGE, versions 1..=2, flexible Some(0));
