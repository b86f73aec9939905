//! Managing consumer groups from the admin client: listing them, deleting
//! them, and setting or deleting their committed offsets (what Kafka's
//! `kafka-consumer-groups --list`, `--delete`, `--reset-offsets` and
//! `--delete-offsets` do).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_proto::ErrorCode;
use kafka_proto::api::offset_commit::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_proto::api::offset_delete::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
use kafka_proto::api::{
    DeleteGroupsRequest, ListGroupsRequest, OffsetCommitRequest, OffsetDeleteRequest,
};

use super::coordinator::Coordinator;
use super::topic_partition::TopicPartition;
use crate::kafka::admin::{Admin, retry};
use crate::kafka::error::{Error, Result};

/// A group, as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// `consumer` for consumer groups, empty for a group that only holds
    /// committed offsets.
    pub protocol_type: String,
    /// `Stable`, `Empty`, `PreparingRebalance`, ... (empty from brokers
    /// before Kafka 2.6).
    pub state: String,
    /// `classic`, `consumer` (KIP-848) or `share`.
    pub group_type: String,
}

impl Admin {
    /// Every group of the cluster: each broker lists the groups it
    /// coordinates. Sorted by group id.
    pub async fn list_groups(&self) -> Result<Vec<GroupListing>> {
        let brokers: Vec<i32> = self.cluster().metadata().brokers.keys().copied().collect();
        let mut out = Vec::new();
        for broker in brokers {
            let response = retry(self.cluster(), self.operation_timeout(), || async {
                let response = self
                    .cluster()
                    .broker(broker)?
                    .call(ListGroupsRequest::default())
                    .await?;
                if !response.error_code.is_ok() {
                    return Err(Error::broker(
                        response.error_code,
                        format!("ListGroups on broker {broker}"),
                    ));
                }
                Ok(response)
            })
            .await?;
            out.extend(response.groups.into_iter().map(|g| GroupListing {
                group_id: g.group_id,
                protocol_type: g.protocol_type,
                state: g.group_state,
                group_type: g.group_type,
            }));
        }
        out.sort();
        out.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(out)
    }

    /// Deletes groups and their committed offsets. A group with live
    /// members is refused by the broker (`NON_EMPTY_GROUP`); the first
    /// group that could not be deleted is the error, naming it.
    pub async fn delete_groups<I: IntoIterator<Item = S>, S: AsRef<str>>(
        &self,
        groups: I,
    ) -> Result<()> {
        for group in groups {
            let group = group.as_ref();
            let coordinator = Coordinator::new(self.cluster().clone(), Arc::from(group));
            retry(self.cluster(), self.operation_timeout(), || async {
                let request = DeleteGroupsRequest {
                    groups_names: vec![group.to_owned()],
                    ..Default::default()
                };
                let response = coordinator.call(request, None).await?;
                match response.results.iter().find(|r| r.group_id == group) {
                    Some(r) if r.error_code.is_ok() => Ok(()),
                    Some(r) => Err(coordinator.error(r.error_code, "DeleteGroups")),
                    None => Err(Error::broker(
                        ErrorCode::UNKNOWN_SERVER_ERROR,
                        format!("group {group}: DeleteGroups answered for other groups"),
                    )),
                }
            })
            .await?;
        }
        Ok(())
    }

    /// Sets `group`'s committed offsets (what `--reset-offsets --execute`
    /// does): the group's next member starts at them. Only while the group
    /// has no members (its state is `Empty`, or `Dead` for a group that
    /// does not exist yet): otherwise [`Error::GroupNotEmpty`], and nothing
    /// changes, since live members would commit over them.
    pub async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<()> {
        let described = self.describe_consumer_group(group).await?;
        if !described.members.is_empty() {
            return Err(Error::GroupNotEmpty {
                group: group.to_owned(),
                state: described.state,
                members: described.members.len(),
            });
        }
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for (tp, &offset) in offsets {
            let partition = OffsetCommitRequestPartition {
                partition_index: tp.partition,
                committed_offset: offset,
                committed_leader_epoch: -1,
                committed_metadata: Some(String::new()),
                ..Default::default()
            };
            match topics.last_mut() {
                Some(t) if t.name == *tp.topic => t.partitions.push(partition),
                _ => topics.push(OffsetCommitRequestTopic {
                    name: tp.topic.to_string(),
                    partitions: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let coordinator = Coordinator::new(self.cluster().clone(), Arc::from(group));
        retry(self.cluster(), self.operation_timeout(), || async {
            // Generation -1 and no member id: a commit from outside the
            // group, which the coordinator takes only while it is empty.
            let request = OffsetCommitRequest {
                group_id: group.to_owned(),
                generation_id_or_member_epoch: -1,
                member_id: String::new(),
                topics: topics.clone(),
                ..Default::default()
            };
            let response = coordinator.call(request, None).await?;
            for t in &response.topics {
                for p in &t.partitions {
                    if !p.error_code.is_ok() {
                        let what = format!("OffsetCommit of {}/{}", t.name, p.partition_index);
                        return Err(coordinator.error(p.error_code, &what));
                    }
                }
            }
            Ok(())
        })
        .await
    }

    /// Deletes `group`'s committed offsets of `partitions` (what
    /// `--delete-offsets` does). The broker refuses it for a topic the
    /// group's members are subscribed to (`GROUP_SUBSCRIBED_TO_TOPIC`).
    pub async fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<()> {
        let mut topics: Vec<OffsetDeleteRequestTopic> = Vec::new();
        for tp in partitions {
            let partition = OffsetDeleteRequestPartition {
                partition_index: tp.partition,
                ..Default::default()
            };
            match topics.iter_mut().find(|t| t.name == *tp.topic) {
                Some(t) => t.partitions.push(partition),
                None => topics.push(OffsetDeleteRequestTopic {
                    name: tp.topic.to_string(),
                    partitions: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let coordinator = Coordinator::new(self.cluster().clone(), Arc::from(group));
        retry(self.cluster(), self.operation_timeout(), || async {
            let request = OffsetDeleteRequest {
                group_id: group.to_owned(),
                topics: topics.clone(),
                ..Default::default()
            };
            let response = coordinator.call(request, None).await?;
            if !response.error_code.is_ok() {
                return Err(coordinator.error(response.error_code, "OffsetDelete"));
            }
            for t in &response.topics {
                for p in &t.partitions {
                    if !p.error_code.is_ok() {
                        let what = format!("OffsetDelete of {}/{}", t.name, p.partition_index);
                        return Err(coordinator.error(p.error_code, &what));
                    }
                }
            }
            Ok(())
        })
        .await
    }
}
