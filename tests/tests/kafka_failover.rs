//! Failover on a three-broker cluster: with replication factor 3, the
//! leader of a partition is stopped mid-stream; the producer carries on
//! after the metadata refresh and the topic ends with zero loss and zero
//! duplicates. A partition reader started before the stop follows the
//! leader change and reads every record too.
//!
//! It stops and starts brokers, which disturbs every other test, so it is
//! built only with the `failover` feature, and run against a three-broker
//! cluster that
//! `scripts/brokers up --kafka-brokers 3` started (with the same
//! `BROKERS_STATE` and `KAFKA_PORT_BASE` in the environment, and
//! `KAFKA_BOOTSTRAP` naming its brokers), as a separate phase:
//!
//! ```text
//! # A second cluster beside the default one: its own state, ports 9192-9194
//! # (controllers 19192-19194, clear of the default cluster's and below the
//! # kernel's ephemeral range), the default cluster's jars.
//! export BROKERS_STATE=/work/failover-brokers KAFKA_PORT_BASE=9191
//! export KAFKA_DIST=$PWD/.brokers/kafka-dist/4.3.1
//! export KAFKA_BOOTSTRAP=$(scripts/brokers up --kafka-brokers 3 | sed -n 's/^KAFKA_BOOTSTRAP=//p')
//! cargo test -p mq-tests --features failover --test kafka_failover -- --nocapture
//! scripts/brokers down
//! ```
//!
//! (In CI the lead's separate phase may instead run the default cluster
//! with three brokers; the test needs only `KAFKA_BOOTSTRAP` and the
//! `scripts/brokers` environment that started it.)

mod kafka_client_support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use mq_client::kafka::{Admin, NewTopic, Producer, ProducerRecord};
use mq_tests::{endpoints, names};

use kafka_client_support::{check_exactly_once_in_order, drain, read_all, reader_for};

const PARTITIONS: i32 = 3;
const KEYS: usize = 30;
const RECORDS: usize = 30_000;

fn brokers_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/brokers")
}

fn brokers(command: &str, node: i32) {
    let status = Command::new(brokers_script())
        .args([command, &node.to_string()])
        .status()
        .expect("scripts/brokers");
    assert!(status.success(), "scripts/brokers {command} {node} failed");
}

/// Starts the stopped broker again even if the test fails.
struct Restart(i32);

impl Drop for Restart {
    fn drop(&mut self) {
        brokers("start-kafka", self.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_stopped_mid_stream_no_loss_no_duplicates() {
    kafka_client_support::init_tracing();
    let bootstrap = endpoints::kafka_bootstrap();
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    let cluster = admin.describe_cluster().await.expect("cluster");
    assert!(
        cluster.brokers.len() >= 3,
        "needs three brokers: {cluster:?}"
    );
    let topic = names::topic("failover");
    admin
        .create_topics([NewTopic::new(&topic, PARTITIONS, 3).config("min.insync.replicas", "2")])
        .await
        .expect("create");

    let producer = Producer::builder(&bootstrap)
        .linger(Duration::from_millis(5))
        .request_timeout(Duration::from_secs(10))
        .build()
        .await
        .expect("producer");
    // Reading while the leader moves.
    let live_reader = reader_for(&bootstrap, &topic, PARTITIONS).await;
    let live = tokio::spawn(drain(live_reader, RECORDS, Duration::from_secs(120)));
    let mut seqs = vec![0u64; KEYS];
    let mut deliveries = Vec::with_capacity(RECORDS);
    let mut restart = None;
    for i in 0..RECORDS {
        if i == RECORDS / 3 {
            let described = admin
                .describe_topics([topic.as_str()])
                .await
                .expect("describe");
            let leader = described[0].partitions[0].leader;
            println!("stopping broker {leader}, leader of {topic}/0");
            brokers("stop-kafka", leader);
            restart = Some(Restart(leader));
        }
        let k = i % KEYS;
        let key = format!("key-{k}");
        let value = format!("key-{k}:{}", seqs[k]);
        seqs[k] += 1;
        deliveries.push(
            producer
                .enqueue(ProducerRecord::new(&topic).key(&key).value(&value))
                .await
                .expect("enqueue"),
        );
        if i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    for d in deliveries {
        d.await
            .expect("every record is delivered across the failover");
    }
    producer.close().await.expect("close");
    let after = admin
        .describe_topics([topic.as_str()])
        .await
        .expect("describe");
    println!(
        "leaders after: {:?}",
        after[0]
            .partitions
            .iter()
            .map(|p| p.leader)
            .collect::<Vec<_>>()
    );
    let records = read_all(
        &bootstrap,
        &topic,
        PARTITIONS,
        RECORDS,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(records.len(), RECORDS, "zero loss, zero duplicates");
    check_exactly_once_in_order(&records);
    let live = live.await.expect("live reader");
    assert_eq!(live.len(), RECORDS, "the reader followed the new leader");
    check_exactly_once_in_order(&live);
    drop(restart);
}
