//! The service layer (mq-service) against the raw client (mq-client), in
//! one run, against the real brokers: RabbitMQ at 127.0.0.1:5672
//! (`AMQP_URL` overrides it) and Kafka at 127.0.0.1:9092
//! (`KAFKA_BOOTSTRAP`).
//!
//! `cargo bench -p mq-benches --bench service`
//!
//! Payloads are one 100-byte JSON document (`Order`), which both sides
//! encode and decode with serde_json: the raw rows do in the application
//! what the service's `Json` codec does for it, so the difference is the
//! service layer itself. A JSON row (no broker) prints what that codec
//! work costs alone.
//!
//! 1. **Added CPU per message**, concurrency 1, no-op handler (the budget:
//!    at most 1 µs over the raw client):
//!    - consume, RabbitMQ. raw: `Channel::consume` with prefetch 1,000,
//!      decode, ack each delivery. service: a subscriber with
//!      concurrency 1 and `max_in_flight(1000)` (so the same prefetch).
//!    - consume, Kafka. raw: a group `Consumer` read as a `Stream` of
//!      owned records, decode, and every 250 ms `commit_offsets_async` of
//!      the last processed offset of each partition (the service's
//!      commit: its processed prefix, every 250 ms, with the same call).
//!      service: a subscriber with concurrency 1 and `max_in_flight(1000)`.
//!      Each iteration is a fresh group reading the topic from the start.
//!    - publish, both: a window of 1,000 unconfirmed messages (publisher
//!      confirms; acks=all, idempotent, linger 5 ms). raw: encode, then
//!      `Channel::publish` (persistent, content type) or
//!      `Producer::enqueue`; service: `Publisher::publish(..).key(..)`
//!      futures, 1,000 at once.
//!
//!    The queue or topic is filled (untimed) with what mq-service's
//!    publisher sends: content type, message id and `traceparent`
//!    headers, keys from 1,024. A consume iteration times the messages
//!    after the first `WARM` (connection, join and start-up are outside
//!    the window): the handler (or the raw loop) reads getrusage and the
//!    clock at message `WARM` and at message `WARM + N`.
//! 2. **Throughput, 16 workers and a 1 ms handler**
//!    (`tokio::time::sleep(1 ms)`), ordered by key over 4,096 keys: a
//!    RabbitMQ queue (prefetch = the default `max_in_flight`, 64) and a
//!    16-partition Kafka topic. The target is 80% of 16,000 msg/s. The
//!    `ceiling` row is 16 tokio tasks sleeping 1 ms in a loop, no broker:
//!    what tokio's timer allows at all. Its wheel ticks in whole
//!    milliseconds and rounds a deadline up to the next tick, so a 1 ms
//!    sleep begun just after a tick ends two ticks later: about 2 ms.
//!    `SERVICE_BENCH_SLEEP_US` sets the sleep (default 1000); at 500 a
//!    handler ends on the next tick, about 1 ms after the last one.
//!    The `slow16-io` rows run the same three with a handler that awaits
//!    a 1 ms call completed from outside tokio's timer, as a database or
//!    HTTP answer is (`delay.rs`): a handler that takes 1 ms, not 2.
//!
//! 3. **Deduplication, 16 workers, no-op handler**, RabbitMQ: no store,
//!    then each store in claim mode (`dedup.rs`), every message a new id.
//!    `--features stores` adds the redb, Redis and PostgreSQL rows:
//!    `cargo bench -p mq-benches --features stores --bench service service_dedup16`.
//!
//! Results are printed as `REPORT` lines: msg/s and the process's CPU
//! (getrusage, user + system, every thread; the brokers are other
//! processes) per message, over every sample, warm-up included.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use mq_benches::cpu_times;
use mq_client::amqp::{
    self, BasicProperties, ConsumeOptions, ExchangeKind, ExchangeOptions, FieldTable, QueueOptions,
};
use mq_client::kafka::{
    self, Admin, NewTopic, OffsetAndEpoch, OffsetReset, Producer, ProducerRecord, TopicPartition,
};
use mq_service::{Bus, Json, Message};
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

use delay::Wait;

mod dedup;
mod delay;
mod kafka_side;
mod rabbitmq;

use kafka_side::Kafka;
use rabbitmq::Rabbit;

/// Unconfirmed publishes at most, and the no-op consumers' prefetch.
const WINDOW: usize = 1000;
const PREFETCH: u16 = 1000;
/// Keys of the filled messages (no-op rows) and of the 1 ms rows.
const KEYS: usize = 1024;
const SLOW_KEYS: usize = 4096;
/// Messages per consume iteration, after `WARM` untimed ones.
const AMQP_NOOP: u64 = 50_000;
const KAFKA_NOOP: u64 = 200_000;
const SLOW: u64 = 10_000;
const WARM: u64 = 2_000;
const KAFKA_PARTITIONS: i32 = 6;
const SLOW_PARTITIONS: i32 = 16;
const WORKERS: usize = 16;
/// The slow handler's sleep: 1 ms (`SERVICE_BENCH_SLEEP_US` changes it).
fn handler_sleep() -> Duration {
    let us = std::env::var("SERVICE_BENCH_SLEEP_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    Duration::from_micros(us)
}
/// The slow rows' waits, with their row-name suffix: tokio's sleep (the
/// rows `slow16/...`), then a 1 ms call completed from outside tokio's
/// timer (`slow16-io/...`; see `delay.rs`).
fn slow_waits() -> [(&'static str, Wait); 2] {
    [
        ("", Wait::Sleep(handler_sleep())),
        ("-io", Wait::Io(Duration::from_millis(1))),
    ]
}
const COMMIT_INTERVAL: Duration = Duration::from_millis(250);

/// The payload: 100 bytes of JSON.
#[derive(Debug, Serialize, Deserialize)]
struct Order {
    id: u64,
    status: String,
    amount: i64,
    currency: String,
    note: String,
}

fn order() -> Order {
    let mut o = Order {
        id: 12345,
        status: "created".into(),
        amount: 4200,
        currency: "EUR".into(),
        note: String::new(),
    };
    let len = serde_json::to_vec(&o).expect("json").len();
    o.note = "x".repeat(100 - len);
    assert_eq!(serde_json::to_vec(&o).expect("json").len(), 100);
    o
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("order-{i:05}")).collect()
}

const CONTENT_TYPE: &str = "application/json";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const MESSAGE_ID: &str = "6f1c2b0e9d8a4c3e8b7a6d5c4b3a2918";

fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

fn bootstrap() -> String {
    mq_tests::endpoints::kafka_bootstrap()
}

/// CPU and wall time of the messages between two counts.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    messages: u64,
    wall: Duration,
    cpu: Duration,
    system: Duration,
}

/// Counts handled messages; reads the clock and getrusage at message
/// `warm` and at message `warm + n`, and wakes the waiter then.
struct Probe {
    count: AtomicU64,
    warm: u64,
    end: u64,
    start: Mutex<Option<(Instant, Duration, Duration)>>,
    sample: Mutex<Option<Sample>>,
    done: tokio::sync::Notify,
}

impl Probe {
    fn new(warm: u64, n: u64) -> Arc<Self> {
        assert!(warm >= 1);
        Arc::new(Probe {
            count: AtomicU64::new(0),
            warm,
            end: warm + n,
            start: Mutex::new(None),
            sample: Mutex::new(None),
            done: tokio::sync::Notify::new(),
        })
    }

    /// One message handled; true once the last one has been.
    fn hit(&self) -> bool {
        let c = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        if c == self.warm {
            let (user, system) = cpu_times();
            *lock(&self.start) = Some((Instant::now(), user, system));
        } else if c == self.end {
            let (user, system) = cpu_times();
            let now = Instant::now();
            let (t0, user0, system0) = lock(&self.start).take().expect("warm-up seen");
            let system = system.saturating_sub(system0);
            *lock(&self.sample) = Some(Sample {
                messages: self.end - self.warm,
                wall: now - t0,
                cpu: user.saturating_sub(user0) + system,
                system,
            });
            self.done.notify_one();
        }
        c >= self.end
    }

    async fn finished(&self) -> Sample {
        self.done.notified().await;
        lock(&self.sample).take().expect("sample")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Samples summed per row, and the rows reported so far.
static TALLY: Mutex<Sample> = Mutex::new(Sample {
    messages: 0,
    wall: Duration::ZERO,
    cpu: Duration::ZERO,
    system: Duration::ZERO,
});
static ROWS: Mutex<Vec<(String, f64, f64)>> = Mutex::new(Vec::new());

fn add(s: Sample) -> Duration {
    let mut t = lock(&TALLY);
    t.messages += s.messages;
    t.wall += s.wall;
    t.cpu += s.cpu;
    t.system += s.system;
    s.wall
}

/// Times `f` (`messages` of them) around the call: for the publish rows.
fn measured<F: std::future::Future<Output = ()>>(rt: &Runtime, messages: u64, f: F) -> Duration {
    let (user0, system0) = cpu_times();
    let t0 = Instant::now();
    rt.block_on(f);
    let wall = t0.elapsed();
    let (user1, system1) = cpu_times();
    let system = system1.saturating_sub(system0);
    add(Sample {
        messages,
        wall,
        cpu: user1.saturating_sub(user0) + system,
        system,
    })
}

fn report(name: &str) {
    let mut t = lock(&TALLY);
    if t.messages > 0 {
        let rate = t.messages as f64 / t.wall.as_secs_f64();
        let cpu_us = t.cpu.as_secs_f64() * 1e6 / t.messages as f64;
        let system_us = t.system.as_secs_f64() * 1e6 / t.messages as f64;
        println!(
            "REPORT {name}: {} messages, {rate:.0} msg/s, client CPU {cpu_us:.2} µs/msg \
             (system {system_us:.2})",
            t.messages
        );
        lock(&ROWS).push((name.to_owned(), rate, cpu_us));
    }
    if let Some((mean, calls)) = delay::take_call_time() {
        println!(
            "REPORT {name}: its handlers' 1 ms calls took {:.3} ms on average, as the \
             waiting task saw it ({calls} calls, warm-up included)",
            mean.as_secs_f64() * 1e3
        );
    }
    *t = Sample::default();
}

/// `REPORT added` lines: service minus raw, per pair of rows reported.
fn report_added() {
    let rows = lock(&ROWS);
    let find = |name: &str| rows.iter().find(|r| r.0 == name).map(|r| (r.1, r.2));
    for (what, broker) in [
        ("consume-noop", "amqp"),
        ("consume-noop", "kafka"),
        ("publish", "amqp"),
        ("publish", "kafka"),
    ] {
        let svc = find(&format!("{what}/{broker}/service"));
        // Against the raw client as its own idiom drives it, and (where
        // measured) driven as the service's publishes are: each publish
        // awaited to its confirm by its own future.
        for raw_row in ["raw", "raw-each"] {
            let raw = find(&format!("{what}/{broker}/{raw_row}"));
            if let (Some((raw_rate, raw_cpu)), Some((svc_rate, svc_cpu))) = (raw, svc) {
                println!(
                    "REPORT added {what}/{broker}: service {svc_cpu:.2} - {raw_row} {raw_cpu:.2} = \
                     {:+.2} µs/msg (budget <= 1.00); msg/s {svc_rate:.0} vs {raw_rate:.0}",
                    svc_cpu - raw_cpu
                );
            }
        }
    }
    dedup::report_dedup(&rows);
    for (row, wait) in slow_waits() {
        println!("REPORT slow16{row} handler: {}", wait.describe());
        let ceiling = find(&format!("slow16{row}/ceiling"));
        for broker in ["amqp", "kafka"] {
            if let Some((rate, _)) = find(&format!("slow16{row}/{broker}/service")) {
                let of_ceiling = ceiling.map_or(String::new(), |(c, _)| {
                    format!(", {:.0}% of the wait's ceiling {c:.0}", rate * 100.0 / c)
                });
                println!(
                    "REPORT slow16{row}/{broker}: {rate:.0} msg/s = {:.0}% of 16,000 (target >= 80%){of_ceiling}",
                    rate * 100.0 / 16_000.0
                );
            }
        }
    }
}

/// What a handler returns.
type Handled = std::pin::Pin<Box<dyn Future<Output = Result<(), Infallible>> + Send>>;

/// The handler: no-op (decode was done by the service), or a 1 ms wait.
fn handler(
    probe: &Arc<Probe>,
    wait: Wait,
) -> impl Fn(Message<Order>) -> Handled + Send + Sync + 'static {
    let probe = probe.clone();
    move |m: Message<Order>| {
        let probe = probe.clone();
        match wait {
            Wait::None => Box::pin(async move {
                std::hint::black_box(m.payload());
                probe.hit();
                Ok(())
            }),
            wait => Box::pin(async move {
                wait.run().await;
                std::hint::black_box(m.payload());
                probe.hit();
                Ok(())
            }),
        }
    }
}

/// Service publishes, `WINDOW` at once, each awaited to its confirm.
async fn publish_service(publisher: &mq_service::Publisher<Order, Json>, keys: &[String], n: u64) {
    let o = order();
    type Sending<'a> = std::pin::Pin<
        Box<dyn Future<Output = Result<mq_service::Published, mq_service::Error>> + Send + 'a>,
    >;
    let mut inflight: FuturesUnordered<Sending<'_>> = FuturesUnordered::new();
    for i in 0..n as usize {
        if inflight.len() >= WINDOW {
            inflight
                .next()
                .await
                .expect("in flight")
                .expect("published");
        }
        inflight.push(
            publisher
                .publish(&o)
                .key(&keys[i % keys.len()])
                .into_future(),
        );
    }
    while let Some(r) = inflight.next().await {
        r.expect("published");
    }
}

/// 16 tasks waiting 1 ms in a loop, no broker: what the wait allows at all.
async fn ceiling(probe: &Arc<Probe>, wait: Wait) -> Sample {
    let tasks: Vec<_> = (0..WORKERS)
        .map(|_| {
            let p = probe.clone();
            tokio::spawn(async move {
                loop {
                    wait.run().await;
                    if p.hit() {
                        break;
                    }
                }
            })
        })
        .collect();
    let sample = probe.finished().await;
    for t in tasks {
        let _ = t.await;
    }
    sample
}

/// What the codec work costs alone: serde_json encode and decode of the
/// payload, on this thread.
fn json_cost() {
    let o = order();
    let bytes = serde_json::to_vec(&o).expect("json");
    let n = 200_000u32;
    let t0 = Instant::now();
    for _ in 0..n {
        std::hint::black_box(serde_json::to_vec(std::hint::black_box(&o)).expect("json"));
    }
    let enc = t0.elapsed() / n;
    let t0 = Instant::now();
    for _ in 0..n {
        let d: Order = serde_json::from_slice(std::hint::black_box(&bytes)).expect("json");
        std::hint::black_box(d);
    }
    let dec = t0.elapsed() / n;
    println!(
        "REPORT json (no broker): encode {} ns, decode {} ns per 100 B payload",
        enc.as_nanos(),
        dec.as_nanos()
    );
}

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    per_iteration: u64,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(per_iteration));
    g
}

/// Runs `iteration` (which returns its sample) `iters` times.
fn consume_iters(iters: u64, mut iteration: impl FnMut() -> Sample) -> Duration {
    (0..iters).map(|_| add(iteration())).sum()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    json_cost();
    let noop_keys = keys(KEYS);
    let slow_keys = keys(SLOW_KEYS);

    // RabbitMQ.
    let rabbit = rt.block_on(Rabbit::new());
    let mut g = group(c, "service_amqp_consume_noop", AMQP_NOOP);
    g.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            consume_iters(iters, || {
                rt.block_on(async {
                    let (x, q) = &rabbit.noop;
                    rabbit.fill(x, q, &noop_keys, WARM + AMQP_NOOP).await;
                    let probe = Probe::new(WARM, AMQP_NOOP);
                    rabbit.consume_raw(q, &probe).await
                })
            })
        })
    });
    report("consume-noop/amqp/raw");
    g.bench_function("service", |b| {
        b.iter_custom(|iters| {
            consume_iters(iters, || {
                rt.block_on(async {
                    let (x, q) = &rabbit.noop;
                    rabbit.fill(x, q, &noop_keys, WARM + AMQP_NOOP).await;
                    let probe = Probe::new(WARM, AMQP_NOOP);
                    rabbit
                        .consume_service(
                            &rabbit.noop,
                            1,
                            Some(u32::from(PREFETCH)),
                            Wait::None,
                            &probe,
                        )
                        .await
                })
            })
        })
    });
    report("consume-noop/amqp/service");
    g.finish();

    let mut g = group(c, "service_amqp_publish", 1);
    g.bench_function("raw", |b| {
        b.iter_custom(|n| {
            rt.block_on(rabbit.ch.queue_purge(&rabbit.publish.1))
                .expect("purge");
            measured(&rt, n, rabbit.publish_raw(&noop_keys, n))
        })
    });
    report("publish/amqp/raw");
    g.bench_function("raw-each", |b| {
        b.iter_custom(|n| {
            rt.block_on(rabbit.ch.queue_purge(&rabbit.publish.1))
                .expect("purge");
            measured(&rt, n, rabbit.publish_raw_each(&noop_keys, n))
        })
    });
    report("publish/amqp/raw-each");
    let publisher = rabbit.bus.publisher::<Order, Json>(&rabbit.publish.0);
    g.bench_function("service", |b| {
        b.iter_custom(|n| {
            rt.block_on(rabbit.ch.queue_purge(&rabbit.publish.1))
                .expect("purge");
            measured(&rt, n, publish_service(&publisher, &noop_keys, n))
        })
    });
    report("publish/amqp/service");
    g.finish();

    // Deduplication: no store, then each store, 16 workers, no-op handler.
    let (stores, cleanup) = rt.block_on(dedup::rows());
    let mut g = group(c, "service_dedup16", dedup::DEDUP);
    for (name, store) in &stores {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                consume_iters(iters, || {
                    rt.block_on(dedup::iteration(&rabbit, &slow_keys, store.as_ref()))
                })
            })
        });
        report(&format!("dedup16/amqp/{name}"));
    }
    g.finish();
    drop(stores);
    rt.block_on(cleanup.run());

    let mut g = group(c, "service_slow16", SLOW);
    for (row, wait) in slow_waits() {
        g.bench_function(format!("{row}ceiling"), |b| {
            b.iter_custom(|iters| {
                consume_iters(iters, || {
                    rt.block_on(async {
                        let probe = Probe::new(WARM / 4, SLOW);
                        ceiling(&probe, wait).await
                    })
                })
            })
        });
        report(&format!("slow16{row}/ceiling"));
        g.bench_function(format!("{row}amqp"), |b| {
            b.iter_custom(|iters| {
                consume_iters(iters, || {
                    rt.block_on(async {
                        let (x, q) = &rabbit.slow;
                        rabbit.fill(x, q, &slow_keys, WARM / 4 + SLOW).await;
                        let probe = Probe::new(WARM / 4, SLOW);
                        rabbit
                            .consume_service(&rabbit.slow, WORKERS, None, wait, &probe)
                            .await
                    })
                })
            })
        });
        report(&format!("slow16{row}/amqp/service"));
    }
    rt.block_on(rabbit.cleanup());

    // Kafka.
    let k = rt.block_on(Kafka::new());
    rt.block_on(k.fill(&k.noop, &noop_keys, WARM + KAFKA_NOOP));
    rt.block_on(k.fill(&k.slow, &slow_keys, WARM / 4 + SLOW));
    for (row, wait) in slow_waits() {
        g.bench_function(format!("{row}kafka"), |b| {
            b.iter_custom(|iters| {
                consume_iters(iters, || {
                    rt.block_on(async {
                        let probe = Probe::new(WARM / 4, SLOW);
                        k.consume_service(&k.slow, WORKERS, None, wait, &probe)
                            .await
                    })
                })
            })
        });
        report(&format!("slow16{row}/kafka/service"));
    }
    g.finish();

    let mut g = group(c, "service_kafka_consume_noop", KAFKA_NOOP);
    g.bench_function("raw", |b| {
        b.iter_custom(|iters| {
            consume_iters(iters, || {
                rt.block_on(async {
                    let probe = Probe::new(WARM, KAFKA_NOOP);
                    k.consume_raw(&k.noop, KAFKA_PARTITIONS, &probe).await
                })
            })
        })
    });
    report("consume-noop/kafka/raw");
    g.bench_function("service", |b| {
        b.iter_custom(|iters| {
            consume_iters(iters, || {
                rt.block_on(async {
                    let probe = Probe::new(WARM, KAFKA_NOOP);
                    k.consume_service(&k.noop, 1, Some(u32::from(PREFETCH)), Wait::None, &probe)
                        .await
                })
            })
        })
    });
    report("consume-noop/kafka/service");
    g.finish();

    let mut g = group(c, "service_kafka_publish", 1);
    g.bench_function("raw", |b| {
        b.iter_custom(|n| measured(&rt, n, k.publish_raw(&noop_keys, n)))
    });
    report("publish/kafka/raw");
    let publisher = k.bus.publisher::<Order, Json>(&k.publish_service);
    g.bench_function("service", |b| {
        b.iter_custom(|n| measured(&rt, n, publish_service(&publisher, &noop_keys, n)))
    });
    report("publish/kafka/service");
    g.finish();
    rt.block_on(k.cleanup());

    report_added();
}

criterion_group!(benches, bench);
criterion_main!(benches);
