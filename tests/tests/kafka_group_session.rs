//! A consumer dropped without leaving: the coordinator keeps its partitions
//! until the session timeout expires, then they move to the others.

mod kafka_client_support;
mod kafka_group_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mq_client::kafka::Assignor;
use mq_tests::names;

use kafka_client_support::topic;
use kafka_group_support::{Log, Stop, all_partitions, eventually, spawn_member, split_exactly};

async fn dropped_member_partitions_move_after_session_timeout(assignor: Assignor) {
    let topic = topic("group-session", 12).await;
    let group = names::group("session");
    let log = Arc::new(Log::default());
    let all = all_partitions(&topic, 12);
    let a = spawn_member("a", &group, &topic, assignor, log.clone()).await;
    let b = spawn_member("b", &group, &topic, assignor, log.clone()).await;
    eventually(
        "a and b split the partitions",
        Duration::from_secs(60),
        || split_exactly(&[&a, &b], &all) && a.owned().len() == 6,
    )
    .await;
    let a_before = a.owned();

    // b dies: no commit, no LeaveGroup, no more heartbeats.
    let dropped_at = Instant::now();
    b.stop(Stop::Crash).await;

    // Well inside the 6 s session timeout, nothing has moved yet.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        a.owned(),
        a_before,
        "the coordinator waits for the session timeout before moving partitions"
    );

    eventually(
        "a takes over b's partitions after the session timeout",
        Duration::from_secs(30),
        || a.owned() == all,
    )
    .await;
    let moved_after = dropped_at.elapsed();
    assert!(
        moved_after >= Duration::from_secs(5),
        "partitions moved after {moved_after:?}, before the 6 s session timeout"
    );
    a.stop(Stop::Close).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_member_eager_range() {
    dropped_member_partitions_move_after_session_timeout(Assignor::Range).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_member_cooperative_sticky() {
    dropped_member_partitions_move_after_session_timeout(Assignor::CooperativeSticky).await;
}
