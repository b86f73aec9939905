//! Offsets in a group: commit after processing (sync and async) and
//! restart at the committed offsets; committed offsets carry the leader
//! epoch; auto-commit of processed records; `auto_offset_reset`; seek;
//! pause/resume; the batch API; pattern subscriptions.

mod kafka_client_support;
mod kafka_group_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use futures_util::StreamExt;
use mq_client::kafka::{
    Admin, ConsumerRecord, Error, NewTopic, Offset, OffsetReset, TopicPartition, TopicPattern,
};
use mq_tests::{endpoints, names};

use kafka_client_support::topic;
use kafka_group_support::{builder, produce_to_each};

async fn next(consumer: &mut mq_client::kafka::Consumer) -> ConsumerRecord {
    tokio::time::timeout(Duration::from_secs(30), consumer.next())
        .await
        .expect("a record in time")
        .expect("stream open")
        .expect("record")
}

fn value(r: &ConsumerRecord) -> String {
    String::from_utf8_lossy(r.value().unwrap_or_default()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_after_processing_then_restart_resumes_at_committed_offsets() {
    let topic = topic("group-restart", 3).await;
    let group = names::group("restart");
    produce_to_each(&topic, 3, 30).await;

    // First run: process and commit the first 10 records of each partition
    // (half with sync commits, half async), then process 5 more of each
    // without committing them, and stop.
    let mut consumer = builder(&group).build().await.expect("consumer");
    consumer
        .subscribe([topic.as_str()])
        .await
        .expect("subscribe");
    let mut seen: BTreeMap<i32, i64> = BTreeMap::new();
    let mut epochs: BTreeMap<i32, i32> = BTreeMap::new();
    let mut asyncs = Vec::new();
    while seen.values().filter(|&&n| n == 15).count() < 3 {
        let r = next(&mut consumer).await;
        let n = seen.entry(r.partition).or_insert(0);
        if *n == 15 {
            // Handed out, never processed.
            continue;
        }
        assert_eq!(r.offset, *n, "records of a partition come in order");
        assert_eq!(value(&r), format!("p{}:{}", r.partition, r.offset));
        *n += 1;
        if r.offset < 10 {
            epochs.insert(r.partition, r.leader_epoch);
            if r.offset % 2 == 0 {
                consumer.commit(&r).await.expect("commit");
            } else {
                asyncs.push(consumer.commit_async(&r));
            }
        }
    }
    for c in asyncs {
        c.await.expect("async commit");
    }
    let committed = consumer
        .committed(
            &(0..3)
                .map(|p| TopicPartition::new(topic.as_str(), p))
                .collect::<Vec<_>>(),
        )
        .await
        .expect("committed");
    for (tp, c) in &committed {
        let c = c.expect("committed offset");
        assert_eq!(c.offset, 10, "{tp}");
        assert!(
            c.leader_epoch >= 0,
            "{tp}: the commit carries the leader epoch"
        );
        assert_eq!(
            c.leader_epoch, epochs[&tp.partition],
            "{tp}: the record's epoch"
        );
    }
    consumer.close().await.expect("close");

    // The admin client sees the same offsets and epochs.
    let admin = Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin");
    let from_admin = admin
        .consumer_group_offsets(&group, &committed.keys().cloned().collect::<Vec<_>>())
        .await
        .expect("group offsets");
    assert_eq!(from_admin, committed);

    // Second run: resumes at offset 10 of every partition (the 5
    // uncommitted records of each are processed again).
    let mut consumer = builder(&group).build().await.expect("consumer");
    consumer
        .subscribe([topic.as_str()])
        .await
        .expect("subscribe");
    let mut first: BTreeMap<i32, i64> = BTreeMap::new();
    while first.len() < 3 {
        let r = next(&mut consumer).await;
        first.entry(r.partition).or_insert(r.offset);
    }
    assert_eq!(
        first,
        (0..3).map(|p| (p, 10)).collect::<BTreeMap<_, _>>(),
        "each partition resumes at its committed offset"
    );
    consumer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_commit_commits_processed_records() {
    let topic = topic("group-auto", 1).await;
    let group = names::group("auto");
    produce_to_each(&topic, 1, 15).await;
    let mut consumer = builder(&group)
        .auto_commit(Duration::from_millis(200))
        .build()
        .await
        .expect("consumer");
    consumer
        .subscribe([topic.as_str()])
        .await
        .expect("subscribe");
    let tp = TopicPartition::new(topic.as_str(), 0);
    for i in 0..15 {
        assert_eq!(next(&mut consumer).await.offset, i);
    }
    // Asking for more means record 14 is processed; while the consumer
    // waits for records, the auto-commit commits all 15.
    let waiting = tokio::time::timeout(Duration::from_millis(1500), consumer.next()).await;
    assert!(waiting.is_err(), "no more records: {waiting:?}");
    assert_eq!(consumer_committed(&group, &tp).await, Some(15));

    // Three more records, the third kept in hand: the auto-commit never
    // commits it (at most 17: the first two are processed).
    produce_to_each(&topic, 1, 5).await;
    for i in 15..18 {
        assert_eq!(next(&mut consumer).await.offset, i);
    }
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let c = consumer_committed(&group, &tp).await;
        assert!(c <= Some(17), "the record in hand was committed: {c:?}");
    }
    // Closing after processing it commits it, then leaves the group.
    consumer.close().await.expect("close");
    assert_eq!(consumer_committed(&group, &tp).await, Some(18));
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
}

async fn consumer_committed(group: &str, tp: &TopicPartition) -> Option<i64> {
    let admin = Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin");
    admin
        .consumer_group_offsets(group, std::slice::from_ref(tp))
        .await
        .expect("offsets")
        .get(tp)
        .copied()
        .flatten()
        .map(|o| o.offset)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_policy_seek_and_pause_resume() {
    let topic = topic("group-seek", 2).await;
    let group = names::group("seek");
    produce_to_each(&topic, 2, 10).await;

    // Latest: only records produced after the assignment arrive.
    let mut latest = builder(&group)
        .auto_offset_reset(OffsetReset::Latest)
        .build()
        .await
        .expect("consumer");
    latest.subscribe([topic.as_str()]).await.expect("subscribe");
    let early = tokio::time::timeout(Duration::from_secs(3), latest.next()).await;
    assert!(early.is_err(), "nothing before new records: {early:?}");
    assert_eq!(latest.assignment().len(), 2);
    produce_to_each(&topic, 2, 1).await;
    let r = next(&mut latest).await;
    assert_eq!(r.offset, 10, "the first record produced after joining");
    latest.close().await.expect("close");

    // None: no committed offset is an error, until the partition is sought.
    let group = names::group("seek-none");
    let mut strict = builder(&group)
        .auto_offset_reset(OffsetReset::None)
        .build()
        .await
        .expect("consumer");
    strict.subscribe([topic.as_str()]).await.expect("subscribe");
    let e = tokio::time::timeout(Duration::from_secs(30), strict.next())
        .await
        .expect("an answer")
        .expect("open")
        .expect_err("no offset");
    assert!(matches!(e, Error::NoOffset { .. }), "{e}");
    strict.seek(&topic, 0, Offset::At(4)).await.expect("seek");
    strict.seek(&topic, 1, Offset::At(9)).await.expect("seek");
    let mut firsts = BTreeMap::new();
    while firsts.len() < 2 {
        let r = next(&mut strict).await;
        firsts.entry(r.partition).or_insert(r.offset);
    }
    assert_eq!(firsts, BTreeMap::from([(0, 4), (1, 9)]));
    let e = strict
        .seek(&topic, 7, Offset::At(0))
        .await
        .expect_err("not assigned");
    assert!(matches!(e, Error::NotAssigned { partition: 7, .. }), "{e}");

    // Pause partition 0 after taking 3 of its records: none of it arrives
    // while paused, though more is produced; after the resume it goes on
    // with the record after the last one handed out.
    strict.seek(&topic, 0, Offset::At(0)).await.expect("seek");
    strict.seek(&topic, 1, Offset::At(0)).await.expect("seek");
    let mut taken = 0;
    while taken < 3 {
        let r = next(&mut strict).await;
        if r.partition == 0 {
            assert_eq!(r.offset, taken);
            taken += 1;
        }
    }
    let p0 = TopicPartition::new(topic.as_str(), 0);
    strict
        .pause(std::slice::from_ref(&p0))
        .await
        .expect("pause");
    assert_eq!(strict.paused(), vec![p0.clone()]);
    produce_to_each(&topic, 1, 5).await;
    let mut during = Vec::new();
    while let Ok(Some(r)) = tokio::time::timeout(Duration::from_secs(2), strict.next()).await {
        during.push(r.expect("record"));
    }
    assert!(
        during.iter().all(|r| r.partition == 1),
        "a paused partition hands out nothing"
    );
    strict
        .resume(std::slice::from_ref(&p0))
        .await
        .expect("resume");
    let mut after = Vec::new();
    while after.len() < 13 {
        let r = next(&mut strict).await;
        assert_eq!(r.partition, 0, "partition 1 was drained");
        after.push(r.offset);
    }
    assert_eq!(after, (3..16).collect::<Vec<i64>>());
    strict.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_and_batch_commits() {
    let topic = topic("group-batch", 2).await;
    let group = names::group("batch");
    produce_to_each(&topic, 2, 50).await;
    let mut consumer = builder(&group).build().await.expect("consumer");
    consumer
        .subscribe([topic.as_str()])
        .await
        .expect("subscribe");
    let mut counts: BTreeMap<i32, usize> = BTreeMap::new();
    while counts.values().sum::<usize>() < 100 {
        let batch = tokio::time::timeout(Duration::from_secs(30), consumer.next_batch())
            .await
            .expect("a batch in time")
            .expect("batch");
        let first = batch.next_offset() - batch.iter().count() as i64;
        for (expected, r) in (first..).zip(batch.iter()) {
            assert_eq!(r.expect("record").offset(), expected);
        }
        *counts.entry(batch.partition()).or_insert(0) += batch.iter().count();
        consumer.commit_batch(&batch).await.expect("commit batch");
    }
    assert_eq!(counts, BTreeMap::from([(0, 50), (1, 50)]));
    let lag = consumer.lag();
    assert!(lag.values().all(|&l| l == 0), "{lag:?}");
    let tps: Vec<TopicPartition> = (0..2)
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .collect();
    let committed = consumer.committed(&tps).await.expect("committed");
    assert!(
        committed.values().all(|c| c.map(|c| c.offset) == Some(50)),
        "{committed:?}"
    );
    consumer.close().await.expect("close");
}

/// Polls for a moment: polling drives the joins (the topics are empty).
async fn poll(consumer: &mut mq_client::kafka::Consumer) {
    let _ = tokio::time::timeout(Duration::from_millis(300), consumer.next()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_subscription_follows_new_topics() {
    let prefix = names::topic("group-pattern");
    let admin = Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin");
    let first = format!("{prefix}.a");
    admin
        .create_topics([NewTopic::new(&first, 2, 1)])
        .await
        .expect("create");
    let group = names::group("pattern");
    let mut consumer = builder(&group)
        .metadata_max_age(Duration::from_secs(1))
        .build()
        .await
        .expect("consumer");
    consumer
        .subscribe_pattern(TopicPattern::glob(&format!("{prefix}.*")))
        .await
        .expect("subscribe");
    let want = |topics: &[&str]| -> BTreeSet<TopicPartition> {
        topics
            .iter()
            .flat_map(|t| (0..2).map(move |p| TopicPartition::new(*t, p)))
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while consumer.assignment().into_iter().collect::<BTreeSet<_>>() != want(&[&first]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "assigned the first topic"
        );
        poll(&mut consumer).await;
    }
    let second = format!("{prefix}.b");
    admin
        .create_topics([NewTopic::new(&second, 2, 1)])
        .await
        .expect("create");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while consumer.assignment().into_iter().collect::<BTreeSet<_>>() != want(&[&first, &second]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "assigned the new topic too"
        );
        poll(&mut consumer).await;
    }
    consumer.close().await.expect("close");
}
