//! Consume throughput through a consumer group, against the real broker:
//! this crate's group `Consumer` and, with `--features peers`, librdkafka
//! (the `rdkafka` crate's `BaseConsumer` and `StreamConsumer`) in the same
//! run, on the same topic.
//!
//! `cargo bench -p mq-benches --features peers --bench kafka_group`
//!
//! A 6-partition topic is filled once with 300,000 records (8 B keys,
//! 100 B values). Each iteration is a fresh consumer in a fresh group
//! (auto-commit on, every 5 s, as librdkafka's default; offsets reset to
//! earliest): build, subscribe, join, read every record, close (commit,
//! LeaveGroup). Criterion reports messages per second; the process's CPU
//! time (user + system, from getrusage, librdkafka's threads
//! included) per message is printed as `cpu <name>: N ns/msg`.

use std::cell::Cell;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use mq_benches::cpu_time;
use mq_client::kafka::{Admin, Consumer, NewTopic, OffsetReset, Producer, ProducerRecord};
use tokio::runtime::Runtime;

const MESSAGES: u64 = 300_000;
const PARTITIONS: i32 = 6;

fn bootstrap() -> String {
    mq_tests::endpoints::kafka_bootstrap()
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

    fn measure(&self, messages: u64, f: impl FnOnce() -> Duration) -> Duration {
        let before = cpu_time();
        let out = f();
        self.cpu
            .set(self.cpu.get() + cpu_time().saturating_sub(before));
        self.messages.set(self.messages.get() + messages);
        out
    }

    fn report(&self, name: &str) {
        let n = self.messages.get();
        if n == 0 {
            // Filtered out of this run.
            return;
        }
        println!(
            "cpu {name}: {:.0} ns/msg over {} messages",
            self.cpu.get().as_nanos() as f64 / n as f64,
            n
        );
    }
}

fn fill(rt: &Runtime) -> String {
    let topic = mq_tests::names::topic("bench-group");
    rt.block_on(async {
        let admin = Admin::builder(&bootstrap()).build().await.expect("admin");
        admin
            .create_topics([NewTopic::new(&topic, PARTITIONS, 1)])
            .await
            .expect("create topic");
        let producer = Producer::builder(&bootstrap())
            .linger(Duration::from_millis(5))
            .build()
            .await
            .expect("producer");
        let mut value =
            b"{\"order\":12345,\"status\":\"created\",\"amount\":4200,\"currency\":\"EUR\",\"note\":\""
                .to_vec();
        value.resize(98, b'x');
        value.extend_from_slice(b"\"}");
        let mut deliveries = Vec::with_capacity(MESSAGES as usize);
        for i in 0..MESSAGES {
            let key = (i % 1024).to_be_bytes();
            deliveries.push(
                producer
                    .enqueue(ProducerRecord::new(&topic).key(&key).value(&value))
                    .await
                    .expect("enqueue"),
            );
        }
        for d in deliveries {
            d.await.expect("delivery");
        }
        producer.close().await.expect("close");
    });
    topic
}

async fn mq_consumer(topic: &str) -> Consumer {
    let mut consumer = Consumer::builder(&bootstrap())
        .group(mq_tests::names::group("bench"))
        .auto_offset_reset(OffsetReset::Earliest)
        .auto_commit(Duration::from_secs(5))
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .await
        .expect("consumer");
    consumer.subscribe([topic]).await.expect("subscribe");
    consumer
}

/// Our consumer, zero-copy batches.
fn mq_batches(rt: &Runtime, topic: &str) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let mut consumer = mq_consumer(topic).await;
        let (mut seen, mut bytes) = (0u64, 0usize);
        while seen < MESSAGES {
            let batch = consumer.next_batch().await.expect("batch");
            for r in batch.iter() {
                bytes += r.expect("record").value().map_or(0, <[u8]>::len);
                seen += 1;
            }
        }
        consumer.close().await.expect("close");
        std::hint::black_box(bytes);
        start.elapsed()
    })
}

/// Our consumer, the `Stream` of owned records.
fn mq_stream(rt: &Runtime, topic: &str) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let mut consumer = mq_consumer(topic).await;
        let (mut seen, mut bytes) = (0u64, 0usize);
        while seen < MESSAGES {
            let r = consumer.next().await.expect("open").expect("record");
            bytes += r.value().map_or(0, <[u8]>::len);
            seen += 1;
        }
        consumer.close().await.expect("close");
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
    let topic = fill(&rt);
    let mut group = c.benchmark_group("kafka_group_consume_100B");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(MESSAGES));

    type Run<'a> = Box<dyn Fn() -> Duration + 'a>;
    let runs: Vec<(&str, Run<'_>)> = vec![
        ("mq_batches", Box::new(|| mq_batches(&rt, &topic))),
        ("mq_stream", Box::new(|| mq_stream(&rt, &topic))),
        #[cfg(feature = "peers")]
        ("rdkafka_base", Box::new(|| peers::base(&topic))),
        #[cfg(feature = "peers")]
        ("rdkafka_stream", Box::new(|| peers::stream(&rt, &topic))),
    ];
    for (name, run) in &runs {
        let meter = CpuMeter::new();
        group.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| meter.measure(MESSAGES, run))
                    .sum::<Duration>()
            })
        });
        meter.report(name);
    }
    group.finish();
    rt.block_on(async {
        let admin = Admin::builder(&bootstrap()).build().await.expect("admin");
        let _ = admin.delete_topics([topic.as_str()]).await;
    });
}

#[cfg(feature = "peers")]
mod peers {
    use std::time::{Duration, Instant};

    use futures_util::StreamExt;
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
    use rdkafka::message::Message;
    use tokio::runtime::Runtime;

    fn config() -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", super::bootstrap())
            .set("group.id", mq_tests::names::group("bench-rd"))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "true")
            .set("fetch.wait.max.ms", "100");
        c
    }

    /// librdkafka's `BaseConsumer`, polled.
    pub(super) fn base(topic: &str) -> Duration {
        let start = Instant::now();
        let consumer: BaseConsumer = config().create().expect("rdkafka consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let (mut seen, mut bytes) = (0u64, 0usize);
        while seen < super::MESSAGES {
            if let Some(m) = consumer.poll(Duration::from_secs(5)) {
                bytes += m.expect("message").payload().map_or(0, <[u8]>::len);
                seen += 1;
            }
        }
        drop(consumer);
        std::hint::black_box(bytes);
        start.elapsed()
    }

    /// librdkafka's `StreamConsumer`, on the bench's tokio runtime.
    pub(super) fn stream(rt: &Runtime, topic: &str) -> Duration {
        rt.block_on(async {
            let start = Instant::now();
            let consumer: StreamConsumer = config().create().expect("rdkafka consumer");
            consumer.subscribe(&[topic]).expect("subscribe");
            let (mut seen, mut bytes) = (0u64, 0usize);
            {
                let mut stream = consumer.stream();
                while seen < super::MESSAGES {
                    let m = stream.next().await.expect("open").expect("message");
                    bytes += m.payload().map_or(0, <[u8]>::len);
                    seen += 1;
                }
            }
            drop(consumer);
            std::hint::black_box(bytes);
            start.elapsed()
        })
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
