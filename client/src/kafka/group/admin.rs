//! Consumer groups seen from the admin client: DescribeGroups, with each
//! member's subscription and assignment decoded, and committed offsets.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_proto::api::DescribeGroupsRequest;
use kafka_proto::api::consumer_protocol::ConsumerProtocolSubscription;
use kafka_proto::api::describe_groups::DescribedGroup;

use super::coordinator::{Coordinator, find_coordinator};
use super::offsets::fetch_committed;
use super::protocol::{decode_assignment, decode_subscription};
use super::topic_partition::{OffsetAndEpoch, TopicPartition};
use crate::kafka::admin::{Admin, retry};
use crate::kafka::error::{Error, Result};

/// A consumer group, as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// `Stable`, `PreparingRebalance`, `CompletingRebalance`, `Empty` or
    /// `Dead`.
    pub state: String,
    /// `consumer` for consumer groups.
    pub protocol_type: String,
    /// The assignor in use (`range`, `cooperative-sticky`, ...).
    pub protocol: String,
    /// The members.
    pub members: Vec<GroupMemberDescription>,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberDescription {
    /// Its member id.
    pub member_id: String,
    /// Its static instance id.
    pub instance_id: Option<String>,
    /// Its client id.
    pub client_id: String,
    /// The host it connects from.
    pub client_host: String,
    /// Its subscription, if it is a consumer-protocol member whose metadata
    /// decodes.
    pub subscription: Option<ConsumerProtocolSubscription>,
    /// Its assignment (empty if none, or if it does not decode).
    pub assignment: Vec<TopicPartition>,
}

impl Admin {
    /// Describes a consumer group: state, assignor, members and their
    /// assignments.
    pub async fn describe_consumer_group(&self, group: &str) -> Result<GroupDescription> {
        let coordinator = Coordinator::new(self.cluster().clone(), Arc::from(group));
        let response = retry(self.cluster(), self.operation_timeout(), || async {
            let request = DescribeGroupsRequest {
                groups: vec![group.to_owned()],
                ..Default::default()
            };
            let response = coordinator.call(request, None).await?;
            let described = response.groups.into_iter().next().ok_or_else(|| {
                Error::broker(
                    kafka_proto::ErrorCode::UNKNOWN_SERVER_ERROR,
                    "empty DescribeGroups answer",
                )
            })?;
            // v6 answers GROUP_ID_NOT_FOUND for a group that does not exist
            // (KIP-1043), where older versions describe it as `Dead` with
            // no members: keep the older answer, whichever version is used.
            if described.error_code == kafka_proto::ErrorCode::GROUP_ID_NOT_FOUND {
                return Ok(DescribedGroup {
                    group_id: group.to_owned(),
                    group_state: "Dead".to_owned(),
                    ..Default::default()
                });
            }
            if !described.error_code.is_ok() {
                return Err(coordinator.error(described.error_code, "DescribeGroups"));
            }
            Ok(described)
        })
        .await?;
        let consumer = response.protocol_type == "consumer";
        Ok(GroupDescription {
            group_id: response.group_id,
            state: response.group_state,
            protocol_type: response.protocol_type,
            protocol: response.protocol_data,
            members: response
                .members
                .into_iter()
                .map(|m| GroupMemberDescription {
                    member_id: m.member_id,
                    instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    subscription: consumer
                        .then(|| decode_subscription(&m.member_metadata).ok())
                        .flatten()
                        .map(|(_, subscription)| subscription),
                    assignment: consumer
                        .then(|| decode_assignment(&m.member_assignment).ok())
                        .flatten()
                        .unwrap_or_default(),
                })
                .collect(),
        })
    }

    /// The id of the broker that coordinates `group` (FindCoordinator;
    /// the Java client's `ConsumerGroupDescription.coordinator()`).
    pub async fn group_coordinator(&self, group: &str) -> Result<i32> {
        retry(self.cluster(), self.operation_timeout(), || async {
            find_coordinator(self.cluster(), group)
                .await
                .map(|(node, _, _)| node)
        })
        .await
    }

    /// The offsets `group` has committed for `partitions` (`None` where it
    /// has none).
    pub async fn consumer_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndEpoch>>> {
        // OffsetFetch v10 names topics by id: look up the ids this admin
        // does not know yet. A topic still unknown after that is asked for
        // by name (v9), so a failed lookup is no error here.
        let md = self.cluster().metadata();
        if partitions.iter().any(|tp| md.topic(&tp.topic).is_none()) {
            self.cluster()
                .add_topics(partitions.iter().map(|tp| &*tp.topic));
            if let Err(e) = self.cluster().refresh().await {
                tracing::debug!(error = %e, "no topic ids for OffsetFetch; asking by name");
            }
        }
        let coordinator = Coordinator::new(self.cluster().clone(), Arc::from(group));
        fetch_committed(&coordinator, partitions, self.operation_timeout()).await
    }
}
