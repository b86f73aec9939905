//! Share groups seen from the admin client: ShareGroupDescribe.

use std::sync::Arc;

use kafka_proto::ErrorCode;
use kafka_proto::api::ShareGroupDescribeRequest;

use crate::kafka::admin::{Admin, retry};
use crate::kafka::error::{Error, Result};
use crate::kafka::group::coordinator::Coordinator;

/// A share group, as ShareGroupDescribe reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGroupDescription {
    /// The group id.
    pub group_id: String,
    /// `Empty`, `Stable` or `Dead`.
    pub state: String,
    /// The group epoch.
    pub group_epoch: i32,
    /// The epoch of the target assignment.
    pub assignment_epoch: i32,
    /// The server-side assignor (`simple`).
    pub assignor: String,
    /// The members.
    pub members: Vec<ShareMemberDescription>,
}

/// A member of a share group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareMemberDescription {
    /// Its member id.
    pub member_id: String,
    /// Its member epoch.
    pub member_epoch: i32,
    /// Its client id.
    pub client_id: String,
    /// The host it connects from.
    pub client_host: String,
    /// Its rack, if any.
    pub rack_id: Option<String>,
    /// The topics it subscribes to.
    pub subscribed_topics: Vec<String>,
    /// Its partitions, as `(topic, partition)`, sorted.
    pub assignment: Vec<(String, i32)>,
}

impl Admin {
    /// Describes a share group (KIP-932): state, epochs, assignor, and
    /// members with their subscriptions and partitions. A group that is
    /// not a share group, or none at all, fails with GROUP_ID_NOT_FOUND.
    pub async fn describe_share_group(&self, group: &str) -> Result<ShareGroupDescription> {
        let coordinator = Coordinator::new(self.cluster().clone(), Arc::from(group));
        let response = retry(self.cluster(), self.operation_timeout(), || async {
            let request = ShareGroupDescribeRequest {
                group_ids: vec![group.to_owned()],
                ..Default::default()
            };
            let response = coordinator.call(request, None).await?;
            let described = response.groups.into_iter().next().ok_or_else(|| {
                Error::broker(
                    ErrorCode::GROUP_ID_NOT_FOUND,
                    format!("share group {group}: ShareGroupDescribe answered no group"),
                )
            })?;
            if !described.error_code.is_ok() {
                let message = described.error_message.unwrap_or_default();
                return Err(coordinator.error(
                    described.error_code,
                    &format!("ShareGroupDescribe: {message}"),
                ));
            }
            Ok(described)
        })
        .await?;
        Ok(ShareGroupDescription {
            group_id: response.group_id,
            state: response.group_state,
            group_epoch: response.group_epoch,
            assignment_epoch: response.assignment_epoch,
            assignor: response.assignor_name,
            members: response
                .members
                .into_iter()
                .map(|m| {
                    let mut assignment: Vec<(String, i32)> = m
                        .assignment
                        .topic_partitions
                        .into_iter()
                        .flat_map(|t| {
                            let name = t.topic_name;
                            t.partitions.into_iter().map(move |p| (name.clone(), p))
                        })
                        .collect();
                    assignment.sort();
                    ShareMemberDescription {
                        member_id: m.member_id,
                        member_epoch: m.member_epoch,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        rack_id: m.rack_id,
                        subscribed_topics: m.subscribed_topic_names,
                        assignment,
                    }
                })
                .collect(),
        })
    }
}
