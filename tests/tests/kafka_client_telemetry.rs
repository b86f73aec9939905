//! KIP-714 client telemetry against Kafka 4.3.1: with a client-metrics
//! subscription made by Kafka's own `kafka-client-metrics` tool, a producer
//! and a group consumer push their metrics, which the test brokers'
//! reporter (`scripts/lib/kafka-plugin`) decodes as OpenTelemetry and logs;
//! the counts match the client's own snapshot. A client with
//! `enable_metrics_push(false)` pushes nothing.

mod kafka_client_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_client::kafka::{Consumer, OffsetReset, Producer, ProducerRecord};
use mq_tests::{endpoints, names, tools};

/// A client-metrics subscription for one client id, removed when dropped.
struct Subscription(String);

impl Subscription {
    fn new(client_id: &str, metrics: &str) -> Self {
        let name = names::unique("mq-telemetry");
        let out = tools::kafka_java(
            "org.apache.kafka.tools.ClientMetricsCommand",
            &[
                "--bootstrap-server",
                &endpoints::kafka_bootstrap(),
                "--alter",
                "--name",
                &name,
                "--metrics",
                metrics,
                "--interval",
                "500",
                "--match",
                &format!("client_id={client_id}"),
            ],
        );
        assert!(
            out.status.success(),
            "kafka-client-metrics --alter: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Subscription(name)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = tools::kafka_java(
            "org.apache.kafka.tools.ClientMetricsCommand",
            &[
                "--bootstrap-server",
                &endpoints::kafka_bootstrap(),
                "--delete",
                "--name",
                &self.0,
            ],
        );
    }
}

/// The metrics the reporter logged for `client_id`, by name and
/// attributes: the sum of every value pushed (the brokers ask for deltas,
/// so a counter's sum is its total), and how many payloads it received.
fn pushed(client_id: &str) -> (usize, BTreeMap<String, f64>) {
    let log = std::fs::read_to_string(tools::kafka_telemetry_log()).unwrap_or_default();
    let mut payloads = 0;
    let mut sums = BTreeMap::new();
    for line in log.lines() {
        let mut f = line.split(' ');
        match (f.next(), f.next()) {
            (Some("payload"), Some(id)) if id == client_id => payloads += 1,
            (Some("metric"), Some(id)) if id == client_id => {
                let name = f.next().unwrap_or_default();
                let value: f64 = f.next().unwrap_or_default().parse().unwrap_or(f64::NAN);
                let attrs = f.next().unwrap_or_default();
                *sums.entry(format!("{name}{{{attrs}}}")).or_insert(0.0) += value;
            }
            _ => {}
        }
    }
    (payloads, sums)
}

/// Waits until `done` holds for what `client_id` pushed.
async fn wait_pushed(
    client_id: &str,
    what: &str,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (payloads, last) = pushed(client_id);
        if payloads > 0 && done(&last) {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {payloads} payloads from {client_id}, last {last:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_producer_and_consumer_push_their_metrics() {
    kafka_client_support::init_tracing();
    let topic = kafka_client_support::topic("telemetry", 2).await;
    let producer_id = names::unique("mq-tel-producer");
    let consumer_id = names::unique("mq-tel-consumer");
    let _p = Subscription::new(&producer_id, "org.apache.kafka.producer.");
    let _c = Subscription::new(&consumer_id, "org.apache.kafka.consumer.fetch.manager.");

    let producer = Producer::builder(&endpoints::kafka_bootstrap())
        .client_id(&producer_id)
        .build()
        .await
        .expect("producer");
    for i in 0..500 {
        producer
            .send(ProducerRecord::new(&topic).value(&format!("v{i}")))
            .await
            .expect("produce");
    }
    let sent = "org.apache.kafka.producer.record.send.total{}";
    let last = wait_pushed(&producer_id, "the producer pushes 500 records sent", |m| {
        m.get(sent) == Some(&500.0)
    })
    .await;
    let snapshot = producer.metrics();
    let bytes = last["org.apache.kafka.producer.outgoing.byte.total{}"];
    assert!(
        bytes > 0.0 && bytes <= snapshot.bytes_sent as f64,
        "{bytes} vs {}",
        snapshot.bytes_sent
    );
    let produce = "org.apache.kafka.producer.request.total{api=Produce}";
    assert!(last.contains_key(produce), "{last:#?}");
    assert!(
        last.keys()
            .all(|k| k.starts_with("org.apache.kafka.producer.")),
        "{last:#?}"
    );

    let mut consumer = Consumer::builder(&endpoints::kafka_bootstrap())
        .client_id(&consumer_id)
        .group(names::group("telemetry"))
        .auto_offset_reset(OffsetReset::Earliest)
        .build()
        .await
        .expect("consumer");
    consumer
        .subscribe([topic.as_str()])
        .await
        .expect("subscribe");
    for _ in 0..500 {
        tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .expect("a record")
            .expect("open")
            .expect("record");
    }
    let consumed = "org.apache.kafka.consumer.fetch.manager.records.consumed.total{}";
    let last = wait_pushed(
        &consumer_id,
        "the consumer pushes 500 records consumed",
        |m| m.get(consumed) == Some(&500.0),
    )
    .await;
    // Only the prefix subscribed to.
    assert!(
        last.keys()
            .all(|k| k.starts_with("org.apache.kafka.consumer.fetch.manager.")),
        "{last:#?}"
    );
    consumer.close().await.expect("close");
    producer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_with_metrics_push_off_pushes_nothing() {
    kafka_client_support::init_tracing();
    let topic = kafka_client_support::topic("telemetry-off", 1).await;
    let (off, on) = (names::unique("mq-tel-off"), names::unique("mq-tel-on"));
    let _off = Subscription::new(&off, "*");
    let _on = Subscription::new(&on, "*");
    let quiet = Producer::builder(&endpoints::kafka_bootstrap())
        .client_id(&off)
        .enable_metrics_push(false)
        .build()
        .await
        .expect("producer");
    let loud = Producer::builder(&endpoints::kafka_bootstrap())
        .client_id(&on)
        .build()
        .await
        .expect("producer");
    for p in [&quiet, &loud] {
        p.send(ProducerRecord::new(&topic).value("x"))
            .await
            .expect("produce");
    }
    // The one that pushes does, within a few intervals; the other not.
    wait_pushed(&on, "the default client pushes", |m| !m.is_empty()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pushed(&off).0, 0, "pushed with enable_metrics_push(false)");
    quiet.close().await.expect("close");
    loud.close().await.expect("close");
}
