//! The soak: both clients and the service layer at a fixed message rate
//! for a long time, under periodic faults, sampling the process's memory,
//! file descriptors and tokio tasks every 10 s. `scripts/soak MINUTES`
//! starts the clusters, runs this, and draws the report; see there.
//!
//! Workloads, each at `SOAK_RATE` messages a second (default 100):
//! - `amqp`: mq-client publishes with confirms to a quorum queue and a
//!   consumer acks, through a fault proxy in front of each RabbitMQ node;
//! - `kafka`: an idempotent producer and a group consumer, through a fault
//!   proxy in front of each Kafka broker;
//! - `svc-amqp`, `svc-kafka`: an mq-service publisher and subscriber on
//!   each broker (Kafka through the proxies too).
//!
//! Faults: every 60 s every proxied connection is cut; every 90 s each
//! consumer and subscriber is restarted; every 5 minutes a broker is
//! restarted, RabbitMQ nodes and Kafka brokers in turn (`scripts/brokers`).
//!
//! Environment: `SOAK_MINUTES`, `SOAK_OUT` (a directory; `samples.csv`
//! goes there), `SOAK_AMQP_URLS` (the cluster's node URLs, comma-separated),
//! `SOAK_KAFKA_BOOTSTRAP`, `SOAK_KAFKA_STATE` and `SOAK_KAFKA_PORT_BASE`
//! (the Kafka cluster's `scripts/brokers` state, for restarts).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_client::amqp::{self, BasicProperties, ConsumeOptions, QueueOptions, RecoveryConfig};
use mq_client::kafka::{self, ClientConfig, NewTopic, OffsetReset, ProducerRecord};
use mq_service::{Bus, HandlerError, Json, KafkaConfig, Message};
use mq_tests::proxy::FaultProxy;
use tokio::sync::watch;

const WORKLOADS: [&str; 4] = ["amqp", "kafka", "svc-amqp", "svc-kafka"];

/// Messages sent and received per workload, and errors seen.
#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    received: AtomicU64,
    errors: AtomicU64,
}

type AllCounts = Arc<HashMap<&'static str, Counts>>;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (run scripts/soak)"))
}

fn rate() -> u64 {
    std::env::var("SOAK_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(100)
}

fn recovery() -> RecoveryConfig {
    RecoveryConfig {
        backoff: mq_client::backoff::BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            multiplier: 2.0,
            jitter: 0.2,
            max_attempts: None,
        },
        ..RecoveryConfig::default()
    }
}

/// One proxy per upstream address.
async fn proxies(upstreams: &[String]) -> Vec<Arc<FaultProxy>> {
    let mut out = Vec::new();
    for u in upstreams {
        let addr = u.parse().expect("upstream address");
        out.push(Arc::new(FaultProxy::start(addr).await.expect("proxy")));
    }
    out
}

/// A Kafka client config whose connections all go through the proxies.
fn proxied_kafka(bootstrap: &[String], proxies: &[Arc<FaultProxy>]) -> ClientConfig {
    let table: HashMap<u16, String> = bootstrap
        .iter()
        .zip(proxies)
        .map(|(b, p)| {
            let port = b
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            (port, p.addr().to_string())
        })
        .collect();
    let via: Vec<String> = proxies.iter().map(|p| p.addr().to_string()).collect();
    let mut c = ClientConfig::new(&via.join(","));
    c.address_map = Some(Arc::new(move |host: &str, port: u16| {
        table
            .get(&port)
            .cloned()
            .unwrap_or_else(|| format!("{host}:{port}"))
    }));
    c
}

/// Ticks at the workload rate until `stop`.
fn ticker() -> tokio::time::Interval {
    let mut t = tokio::time::interval(Duration::from_micros(1_000_000 / rate().max(1)));
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t
}

async fn amqp_publisher(
    urls: Vec<String>,
    queue: String,
    counts: AllCounts,
    stop: watch::Receiver<bool>,
) {
    let c = &counts["amqp"];
    let conn = amqp::Connection::builder()
        .uris(urls)
        .name("soak-amqp-publisher")
        .recovery(recovery())
        .connect()
        .await
        .expect("connect");
    let ch = conn.open_channel().await.expect("channel");
    ch.confirm_select().await.expect("confirms");
    let mut tick = ticker();
    let mut window = std::collections::VecDeque::new();
    while !*stop.borrow() {
        tick.tick().await;
        match ch
            .publish("", &queue, &b"soak"[..], BasicProperties::default())
            .await
        {
            Ok(confirm) => window.push_back(confirm),
            Err(_) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        c.sent.fetch_add(1, Ordering::Relaxed);
        while window.len() > 100 {
            if let Some(confirm) = window.pop_front() {
                if confirm.await.is_err() {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    for confirm in window {
        let _ = confirm.await;
    }
    let _ = conn.close().await;
}

async fn amqp_consumer(
    urls: Vec<String>,
    queue: String,
    counts: AllCounts,
    mut restart: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
) {
    let c = &counts["amqp"];
    while !*stop.borrow() {
        let conn = match amqp::Connection::builder()
            .uris(urls.clone())
            .name("soak-amqp-consumer")
            .recovery(recovery())
            .connect()
            .await
        {
            Ok(conn) => conn,
            Err(_) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let Ok(ch) = conn.open_channel().await else {
            continue;
        };
        let Ok(mut consumer) = ch
            .consume(&queue, ConsumeOptions::default().prefetch(200))
            .await
        else {
            continue;
        };
        loop {
            tokio::select! {
                _ = restart.changed() => break,
                d = consumer.next() => match d {
                    Some(Ok(d)) => {
                        if d.ack().await.is_err() {
                            c.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        c.received.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Err(_)) => { c.errors.fetch_add(1, Ordering::Relaxed); }
                    None => break,
                }
            }
            if *stop.borrow() {
                break;
            }
        }
        drop(consumer);
        let _ = conn.close().await;
    }
}

async fn kafka_producer(
    config: ClientConfig,
    topic: String,
    counts: AllCounts,
    stop: watch::Receiver<bool>,
) {
    let c = &counts["kafka"];
    let producer = kafka::Producer::builder("unused")
        .client_config(config)
        .linger(Duration::from_millis(5))
        .delivery_timeout(Duration::from_secs(60))
        .build()
        .await
        .expect("producer");
    let mut tick = ticker();
    let mut pending = std::collections::VecDeque::new();
    let mut n = 0u64;
    while !*stop.borrow() {
        tick.tick().await;
        n += 1;
        let key = format!("k{}", n % 64);
        match producer
            .enqueue(ProducerRecord::new(&topic).key(&key).value("soak"))
            .await
        {
            Ok(d) => pending.push_back(d),
            Err(_) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        c.sent.fetch_add(1, Ordering::Relaxed);
        while pending.len() > 200 {
            if let Some(d) = pending.pop_front() {
                if d.await.is_err() {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    for d in pending {
        let _ = d.await;
    }
    let _ = producer.close().await;
}

async fn kafka_consumer(
    config: ClientConfig,
    topic: String,
    counts: AllCounts,
    mut restart: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
) {
    let c = &counts["kafka"];
    while !*stop.borrow() {
        let consumer = kafka::Consumer::builder("unused")
            .client_config(config.clone())
            .group("soak-kafka")
            .auto_offset_reset(OffsetReset::Latest)
            .build()
            .await;
        let Ok(mut consumer) = consumer else {
            c.errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        if consumer.subscribe([topic.as_str()]).await.is_err() {
            continue;
        }
        let mut commit = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = restart.changed() => break,
                _ = commit.tick() => { let _ = consumer.commit_processed().await; }
                r = consumer.next() => match r {
                    Some(Ok(r)) => {
                        consumer.mark_processed(&r);
                        c.received.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Err(_)) => { c.errors.fetch_add(1, Ordering::Relaxed); }
                    None => break,
                }
            }
            if *stop.borrow() {
                break;
            }
        }
        let _ = consumer.commit_processed().await;
        let _ = consumer.close().await;
    }
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Event {
    n: u64,
}

/// An mq-service publisher and subscriber on `bus`, the subscriber
/// restarted on each `restart`.
async fn service(
    name: &'static str,
    bus: Bus,
    topic: String,
    counts: AllCounts,
    mut restart: watch::Receiver<u64>,
    stop: watch::Receiver<bool>,
) {
    let c = &counts[name];
    let publisher = {
        let bus = bus.clone();
        let topic = topic.clone();
        let counts = counts.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let c = &counts[name];
            let orders = bus.publisher::<Event, Json>(&topic);
            let mut tick = ticker();
            let mut n = 0;
            while !*stop.borrow() {
                tick.tick().await;
                n += 1;
                let key = format!("k{}", n % 64);
                match orders.publish(&Event { n }).key(&key).await {
                    Ok(_) => c.sent.fetch_add(1, Ordering::Relaxed),
                    Err(_) => c.errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    while !*stop.borrow() {
        let counts = counts.clone();
        let mut builder = bus
            .subscriber::<Event, Json>(&topic, "soak")
            .concurrency(8)
            .ordered_by_key();
        if bus.amqp_connection().is_some() {
            // A classic queue lives on one node and is gone while that node
            // is down; a quorum queue moves its leader.
            builder = builder.queue_options(QueueOptions::durable().quorum());
        }
        let sub = builder
            .start(move |_msg: Message<Event>| {
                let counts = counts.clone();
                async move {
                    counts[name].received.fetch_add(1, Ordering::Relaxed);
                    Ok::<(), HandlerError>(())
                }
            })
            .await;
        let Ok(sub) = sub else {
            c.errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        let mut stopping = stop.clone();
        tokio::select! {
            _ = restart.changed() => {}
            _ = stopping.wait_for(|s| *s) => {}
        }
        if sub.shutdown().await.is_err() {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    let _ = publisher.await;
}

/// Resident memory (KiB), open descriptors.
fn process_sample() -> (u64, usize) {
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    (rss, fds)
}

fn brokers(args: &[&str], kafka: bool) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/brokers");
    let mut cmd = std::process::Command::new(script);
    cmd.args(args);
    if kafka {
        cmd.env("BROKERS_STATE", env("SOAK_KAFKA_STATE"))
            .env("KAFKA_PORT_BASE", env("SOAK_KAFKA_PORT_BASE"));
    }
    match cmd.status() {
        Ok(s) if s.success() => {}
        other => eprintln!("soak: scripts/brokers {args:?}: {other:?}"),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let minutes: u64 = env("SOAK_MINUTES").parse().expect("SOAK_MINUTES");
    let out = PathBuf::from(env("SOAK_OUT"));
    std::fs::create_dir_all(&out).expect("SOAK_OUT");
    let amqp_nodes: Vec<String> = env("SOAK_AMQP_URLS")
        .split(',')
        .map(str::to_owned)
        .collect();
    let kafka_nodes: Vec<String> = env("SOAK_KAFKA_BOOTSTRAP")
        .split(',')
        .map(str::to_owned)
        .collect();
    let amqp_addrs: Vec<String> = amqp_nodes
        .iter()
        .map(|u| {
            u.split('@')
                .nth(1)
                .and_then(|h| h.split('/').next())
                .expect("host:port")
                .to_owned()
        })
        .collect();
    let amqp_proxies = proxies(&amqp_addrs).await;
    let kafka_proxies = proxies(&kafka_nodes).await;
    let amqp_urls: Vec<String> = amqp_proxies
        .iter()
        .map(|p| format!("amqp://guest:guest@{}/%2f", p.addr()))
        .collect();
    let kafka_config = proxied_kafka(&kafka_nodes, &kafka_proxies);

    let run = std::process::id();
    let queue = format!("soak-{run}");
    let topic = format!("soak-{run}");
    let svc_topic = format!("soak-svc-{run}");
    {
        let conn = amqp::Connection::connect_any(amqp_nodes.clone())
            .await
            .expect("connect");
        let ch = conn.open_channel().await.expect("channel");
        ch.queue_declare(&queue, QueueOptions::durable().quorum())
            .await
            .expect("queue");
        conn.close().await.expect("close");
        let admin = kafka::Admin::builder(&kafka_nodes.join(","))
            .build()
            .await
            .expect("admin");
        for t in [&topic, &svc_topic] {
            admin
                .create_topics([NewTopic::new(t, 6, 3).config("min.insync.replicas", "2")])
                .await
                .expect("topic");
        }
    }

    let counts: AllCounts = Arc::new(WORKLOADS.iter().map(|w| (*w, Counts::default())).collect());
    let (stop_tx, stop) = watch::channel(false);
    let (restart_tx, restart) = watch::channel(0u64);
    let amqp_bus = Bus::amqp(
        amqp::Connection::builder()
            .uris(amqp_urls.clone())
            .name("soak-service")
            .recovery(recovery())
            .connect()
            .await
            .expect("service connection"),
    );
    let kafka_bus =
        Bus::kafka(KafkaConfig::new(kafka_nodes.join(",")).client_config(kafka_config.clone()));
    let tasks = vec![
        tokio::spawn(amqp_publisher(
            amqp_urls.clone(),
            queue.clone(),
            counts.clone(),
            stop.clone(),
        )),
        tokio::spawn(amqp_consumer(
            amqp_urls.clone(),
            queue.clone(),
            counts.clone(),
            restart.clone(),
            stop.clone(),
        )),
        tokio::spawn(kafka_producer(
            kafka_config.clone(),
            topic.clone(),
            counts.clone(),
            stop.clone(),
        )),
        tokio::spawn(kafka_consumer(
            kafka_config.clone(),
            topic.clone(),
            counts.clone(),
            restart.clone(),
            stop.clone(),
        )),
        tokio::spawn(service(
            "svc-amqp",
            amqp_bus.clone(),
            svc_topic.clone(),
            counts.clone(),
            restart.clone(),
            stop.clone(),
        )),
        tokio::spawn(service(
            "svc-kafka",
            kafka_bus.clone(),
            svc_topic.clone(),
            counts.clone(),
            restart.clone(),
            stop.clone(),
        )),
    ];

    let mut csv = std::fs::File::create(out.join("samples.csv")).expect("samples.csv");
    let mut header = String::from("seconds,rss_kib,fds,tasks");
    for w in WORKLOADS {
        header.push_str(&format!(",{w}_sent,{w}_received,{w}_errors"));
    }
    writeln!(csv, "{header}").expect("write");
    let started = Instant::now();
    let end = Duration::from_secs(minutes * 60);
    let mut second = 0u64;
    let mut broker_turn = 0usize;
    while started.elapsed() < end {
        tokio::time::sleep_until((started + Duration::from_secs(second + 1)).into()).await;
        second += 1;
        if second % 10 == 0 {
            let (rss, fds) = process_sample();
            let tasks = tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks();
            let mut line = format!("{second},{rss},{fds},{tasks}");
            for w in WORKLOADS {
                let c = &counts[w];
                line.push_str(&format!(
                    ",{},{},{}",
                    c.sent.load(Ordering::Relaxed),
                    c.received.load(Ordering::Relaxed),
                    c.errors.load(Ordering::Relaxed)
                ));
            }
            writeln!(csv, "{line}").expect("write");
            csv.flush().expect("flush");
            println!("{line}");
        }
        if second % 60 == 20 {
            for p in amqp_proxies.iter().chain(&kafka_proxies) {
                p.cut_all();
            }
        }
        if second % 90 == 45 {
            restart_tx.send_modify(|n| *n += 1);
        }
        if second % 300 == 150 {
            // RabbitMQ node 1, Kafka broker 1, RabbitMQ node 2, ...
            let node = (broker_turn / 2) % 3 + 1;
            let kafka = broker_turn % 2 == 1;
            broker_turn += 1;
            let n = node.to_string();
            let (stop_cmd, start_cmd) = if kafka {
                ("stop-kafka", "start-kafka")
            } else {
                ("stop-rabbitmq", "start-rabbitmq")
            };
            println!(
                "restarting {} {node}",
                if kafka {
                    "Kafka broker"
                } else {
                    "RabbitMQ node"
                }
            );
            tokio::task::spawn_blocking(move || {
                brokers(&[stop_cmd, &n], kafka);
                brokers(&[start_cmd, &n], kafka);
            });
        }
    }
    stop_tx.send_replace(true);
    restart_tx.send_modify(|n| *n += 1);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(60), t).await;
    }
    let _ = amqp_bus.close().await;
    let _ = kafka_bus.close().await;
    println!("soak: done after {} s", started.elapsed().as_secs());
}
