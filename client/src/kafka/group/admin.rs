//! Consumer groups seen from the admin client: DescribeGroups, with each
//! member's subscription and assignment decoded, and committed offsets.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_proto::ConnectionError;
use kafka_proto::api::consumer_group_describe::{
    ConsumerGroupAssignment, ConsumerGroupDescribedGroup,
};
use kafka_proto::api::consumer_protocol::ConsumerProtocolSubscription;
use kafka_proto::api::describe_groups::DescribedGroup;
use kafka_proto::api::{ConsumerGroupDescribeRequest, DescribeGroupsRequest};

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
    /// `classic` (JoinGroup/SyncGroup), `consumer` for the consumer
    /// group protocol of KIP-848 (`group.protocol=consumer`), or `share`
    /// for a share group (KIP-932).
    pub group_type: String,
    /// Classic: `Stable`, `PreparingRebalance`, `CompletingRebalance`,
    /// `Empty` or `Dead`; consumer: `Stable`, `Assigning`, `Reconciling`,
    /// `Empty` or `Dead`.
    pub state: String,
    /// `consumer` for consumer groups.
    pub protocol_type: String,
    /// The assignor in use: the client-side one of a classic group
    /// (`range`, `cooperative-sticky`, ...) or the server-side one of a
    /// consumer group (`uniform`, `range`).
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
    /// Consumer groups: the member epoch (`None` in a classic group).
    pub member_epoch: Option<i32>,
}

impl Admin {
    /// Describes a consumer group of either protocol: state, assignor,
    /// members and their assignments. A group of the consumer protocol
    /// (KIP-848) is described by ConsumerGroupDescribe, a classic one by
    /// DescribeGroups (each answers GROUP_ID_NOT_FOUND for the other kind,
    /// and a broker before Kafka 4.0 may not have the first at all).
    pub async fn describe_consumer_group(&self, group: &str) -> Result<GroupDescription> {
        let coordinator = Coordinator::new(self.cluster().clone(), Arc::from(group));
        if let Some(described) = self.describe_kip848_group(&coordinator, group).await? {
            return Ok(described);
        }
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
        if response.group_state == "Dead" && response.members.is_empty() {
            // Neither a consumer nor a classic group: a share group, or none.
            if let Some(share) = self.describe_share_as_group(group).await? {
                return Ok(share);
            }
        }
        let consumer = response.protocol_type == "consumer";
        Ok(GroupDescription {
            group_id: response.group_id,
            group_type: "classic".into(),
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
                    member_epoch: None,
                })
                .collect(),
        })
    }

    /// ShareGroupDescribe, in the shape of the other groups' descriptions
    /// (type and protocol type `share`, the server-side assignor);
    /// `None` when it is no share group either, or the broker lacks the
    /// API.
    async fn describe_share_as_group(&self, group: &str) -> Result<Option<GroupDescription>> {
        let share = match self.describe_share_group(group).await {
            Ok(share) => share,
            Err(Error::Broker {
                code: kafka_proto::ErrorCode::GROUP_ID_NOT_FOUND,
                ..
            }) => return Ok(None),
            Err(Error::Connection {
                source: ConnectionError::UnsupportedApi(_),
                ..
            }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(GroupDescription {
            group_id: share.group_id,
            group_type: "share".into(),
            state: share.state,
            protocol_type: "share".into(),
            protocol: share.assignor,
            members: share
                .members
                .into_iter()
                .map(|m| GroupMemberDescription {
                    member_id: m.member_id,
                    instance_id: None,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    subscription: Some(ConsumerProtocolSubscription {
                        topics: m.subscribed_topics,
                        ..Default::default()
                    }),
                    assignment: m
                        .assignment
                        .into_iter()
                        .map(|(t, p)| TopicPartition::new(t, p))
                        .collect(),
                    member_epoch: Some(m.member_epoch),
                })
                .collect(),
        }))
    }

    /// ConsumerGroupDescribe; `None` when the group is not a consumer
    /// group (or none at all), or the broker lacks the API.
    async fn describe_kip848_group(
        &self,
        coordinator: &Coordinator,
        group: &str,
    ) -> Result<Option<GroupDescription>> {
        let result = retry(self.cluster(), self.operation_timeout(), || async {
            let request = ConsumerGroupDescribeRequest {
                group_ids: vec![group.to_owned()],
                ..Default::default()
            };
            match coordinator.call(request, None).await {
                Ok(response) => Ok(response.groups.into_iter().next()),
                Err(Error::Connection {
                    source: ConnectionError::UnsupportedApi(_),
                    ..
                }) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await?;
        let Some(described) = result else {
            return Ok(None);
        };
        if described.error_code == kafka_proto::ErrorCode::GROUP_ID_NOT_FOUND {
            return Ok(None);
        }
        if !described.error_code.is_ok() {
            return Err(coordinator.error(described.error_code, "ConsumerGroupDescribe"));
        }
        Ok(Some(kip848_description(described)))
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

/// A consumer group (KIP-848) as a [`GroupDescription`].
fn kip848_description(g: ConsumerGroupDescribedGroup) -> GroupDescription {
    let partitions = |a: ConsumerGroupAssignment| -> Vec<TopicPartition> {
        let mut out: Vec<TopicPartition> = a
            .topic_partitions
            .into_iter()
            .flat_map(|t| {
                let topic: Arc<str> = Arc::from(t.topic_name);
                t.partitions
                    .into_iter()
                    .map(move |p| TopicPartition::new(topic.clone(), p))
            })
            .collect();
        out.sort();
        out
    };
    GroupDescription {
        group_id: g.group_id,
        group_type: "consumer".into(),
        state: g.group_state,
        protocol_type: "consumer".into(),
        protocol: g.assignor_name,
        members: g
            .members
            .into_iter()
            .map(|m| GroupMemberDescription {
                member_id: m.member_id,
                instance_id: m.instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                subscription: Some(ConsumerProtocolSubscription {
                    topics: m.subscribed_topic_names,
                    ..Default::default()
                }),
                assignment: partitions(m.assignment),
                member_epoch: Some(m.member_epoch),
            })
            .collect(),
    }
}
