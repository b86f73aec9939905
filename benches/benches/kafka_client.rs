//! Kafka client end to end against the real broker: produce throughput
//! (100 B values, acks=all, idempotent, linger 5 ms) and fetch throughput,
//! for this crate's client and, with `--features peers`, librdkafka (the
//! `rdkafka` crate) in the same run, against the same broker.
//!
//! This crate's client runs each workload twice, over PLAINTEXT and over
//! the SSL listener (the CA of `scripts/brokers up`), so the cost of TLS
//! is measured in one run.
//!
//! `cargo bench -p mq-benches --features peers --bench kafka_client`
//!
//! Criterion reports time per iteration and messages per second (one
//! iteration produces or fetches `MESSAGES` messages). Client CPU per
//! message is the process's user + system CPU time (from getrusage,
//! which counts librdkafka's own threads too) over the messages handled;
//! it is printed after each benchmark as `cpu <name>: N ns/msg`.
//! The broker runs on the same two cores, so absolute figures are modest;
//! what matters is the comparison in one run.

use std::cell::Cell;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use mq_benches::cpu_time;
use mq_client::kafka::{
    Admin, ClientConfig, NewTopic, Offset, OffsetReset, PartitionReader, Producer, ProducerRecord,
};
use tokio::runtime::Runtime;

const MESSAGES: u64 = 100_000;
const PARTITIONS: i32 = 6;
const FETCH_MESSAGES: u64 = 300_000;

fn bootstrap() -> String {
    mq_tests::endpoints::kafka_bootstrap()
}

/// The broker's SSL listener, trusting the CA `scripts/brokers up` made.
fn ssl_config() -> ClientConfig {
    let ca = mq_tests::endpoints::tls_dir().join("ca.pem");
    ClientConfig::from_properties([
        (
            "bootstrap.servers",
            mq_tests::endpoints::kafka_ssl_bootstrap().as_str(),
        ),
        ("security.protocol", "SSL"),
        ("ssl.truststore.location", &ca.display().to_string()),
    ])
    .expect("SSL properties")
}

struct CpuMeter {
    cpu: Cell<Duration>,
    messages: Cell<u64>,
}

impl CpuMeter {
    fn new() -> Self {
        CpuMeter {
            cpu: Cell::new(Duration::ZERO),
            messages: Cell::new(0),
        }
    }

    fn measure<T>(&self, messages: u64, f: impl FnOnce() -> T) -> T {
        let before = cpu_time();
        let out = f();
        self.cpu
            .set(self.cpu.get() + cpu_time().saturating_sub(before));
        self.messages.set(self.messages.get() + messages);
        out
    }

    fn report(&self, name: &str) {
        let n = self.messages.get().max(1);
        println!(
            "cpu {name}: {:.0} ns/msg over {} messages",
            self.cpu.get().as_nanos() as f64 / n as f64,
            n
        );
    }
}

fn value() -> Vec<u8> {
    let mut v =
        b"{\"order\":12345,\"status\":\"created\",\"amount\":4200,\"currency\":\"EUR\",\"note\":\""
            .to_vec();
    v.resize(98, b'x');
    v.extend_from_slice(b"\"}");
    v
}

fn create_topic(rt: &Runtime, prefix: &str) -> String {
    let name = mq_tests::names::topic(prefix);
    rt.block_on(async {
        let admin = Admin::builder(&bootstrap()).build().await.expect("admin");
        admin
            .create_topics([NewTopic::new(&name, PARTITIONS, 1)])
            .await
            .expect("create topic");
    });
    name
}

fn produce_mq(rt: &Runtime, producer: &Producer, topic: &str, n: u64) -> Duration {
    let value = value();
    rt.block_on(async {
        let start = Instant::now();
        let mut deliveries = Vec::with_capacity(n as usize);
        for i in 0..n {
            let key = (i % 1024).to_be_bytes();
            let d = producer
                .enqueue(ProducerRecord::new(topic).key(&key).value(&value))
                .await
                .expect("enqueue");
            deliveries.push(d);
        }
        for d in deliveries {
            d.await.expect("delivery");
        }
        start.elapsed()
    })
}

fn fetch_mq(rt: &Runtime, client: &ClientConfig, topic: &str, n: u64) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let mut builder = PartitionReader::builder(&bootstrap())
            .client_config(client.clone())
            .auto_offset_reset(OffsetReset::Earliest)
            .fetch_max_wait(Duration::from_millis(100));
        for p in 0..PARTITIONS {
            builder = builder.assign(topic, p, Offset::Earliest);
        }
        let mut reader = builder.build().await.expect("reader");
        let mut seen = 0u64;
        let mut bytes = 0usize;
        while seen < n {
            let batch = reader.next_batch().await.expect("fetch");
            for r in batch.iter() {
                let r = r.expect("record");
                bytes += r.value().map_or(0, <[u8]>::len);
                seen += 1;
            }
        }
        std::hint::black_box(bytes);
        start.elapsed()
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let topic = create_topic(&rt, "bench-produce");
    let producer = rt.block_on(async {
        Producer::builder(&bootstrap())
            .linger(Duration::from_millis(5))
            .build()
            .await
            .expect("producer")
    });

    let mut group = c.benchmark_group("kafka_produce_100B_acks_all");
    configure(&mut group, MESSAGES);
    let meter = CpuMeter::new();
    group.bench_function("mq", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += meter.measure(MESSAGES, || produce_mq(&rt, &producer, &topic, MESSAGES));
            }
            total
        })
    });
    meter.report("produce/mq");
    // The same client over TLS (the SSL listener), in the same run.
    let ssl_producer = rt.block_on(async {
        Producer::builder(&bootstrap())
            .client_config(ssl_config())
            .linger(Duration::from_millis(5))
            .build()
            .await
            .expect("SSL producer")
    });
    let meter = CpuMeter::new();
    group.bench_function("mq-ssl", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += meter.measure(MESSAGES, || {
                    produce_mq(&rt, &ssl_producer, &topic, MESSAGES)
                });
            }
            total
        })
    });
    meter.report("produce/mq-ssl");
    rt.block_on(ssl_producer.close()).expect("close");
    #[cfg(feature = "peers")]
    for (name, ssl) in [("rdkafka", false), ("rdkafka-ssl", true)] {
        let meter = CpuMeter::new();
        let rd = peers::producer(ssl);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += meter.measure(MESSAGES, || peers::produce(&rt, &rd, &topic, MESSAGES));
                }
                total
            })
        });
        meter.report(&format!("produce/{name}"));
    }
    group.finish();

    // Fetch: a topic filled once, read from the start by each client.
    let fetch_topic = create_topic(&rt, "bench-fetch");
    produce_mq(&rt, &producer, &fetch_topic, FETCH_MESSAGES);
    rt.block_on(producer.close()).expect("close");
    let plain = ClientConfig::new(&bootstrap());
    let mut group = c.benchmark_group("kafka_fetch_100B");
    configure(&mut group, FETCH_MESSAGES);
    let meter = CpuMeter::new();
    group.bench_function("mq", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += meter.measure(FETCH_MESSAGES, || {
                    fetch_mq(&rt, &plain, &fetch_topic, FETCH_MESSAGES)
                });
            }
            total
        })
    });
    meter.report("fetch/mq");
    let ssl = ssl_config();
    let meter = CpuMeter::new();
    group.bench_function("mq-ssl", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += meter.measure(FETCH_MESSAGES, || {
                    fetch_mq(&rt, &ssl, &fetch_topic, FETCH_MESSAGES)
                });
            }
            total
        })
    });
    meter.report("fetch/mq-ssl");
    #[cfg(feature = "peers")]
    for (name, ssl) in [("rdkafka", false), ("rdkafka-ssl", true)] {
        let meter = CpuMeter::new();
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += meter.measure(FETCH_MESSAGES, || {
                        peers::fetch(ssl, &fetch_topic, PARTITIONS, FETCH_MESSAGES)
                    });
                }
                total
            })
        });
        meter.report(&format!("fetch/{name}"));
    }
    group.finish();
    // Leave the broker's disk as it was.
    rt.block_on(async {
        let admin = Admin::builder(&bootstrap()).build().await.expect("admin");
        let _ = admin
            .delete_topics([topic.as_str(), fetch_topic.as_str()])
            .await;
    });
}

/// Few, flat samples: every iteration moves a lot of data through the
/// broker, so the run is kept to some tens of iterations per client.
fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, n: u64) {
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(n));
}

#[cfg(feature = "peers")]
mod peers {
    use std::time::{Duration, Instant};

    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
    use rdkafka::{Offset, TopicPartitionList};
    use tokio::runtime::Runtime;

    /// Settings for the PLAINTEXT listener, or with `ssl` the SSL
    /// listener trusting the test CA.
    fn base(ssl: bool) -> ClientConfig {
        let mut c = ClientConfig::new();
        if ssl {
            let ca = mq_tests::endpoints::tls_dir().join("ca.pem");
            c.set(
                "bootstrap.servers",
                mq_tests::endpoints::kafka_ssl_bootstrap(),
            )
            .set("security.protocol", "ssl")
            .set("ssl.ca.location", ca.display().to_string());
        } else {
            c.set("bootstrap.servers", super::bootstrap());
        }
        c
    }

    pub(super) fn producer(ssl: bool) -> FutureProducer {
        base(ssl)
            .set("acks", "all")
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            .set("queue.buffering.max.messages", "1000000")
            .create()
            .expect("rdkafka producer")
    }

    pub(super) fn produce(
        rt: &Runtime,
        producer: &FutureProducer,
        topic: &str,
        n: u64,
    ) -> Duration {
        let value = super::value();
        rt.block_on(async {
            let start = Instant::now();
            let mut deliveries = Vec::with_capacity(n as usize);
            for i in 0..n {
                let key = (i % 1024).to_be_bytes();
                let record = FutureRecord::to(topic).key(&key[..]).payload(&value[..]);
                match producer.send_result(record) {
                    Ok(d) => deliveries.push(d),
                    Err((e, _)) => panic!("rdkafka enqueue: {e}"),
                }
            }
            for d in deliveries {
                d.await.expect("delivery").expect("delivered");
            }
            let _ = producer.flush(Duration::from_secs(30));
            start.elapsed()
        })
    }

    pub(super) fn fetch(ssl: bool, topic: &str, partitions: i32, n: u64) -> Duration {
        let start = Instant::now();
        let consumer: BaseConsumer = base(ssl)
            .set("group.id", "mq-bench-unused")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "100")
            .create()
            .expect("rdkafka consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&tpl).expect("assign");
        let mut seen = 0u64;
        let mut bytes = 0usize;
        while seen < n {
            if let Some(m) = consumer.poll(Duration::from_secs(5)) {
                let m = m.expect("message");
                bytes += m.payload().map_or(0, <[u8]>::len);
                seen += 1;
            }
        }
        std::hint::black_box(bytes);
        start.elapsed()
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
