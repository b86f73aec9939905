//! Three consumers in a group on a 12-partition topic: every partition is
//! assigned, with no overlap, for each assignor; the coordinator's view
//! (DescribeGroups) agrees with what the members' listeners heard.

mod kafka_client_support;
mod kafka_group_support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mq_client::kafka::{Admin, Assignor, TopicPartition};
use mq_tests::{endpoints, names};

use kafka_client_support::topic;
use kafka_group_support::{
    Log, Stop, all_partitions, eventually, spawn_classic_member, split_exactly,
};

async fn three_members_split_twelve_partitions(assignor: Assignor) {
    let topic = topic("group-split", 12).await;
    let group = names::group("split");
    let log = Arc::new(Log::default());
    let all = all_partitions(&topic, 12);
    let a = spawn_classic_member("a", &group, &topic, assignor, log.clone()).await;
    let b = spawn_classic_member("b", &group, &topic, assignor, log.clone()).await;
    let c = spawn_classic_member("c", &group, &topic, assignor, log.clone()).await;
    eventually(
        &format!("{assignor}: three members split the 12 partitions"),
        Duration::from_secs(60),
        || split_exactly(&[&a, &b, &c], &all) && [&a, &b, &c].iter().all(|m| m.owned().len() == 4),
    )
    .await;

    // The coordinator's view: three members of the `consumer` protocol,
    // the assignor chosen, and assignments that match the listeners'.
    let admin = Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin");
    let described = admin
        .describe_consumer_group(&group)
        .await
        .expect("describe");
    assert_eq!(described.state, "Stable");
    assert_eq!(described.protocol_type, "consumer");
    assert_eq!(described.protocol, assignor.name());
    assert_eq!(described.members.len(), 3);
    let mut from_broker: Vec<BTreeSet<TopicPartition>> = described
        .members
        .iter()
        .map(|m| m.assignment.iter().cloned().collect())
        .collect();
    let mut from_listeners: Vec<BTreeSet<TopicPartition>> =
        [&a, &b, &c].iter().map(|m| m.owned()).collect();
    from_broker.sort();
    from_listeners.sort();
    assert_eq!(from_broker, from_listeners);
    for m in &described.members {
        let sub = m.subscription.as_ref().expect("readable subscription");
        assert_eq!(sub.topics, vec![topic.clone()]);
    }

    for m in [a, b, c] {
        m.stop(Stop::Close).await;
    }
    let described = admin
        .describe_consumer_group(&group)
        .await
        .expect("describe");
    assert_eq!(
        (described.state.as_str(), described.members.len()),
        ("Empty", 0),
        "closed members left the group"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_three_members_twelve_partitions() {
    three_members_split_twelve_partitions(Assignor::Range).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundrobin_three_members_twelve_partitions() {
    three_members_split_twelve_partitions(Assignor::RoundRobin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_three_members_twelve_partitions() {
    three_members_split_twelve_partitions(Assignor::CooperativeSticky).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_revokes_and_leaves() {
    use futures_util::StreamExt;
    use kafka_group_support::{Event, Recorder, builder};
    use mq_client::kafka::Error;

    let topic = topic("group-unsub", 3).await;
    let group = names::group("unsub");
    let recorder = Recorder::new();
    let mut consumer = builder(&group)
        .listener(recorder.clone())
        .build()
        .await
        .expect("consumer");
    // Polling before subscribing is a mistake, reported as such.
    let e = consumer
        .next()
        .await
        .expect("an answer")
        .expect_err("not subscribed");
    assert!(matches!(e, Error::Config(_)), "{e}");

    consumer
        .subscribe([topic.as_str()])
        .await
        .expect("subscribe");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while consumer.assignment().len() != 3 {
        assert!(tokio::time::Instant::now() < deadline, "assigned");
        let _ = tokio::time::timeout(Duration::from_millis(200), consumer.next()).await;
    }
    consumer.unsubscribe().await.expect("unsubscribe");
    assert!(consumer.assignment().is_empty());
    let events = recorder.events.lock().unwrap().clone();
    let all: Vec<TopicPartition> = all_partitions(&topic, 3).into_iter().collect();
    assert_eq!(
        events,
        vec![Event::Assigned(all.clone()), Event::Revoked(all)]
    );
    let admin = Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin");
    let described = admin
        .describe_consumer_group(&group)
        .await
        .expect("describe");
    assert_eq!(
        (described.state.as_str(), described.members.len()),
        ("Empty", 0)
    );
    let e = consumer
        .next()
        .await
        .expect("an answer")
        .expect_err("not subscribed");
    assert!(matches!(e, Error::Config(_)), "{e}");
    consumer.close().await.expect("close");
}
