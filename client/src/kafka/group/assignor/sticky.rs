//! The cooperative-sticky assignor.
//!
//! 1. Ownership: each member says which partitions it owns and in which
//!    generation (subscription v1/v2, or librdkafka's sticky user data).
//!    A partition keeps the owner with the newest generation; if two
//!    members claim it in the same generation, neither keeps it. Claims on
//!    partitions that no longer exist or that the member no longer
//!    subscribes to are dropped.
//! 2. Unowned partitions go, in order, to the least loaded member
//!    subscribed to their topic.
//! 3. Balance: while some member holds at least two partitions more than
//!    another member that could take one of them, one partition moves
//!    (partitions assigned in step 2 first, so owners keep what they have).
//!    Every move lowers the sum of squared loads, so this ends; with equal
//!    subscriptions it ends with loads differing by at most one.
//! 4. Cooperative: a partition whose owner changes is left out of this
//!    assignment. Its owner sees it gone, revokes it and rejoins, and the
//!    next rebalance assigns it (it has no owner then). So no partition is
//!    ever owned by two members at once, and only partitions that move are
//!    revoked.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::GroupMember;
use crate::kafka::group::topic_partition::TopicPartition;

pub(super) fn assign(
    members: &[&GroupMember],
    topics: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    // Every partition of a topic some member subscribes to.
    let mut all: Vec<TopicPartition> = Vec::new();
    for (topic, &count) in topics {
        if members.iter().any(|m| m.subscribes(topic)) {
            let name: Arc<str> = topic.as_str().into();
            all.extend((0..count.max(0)).map(|p| TopicPartition {
                topic: name.clone(),
                partition: p,
            }));
        }
    }
    let exists = |tp: &TopicPartition| {
        topics
            .get(&*tp.topic)
            .is_some_and(|&n| tp.partition >= 0 && tp.partition < n)
    };

    // 1. Validated previous owners.
    let mut claims: HashMap<TopicPartition, Vec<(usize, i32)>> = HashMap::new();
    for (i, m) in members.iter().enumerate() {
        let (owned, generation) = m.owned();
        for tp in owned {
            if exists(&tp) && m.subscribes(&tp.topic) {
                claims.entry(tp).or_default().push((i, generation));
            }
        }
    }
    let mut previous: HashMap<TopicPartition, usize> = HashMap::new();
    for (tp, cs) in claims {
        let newest = cs.iter().map(|&(_, g)| g).max().unwrap_or(-1);
        let mut at_newest = cs.iter().filter(|&&(_, g)| g == newest);
        if let (Some(&(owner, _)), None) = (at_newest.next(), at_newest.next()) {
            previous.insert(tp, owner);
        }
    }
    let mut held: Vec<BTreeSet<TopicPartition>> = vec![BTreeSet::new(); members.len()];
    for (tp, &owner) in &previous {
        if let Some(h) = held.get_mut(owner) {
            h.insert(tp.clone());
        }
    }

    // 2. Unowned partitions to the least loaded subscriber.
    for tp in &all {
        if previous.contains_key(tp) {
            continue;
        }
        let target = (0..members.len())
            .filter(|&i| members.get(i).is_some_and(|m| m.subscribes(&tp.topic)))
            .min_by_key(|&i| (held.get(i).map_or(usize::MAX, BTreeSet::len), i));
        if let Some(h) = target.and_then(|i| held.get_mut(i)) {
            h.insert(tp.clone());
        }
    }

    // 3. Balance.
    while let Some((from, to, tp)) = next_move(members, &held, &previous) {
        if let Some(h) = held.get_mut(from) {
            h.remove(&tp);
        }
        if let Some(h) = held.get_mut(to) {
            h.insert(tp);
        }
    }

    // 4. Partitions changing owner wait for their owner to revoke them.
    let mut out = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        let parts: Vec<TopicPartition> = held
            .get(i)
            .into_iter()
            .flatten()
            .filter(|tp| previous.get(*tp).is_none_or(|&owner| owner == i))
            .cloned()
            .collect();
        out.insert(m.member_id.clone(), parts);
    }
    out
}

/// One move that improves the balance: from the most loaded member that
/// can give a partition to a member with at least two fewer.
fn next_move(
    members: &[&GroupMember],
    held: &[BTreeSet<TopicPartition>],
    previous: &HashMap<TopicPartition, usize>,
) -> Option<(usize, usize, TopicPartition)> {
    let mut donors: Vec<usize> = (0..held.len()).collect();
    donors.sort_by_key(|&i| (std::cmp::Reverse(held.get(i).map_or(0, BTreeSet::len)), i));
    for d in donors {
        let load = held.get(d).map_or(0, BTreeSet::len);
        let topics: BTreeSet<&str> = held
            .get(d)
            .into_iter()
            .flatten()
            .map(|tp| &*tp.topic)
            .collect();
        for topic in topics {
            let receiver = (0..members.len())
                .filter(|&r| r != d)
                .filter(|&r| members.get(r).is_some_and(|m| m.subscribes(topic)))
                .filter(|&r| held.get(r).map_or(usize::MAX, BTreeSet::len) + 1 < load)
                .min_by_key(|&r| (held.get(r).map_or(usize::MAX, BTreeSet::len), r));
            let Some(r) = receiver else { continue };
            let candidates = held
                .get(d)
                .into_iter()
                .flatten()
                .filter(|tp| &*tp.topic == topic);
            // Prefer a partition the donor did not own before (no
            // revocation), else its highest one.
            let mut fallback = None;
            for tp in candidates {
                if previous.get(tp) != Some(&d) {
                    return Some((d, r, tp.clone()));
                }
                fallback = Some(tp);
            }
            if let Some(tp) = fallback {
                return Some((d, r, tp.clone()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::tests::{claiming, member, show, topics};
    use super::super::{Assignor, GroupMember};
    use crate::kafka::group::topic_partition::TopicPartition;

    fn owning(
        id: &str,
        subscribed: &[&str],
        generation: i32,
        owned: &[(&str, i32)],
    ) -> GroupMember {
        let mut m = member(id, subscribed);
        m.subscription.generation_id = generation;
        let owned: Vec<TopicPartition> = owned
            .iter()
            .map(|(t, p)| TopicPartition::new(*t, *p))
            .collect();
        m.subscription.owned_partitions = claiming(&owned);
        m
    }

    fn owned_of(out: &BTreeMap<String, Vec<TopicPartition>>, m: &str) -> Vec<(&'static str, i32)> {
        out[m]
            .iter()
            .map(|tp| (if &*tp.topic == "t" { "t" } else { "u" }, tp.partition))
            .collect()
    }

    #[test]
    fn fresh_group_is_balanced() {
        let members = [
            member("a", &["t"]),
            member("b", &["t"]),
            member("c", &["t"]),
        ];
        let out = Assignor::CooperativeSticky.assign(&members, &topics(&[("t", 12)]));
        for parts in out.values() {
            assert_eq!(parts.len(), 4, "{}", show(&out));
        }
    }

    #[test]
    fn a_new_member_takes_only_what_moves_in_two_rounds() {
        let t = |ps: &[i32]| ps.iter().map(|&p| ("t", p)).collect::<Vec<_>>();
        let a = owning("a", &["t"], 3, &t(&[0, 1, 2, 3, 4, 5]));
        let b = owning("b", &["t"], 3, &t(&[6, 7, 8, 9, 10, 11]));
        let c = member("c", &["t"]);
        let round1 = Assignor::CooperativeSticky
            .assign(&[a.clone(), b.clone(), c.clone()], &topics(&[("t", 12)]));
        // Owners keep 4 each; the 4 that move are left out; c waits.
        assert_eq!(round1["a"].len(), 4, "{}", show(&round1));
        assert_eq!(round1["b"].len(), 4, "{}", show(&round1));
        assert!(round1["c"].is_empty(), "{}", show(&round1));
        for (m, before) in [("a", &a), ("b", &b)] {
            for tp in &round1[m] {
                assert!(before.owned().0.contains(tp));
            }
        }
        // Round 2: a and b revoked and rejoined with what they kept.
        let a2 = owning("a", &["t"], 4, &owned_of(&round1, "a"));
        let b2 = owning("b", &["t"], 4, &owned_of(&round1, "b"));
        let round2 = Assignor::CooperativeSticky.assign(&[a2, b2, c], &topics(&[("t", 12)]));
        assert_eq!(round2["a"], round1["a"], "a keeps everything it kept");
        assert_eq!(round2["b"], round1["b"], "b keeps everything it kept");
        assert_eq!(round2["c"].len(), 4, "{}", show(&round2));
    }

    #[test]
    fn stale_and_conflicting_claims() {
        // b claims t-0 from an older generation than a: a keeps it.
        // c and d claim t-1 in the same generation: nobody keeps it (so
        // neither is told to keep a partition the other may be reading).
        let a = owning("a", &["t"], 5, &[("t", 0)]);
        let b = owning("b", &["t"], 4, &[("t", 0)]);
        let c = owning("c", &["t"], 5, &[("t", 1)]);
        let d = owning("d", &["t"], 5, &[("t", 1), ("t", 9)]);
        let out = Assignor::CooperativeSticky.assign(&[a, b, c, d], &topics(&[("t", 4)]));
        assert!(
            out["a"].contains(&TopicPartition::new("t", 0)),
            "{}",
            show(&out)
        );
        let holders_of_1 = out
            .values()
            .filter(|v| v.contains(&TopicPartition::new("t", 1)))
            .count();
        assert_eq!(
            holders_of_1,
            1,
            "t-1 has no owner, so it is assigned: {}",
            show(&out)
        );
        let total: usize = out.values().map(Vec::len).sum();
        assert_eq!(total, 4, "t-9 does not exist: {}", show(&out));
    }

    #[test]
    fn respects_subscriptions() {
        let a = member("a", &["t"]);
        let b = member("b", &["t", "u"]);
        let out = Assignor::CooperativeSticky.assign(&[a, b], &topics(&[("t", 4), ("u", 4)]));
        assert!(
            out["a"].iter().all(|tp| &*tp.topic == "t"),
            "{}",
            show(&out)
        );
        assert_eq!(out["a"].len() + out["b"].len(), 8);
        assert_eq!(out["a"].len(), 4, "{}", show(&out));
    }
}
