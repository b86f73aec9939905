//! Client metrics against the real Kafka: a producer's and a group
//! consumer's snapshots count what went through them (10,000 records out,
//! the same 10,000 in, lag 0 at the end), a cut connection counts as a
//! reconnect, and the Prometheus text parses strictly with the same
//! figures.

mod kafka_client_support;

use std::time::Duration;

use mq_client::StreamExt;
use mq_client::kafka::{
    Admin, ClientKind, ClientMetrics, Consumer, OffsetReset, PartitionReader, Producer,
    ProducerRecord,
};
use mq_tests::kafka_proxies::KafkaProxies;
use mq_tests::{endpoints, names, prometheus};

use kafka_client_support::topic;

const RECORDS: usize = 10_000;
const VALUE: usize = 100;
const PARTITIONS: i32 = 3;

/// Checks the connection figures every client has.
fn check_connection(m: &ClientMetrics) {
    assert!(m.bytes_sent > 0, "{m:?}");
    assert!(m.bytes_received > 0, "{m:?}");
    assert!(m.connects >= 1, "{m:?}");
    assert!(m.requests_answered() >= 1, "{m:?}");
    let metadata = m.request(3).expect("Metadata was sent");
    assert_eq!(metadata.api, "Metadata");
    assert!(metadata.answered >= 1 && metadata.latency_sum > Duration::ZERO);
    assert!(metadata.latency_max <= metadata.latency_sum);
}

/// Parses the snapshot's text and checks the figures common to all.
fn check_text(m: &ClientMetrics) -> prometheus::Exposition {
    let text = m.to_prometheus_text();
    let e = prometheus::parse(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    let prefix = format!("mq_kafka_{}", m.client.as_str());
    let id = [("client_id", m.client_id.as_str())];
    assert!(e.samples.iter().all(|s| s.name.starts_with(&prefix)));
    assert!(
        e.samples
            .iter()
            .all(|s| s.labels["client_id"] == m.client_id)
    );
    assert_eq!(
        e.value(&format!("{prefix}_bytes_sent_total"), &id),
        m.bytes_sent as f64
    );
    assert_eq!(
        e.value(&format!("{prefix}_bytes_received_total"), &id),
        m.bytes_received as f64
    );
    let metadata = m.request(3).expect("Metadata");
    let api = [("api", "Metadata")];
    assert_eq!(
        e.value(&format!("{prefix}_requests_answered_total"), &api),
        metadata.answered as f64
    );
    assert_eq!(
        e.value(&format!("{prefix}_request_latency_seconds_count"), &api),
        metadata.answered as f64
    );
    assert_eq!(
        e.value(&format!("{prefix}_request_latency_seconds_sum"), &api),
        metadata.latency_sum.as_secs_f64()
    );
    assert_eq!(
        e.types[&format!("{prefix}_request_latency_seconds")],
        "summary"
    );
    assert_eq!(e.types[&format!("{prefix}_requests_in_flight")], "gauge");
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_and_group_consumer_count_10k_records() {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic("metrics", PARTITIONS).await;
    let producer = Producer::builder(&bootstrap)
        .client_id("metrics-producer")
        .linger(Duration::from_millis(5))
        .build()
        .await
        .expect("producer");
    let value = vec![b'v'; VALUE];
    let mut deliveries = Vec::with_capacity(RECORDS);
    for _ in 0..RECORDS {
        let d = producer
            .enqueue(ProducerRecord::new(&topic).value(&value))
            .await
            .expect("enqueue");
        deliveries.push(d);
    }
    let mut partitions = std::collections::BTreeSet::new();
    for d in deliveries {
        partitions.insert(d.await.expect("delivered").0);
    }
    let m = producer.metrics();
    assert_eq!(m.client, ClientKind::Producer);
    assert_eq!(m.client_id, "metrics-producer");
    check_connection(&m);
    let p = m.producer.clone().expect("a producer section");
    assert!(m.consumer.is_none());
    assert_eq!(p.records_sent, RECORDS as u64, "{p:?}");
    assert_eq!(p.records_failed, 0);
    assert_eq!(p.buffered_records, 0, "every record is settled");
    assert_eq!(p.buffered_bytes, 0);
    assert!(p.batches_sent >= 1 && p.produce_requests >= 1, "{p:?}");
    assert!(p.batches_sent >= p.produce_requests, "{p:?}");
    // Every batch is counted as often as it was sent.
    assert!(p.batch_records >= RECORDS as u64, "{p:?}");
    if p.retries == 0 {
        assert_eq!(p.batch_records, RECORDS as u64, "{p:?}");
    }
    assert!(p.batch_bytes > (RECORDS * VALUE) as u64, "{p:?}");
    assert!(p.batch_bytes_max > 0 && p.batch_bytes_max <= p.batch_bytes);
    assert!(p.batch_bytes_max * p.batches_sent >= p.batch_bytes, "{p:?}");
    let produce = m.request(0).expect("Produce was sent");
    assert_eq!(produce.api, "Produce");
    assert_eq!(produce.sent, p.produce_requests, "{produce:?}");
    assert!(produce.answered >= 1 && produce.latency_sum > Duration::ZERO);
    assert_eq!(produce.answered + produce.failed, produce.sent);
    assert_eq!(m.requests_in_flight, 0);
    let e = check_text(&m);
    let id = [("client_id", "metrics-producer")];
    assert_eq!(
        e.value("mq_kafka_producer_records_sent_total", &id),
        RECORDS as f64
    );
    assert_eq!(
        e.value("mq_kafka_producer_batches_sent_total", &id),
        p.batches_sent as f64
    );
    assert_eq!(
        e.value("mq_kafka_producer_batch_bytes_total", &id),
        p.batch_bytes as f64
    );
    assert_eq!(
        e.value(
            "mq_kafka_producer_requests_sent_total",
            &[("api", "Produce")]
        ),
        produce.sent as f64
    );
    producer.close().await.expect("close");

    let mut consumer = Consumer::builder(&bootstrap)
        .client_id("metrics-consumer")
        .group(names::group("metrics"))
        .auto_offset_reset(OffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .await
        .expect("consumer");
    consumer
        .subscribe([topic.as_str()])
        .await
        .expect("subscribe");
    let mut consumed = 0;
    while consumed < RECORDS {
        let r = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .expect("a record in time")
            .expect("the stream goes on")
            .expect("a record");
        assert_eq!(r.value(), Some(&value[..]));
        consumed += 1;
    }
    let m = consumer.metrics();
    assert_eq!(m.client, ClientKind::Consumer);
    check_connection(&m);
    let c = m.consumer.clone().expect("a consumer section");
    assert!(m.producer.is_none());
    assert_eq!(c.records_consumed, RECORDS as u64, "{c:?}");
    assert!(c.batches_consumed >= partitions.len() as u64, "{c:?}");
    let lagged: std::collections::BTreeSet<i32> = c.lag.iter().map(|l| l.partition).collect();
    assert!(
        lagged.is_superset(&partitions),
        "lag for every partition read: {c:?}"
    );
    assert!(
        c.lag.iter().all(|l| l.lag == 0 && l.topic == topic),
        "{c:?}"
    );
    let fetch = m.request(1).expect("Fetch was sent");
    assert!(fetch.answered >= 1 && fetch.latency_sum > Duration::ZERO);
    let e = check_text(&m);
    let id = [("client_id", "metrics-consumer")];
    assert_eq!(
        e.value("mq_kafka_consumer_records_consumed_total", &id),
        RECORDS as f64
    );
    for p in &partitions {
        let p = p.to_string();
        let labels = [("topic", topic.as_str()), ("partition", p.as_str())];
        assert_eq!(e.value("mq_kafka_consumer_lag", &labels), 0.0);
    }
    consumer.close().await.expect("close");

    // A partition reader and an admin client keep their own figures.
    let mut reader = PartitionReader::builder(&bootstrap)
        .assign_topic(&topic, mq_client::kafka::Offset::Earliest)
        .stop_at_end()
        .build()
        .await
        .expect("reader");
    let mut read = 0;
    while let Some(r) = reader.next().await {
        r.expect("record");
        read += 1;
    }
    assert_eq!(read, RECORDS);
    let m = reader.metrics();
    assert_eq!(m.client, ClientKind::PartitionReader);
    check_connection(&m);
    let c = m.consumer.clone().expect("a consumer section");
    assert_eq!(c.records_consumed, RECORDS as u64, "{c:?}");
    // Read to the end: every partition is 0 behind, in the snapshot and in
    // `lag()`.
    assert_eq!(c.lag.len(), PARTITIONS as usize, "{c:?}");
    assert!(c.lag.iter().all(|l| l.lag == 0), "{c:?}");
    let lag = reader.lag();
    assert_eq!(lag.len(), PARTITIONS as usize);
    assert!(lag.values().all(|l| *l == 0), "{lag:?}");
    check_text(&m);

    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    admin
        .list_offsets(&topic, &[0], mq_client::kafka::OffsetSpec::Latest)
        .await
        .expect("list offsets");
    let m = admin.metrics();
    assert_eq!(m.client, ClientKind::Admin);
    check_connection(&m);
    assert!(m.request(2).is_some_and(|r| r.answered >= 1), "ListOffsets");
    assert!(m.producer.is_none() && m.consumer.is_none());
    check_text(&m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_counts_as_a_reconnect() {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = topic("metrics-reconnect", 1).await;
    let proxy = KafkaProxies::start(&bootstrap).await.expect("proxies");
    let producer = Producer::builder(&proxy.bootstrap())
        .address_map(proxy.map())
        .build()
        .await
        .expect("producer");
    let send = |i: u32| {
        let value = i.to_be_bytes();
        let producer = &producer;
        let topic = &topic;
        async move {
            producer
                .send(ProducerRecord::new(topic).value(&value))
                .await
                .expect("delivered")
        }
    };
    send(0).await;
    let before = producer.metrics();
    assert_eq!((before.reconnects, before.connect_failures), (0, 0));
    proxy.cut_all();
    for i in 1..20 {
        send(i).await;
    }
    let m = producer.metrics();
    assert!(m.reconnects >= 1, "{m:?}");
    assert!(m.connects > before.connects, "{m:?}");
    assert_eq!(m.producer.as_ref().map(|p| p.records_sent), Some(20));
    assert_eq!(m.requests_in_flight, 0);
    let e = check_text(&m);
    let id = [("client_id", m.client_id.as_str())];
    assert_eq!(
        e.value("mq_kafka_producer_reconnects_total", &id),
        m.reconnects as f64
    );
    producer.close().await.expect("close");
}
