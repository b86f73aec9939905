//! Client metrics: counters every Kafka client keeps (relaxed atomics,
//! bumped once per request, read, write or batch, never per record), and
//! the plain snapshot [`ClientMetrics`] that `metrics()` returns.
//!
//! One [`Stats`] belongs to one client's [`Cluster`](super::Cluster), so
//! every connection driver of that client adds to it; the group consumer's
//! partition reader shares its consumer's.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use kafka_proto::api::ApiKey;

use crate::exposition::{self, Families, Kind, Value};

/// API keys below this are counted per key (Kafka's are all below 100);
/// others are counted under the last slot.
const API_SLOTS: usize = 128;

/// Per-API request counters.
#[derive(Debug, Default)]
struct ApiStats {
    sent: AtomicU64,
    answered: AtomicU64,
    failed: AtomicU64,
    latency_ns: AtomicU64,
    latency_max_ns: AtomicU64,
}

/// The live counters of one client. Crate-private: users see snapshots.
#[derive(Debug)]
pub(crate) struct Stats {
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) connect_failures: AtomicU64,
    in_flight: AtomicI64,
    apis: Box<[ApiStats]>,
    // Producer.
    pub(crate) batches_sent: AtomicU64,
    pub(crate) batch_records: AtomicU64,
    pub(crate) batch_bytes: AtomicU64,
    pub(crate) batch_bytes_max: AtomicU64,
    pub(crate) produce_requests: AtomicU64,
    pub(crate) records_sent: AtomicU64,
    pub(crate) records_failed: AtomicU64,
    // Consumer and reader.
    pub(crate) records_consumed: AtomicU64,
    pub(crate) batches_consumed: AtomicU64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            in_flight: AtomicI64::new(0),
            apis: (0..API_SLOTS).map(|_| ApiStats::default()).collect(),
            batches_sent: AtomicU64::new(0),
            batch_records: AtomicU64::new(0),
            batch_bytes: AtomicU64::new(0),
            batch_bytes_max: AtomicU64::new(0),
            produce_requests: AtomicU64::new(0),
            records_sent: AtomicU64::new(0),
            records_failed: AtomicU64::new(0),
            records_consumed: AtomicU64::new(0),
            batches_consumed: AtomicU64::new(0),
        }
    }
}

impl Stats {
    fn api(&self, api: ApiKey) -> &ApiStats {
        let slot = usize::try_from(api.0).map_or(API_SLOTS - 1, |i| i.min(API_SLOTS - 1));
        &self.apis[slot]
    }

    /// A request went out; `awaits_answer`: one more in flight.
    pub(crate) fn request_sent(&self, api: ApiKey, awaits_answer: bool) {
        self.api(api).sent.fetch_add(1, Relaxed);
        if awaits_answer {
            self.in_flight.fetch_add(1, Relaxed);
        }
    }

    /// A request in flight was answered after `latency`.
    pub(crate) fn request_answered(&self, api: ApiKey, latency: Duration) {
        let a = self.api(api);
        let ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        a.answered.fetch_add(1, Relaxed);
        a.latency_ns.fetch_add(ns, Relaxed);
        a.latency_max_ns.fetch_max(ns, Relaxed);
        self.in_flight.fetch_sub(1, Relaxed);
    }

    /// A request in flight got no answer (timed out, or its connection
    /// failed).
    pub(crate) fn request_failed(&self, api: ApiKey) {
        self.api(api).failed.fetch_add(1, Relaxed);
        self.in_flight.fetch_sub(1, Relaxed);
    }

    /// A Produce request carrying `batches` batches of `records` records
    /// in `bytes` bytes, the largest `largest` bytes, was queued.
    pub(crate) fn produce_sent(&self, batches: usize, records: i32, bytes: usize, largest: usize) {
        self.produce_requests.fetch_add(1, Relaxed);
        self.batches_sent.fetch_add(batches as u64, Relaxed);
        self.batch_records
            .fetch_add(u64::try_from(records).unwrap_or(0), Relaxed);
        self.batch_bytes.fetch_add(bytes as u64, Relaxed);
        self.batch_bytes_max.fetch_max(largest as u64, Relaxed);
    }

    /// The counters common to every client, with no client section.
    pub(crate) fn snapshot(&self, kind: ClientKind, client_id: &str) -> ClientMetrics {
        let requests = self
            .apis
            .iter()
            .enumerate()
            .filter(|(_, a)| a.sent.load(Relaxed) > 0)
            .map(|(i, a)| {
                let api = ApiKey(i16::try_from(i).unwrap_or(i16::MAX));
                RequestMetrics {
                    api_key: api.0,
                    api: api.name(),
                    sent: a.sent.load(Relaxed),
                    answered: a.answered.load(Relaxed),
                    failed: a.failed.load(Relaxed),
                    latency_sum: Duration::from_nanos(a.latency_ns.load(Relaxed)),
                    latency_max: Duration::from_nanos(a.latency_max_ns.load(Relaxed)),
                }
            })
            .collect();
        ClientMetrics {
            client: kind,
            client_id: client_id.to_owned(),
            bytes_sent: self.bytes_sent.load(Relaxed),
            bytes_received: self.bytes_received.load(Relaxed),
            connects: self.connects.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            requests_in_flight: u64::try_from(self.in_flight.load(Relaxed)).unwrap_or(0),
            requests,
            producer: None,
            consumer: None,
        }
    }

    /// The producer's counters; the buffer levels and retries come from
    /// the producer itself.
    pub(crate) fn producer_section(&self) -> ProducerMetrics {
        ProducerMetrics {
            records_sent: self.records_sent.load(Relaxed),
            records_failed: self.records_failed.load(Relaxed),
            produce_requests: self.produce_requests.load(Relaxed),
            batches_sent: self.batches_sent.load(Relaxed),
            batch_records: self.batch_records.load(Relaxed),
            batch_bytes: self.batch_bytes.load(Relaxed),
            batch_bytes_max: self.batch_bytes_max.load(Relaxed),
            retries: 0,
            buffered_bytes: 0,
            buffered_records: 0,
        }
    }

    /// The consumer's counters; `lag` comes from the group consumer.
    pub(crate) fn consumer_section(&self, lag: Vec<PartitionLag>) -> ConsumerMetrics {
        ConsumerMetrics {
            records_consumed: self.records_consumed.load(Relaxed),
            batches_consumed: self.batches_consumed.load(Relaxed),
            lag,
        }
    }
}

/// Which client a [`ClientMetrics`] snapshot is of; its name is the
/// middle of every Prometheus metric name (`mq_kafka_producer_...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ClientKind {
    /// A [`Producer`](super::Producer).
    #[default]
    Producer,
    /// A group [`Consumer`](super::Consumer).
    Consumer,
    /// A [`PartitionReader`](super::PartitionReader).
    PartitionReader,
    /// An [`Admin`](super::Admin) client.
    Admin,
}

impl ClientKind {
    /// `"producer"`, `"consumer"`, `"partition_reader"` or `"admin"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Producer => "producer",
            ClientKind::Consumer => "consumer",
            ClientKind::PartitionReader => "partition_reader",
            ClientKind::Admin => "admin",
        }
    }
}

/// Requests of one API key that a client sent, since it was built.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestMetrics {
    /// The API key (0 Produce, 1 Fetch, 3 Metadata, ...).
    pub api_key: i16,
    /// The API's name (`"Produce"`), or `"Unknown"`.
    pub api: &'static str,
    /// Requests written to a connection (the ApiVersions and SASL requests
    /// of a connection's handshake are not counted).
    pub sent: u64,
    /// Requests answered by the broker (whatever the error codes inside).
    pub answered: u64,
    /// Requests that awaited an answer and got none: timed out, or their
    /// connection failed.
    pub failed: u64,
    /// The sum of the answered requests' latencies, from being queued on
    /// the connection to the answer being read.
    pub latency_sum: Duration,
    /// The longest of those latencies.
    pub latency_max: Duration,
}

/// A producer's own figures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ProducerMetrics {
    /// Records the brokers acknowledged (each counted once, however many
    /// times its batch was sent; with `acks = 0`, records sent).
    pub records_sent: u64,
    /// Records whose delivery failed (their futures got an error).
    pub records_failed: u64,
    /// Produce requests queued on a connection.
    pub produce_requests: u64,
    /// Record batches sent in Produce requests, retries included.
    pub batches_sent: u64,
    /// Records in those batches, retries included.
    pub batch_records: u64,
    /// Bytes of those batches as sent (after compression), retries included.
    pub batch_bytes: u64,
    /// The largest batch sent, in bytes.
    pub batch_bytes_max: u64,
    /// Batches sent again after a failure (as [`Producer::retries`](super::Producer::retries)).
    pub retries: u64,
    /// Bytes of records buffered now, not yet settled (as
    /// [`Producer::buffered_bytes`](super::Producer::buffered_bytes)).
    pub buffered_bytes: u64,
    /// Records buffered now: appended and not yet settled.
    pub buffered_records: u64,
}

/// How far a consumer is behind on one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Records between the consumer's position and the partition's high
    /// watermark, as of the last fetch: [`Consumer::lag`](super::Consumer::lag)
    /// or [`PartitionReader::lag`](super::PartitionReader::lag).
    pub lag: i64,
}

/// A consumer's or partition reader's own figures.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConsumerMetrics {
    /// Records handed to the application, counted once per fetched batch
    /// when the batch is handed out (by `next_batch`, or to the `Stream`,
    /// which then yields its records one by one); transaction markers,
    /// aborted records and records before the position are not counted.
    pub records_consumed: u64,
    /// Fetched partition batches handed to the application.
    pub batches_consumed: u64,
    /// Lag per assigned partition (the group consumer only; empty for a
    /// partition reader).
    pub lag: Vec<PartitionLag>,
}

/// A snapshot of one Kafka client's metrics, from its `metrics()` method:
/// plain numbers, counted since the client was built (counters) or as
/// they are now (levels). Taking one reads a few hundred relaxed atomics
/// and allocates the snapshot; the counters cost the client one atomic
/// add per request, read, write or batch.
///
/// Render it with [`to_prometheus_text`](Self::to_prometheus_text), or,
/// with the `metrics` feature, publish it to the `metrics` facade with
/// `publish`.
///
/// ```no_run
/// # async fn demo(producer: mq_client::kafka::Producer) {
/// let m = producer.metrics();
/// if let Some(p) = &m.producer {
///     println!("{} records sent in {} batches", p.records_sent, p.batches_sent);
/// }
/// if let Some(produce) = m.request(0) {
///     println!("Produce: {:?} on average", produce.latency_sum / produce.answered.max(1) as u32);
/// }
/// let scrape: String = m.to_prometheus_text(); // what a /metrics endpoint serves
/// # drop(scrape);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ClientMetrics {
    /// Which client this is.
    pub client: ClientKind,
    /// The client's `client_id`.
    pub client_id: String,
    /// Bytes written to broker connections (TLS: plaintext bytes).
    pub bytes_sent: u64,
    /// Bytes read from broker connections (TLS: plaintext bytes).
    pub bytes_received: u64,
    /// Connections opened (TCP, TLS and the ApiVersions/SASL handshake
    /// done), bootstrap and coordinator connections included.
    pub connects: u64,
    /// Connections opened again to a broker after a connection to it
    /// failed or could not be opened.
    pub reconnects: u64,
    /// Attempts to open a connection that failed.
    pub connect_failures: u64,
    /// Requests sent and not yet answered or failed, now.
    pub requests_in_flight: u64,
    /// Requests per API key, for the keys sent at least once.
    pub requests: Vec<RequestMetrics>,
    /// A producer's figures (`None` for other clients).
    pub producer: Option<ProducerMetrics>,
    /// A consumer's or partition reader's figures (`None` for others).
    pub consumer: Option<ConsumerMetrics>,
}

impl ClientMetrics {
    /// Requests sent, every API key together.
    pub fn requests_sent(&self) -> u64 {
        self.requests.iter().map(|r| r.sent).sum()
    }

    /// Requests answered, every API key together.
    pub fn requests_answered(&self) -> u64 {
        self.requests.iter().map(|r| r.answered).sum()
    }

    /// The figures of one API key, if it was sent.
    pub fn request(&self, api_key: i16) -> Option<&RequestMetrics> {
        self.requests.iter().find(|r| r.api_key == api_key)
    }

    /// The snapshot in the Prometheus text exposition format: every name
    /// starts `mq_kafka_<client>_` (`mq_kafka_producer_records_sent_total`),
    /// every sample has a `client_id` label, request figures an `api`
    /// label, lag `topic` and `partition` labels. Latencies are in seconds.
    pub fn to_prometheus_text(&self) -> String {
        exposition::render(&self.families().list)
    }

    /// Publishes the snapshot to the `metrics` facade's recorder (the
    /// global one, or a thread-local one), under the names of
    /// [`to_prometheus_text`](Self::to_prometheus_text): counters through
    /// `Counter::absolute`, levels through `Gauge::set`; a latency summary
    /// as a counter `..._request_latency_seconds_count` and a gauge
    /// `..._request_latency_seconds_sum`. Call it on a timer (or before a
    /// scrape) so that exporters see current figures.
    #[cfg(feature = "metrics")]
    pub fn publish(&self) {
        exposition::publish(&self.families().list);
    }

    fn families(&self) -> Families {
        let mut f = Families::new(
            format!("mq_kafka_{}", self.client.as_str()),
            vec![("client_id", self.client_id.clone())],
        );
        f.counter(
            "bytes_sent_total",
            "Bytes written to broker connections.",
            self.bytes_sent,
        );
        f.counter(
            "bytes_received_total",
            "Bytes read from broker connections.",
            self.bytes_received,
        );
        f.counter(
            "connects_total",
            "Broker connections opened.",
            self.connects,
        );
        f.counter(
            "reconnects_total",
            "Broker connections opened again after a failure.",
            self.reconnects,
        );
        f.counter(
            "connect_failures_total",
            "Attempts to open a broker connection that failed.",
            self.connect_failures,
        );
        f.gauge(
            "requests_in_flight",
            "Requests sent and not yet answered.",
            self.requests_in_flight,
        );
        let per_api = |f: &mut Families,
                       name: &str,
                       help: &'static str,
                       kind: Kind,
                       value: &dyn Fn(&RequestMetrics) -> Value| {
            f.family(name, help, kind);
            for r in &self.requests {
                f.push("", vec![("api", r.api.to_owned())], value(r));
            }
        };
        per_api(
            &mut f,
            "requests_sent_total",
            "Requests sent, per API.",
            Kind::Counter,
            &|r| Value::Int(r.sent),
        );
        per_api(
            &mut f,
            "requests_answered_total",
            "Requests answered, per API.",
            Kind::Counter,
            &|r| Value::Int(r.answered),
        );
        per_api(
            &mut f,
            "requests_failed_total",
            "Requests that got no answer (timeout, connection lost), per API.",
            Kind::Counter,
            &|r| Value::Int(r.failed),
        );
        f.family(
            "request_latency_seconds",
            "Latency of answered requests, per API.",
            Kind::Summary,
        );
        for r in &self.requests {
            let api = vec![("api", r.api.to_owned())];
            f.push(
                "_sum",
                api.clone(),
                Value::Float(r.latency_sum.as_secs_f64()),
            );
            f.push("_count", api, Value::Int(r.answered));
        }
        per_api(
            &mut f,
            "request_latency_max_seconds",
            "Longest latency of an answered request, per API.",
            Kind::Gauge,
            &|r| Value::Float(r.latency_max.as_secs_f64()),
        );
        if let Some(p) = &self.producer {
            producer_families(&mut f, p);
        }
        if let Some(c) = &self.consumer {
            f.counter(
                "records_consumed_total",
                "Records handed to the application.",
                c.records_consumed,
            );
            f.counter(
                "batches_consumed_total",
                "Fetched partition batches handed to the application.",
                c.batches_consumed,
            );
            f.family("lag", "Records behind the partition's end.", Kind::Gauge);
            for l in &c.lag {
                let labels = vec![
                    ("topic", l.topic.clone()),
                    ("partition", l.partition.to_string()),
                ];
                f.push("", labels, Value::Int(u64::try_from(l.lag).unwrap_or(0)));
            }
        }
        f
    }
}

fn producer_families(f: &mut Families, p: &ProducerMetrics) {
    f.counter(
        "records_sent_total",
        "Records the brokers acknowledged.",
        p.records_sent,
    );
    f.counter(
        "records_failed_total",
        "Records whose delivery failed.",
        p.records_failed,
    );
    f.counter(
        "produce_requests_total",
        "Produce requests sent.",
        p.produce_requests,
    );
    f.counter(
        "batches_sent_total",
        "Record batches sent, retries included.",
        p.batches_sent,
    );
    f.counter(
        "batch_records_total",
        "Records in the batches sent, retries included.",
        p.batch_records,
    );
    f.counter(
        "batch_bytes_total",
        "Bytes of the batches sent, retries included.",
        p.batch_bytes,
    );
    f.gauge(
        "batch_bytes_max",
        "The largest batch sent, in bytes.",
        p.batch_bytes_max,
    );
    f.counter(
        "retries_total",
        "Batches sent again after a failure.",
        p.retries,
    );
    f.gauge(
        "buffered_bytes",
        "Bytes of records buffered, not yet settled.",
        p.buffered_bytes,
    );
    f.gauge(
        "buffered_records",
        "Records buffered, not yet settled.",
        p.buffered_records,
    );
}
