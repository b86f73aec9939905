//! Property tests: for random groups (members, subscriptions, topics and
//! claimed ownership), every assignor hands out each partition at most
//! once and only to members subscribed to its topic; the eager ones hand
//! out everything; cooperative-sticky never gives a partition owned by
//! one member to another in the same round; after its owners revoke, a
//! second round assigns everything, balanced, when subscriptions are
//! equal, and a few rounds do when they are not; a settled assignment
//! moves nothing again.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::tests::claiming;
use super::{Assignor, GroupMember};
use crate::kafka::group::protocol::{SUBSCRIPTION_VERSION, subscription};
use crate::kafka::group::topic_partition::TopicPartition;

const TOPICS: [&str; 4] = ["a", "b", "c", "d"];

#[derive(Debug, Clone)]
struct Group {
    topics: BTreeMap<String, i32>,
    members: Vec<GroupMember>,
}

fn group(homogeneous: bool) -> impl Strategy<Value = Group> {
    (
        proptest::collection::vec(0i32..16, 1..=4),
        proptest::collection::vec(
            (
                proptest::collection::vec(any::<bool>(), 4),
                proptest::collection::vec((0usize..4, 0i32..18, 0i32..3), 0..12),
                any::<bool>(),
            ),
            1..8,
        ),
    )
        .prop_map(move |(counts, members)| {
            let topics: BTreeMap<String, i32> = counts
                .iter()
                .enumerate()
                .map(|(i, &n)| (TOPICS[i].to_owned(), n))
                .collect();
            let members = members
                .into_iter()
                .enumerate()
                .map(|(i, (subs, owned, is_static))| {
                    let mut topics_of: Vec<String> = TOPICS
                        .iter()
                        .zip(&subs)
                        .filter(|(_, s)| homogeneous || **s)
                        .map(|(t, _)| (*t).to_owned())
                        .collect();
                    if topics_of.is_empty() {
                        topics_of.push("a".to_owned());
                    }
                    let mut sub = subscription(topics_of);
                    // Claims, possibly stale, conflicting or of partitions
                    // that do not exist, as a buggy peer might send.
                    let generation = owned.first().map_or(-1, |o| o.2);
                    sub.generation_id = generation;
                    let owned: Vec<TopicPartition> = owned
                        .iter()
                        .map(|&(t, p, _)| TopicPartition::new(TOPICS[t], p))
                        .collect();
                    sub.owned_partitions = claiming(&owned);
                    GroupMember {
                        member_id: format!("m{i}"),
                        instance_id: is_static.then(|| format!("s{}", 7 - i)),
                        version: SUBSCRIPTION_VERSION,
                        subscription: sub,
                    }
                })
                .collect();
            Group { topics, members }
        })
}

fn all_partitions(g: &Group) -> BTreeSet<TopicPartition> {
    g.topics
        .iter()
        .filter(|(t, _)| g.members.iter().any(|m| m.subscribes(t)))
        .flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(t.as_str(), p)))
        .collect()
}

/// Checks the invariants every assignor keeps; returns the owners.
fn check_sound(
    g: &Group,
    out: &BTreeMap<String, Vec<TopicPartition>>,
) -> Result<BTreeMap<TopicPartition, String>, TestCaseError> {
    prop_assert_eq!(out.len(), g.members.len(), "one entry per member");
    let mut owner = BTreeMap::new();
    for m in &g.members {
        for tp in &out[&m.member_id] {
            prop_assert!(
                m.subscribes(&tp.topic),
                "{} got {tp} unsubscribed",
                m.member_id
            );
            prop_assert!(all_partitions(g).contains(tp), "{tp} does not exist");
            prop_assert!(
                owner.insert(tp.clone(), m.member_id.clone()).is_none(),
                "{tp} assigned twice"
            );
        }
    }
    Ok(owner)
}

/// Rounds the cooperative-sticky assignor may take to hand out everything
/// (100,000 random groups needed at most 3).
const MAX_ROUNDS: usize = 4;

/// The partitions `m` validly claims (existing, subscribed).
fn claimed(m: &GroupMember) -> Vec<TopicPartition> {
    m.owned()
        .0
        .into_iter()
        .filter(|tp| m.subscribes(&tp.topic))
        .collect()
}

/// A partition keeps its owner or goes to nobody this round: the owner is
/// the unique claimant with the newest generation among valid claims.
fn no_direct_moves(
    g: &Group,
    out: &BTreeMap<String, Vec<TopicPartition>>,
) -> Result<(), TestCaseError> {
    let all = all_partitions(g);
    let mut claims: BTreeMap<TopicPartition, Vec<(String, i32)>> = BTreeMap::new();
    for m in &g.members {
        let generation = m.owned().1;
        for tp in claimed(m) {
            if all.contains(&tp) {
                claims
                    .entry(tp)
                    .or_default()
                    .push((m.member_id.clone(), generation));
            }
        }
    }
    for (tp, cs) in &claims {
        let newest = cs.iter().map(|c| c.1).max().unwrap_or(-1);
        let top: Vec<&String> = cs.iter().filter(|c| c.1 == newest).map(|c| &c.0).collect();
        if let [owner] = top.as_slice() {
            for (m, parts) in out {
                if m != *owner {
                    prop_assert!(
                        !parts.contains(tp),
                        "{tp} moved from {owner} to {m} in one round"
                    );
                }
            }
        }
    }
    Ok(())
}

/// The group after a round: every member owns what it was given, in
/// generation `generation`.
fn owning_what_was_given(
    g: &Group,
    out: &BTreeMap<String, Vec<TopicPartition>>,
    generation: usize,
) -> Group {
    let mut next = g.clone();
    for m in &mut next.members {
        m.subscription.owned_partitions = claiming(&out[&m.member_id]);
        m.subscription.generation_id = i32::try_from(generation).unwrap_or(i32::MAX);
        m.subscription.user_data = None;
    }
    next
}

fn spread(out: &BTreeMap<String, Vec<TopicPartition>>) -> usize {
    let loads: Vec<usize> = out.values().map(Vec::len).collect();
    loads.iter().max().unwrap_or(&0) - loads.iter().min().unwrap_or(&0)
}

proptest! {
    #[test]
    fn eager_assignors_assign_everything_once(g in group(false)) {
        for a in [Assignor::Range, Assignor::RoundRobin] {
            let out = a.assign(&g.members, &g.topics);
            let owner = check_sound(&g, &out)?;
            prop_assert_eq!(owner.keys().cloned().collect::<BTreeSet<_>>(), all_partitions(&g));
        }
    }

    #[test]
    fn round_robin_balances_equal_subscriptions(g in group(true)) {
        let out = Assignor::RoundRobin.assign(&g.members, &g.topics);
        check_sound(&g, &out)?;
        prop_assert!(spread(&out) <= 1, "loads differ by more than one");
    }

    #[test]
    fn cooperative_sticky_is_safe_and_converges(g in group(false), homogeneous in any::<bool>()) {
        let g = if homogeneous {
            let mut h = g;
            for m in &mut h.members {
                m.subscription.topics = TOPICS.iter().map(|t| (*t).to_owned()).collect();
            }
            h
        } else {
            g
        };
        // Each round, every member owns what the round before gave it, in
        // a newer generation (its owners revoked the rest), until a round
        // hands out every partition. With equal subscriptions that is the
        // second round, keeping all the first gave; with unequal ones a
        // partition placed to fill a gap may push another along, so it can
        // take more rounds (as with Java's assignor), but never one in
        // which a partition goes straight from one owner to another.
        let all = all_partitions(&g);
        let mut current = g.clone();
        let mut rounds = 0;
        let settled = loop {
            let out = Assignor::CooperativeSticky.assign(&current.members, &current.topics);
            let owner = check_sound(&current, &out)?;
            no_direct_moves(&current, &out)?;
            rounds += 1;
            if rounds == 2 && homogeneous {
                prop_assert_eq!(owner.keys().cloned().collect::<BTreeSet<_>>(), all.clone());
                for m in &current.members {
                    for tp in claimed(m) {
                        prop_assert!(out[&m.member_id].contains(&tp), "{} lost {tp} in the second round", m.member_id);
                    }
                }
                prop_assert!(spread(&out) <= 1, "unbalanced after two rounds");
            }
            let done = owner.len() == all.len();
            current = owning_what_was_given(&current, &out, 10 + rounds);
            if done {
                break out;
            }
            prop_assert!(rounds < MAX_ROUNDS, "not settled after {} rounds", MAX_ROUNDS);
        };
        // A settled assignment is a fixed point: the next round moves
        // nothing.
        let again = Assignor::CooperativeSticky.assign(&current.members, &current.topics);
        prop_assert_eq!(again, settled);
    }
}
