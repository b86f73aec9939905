//! Round trip through the real Kafka: 200,000 keyed records per codec with
//! acks=all and idempotence, read back with the partition reader: exact
//! count, per-key order, no duplicates.

mod kafka_client_support;

use std::time::{Duration, Instant};

use mq_client::kafka::{Acks, Compression, Producer, ProducerRecord};
use mq_tests::endpoints;

use kafka_client_support::{check_exactly_once_in_order, read_all, topic};

const RECORDS: usize = 200_000;
const KEYS: usize = 1_000;
const PARTITIONS: i32 = 12;

async fn round_trip(codec: Compression) {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic(&format!("roundtrip-{}", codec.name()), PARTITIONS).await;
    let producer = Producer::builder(&bootstrap)
        .acks(Acks::All)
        .compression(codec)
        .linger(Duration::from_millis(5))
        .batch_size(64 * 1024)
        .build()
        .await
        .expect("producer");
    assert!(producer.is_idempotent(), "idempotence is on by default");
    let started = Instant::now();
    let mut deliveries = Vec::with_capacity(RECORDS);
    let mut seqs = vec![0u64; KEYS];
    for i in 0..RECORDS {
        let k = (i * 7919) % KEYS;
        let key = format!("key-{k}");
        let value = format!("key-{k}:{}", seqs[k]);
        seqs[k] += 1;
        let d = producer
            .enqueue(ProducerRecord::new(&topic).key(&key).value(&value))
            .await
            .expect("enqueue");
        deliveries.push(d);
    }
    let mut per_partition = vec![0usize; PARTITIONS as usize];
    for d in deliveries {
        let (partition, offset) = d.await.expect("every delivery succeeds");
        assert!(offset >= 0);
        per_partition[partition as usize] += 1;
    }
    producer.close().await.expect("close");
    let produced = started.elapsed();
    assert!(per_partition.iter().all(|&n| n > 0), "{per_partition:?}");

    let records = read_all(
        &bootstrap,
        &topic,
        PARTITIONS,
        RECORDS,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(records.len(), RECORDS, "exact count read back");
    let per_key = check_exactly_once_in_order(&records);
    assert_eq!(per_key.len(), KEYS);
    for (k, n) in seqs.iter().enumerate() {
        assert_eq!(per_key.get(format!("key-{k}").as_bytes()), Some(n));
    }
    println!(
        "{}: produced {RECORDS} in {produced:?}, read back in {:?}",
        codec.name(),
        started.elapsed() - produced
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_200k_none() {
    round_trip(Compression::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_200k_gzip() {
    round_trip(Compression::Gzip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_200k_snappy() {
    round_trip(Compression::Snappy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_200k_lz4() {
    round_trip(Compression::Lz4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_200k_zstd() {
    round_trip(Compression::Zstd).await;
}
