//! Cooperative-sticky: adding a member revokes only the partitions that
//! move, and every other partition stays with its owner throughout; the
//! eager range assignor, for contrast, revokes everything.

mod kafka_client_support;
mod kafka_group_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mq_client::kafka::{Assignor, TopicPartition};
use mq_tests::names;

use kafka_client_support::topic;
use kafka_group_support::{
    Event, Log, Stop, all_partitions, eventually, spawn_classic_member, spawn_member, split_exactly,
};

fn revoked(events: &[Event]) -> BTreeSet<TopicPartition> {
    events
        .iter()
        .flat_map(|e| match e {
            Event::Revoked(p) => p.clone(),
            _ => Vec::new(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_member_revokes_only_what_moves() {
    let topic = topic("group-coop", 12).await;
    let group = names::group("coop");
    let log = Arc::new(Log::default());
    let all = all_partitions(&topic, 12);
    let coop = Assignor::CooperativeSticky;
    let a = spawn_member("a", &group, &topic, coop, log.clone()).await;
    let b = spawn_member("b", &group, &topic, coop, log.clone()).await;
    eventually(
        "a and b split 12 partitions 6/6",
        Duration::from_secs(60),
        || split_exactly(&[&a, &b], &all) && a.owned().len() == 6,
    )
    .await;
    let (a_before, b_before) = (a.owned(), b.owned());
    let (a_events, b_events) = (a.events().len(), b.events().len());

    let c = spawn_member("c", &group, &topic, coop, log.clone()).await;
    eventually(
        "a, b and c split 12 partitions 4/4/4",
        Duration::from_secs(60),
        || split_exactly(&[&a, &b, &c], &all) && [&a, &b, &c].iter().all(|m| m.owned().len() == 4),
    )
    .await;

    for (m, before, seen) in [(&a, &a_before, a_events), (&b, &b_before, b_events)] {
        let events = m.events();
        let new = events.get(seen..).unwrap_or_default();
        let moved: BTreeSet<TopicPartition> = before.difference(&m.owned()).cloned().collect();
        assert_eq!(moved.len(), 2, "{}: two partitions move to c", m.name);
        assert_eq!(
            revoked(new),
            moved,
            "{}: only the partitions that move are revoked: {new:?}",
            m.name
        );
        assert!(
            m.owned().is_subset(before),
            "{}: keeps the rest and gains nothing",
            m.name
        );
        assert!(
            new.iter()
                .all(|e| matches!(e, Event::Revoked(p) if p.len() == 2)),
            "{}: one revocation of the two, no other callbacks: {new:?}",
            m.name
        );
    }
    assert!(
        c.events().iter().all(|e| matches!(e, Event::Assigned(_))),
        "c only gains partitions"
    );

    // A member leaving: its partitions go to the others, who revoke nothing.
    let (a_events, b_events) = (a.events().len(), b.events().len());
    c.stop(Stop::Close).await;
    eventually(
        "a and b take c's partitions",
        Duration::from_secs(60),
        || split_exactly(&[&a, &b], &all) && a.owned().len() == 6,
    )
    .await;
    assert!(revoked(&a.events()[a_events..]).is_empty());
    assert!(revoked(&b.events()[b_events..]).is_empty());
    a.stop(Stop::Close).await;
    b.stop(Stop::Close).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_range_revokes_everything_for_contrast() {
    let topic = topic("group-eager", 12).await;
    let group = names::group("eager");
    let log = Arc::new(Log::default());
    let all = all_partitions(&topic, 12);
    let a = spawn_classic_member("a", &group, &topic, Assignor::Range, log.clone()).await;
    eventually("a owns everything", Duration::from_secs(60), || {
        a.owned() == all
    })
    .await;
    let seen = a.events().len();
    let b = spawn_classic_member("b", &group, &topic, Assignor::Range, log.clone()).await;
    eventually("a and b split", Duration::from_secs(60), || {
        split_exactly(&[&a, &b], &all) && a.owned().len() == 6
    })
    .await;
    assert_eq!(
        revoked(&a.events()[seen..]),
        all,
        "the eager protocol revokes every partition before rejoining"
    );
    a.stop(Stop::Close).await;
    b.stop(Stop::Close).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribing_revokes_the_old_topics_partitions_first() {
    use futures_util::StreamExt;
    use kafka_group_support::{Recorder, builder};

    let first = topic("group-resub-a", 2).await;
    let second = topic("group-resub-b", 2).await;
    let group = names::group("resub");
    let recorder = Recorder::new();
    let mut consumer = builder(&group)
        .assignor(Assignor::CooperativeSticky)
        .listener(recorder.clone())
        .build()
        .await
        .expect("consumer");
    consumer
        .subscribe([first.as_str()])
        .await
        .expect("subscribe");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while consumer.assignment().len() != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "assigned the first topic"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), consumer.next()).await;
    }
    consumer
        .subscribe([second.as_str()])
        .await
        .expect("resubscribe");
    let want = all_partitions(&second, 2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    // The assignment shows the new partitions as soon as they are taken
    // up, before the listener has run for them: wait for both.
    let heard = |want: &BTreeSet<TopicPartition>| {
        recorder
            .events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                Event::Assigned(p) => Some(p.clone()),
                _ => None,
            })
            .flatten()
            .filter(|tp| want.contains(tp))
            .count()
            == want.len()
    };
    while consumer.assignment().into_iter().collect::<BTreeSet<_>>() != want || !heard(&want) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "moved to the second topic"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), consumer.next()).await;
    }
    // The first topic's partitions are all assigned, then all revoked
    // before any of the second's is assigned (in as many listener calls as
    // the coordinator sends them: the consumer protocol may hand out a
    // topic's partitions over more than one heartbeat).
    let events = recorder.events.lock().unwrap().clone();
    let old = all_partitions(&first, 2);
    fn sets(
        pick: fn(&Event) -> Option<&Vec<TopicPartition>>,
        range: &[Event],
    ) -> BTreeSet<TopicPartition> {
        range.iter().filter_map(pick).flatten().cloned().collect()
    }
    fn assigned(e: &Event) -> Option<&Vec<TopicPartition>> {
        match e {
            Event::Assigned(p) => Some(p),
            _ => None,
        }
    }
    fn revoked_in(e: &Event) -> Option<&Vec<TopicPartition>> {
        match e {
            Event::Revoked(p) => Some(p),
            _ => None,
        }
    }
    let first_new = events
        .iter()
        .position(|e| assigned(e).is_some_and(|p| p.iter().any(|tp| want.contains(tp))))
        .expect("the second topic assigned");
    assert_eq!(sets(assigned, &events[..first_new]), old, "{events:?}");
    assert_eq!(sets(revoked_in, &events[..first_new]), old, "{events:?}");
    assert_eq!(sets(assigned, &events[first_new..]), want, "{events:?}");
    assert!(
        sets(revoked_in, &events[first_new..]).is_empty(),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::Lost(_))),
        "{events:?}"
    );
    consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_dropped_from_a_subscription_is_revoked_before_another_member_gets_it() {
    use futures_util::StreamExt;
    use kafka_group_support::{Recorder, builder};

    let first = topic("group-drop-a", 2).await;
    let second = topic("group-drop-b", 2).await;
    let group = names::group("drop");
    let log = Arc::new(Log::default());
    let recorder = Recorder::new();
    let mut a = builder(&group)
        .assignor(Assignor::CooperativeSticky)
        .listener(recorder.clone())
        .build()
        .await
        .expect("consumer");
    a.subscribe([first.as_str()]).await.expect("subscribe");
    let b = spawn_member(
        "b",
        &group,
        &first,
        Assignor::CooperativeSticky,
        log.clone(),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(a.assignment().len() == 1 && b.owned().len() == 1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a and b split the first topic"
        );
        let _ = tokio::time::timeout(Duration::from_millis(100), a.next()).await;
    }
    let handed_over = a.assignment()[0].clone();

    // a moves to the second topic: its partition of the first goes to b.
    // a polls once (which starts the rebalance) and then is busy for a
    // while: b must not get the partition before a has let it go.
    a.subscribe([second.as_str()]).await.expect("resubscribe");
    let _ = tokio::time::timeout(Duration::from_millis(100), a.next()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(a.assignment().len() == 2 && b.owned().len() == 2) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a on the second topic, b on the first"
        );
        let _ = tokio::time::timeout(Duration::from_millis(100), a.next()).await;
    }
    let revoked_at = recorder
        .timeline
        .lock()
        .unwrap()
        .iter()
        .find(|(_, e)| matches!(e, Event::Revoked(p) if p.contains(&handed_over)))
        .map(|(t, _)| *t)
        .expect("a revoked it");
    let assigned_at = b
        .recorder
        .timeline
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(_, e)| matches!(e, Event::Assigned(p) if p.contains(&handed_over)))
        .map(|(t, _)| *t)
        .expect("b got it");
    assert!(
        revoked_at < assigned_at,
        "{handed_over} reached b only after a let it go"
    );
    a.close().await.expect("close");
    b.stop(Stop::Close).await;
}
