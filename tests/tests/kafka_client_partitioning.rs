//! Keyed records land on the partition Java's default partitioner picks:
//! checked with Kafka's murmur2 vectors (from `Utils.murmur2` in
//! kafka-clients), with keys read back after our producer wrote them, and
//! with keys that librdkafka's Java-compatible partitioner (kcat,
//! `murmur2_random`) placed.

mod kafka_client_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use mq_client::kafka::partitioner::{murmur2, partition_for_key};
use mq_client::kafka::{Producer, ProducerRecord};
use mq_tests::endpoints;

use kafka_client_support::{read_all, topic};

const PARTITIONS: i32 = 12;

#[test]
fn murmur2_matches_kafka_vectors() {
    // Kafka's UtilsTest vectors and the partitions Java picks among 12.
    let cases: &[(&[u8], i32)] = &[
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        (b"abc", 479_470_107),
    ];
    for &(key, hash) in cases {
        assert_eq!(murmur2(key), hash, "{:?}", String::from_utf8_lossy(key));
        assert_eq!(
            partition_for_key(key, 12),
            (hash & 0x7fff_ffff) % 12,
            "{:?}",
            String::from_utf8_lossy(key)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_read_back_sit_on_the_java_partition() {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic("partitioning", PARTITIONS).await;
    let producer = Producer::builder(&bootstrap)
        .build()
        .await
        .expect("producer");
    let keys: Vec<String> = (0..2_000).map(|i| format!("customer-{i}")).collect();
    let mut deliveries = Vec::new();
    for key in &keys {
        deliveries.push(
            producer
                .enqueue(ProducerRecord::new(&topic).key(key).value("v"))
                .await
                .expect("enqueue"),
        );
    }
    for (key, d) in keys.iter().zip(deliveries) {
        let (partition, _) = d.await.expect("delivery");
        assert_eq!(
            partition,
            partition_for_key(key.as_bytes(), PARTITIONS as u32)
        );
    }
    producer.close().await.expect("close");
    let records = read_all(
        &bootstrap,
        &topic,
        PARTITIONS,
        keys.len(),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(records.len(), keys.len());
    let mut used = std::collections::HashSet::new();
    for r in &records {
        let key = r.key.as_ref().expect("key");
        assert_eq!(r.partition, partition_for_key(key, PARTITIONS as u32));
        used.insert(r.partition);
    }
    assert_eq!(
        used.len(),
        PARTITIONS as usize,
        "2000 keys spread over every partition"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_murmur2_random_agrees_with_ours() {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic("partitioning-kcat", PARTITIONS).await;
    let keys: Vec<String> = (0..500).map(|i| format!("k{i}-{}", i * 31)).collect();
    let mut child = Command::new("kcat")
        .args(["-P", "-b", &bootstrap, "-t", &topic, "-K", "\t"])
        .args(["-X", "partitioner=murmur2_random"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat must be installed (scripts/brokers up installs it)");
    {
        let stdin = child.stdin.as_mut().expect("stdin");
        for key in &keys {
            writeln!(stdin, "{key}\tvalue-of-{key}").expect("write");
        }
    }
    assert!(child.wait().expect("kcat").success());
    let records = read_all(
        &bootstrap,
        &topic,
        PARTITIONS,
        keys.len(),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(records.len(), keys.len());
    for r in &records {
        let key = r.key.as_ref().expect("key");
        assert_eq!(
            r.partition,
            partition_for_key(key, PARTITIONS as u32),
            "librdkafka and we disagree on {:?}",
            String::from_utf8_lossy(key)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_for_a_partition_that_does_not_exist_fails_at_once_with_its_name() {
    let topic = topic("no-such-partition", 3).await;
    let producer = Producer::builder(&endpoints::kafka_bootstrap())
        .delivery_timeout(Duration::from_secs(60))
        .build()
        .await
        .expect("producer");
    let started = std::time::Instant::now();
    let refused = producer
        .enqueue(ProducerRecord::new(&topic).partition(3).value("x"))
        .await
        .map(|_| ())
        .expect_err("partition 3 of 3");
    let took = started.elapsed();
    assert!(
        matches!(&refused, mq_client::kafka::Error::UnknownPartition { topic: t, partition: 3 } if *t == topic),
        "{refused:?}"
    );
    // One metadata refresh (partitions may have been added), not the
    // delivery timeout.
    assert!(took < Duration::from_secs(5), "{took:?}");
    // The producer goes on with the partitions that exist.
    producer
        .send(ProducerRecord::new(&topic).partition(2).value("y"))
        .await
        .expect("partition 2");
    producer.close().await.expect("close");
}
