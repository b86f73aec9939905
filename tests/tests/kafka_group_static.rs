//! Static membership (group.instance.id, KIP-345): a member that restarts
//! within the session timeout gets its partitions back with no rebalance:
//! same generation, the other member hears nothing.

mod kafka_client_support;
mod kafka_group_support;

use std::sync::Arc;
use std::time::Duration;

use mq_client::kafka::{Admin, Assignor, GroupProtocol};
use mq_tests::{endpoints, names};

use kafka_client_support::topic;
use kafka_group_support::{
    Log, Stop, all_partitions, builder, eventually, protocol, spawn_with, split_exactly,
};

async fn static_restart_triggers_no_rebalance(assignor: Assignor) {
    let topic = topic("group-static", 12).await;
    let group = names::group("static");
    let log = Arc::new(Log::default());
    let all = all_partitions(&topic, 12);
    let (id_a, id_b) = (names::unique("a"), names::unique("b"));
    let member = |id: &str| {
        builder(&group)
            .assignor(assignor)
            .group_instance_id(id)
            .session_timeout(Duration::from_secs(10))
    };
    let a = spawn_with("a", member(&id_a), &topic, log.clone()).await;
    let b = spawn_with("b", member(&id_b), &topic, log.clone()).await;
    eventually("a and b split", Duration::from_secs(60), || {
        split_exactly(&[&a, &b], &all) && a.owned().len() == 6 && a.generation() == b.generation()
    })
    .await;
    let (a_owned, generation) = (a.owned(), a.generation());
    let b_events = b.events();

    // a stops (a static member stays in the group on close) and comes back
    // with the same instance id.
    a.stop(Stop::Close).await;
    let a = spawn_with("a", member(&id_a), &topic, log.clone()).await;
    eventually("a is back", Duration::from_secs(30), || {
        a.owned().len() == 6 && a.generation() >= 0
    })
    .await;
    assert_eq!(a.owned(), a_owned, "a gets its own partitions back");
    if protocol() == GroupProtocol::Classic {
        assert_eq!(
            a.generation(),
            generation,
            "no new generation: no rebalance"
        );
    }
    // On the consumer protocol the rejoining instance has a new member id,
    // and the coordinator may write its inherited assignment under a new
    // epoch; nothing moves, which b's silence below shows.
    // Give a rebalance, if one had started, time to reach b.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(b.events(), b_events, "b heard nothing");
    if protocol() == GroupProtocol::Classic {
        assert_eq!(b.generation(), generation);
    }
    let admin = Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin");
    let described = admin
        .describe_consumer_group(&group)
        .await
        .expect("describe");
    assert_eq!(described.state, "Stable");
    let mut ids: Vec<Option<String>> = described
        .members
        .iter()
        .map(|m| m.instance_id.clone())
        .collect();
    ids.sort();
    assert_eq!(ids, vec![Some(id_a), Some(id_b)]);

    a.stop(Stop::Close).await;
    b.stop(Stop::Close).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_member_restart_range() {
    static_restart_triggers_no_rebalance(Assignor::Range).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_member_restart_cooperative_sticky() {
    static_restart_triggers_no_rebalance(Assignor::CooperativeSticky).await;
}
