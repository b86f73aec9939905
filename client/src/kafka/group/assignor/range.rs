//! The range assignor: for each topic, the members subscribed to it (in
//! Java's member order) get consecutive ranges of its partitions; the first
//! `partitions % members` get one more.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::GroupMember;
use crate::kafka::group::topic_partition::TopicPartition;

pub(super) fn assign(
    members: &[&GroupMember],
    topics: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut out: BTreeMap<String, Vec<TopicPartition>> = BTreeMap::new();
    for (topic, &count) in topics {
        let subscribed: Vec<&GroupMember> = members
            .iter()
            .copied()
            .filter(|m| m.subscribes(topic))
            .collect();
        if subscribed.is_empty() || count <= 0 {
            continue;
        }
        let name: Arc<str> = topic.as_str().into();
        // Both fit in usize: count is a positive i32, members a slice length.
        let count = count as usize;
        let per = count / subscribed.len();
        let extra = count % subscribed.len();
        let mut next = 0usize;
        for (i, m) in subscribed.iter().enumerate() {
            let len = per + usize::from(i < extra);
            let parts = out.entry(m.member_id.clone()).or_default();
            for p in next..next + len {
                parts.push(TopicPartition {
                    topic: name.clone(),
                    // p < count, which came from an i32.
                    partition: p as i32,
                });
            }
            next += len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Assignor;
    use super::super::tests::{member, show, topics};

    #[test]
    fn matches_java_range_assignor() {
        // Java 4.3.1 RangeAssignor on t1 (7 partitions) and t2 (5), members
        // a and b on both, c on t2 only.
        let members = [
            member("m-a", &["t1", "t2"]),
            member("m-b", &["t1", "t2"]),
            member("m-c", &["t2"]),
        ];
        let out = Assignor::Range.assign(&members, &topics(&[("t1", 7), ("t2", 5)]));
        assert_eq!(
            show(&out),
            "m-a=t1-0,t1-1,t1-2,t1-3,t2-0,t2-1 m-b=t1-4,t1-5,t1-6,t2-2,t2-3 m-c=t2-4"
        );
    }

    #[test]
    fn static_members_come_first() {
        // Java: static members by instance id, then dynamic by member id.
        let mut z = member("m-z", &["t1", "t2"]);
        z.instance_id = Some("b-static".into());
        let mut y = member("m-y", &["t1", "t2"]);
        y.instance_id = Some("a-static".into());
        let a = member("m-a", &["t1", "t2"]);
        let out = Assignor::Range.assign(&[z, y, a], &topics(&[("t1", 7), ("t2", 5)]));
        assert_eq!(
            show(&out),
            "m-a=t1-5,t1-6,t2-4 m-y=t1-0,t1-1,t1-2,t2-0,t2-1 m-z=t1-3,t1-4,t2-2,t2-3"
        );
    }

    #[test]
    fn more_members_than_partitions() {
        let members = [
            member("a", &["t"]),
            member("b", &["t"]),
            member("c", &["t"]),
        ];
        let out = Assignor::Range.assign(&members, &topics(&[("t", 2)]));
        assert_eq!(show(&out), "a=t-0 b=t-1 c=");
    }
}
