//! Incremental fetch sessions (KIP-227) against the broker: a reader of 600
//! partitions (100 topics of 6) restates every partition in each Fetch
//! without sessions, and once its session exists lists only the partitions
//! whose position moved. The Fetch requests are read off a recording proxy
//! and their sizes printed; both readers read every record once.

mod kafka_client_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mq_client::kafka::{Admin, NewTopic, Offset, PartitionReader, Producer, ProducerRecord};
use mq_tests::kafka_proxies::KafkaProxies;
use mq_tests::{endpoints, names};

const TOPICS: usize = 100;
const PARTITIONS: i32 = 6;

fn median(v: &mut [usize]) -> usize {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Reads every partition through a recording proxy until `expected`
/// records came, then idles a second (fetches go on); the values read and
/// the Fetch request sizes, in order.
async fn read_through_proxy(
    topics: &[String],
    sessions: bool,
    expected: usize,
) -> (Vec<String>, Vec<usize>) {
    let bootstrap = endpoints::kafka_bootstrap();
    let proxy = Arc::new(KafkaProxies::start(&bootstrap).await.expect("proxies"));
    proxy.all().for_each(|p| p.record(true));
    let mut builder = PartitionReader::builder(&proxy.bootstrap())
        .address_map(proxy.map())
        .fetch_sessions(sessions)
        .fetch_max_wait(Duration::from_millis(100));
    for t in topics {
        builder = builder.assign_topic(t, Offset::Earliest);
    }
    let mut reader = builder.build().await.expect("reader");
    let mut values = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while values.len() < expected {
        let batch = tokio::time::timeout_at(deadline, reader.next_batch())
            .await
            .expect("every record in time")
            .expect("fetch");
        for r in batch.iter() {
            let r = r.expect("record");
            values.push(String::from_utf8_lossy(r.value().unwrap_or_default()).into_owned());
        }
    }
    // Idle fetches: nothing new anywhere.
    if let Ok(Ok(extra)) = tokio::time::timeout(Duration::from_secs(1), reader.next_batch()).await {
        panic!("a record read twice or never written: {extra:?}");
    }
    proxy.all().for_each(|p| p.record(false));
    let sizes = proxy
        .all()
        .flat_map(|p| p.recorded())
        .flat_map(|s| mq_tests::kafka_wire::request_sizes(&s, 1))
        .collect();
    (values, sizes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_of_600_partitions_sends_small_incremental_fetches() {
    kafka_client_support::init_tracing();
    let bootstrap = endpoints::kafka_bootstrap();
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    let prefix = names::topic("sessions");
    let topics: Vec<String> = (0..TOPICS).map(|i| format!("{prefix}-{i:03}")).collect();
    admin
        .create_topics(topics.iter().map(|t| NewTopic::new(t, PARTITIONS, 1)))
        .await
        .expect("create 100 topics");
    // A few records on a few partitions.
    let producer = Producer::builder(&bootstrap)
        .build()
        .await
        .expect("producer");
    let mut written = Vec::new();
    for (i, t) in topics.iter().enumerate().step_by(10) {
        for p in 0..PARTITIONS {
            let value = format!("{i}/{p}");
            producer
                .send(ProducerRecord::new(t).partition(p).value(&value))
                .await
                .expect("send");
            written.push(value);
        }
    }
    producer.close().await.expect("close");
    written.sort();

    let mut by_mode = BTreeMap::new();
    for sessions in [false, true] {
        let (mut values, sizes) = read_through_proxy(&topics, sessions, written.len()).await;
        values.sort();
        assert_eq!(values, written, "sessions {sessions}: every record once");
        by_mode.insert(sessions, sizes);
    }
    let mut full = by_mode[&false].clone();
    let with = &by_mode[&true];
    let first = with.first().copied().unwrap_or(0);
    let mut incremental: Vec<usize> = with.iter().skip(1).copied().collect();
    println!(
        "600 partitions, Fetch request bytes: without sessions {} fetches, median {} bytes; \
         with sessions the first (full) {first} bytes, then {} fetches, median {} bytes",
        full.len(),
        median(&mut full),
        incremental.len(),
        median(&mut incremental)
    );
    assert!(
        full.len() >= 3 && incremental.len() >= 3,
        "{full:?} {with:?}"
    );
    assert!(
        first > 600 * 10,
        "the first fetch lists every partition: {first}"
    );
    assert!(
        median(&mut incremental) * 10 < median(&mut full),
        "incremental fetches restate only what moved: {incremental:?} against {full:?}"
    );
    admin
        .delete_topics(topics.iter().map(String::as_str))
        .await
        .expect("delete");
}
