//! Partition assignors: the group leader runs one to split the subscribed
//! topics' partitions among the members.
//!
//! - [`Assignor::Range`]: per topic, consecutive ranges of partitions, as
//!   Java's `RangeAssignor` (the eager protocol).
//! - [`Assignor::RoundRobin`]: every partition in turn to the next member
//!   subscribed to its topic, as Java's `RoundRobinAssignor` (eager).
//! - [`Assignor::CooperativeSticky`]: a balanced assignment that keeps
//!   every partition it can where it is; partitions that must move are
//!   left out for one rebalance, so their owner revokes them first
//!   (incremental, KIP-429).
//!
//! Members are ordered as Java orders them: static members (with a group
//! instance id) first, by instance id, then the others by member id, so
//! that a group of Java, librdkafka and these members computes the same
//! range and round-robin assignments whoever leads it.

#[cfg(test)]
mod props;
mod range;
mod roundrobin;
mod sticky;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use kafka_proto::api::consumer_protocol::ConsumerProtocolSubscription;

use super::protocol::{decode_sticky_user_data, owned_of};
use super::topic_partition::TopicPartition;

/// A partition assignment strategy (Java's `partition.assignment.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Assignor {
    /// `range`: per topic, ranges of consecutive partitions.
    Range,
    /// `roundrobin`: partitions dealt out in turn.
    RoundRobin,
    /// `cooperative-sticky`: balanced, sticky and incremental.
    CooperativeSticky,
}

impl Assignor {
    /// The protocol name sent in JoinGroup, which every member of a group
    /// must share.
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Range => "range",
            Assignor::RoundRobin => "roundrobin",
            Assignor::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The assignor with protocol name `name`.
    pub fn from_name(name: &str) -> Option<Assignor> {
        match name {
            "range" => Some(Assignor::Range),
            "roundrobin" => Some(Assignor::RoundRobin),
            "cooperative-sticky" => Some(Assignor::CooperativeSticky),
            _ => None,
        }
    }

    /// Whether it supports the cooperative (incremental) protocol: members
    /// keep their partitions through a rebalance and revoke only those that
    /// move.
    pub fn is_cooperative(self) -> bool {
        matches!(self, Assignor::CooperativeSticky)
    }

    /// Splits the partitions of `topics` (name to partition count) among
    /// `members`. Every member gets an entry, possibly empty.
    pub(crate) fn assign(
        self,
        members: &[GroupMember],
        topics: &BTreeMap<String, i32>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut ordered: Vec<&GroupMember> = members.iter().collect();
        ordered.sort_by(|a, b| a.java_order(b));
        let mut out = match self {
            Assignor::Range => range::assign(&ordered, topics),
            Assignor::RoundRobin => roundrobin::assign(&ordered, topics),
            Assignor::CooperativeSticky => sticky::assign(&ordered, topics),
        };
        for m in members {
            out.entry(m.member_id.clone()).or_default();
        }
        for parts in out.values_mut() {
            parts.sort();
        }
        out
    }
}

impl fmt::Display for Assignor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A group member as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupMember {
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    /// The version the member wrote its subscription at: owned partitions
    /// are in it from version 1, their generation from version 2.
    pub(crate) version: i16,
    pub(crate) subscription: ConsumerProtocolSubscription,
}

impl GroupMember {
    /// Java's `MemberInfo` order: static members first by instance id,
    /// then by member id.
    fn java_order(&self, other: &GroupMember) -> Ordering {
        match (&self.instance_id, &other.instance_id) {
            (Some(a), Some(b)) => a.cmp(b).then_with(|| self.member_id.cmp(&other.member_id)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => self.member_id.cmp(&other.member_id),
        }
    }

    fn subscribes(&self, topic: &str) -> bool {
        self.subscription.topics.iter().any(|t| t == topic)
    }

    /// The partitions the member says it owns, and the generation it owned
    /// them in: from subscription v1/v2, else from sticky user data.
    fn owned(&self) -> (Vec<TopicPartition>, i32) {
        let sub = &self.subscription;
        let from_user_data = sub
            .user_data
            .as_ref()
            .filter(|d| !d.is_empty())
            .and_then(|d| decode_sticky_user_data(d).ok());
        let generation = if self.version >= 2 && sub.generation_id >= 0 {
            sub.generation_id
        } else {
            from_user_data
                .as_ref()
                .map_or(-1, |(_, generation)| *generation)
        };
        if self.version >= 1 {
            (owned_of(sub), generation)
        } else {
            (
                from_user_data
                    .map(|(previous, _)| previous)
                    .unwrap_or_default(),
                generation,
            )
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use kafka_proto::api::consumer_protocol::ConsumerProtocolSubscriptionTopicPartition;

    use super::*;
    use crate::kafka::group::protocol::{
        SUBSCRIPTION_VERSION, encode_sticky_user_data, subscription,
    };

    pub(crate) fn member(id: &str, topics: &[&str]) -> GroupMember {
        GroupMember {
            member_id: id.into(),
            instance_id: None,
            version: SUBSCRIPTION_VERSION,
            subscription: subscription(topics.iter().map(|t| t.to_string()).collect()),
        }
    }

    /// Owned partitions as a peer may claim them: one entry per partition,
    /// in the order given, duplicates and all (this client groups its
    /// own).
    pub(crate) fn claiming(
        owned: &[TopicPartition],
    ) -> Vec<ConsumerProtocolSubscriptionTopicPartition> {
        owned
            .iter()
            .map(|tp| ConsumerProtocolSubscriptionTopicPartition {
                topic: tp.topic.to_string(),
                partitions: vec![tp.partition],
                ..Default::default()
            })
            .collect()
    }

    pub(crate) fn show(out: &BTreeMap<String, Vec<TopicPartition>>) -> String {
        out.iter()
            .map(|(m, tps)| {
                let parts: Vec<String> = tps
                    .iter()
                    .map(|tp| format!("{}-{}", tp.topic, tp.partition))
                    .collect();
                format!("{m}={}", parts.join(","))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    pub(crate) fn topics(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
        list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn names_round_trip() {
        for a in [
            Assignor::Range,
            Assignor::RoundRobin,
            Assignor::CooperativeSticky,
        ] {
            assert_eq!(Assignor::from_name(a.name()), Some(a));
        }
        assert_eq!(Assignor::from_name("sticky"), None);
        assert!(Assignor::CooperativeSticky.is_cooperative());
        assert!(!Assignor::Range.is_cooperative());
    }

    #[test]
    fn every_member_gets_an_entry() {
        let members = [member("a", &["t"]), member("b", &["missing"])];
        let out = Assignor::Range.assign(&members, &topics(&[("t", 2)]));
        assert_eq!(show(&out), "a=t-0,t-1 b=");
    }

    #[test]
    fn owned_partitions_come_from_the_subscription_or_user_data() {
        let mut m = member("a", &["t"]);
        m.subscription.owned_partitions = claiming(&[TopicPartition::new("t", 1)]);
        m.subscription.generation_id = 4;
        assert_eq!(m.owned(), (vec![TopicPartition::new("t", 1)], 4));
        // librdkafka before subscription v2: the generation is in the
        // sticky user data.
        m.version = 1;
        m.subscription.user_data =
            Some(encode_sticky_user_data(&[TopicPartition::new("t", 1)], 9).unwrap());
        assert_eq!(m.owned().1, 9);
        m.version = 0;
        assert_eq!(m.owned(), (vec![TopicPartition::new("t", 1)], 9));
    }
}
