//! Hard faults on a three-broker Kafka cluster: brokers are killed with
//! SIGKILL (no controlled shutdown, leadership not handed over first).
//!
//! - The leader of a partition dies during an idempotent produce and a
//!   group consume: the topic ends with 0 lost and 0 duplicated records,
//!   and the group consumer reads every record at least once (duplicates,
//!   records read again after the group re-formed, are counted).
//! - The group's coordinator dies: the group finds the new coordinator,
//!   re-forms, and its commits go on to the end of the topic.
//! - The client is cut off from one broker only (a fault proxy in front of
//!   each broker; the cluster itself is whole): records for that broker's
//!   partitions fail with a delivery timeout, the others are delivered,
//!   nothing hangs; once leadership moves off that broker, produce and
//!   fetch route around it.
//!
//! Built with the `failover` feature and run in the failover phase of
//! `scripts/test`, on the three-broker cluster of `kafka_failover.rs` (see
//! there for the commands). Each test prints its loss and duplicate counts.

mod kafka_client_support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use mq_client::kafka::{
    Acks, Admin, Consumer, NewTopic, Offset, OffsetReset, OffsetSpec, Producer, ProducerRecord,
    TopicPartition,
};
use mq_client::kafka::{Error, PartitionReader};
use mq_tests::kafka_proxies::KafkaProxies;
use mq_tests::{endpoints, names};

use kafka_client_support::{check_exactly_once_in_order, read_all};

const PARTITIONS: i32 = 3;
const KEYS: usize = 30;

fn brokers(command: &str, node: i32) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/brokers");
    let status = Command::new(script)
        .args([command, &node.to_string()])
        .status()
        .expect("scripts/brokers");
    assert!(status.success(), "scripts/brokers {command} {node} failed");
}

/// Starts the killed broker again even if the test fails.
struct Restart(i32);

impl Drop for Restart {
    fn drop(&mut self) {
        brokers("start-kafka", self.0);
    }
}

async fn replicated_topic(admin: &Admin, prefix: &str) -> String {
    let cluster = admin.describe_cluster().await.expect("cluster");
    assert!(
        cluster.brokers.len() >= 3,
        "needs three brokers: {cluster:?}"
    );
    let topic = names::topic(prefix);
    admin
        .create_topics([NewTopic::new(&topic, PARTITIONS, 3).config("min.insync.replicas", "2")])
        .await
        .expect("create");
    mq_tests::topics::wait_for_leaders(admin, &topic, PARTITIONS as usize, Duration::from_secs(30))
        .await;
    topic
}

/// What the group consumer read: how many times each value.
type Seen = Arc<Mutex<HashMap<String, u32>>>;

/// A group member that reads `topic` from the start, committing what it
/// processed every 200 ms, until `expected` distinct values are seen.
fn spawn_group_reader(
    bootstrap: String,
    group: String,
    topic: String,
    expected: usize,
    seen: Seen,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut consumer = Consumer::builder(&bootstrap)
            .group(&group)
            .auto_offset_reset(OffsetReset::Earliest)
            .session_timeout(Duration::from_secs(10))
            .heartbeat_interval(Duration::from_millis(500))
            .build()
            .await
            .expect("consumer");
        consumer
            .subscribe([topic.as_str()])
            .await
            .expect("subscribe");
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            if seen.lock().unwrap().len() >= expected {
                break;
            }
            tokio::select! {
                _ = tick.tick() => {
                    // A failed commit (the coordinator moving) is retried
                    // on the next tick; what it covered may be read again.
                    let _ = consumer.commit_processed().await;
                }
                rec = consumer.next() => match rec {
                    Some(Ok(r)) => {
                        let value = String::from_utf8_lossy(r.value().unwrap_or_default()).into_owned();
                        *seen.lock().unwrap().entry(value).or_default() += 1;
                        consumer.mark_processed(&r);
                    }
                    Some(Err(e)) if e.is_retriable() => {}
                    Some(Err(e)) => panic!("group consumer: {e}"),
                    None => panic!("the group consumer's stream ended"),
                }
            }
        }
        for _ in 0..20 {
            if consumer.commit_processed().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        consumer.close().await.expect("close");
    })
}

async fn produce_keyed(producer: &Producer, topic: &str, from: usize, to: usize, seqs: &mut [u64]) {
    let mut deliveries = Vec::with_capacity(to - from);
    for i in from..to {
        let k = i % KEYS;
        let key = format!("key-{k}");
        let value = format!("key-{k}:{}", seqs[k]);
        seqs[k] += 1;
        deliveries.push(
            producer
                .enqueue(ProducerRecord::new(topic).key(&key).value(&value))
                .await
                .expect("enqueue"),
        );
        if i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    for d in deliveries {
        d.await.expect("every record is delivered across the kill");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_killed_during_idempotent_produce_and_group_consume() {
    const RECORDS: usize = 30_000;
    kafka_client_support::init_tracing();
    let bootstrap = endpoints::kafka_bootstrap();
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    let topic = replicated_topic(&admin, "kill-leader").await;
    let group = names::group("kill-leader");
    let seen: Seen = Arc::default();
    let reader = spawn_group_reader(
        bootstrap.clone(),
        group.clone(),
        topic.clone(),
        RECORDS,
        seen.clone(),
    );
    let producer = Producer::builder(&bootstrap)
        .acks(Acks::All)
        .idempotence(true)
        .linger(Duration::from_millis(5))
        .request_timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("producer");
    let mut seqs = vec![0u64; KEYS];
    produce_keyed(&producer, &topic, 0, RECORDS / 3, &mut seqs).await;
    let leader = admin
        .describe_topics([topic.as_str()])
        .await
        .expect("describe")[0]
        .partitions[0]
        .leader;
    println!("killing broker {leader}, leader of {topic}/0");
    brokers("kill-kafka", leader);
    let restart = Restart(leader);
    produce_keyed(&producer, &topic, RECORDS / 3, RECORDS, &mut seqs).await;
    producer.close().await.expect("close");

    tokio::time::timeout(Duration::from_secs(180), reader)
        .await
        .expect("the group consumer read every record within 180 s")
        .expect("group consumer task");
    let records = read_all(
        &bootstrap,
        &topic,
        PARTITIONS,
        RECORDS,
        Duration::from_secs(120),
    )
    .await;
    let seen = seen.lock().unwrap().clone();
    let duplicates: u32 = seen.values().map(|c| c - 1).sum();
    let in_topic = records.len();
    println!(
        "leader {leader} killed: {RECORDS} produced, {in_topic} in the topic (lost {}, \
         duplicated {}), the group read {} distinct, {duplicates} read twice",
        RECORDS.saturating_sub(in_topic),
        in_topic.saturating_sub(RECORDS),
        seen.len()
    );
    assert_eq!(in_topic, RECORDS, "zero loss, zero duplicates in the topic");
    check_exactly_once_in_order(&records);
    assert_eq!(seen.len(), RECORDS, "the group read every record");
    drop(restart);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_killed_group_reforms_and_commits_go_on() {
    const RECORDS: usize = 12_000;
    kafka_client_support::init_tracing();
    let bootstrap = endpoints::kafka_bootstrap();
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    let topic = replicated_topic(&admin, "kill-coordinator").await;
    let group = names::group("kill-coordinator");
    let seen: Seen = Arc::default();
    let reader = spawn_group_reader(
        bootstrap.clone(),
        group.clone(),
        topic.clone(),
        RECORDS,
        seen.clone(),
    );
    let producer = Producer::builder(&bootstrap)
        .acks(Acks::All)
        .linger(Duration::from_millis(5))
        .request_timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("producer");
    let mut seqs = vec![0u64; KEYS];
    produce_keyed(&producer, &topic, 0, RECORDS / 2, &mut seqs).await;
    // The group has committed something before the kill.
    let partitions: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic.as_str(), p))
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let committed = admin
            .consumer_group_offsets(&group, &partitions)
            .await
            .expect("offsets");
        if committed.values().any(Option::is_some) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no commit before the kill"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let coordinator = admin.group_coordinator(&group).await.expect("coordinator");
    println!("killing broker {coordinator}, coordinator of group {group}");
    brokers("kill-kafka", coordinator);
    let restart = Restart(coordinator);
    produce_keyed(&producer, &topic, RECORDS / 2, RECORDS, &mut seqs).await;
    producer.close().await.expect("close");

    tokio::time::timeout(Duration::from_secs(180), reader)
        .await
        .expect("the group consumer read every record within 180 s")
        .expect("group consumer task");
    let new_coordinator = admin.group_coordinator(&group).await.expect("coordinator");
    assert_ne!(
        new_coordinator, coordinator,
        "another broker took the group over"
    );
    // The commits went on: the group's committed offsets reach the end.
    let all: Vec<i32> = (0..PARTITIONS).collect();
    let ends = admin
        .list_offsets(&topic, &all, OffsetSpec::Latest)
        .await
        .expect("end offsets");
    let committed = admin
        .consumer_group_offsets(&group, &partitions)
        .await
        .expect("offsets");
    for tp in &partitions {
        let end = ends.get(&tp.partition).expect("end offset").offset;
        let at = committed.get(tp).cloned().flatten().map(|o| o.offset);
        assert_eq!(at, Some(end), "{tp:?}: committed {at:?}, end {end}");
    }
    let seen = seen.lock().unwrap().clone();
    let duplicates: u32 = seen.values().map(|c| c - 1).sum();
    println!(
        "coordinator {coordinator} killed, group moved to {new_coordinator}: {RECORDS} records, \
         read {} distinct, {duplicates} read twice, commits reached the end",
        seen.len()
    );
    assert_eq!(seen.len(), RECORDS);
    drop(restart);
}

/// Produces `per_partition` records to each partition; the outcome of each.
async fn produce_each(
    producer: &Producer,
    topic: &str,
    tag: &str,
    per_partition: usize,
) -> Vec<(i32, String, Result<(), Error>)> {
    let mut pending = Vec::new();
    for p in 0..PARTITIONS {
        for i in 0..per_partition {
            let value = format!("{tag}-{p}-{i}");
            let d = producer
                .enqueue(ProducerRecord::new(topic).partition(p).value(&value))
                .await
                .expect("enqueue");
            pending.push((p, value, d));
        }
    }
    let mut out = Vec::new();
    for (p, value, d) in pending {
        out.push((p, value, d.await.map(|_| ())));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_from_one_broker_times_out_then_routes_around() {
    const PER_PARTITION: usize = 200;
    kafka_client_support::init_tracing();
    let bootstrap = endpoints::kafka_bootstrap();
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    let topic = replicated_topic(&admin, "cut-one").await;
    let proxies = KafkaProxies::start(&bootstrap).await.expect("proxies");
    let delivery_timeout = Duration::from_secs(12);
    let producer = Producer::builder(&proxies.bootstrap())
        .address_map(proxies.map())
        .acks(Acks::All)
        .linger(Duration::from_millis(5))
        .request_timeout(Duration::from_secs(4))
        .delivery_timeout(delivery_timeout)
        .build()
        .await
        .expect("producer");
    let leaders: Vec<i32> = admin
        .describe_topics([topic.as_str()])
        .await
        .expect("describe")[0]
        .partitions
        .iter()
        .map(|p| p.leader)
        .collect();
    let cut = leaders[0];
    println!("leaders {leaders:?}; cutting the client off from broker {cut}");
    proxies.of(cut).stall(true);

    // 1. Cut off, the broker alive: its partitions time out, the rest go.
    let outcomes = tokio::time::timeout(
        delivery_timeout * 3,
        produce_each(&producer, &topic, "cut", PER_PARTITION),
    )
    .await
    .expect("produce never hangs: every record settles within the delivery timeout");
    let mut delivered: Vec<String> = Vec::new();
    let (mut timed_out, mut other_errors) = (0, Vec::new());
    for (p, value, r) in outcomes {
        let behind_cut = leaders[p as usize] == cut;
        match r {
            Ok(()) => {
                assert!(!behind_cut, "partition {p} is led by the broker cut off");
                delivered.push(value);
            }
            Err(Error::DeliveryTimeout { .. } | Error::Timeout { .. }) if behind_cut => {
                timed_out += 1
            }
            Err(e) => other_errors.push(format!("partition {p}: {e}")),
        }
    }
    assert!(other_errors.is_empty(), "{other_errors:?}");
    let behind = leaders.iter().filter(|l| **l == cut).count() * PER_PARTITION;
    assert_eq!(
        timed_out, behind,
        "each record behind the cut failed with a timeout"
    );
    println!(
        "cut off from broker {cut}: {} delivered, {timed_out} timed out (delivery timeout {delivery_timeout:?})",
        delivered.len()
    );

    // 2. Leadership moves off the broker (a controlled stop): produce
    // routes around the cut.
    brokers("stop-kafka", cut);
    let restart = Restart(cut);
    let outcomes = tokio::time::timeout(
        Duration::from_secs(90),
        produce_each(&producer, &topic, "moved", PER_PARTITION),
    )
    .await
    .expect("produce never hangs");
    for (p, value, r) in outcomes {
        r.unwrap_or_else(|e| panic!("partition {p} after the leader moved: {e}"));
        delivered.push(value);
    }
    producer.close().await.expect("close");

    // 3. Fetch through the same proxies reads what was delivered, once.
    let mut reader = PartitionReader::builder(&proxies.bootstrap())
        .address_map(proxies.map())
        .auto_offset_reset(OffsetReset::Earliest);
    for p in 0..PARTITIONS {
        reader = reader.assign(&topic, p, Offset::Earliest);
    }
    let reader = reader.build().await.expect("reader");
    let read = kafka_client_support::drain(reader, delivered.len(), Duration::from_secs(90)).await;
    let mut values: Vec<String> = read
        .iter()
        .map(|r| String::from_utf8(r.value.clone().expect("value")).expect("utf8"))
        .collect();
    values.sort();
    delivered.sort();
    println!(
        "after the move: {} delivered in all, {} read back through the proxies",
        delivered.len(),
        values.len()
    );
    assert_eq!(
        values, delivered,
        "every delivered record, once, and nothing else"
    );
    proxies.of(cut).stall(false);
    drop(restart);
}
