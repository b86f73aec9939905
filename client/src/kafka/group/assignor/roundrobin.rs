//! The round-robin assignor: every partition of every subscribed topic,
//! topics by name and partitions by index, goes to the next member (in
//! Java's member order, cycling) that is subscribed to its topic.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::GroupMember;
use crate::kafka::group::topic_partition::TopicPartition;

pub(super) fn assign(
    members: &[&GroupMember],
    topics: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut out: BTreeMap<String, Vec<TopicPartition>> = BTreeMap::new();
    if members.is_empty() {
        return out;
    }
    let mut cursor = 0usize;
    for (topic, &count) in topics {
        if !members.iter().any(|m| m.subscribes(topic)) {
            continue;
        }
        let name: Arc<str> = topic.as_str().into();
        for partition in 0..count.max(0) {
            // Some member is subscribed, so this finds one within a cycle.
            for _ in 0..members.len() {
                let m = members[cursor % members.len()];
                cursor = (cursor + 1) % members.len();
                if m.subscribes(topic) {
                    out.entry(m.member_id.clone())
                        .or_default()
                        .push(TopicPartition {
                            topic: name.clone(),
                            partition,
                        });
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Assignor;
    use super::super::tests::{member, show, topics};

    #[test]
    fn matches_java_round_robin_assignor() {
        // Java 4.3.1 RoundRobinAssignor on the same input as the range test.
        let members = [
            member("m-a", &["t1", "t2"]),
            member("m-b", &["t1", "t2"]),
            member("m-c", &["t2"]),
        ];
        let out = Assignor::RoundRobin.assign(&members, &topics(&[("t1", 7), ("t2", 5)]));
        assert_eq!(
            show(&out),
            "m-a=t1-0,t1-2,t1-4,t1-6,t2-2 m-b=t1-1,t1-3,t1-5,t2-0,t2-3 m-c=t2-1,t2-4"
        );
        let mut z = member("m-z", &["t1", "t2"]);
        z.instance_id = Some("b-static".into());
        let mut y = member("m-y", &["t1", "t2"]);
        y.instance_id = Some("a-static".into());
        let a = member("m-a", &["t1", "t2"]);
        let out = Assignor::RoundRobin.assign(&[a, z, y], &topics(&[("t1", 7), ("t2", 5)]));
        assert_eq!(
            show(&out),
            "m-a=t1-2,t1-5,t2-1,t2-4 m-y=t1-0,t1-3,t1-6,t2-2 m-z=t1-1,t1-4,t2-0,t2-3"
        );
    }
}
