//! At-least-once across rebalances: records are produced while members
//! join, one crashes in the middle of a record, and one closes. Every
//! record is processed at least once; a record is processed twice only if
//! no commit covering it had succeeded before the second processing began
//! (uncommitted work), and the test counts those duplicates: exactly the
//! record the crashed member processed without committing.

mod kafka_client_support;
mod kafka_group_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mq_client::kafka::{Assignor, Producer, ProducerRecord};
use mq_tests::{endpoints, names};

use kafka_client_support::topic;
use kafka_group_support::{Log, Stop, eventually, spawn_member};

const RECORDS: usize = 4000;
const PARTITIONS: i32 = 6;

async fn at_least_once_across_rebalances(assignor: Assignor) {
    let topic = topic("group-alo", PARTITIONS).await;
    let group = names::group("alo");
    let log = Arc::new(Log::default());

    // Produce in the background, about 400 records a second, so the
    // rebalances below happen mid-stream.
    let done = Arc::new(AtomicBool::new(false));
    let producer_task = {
        let topic = topic.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let producer = Producer::builder(&endpoints::kafka_bootstrap())
                .linger(Duration::from_millis(2))
                .build()
                .await
                .expect("producer");
            for chunk in 0..RECORDS / 20 {
                let mut ds = Vec::new();
                for i in chunk * 20..(chunk + 1) * 20 {
                    let key = format!("k{}", i % 97);
                    let value = format!("{key}:{i}");
                    ds.push(
                        producer
                            .enqueue(ProducerRecord::new(&topic).key(&key).value(&value))
                            .await
                            .expect("enqueue"),
                    );
                }
                for d in ds {
                    d.await.expect("delivery");
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            producer.close().await.expect("close");
            done.store(true, Ordering::SeqCst);
        })
    };
    let processed = || log.processed.lock().unwrap().len();
    let members_ready = Duration::from_secs(60);

    let a = spawn_member("a", &group, &topic, assignor, log.clone()).await;
    eventually("a processes", members_ready, || processed() >= 300).await;
    let b = spawn_member("b", &group, &topic, assignor, log.clone()).await;
    eventually("b processes", members_ready, || {
        log.processed
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.member == "b")
            .count()
            >= 100
    })
    .await;
    let c = spawn_member("c", &group, &topic, assignor, log.clone()).await;
    eventually("c processes", members_ready, || {
        log.processed
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.member == "c")
            .count()
            >= 100
    })
    .await;
    // a crashes after processing a record, before committing it.
    a.stop(Stop::CrashMidRecord).await;
    eventually(
        "b and c take over a's partitions (session timeout)",
        members_ready,
        || b.owned().len() + c.owned().len() == PARTITIONS as usize,
    )
    .await;
    // b closes gracefully: commits and leaves.
    b.stop(Stop::Close).await;
    producer_task.await.expect("producer task");
    assert!(done.load(Ordering::SeqCst));
    let unique = || {
        log.processed
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.value.clone())
            .collect::<BTreeSet<_>>()
            .len()
    };
    eventually("every record is processed", members_ready, || {
        unique() == RECORDS
    })
    .await;
    c.stop(Stop::Close).await;

    let processed = log.processed.lock().unwrap().clone();
    let committed = log.committed.lock().unwrap().clone();
    // Every record, by value, at least once.
    let values: BTreeSet<String> = processed.iter().map(|p| p.value.clone()).collect();
    let expected: BTreeSet<String> = (0..RECORDS).map(|i| format!("k{}:{i}", i % 97)).collect();
    assert_eq!(values, expected, "every record produced is processed");

    // Duplicates, and why.
    let mut by_record: BTreeMap<(i32, i64), Vec<&kafka_group_support::Processed>> = BTreeMap::new();
    for p in &processed {
        by_record
            .entry((p.partition, p.offset))
            .or_default()
            .push(p);
    }
    let mut duplicates = Vec::new();
    for (&(partition, offset), times) in &by_record {
        for later in times.iter().skip(1) {
            // No commit past this record succeeded before it was
            // processed again: the first processing was uncommitted work.
            let covered = committed
                .iter()
                .find(|c| c.partition == partition && c.offset > offset && c.at < later.at);
            assert!(
                covered.is_none(),
                "{partition}/{offset} processed again by {} after {:?} committed past it",
                later.member,
                covered
            );
            duplicates.push((
                partition,
                offset,
                times[0].member.clone(),
                later.member.clone(),
            ));
        }
    }
    // The crashed member's uncommitted work: what it processed with no
    // commit of its own covering it.
    let uncommitted: BTreeSet<(i32, i64)> = processed
        .iter()
        .filter(|p| p.member == "a")
        .filter(|p| {
            !committed
                .iter()
                .any(|c| c.member == "a" && c.partition == p.partition && c.offset > p.offset)
        })
        .map(|p| (p.partition, p.offset))
        .collect();
    let duplicated: BTreeSet<(i32, i64)> = duplicates.iter().map(|d| (d.0, d.1)).collect();
    println!(
        "{assignor}: {} records, {} processings, {} duplicates {:?}, crashed member's uncommitted work {:?}",
        RECORDS,
        processed.len(),
        duplicates.len(),
        duplicates,
        uncommitted
    );
    assert_eq!(
        uncommitted.len(),
        1,
        "a crashed right after processing one record"
    );
    assert_eq!(
        duplicated, uncommitted,
        "the only duplicates are the crashed member's uncommitted work"
    );
    assert_eq!(duplicates.len(), 1, "processed twice, not more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_eager_range() {
    at_least_once_across_rebalances(Assignor::Range).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_cooperative_sticky() {
    at_least_once_across_rebalances(Assignor::CooperativeSticky).await;
}
