//! max_poll_interval: an application that stops consuming for longer
//! leaves the group (the heartbeats go on in the background, so only this
//! check notices), its partitions move to the other member, its late
//! commit is refused, and on its next poll it hears the partitions were
//! lost and rejoins.

mod kafka_client_support;
mod kafka_group_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_client::kafka::{Assignor, Error};
use mq_tests::names;

use kafka_client_support::topic;
use kafka_group_support::{
    Event, Log, Recorder, Stop, all_partitions, builder, eventually, produce_to_each, spawn_member,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_application_leaves_and_its_partitions_move() {
    let topic = topic("group-poll", 6).await;
    let group = names::group("poll");
    produce_to_each(&topic, 6, 5).await;
    let all = all_partitions(&topic, 6);
    let log = Arc::new(Log::default());

    let recorder = Recorder::new();
    let mut a = builder(&group)
        .assignor(Assignor::Range)
        .max_poll_interval(Duration::from_secs(3))
        .listener(recorder.clone())
        .build()
        .await
        .expect("consumer");
    a.subscribe([topic.as_str()]).await.expect("subscribe");
    let b = spawn_member("b", &group, &topic, Assignor::Range, log.clone()).await;

    // Consume until a owns half the partitions (on the consumer protocol
    // a may take every record before b joins), then take one more record
    // and stall while "processing" it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(a.assignment().len() == 3 && b.owned().len() == 3) {
        assert!(Instant::now() < deadline, "a and b split the partitions");
        if let Ok(Some(rec)) = tokio::time::timeout(Duration::from_millis(200), a.next()).await {
            a.commit(&rec.expect("record")).await.expect("commit");
        }
    }
    produce_to_each(&topic, 6, 1).await;
    let rec = tokio::time::timeout(Duration::from_secs(30), a.next())
        .await
        .expect("a record")
        .expect("open")
        .expect("record");
    let a_owned = recorder.owned.lock().unwrap().clone();
    // What the listener heard before the stall (on the consumer protocol,
    // a may have revoked half of its partitions for b).
    let before_stall = recorder.events.lock().unwrap().len();
    let stalled_at = Instant::now();

    // The stall: a's heartbeats keep going (so its session never expires),
    // but after 3 s without a poll it leaves, and b takes everything.
    eventually("b owns every partition", Duration::from_secs(20), || {
        b.owned() == all
    })
    .await;
    assert!(
        stalled_at.elapsed() >= Duration::from_secs(3),
        "partitions moved before max_poll_interval"
    );

    // The late commit is refused: the partition may be b's now.
    let e = a.commit(&rec).await.expect_err("commit after leaving");
    assert!(matches!(e, Error::CommitFailed { .. }), "{e}");

    // a polls again: its partitions are reported lost (not revoked), and
    // it rejoins.
    let _ = tokio::time::timeout(Duration::from_secs(1), a.next()).await;
    let events = recorder.events.lock().unwrap()[before_stall..].to_vec();
    assert_eq!(
        events.first(),
        Some(&Event::Lost(a_owned.iter().cloned().collect())),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| matches!(e, Event::Revoked(_))),
        "{events:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while a.assignment().len() != 3 {
        assert!(Instant::now() < deadline, "a rejoined and got its share");
        let _ = tokio::time::timeout(Duration::from_millis(200), a.next()).await;
    }
    a.close().await.expect("close");
    b.stop(Stop::Close).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_slow_application_in_the_group() {
    // Processing one record takes longer than the session timeout (6 s)
    // but less than max_poll_interval (30 s): the background heartbeats
    // keep the member in, nothing is rebalanced, and its commit succeeds.
    let topic = topic("group-slow", 4).await;
    let group = names::group("slow");
    produce_to_each(&topic, 4, 3).await;
    let log = Arc::new(Log::default());
    let recorder = Recorder::new();
    let mut a = builder(&group)
        .assignor(Assignor::Range)
        .max_poll_interval(Duration::from_secs(30))
        .listener(recorder.clone())
        .build()
        .await
        .expect("consumer");
    a.subscribe([topic.as_str()]).await.expect("subscribe");
    let b = spawn_member("b", &group, &topic, Assignor::Range, log.clone()).await;
    // `a` may read every record before `b` joins; then the partitions it
    // keeps have nothing left, and more records are produced for it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let rec = loop {
        assert!(
            Instant::now() < deadline,
            "a record once the group is split 2/2"
        );
        let Ok(next) = tokio::time::timeout(Duration::from_secs(5), a.next()).await else {
            if a.assignment().len() == 2 && b.owned().len() == 2 {
                produce_to_each(&topic, 4, 1).await;
            }
            continue;
        };
        let rec = next.expect("open").expect("record");
        if a.assignment().len() == 2 && b.owned().len() == 2 {
            break rec;
        }
        a.commit(&rec).await.expect("commit");
    };
    let (a_events, b_events) = (recorder.events.lock().unwrap().len(), b.events().len());
    let generation = a.generation();
    tokio::time::sleep(Duration::from_secs(9)).await;
    a.commit(&rec)
        .await
        .expect("the member is still in its generation");
    assert_eq!(a.generation(), generation, "no rebalance");
    assert_eq!(recorder.events.lock().unwrap().len(), a_events);
    assert_eq!(b.events().len(), b_events, "b heard nothing");
    a.close().await.expect("close");
    b.stop(Stop::Close).await;
}
