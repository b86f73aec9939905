//! mq-client's `metrics` feature: a client's metrics snapshot published to
//! the `metrics` facade reaches the installed recorder with the
//! snapshot's figures, counters as counters (set with `absolute`) and
//! levels as gauges. The recorder here captures what it is given.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use mq_client::amqp::{self, BasicProperties, QueueOptions};
use mq_client::kafka::{Admin, NewTopic, Producer, ProducerRecord};
use mq_tests::{endpoints, names, prometheus};

/// What was published: each series (`name{k=v,...}`) with its kind and
/// last value, and each described name.
#[derive(Debug, Default)]
struct Captured {
    series: Mutex<BTreeMap<String, (&'static str, f64)>>,
    described: Mutex<BTreeMap<String, String>>,
}

struct Series {
    key: String,
    kind: &'static str,
    into: Arc<Captured>,
}

impl Series {
    fn set(&self, value: f64) {
        let mut series = self.into.series.lock().unwrap();
        series.insert(self.key.clone(), (self.kind, value));
    }

    fn add(&self, by: f64) {
        let mut series = self.into.series.lock().unwrap();
        series.entry(self.key.clone()).or_insert((self.kind, 0.0)).1 += by;
    }
}

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        self.add(value as f64);
    }

    fn absolute(&self, value: u64) {
        self.set(value as f64);
    }
}

impl GaugeFn for Series {
    fn increment(&self, value: f64) {
        self.add(value);
    }

    fn decrement(&self, value: f64) {
        self.add(-value);
    }

    fn set(&self, value: f64) {
        Series::set(self, value);
    }
}

impl HistogramFn for Series {
    fn record(&self, value: f64) {
        self.add(value);
    }
}

#[derive(Debug, Default)]
struct TestRecorder(Arc<Captured>);

impl TestRecorder {
    fn series(&self, key: &Key, kind: &'static str) -> Arc<Series> {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        Arc::new(Series {
            key: format!("{}{{{}}}", key.name(), labels.join(",")),
            kind,
            into: self.0.clone(),
        })
    }

    fn describe(&self, key: KeyName, description: SharedString) {
        let mut described = self.0.described.lock().unwrap();
        described.insert(key.as_str().to_owned(), description.to_string());
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn describe_histogram(&self, key: KeyName, _: Option<Unit>, description: SharedString) {
        self.describe(key, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.series(key, "counter"))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.series(key, "gauge"))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.series(key, "histogram"))
    }
}

/// Publishes with `publish` to a fresh recorder and checks that every
/// sample of `text` (the same snapshot's Prometheus text) was published
/// with its value, as a counter where the text says counter (or a
/// summary's count) and as a gauge otherwise; returns the series.
fn check_published(text: &str, publish: impl FnOnce()) -> BTreeMap<String, (&'static str, f64)> {
    let recorder = TestRecorder::default();
    metrics::with_local_recorder(&recorder, publish);
    let series = recorder.0.series.lock().unwrap().clone();
    let described = recorder.0.described.lock().unwrap().clone();
    let e = prometheus::parse(text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    assert!(!e.samples.is_empty());
    for s in &e.samples {
        let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let key = format!("{}{{{}}}", s.name, labels.join(","));
        let (kind, value) = series
            .get(&key)
            .unwrap_or_else(|| panic!("{key} was not published: {series:?}"));
        assert_eq!(*value, s.value, "{key}");
        let family = e.types.get(&s.name).map(String::as_str);
        let want = match family {
            Some("counter") => "counter",
            Some(_) => "gauge",
            None if s.name.ends_with("_count") => "counter",
            None => "gauge",
        };
        assert_eq!(*kind, want, "{key}");
        assert!(described.contains_key(&s.name), "{} is described", s.name);
    }
    assert_eq!(series.len(), e.samples.len(), "nothing else published");
    series
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_producer_snapshot_reaches_the_recorder() {
    let bootstrap = endpoints::kafka_bootstrap();
    let topic = names::topic("metrics-facade");
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    admin
        .create_topics([NewTopic::new(&topic, 2, 1)])
        .await
        .expect("create topic");
    let producer = Producer::builder(&bootstrap)
        .client_id("facade-producer")
        .build()
        .await
        .expect("producer");
    for i in 0..100u32 {
        producer
            .send(ProducerRecord::new(&topic).value(&i.to_be_bytes()))
            .await
            .expect("send");
    }
    let m = producer.metrics();
    let series = check_published(&m.to_prometheus_text(), || m.publish());
    let key = "mq_kafka_producer_records_sent_total{client_id=facade-producer}";
    assert_eq!(series[key], ("counter", 100.0));
    let p = m.producer.expect("producer section");
    let key = "mq_kafka_producer_batch_bytes_total{client_id=facade-producer}";
    assert_eq!(series[key], ("counter", p.batch_bytes as f64));
    producer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqp_connection_snapshot_reaches_the_recorder() {
    let conn = amqp::Connection::connect(&endpoints::amqp_url())
        .await
        .expect("connect");
    let ch = conn.open_channel().await.expect("channel");
    let queue = names::queue("metrics-facade");
    ch.queue_declare(&queue, QueueOptions::default().exclusive())
        .await
        .expect("declare");
    ch.confirm_select().await.expect("confirms");
    for _ in 0..20 {
        ch.publish("", &queue, &b"hello"[..], BasicProperties::default())
            .await
            .expect("publish")
            .await
            .expect("acked");
    }
    let m = conn.metrics();
    let series = check_published(&m.to_prometheus_text(), || m.publish());
    let key = format!(
        "mq_amqp_connection_publishes_total{{connection={}}}",
        m.connection
    );
    assert_eq!(series[&key], ("counter", 20.0));
    conn.close().await.expect("close");
}
