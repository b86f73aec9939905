//! The orders scenario on Kafka: an order service publishes order events
//! (created, paid, shipped) keyed by order id, with acks=all, idempotence
//! and snappy, so every event of one order lands on one partition in order;
//! a reader replays the topic and checks each order's lifecycle; and a
//! notification service, three workers in one consumer group, shares the
//! partitions, notifies each customer of each event and commits after
//! every notification (at-least-once).
//!
//! ```text
//! cargo run -p mq-client --example kafka_orders [bootstrap] [orders]
//! RUST_LOG=mq_client::kafka::group=info cargo run -p mq-client --example kafka_orders
//! ```

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures_util::StreamExt;
use mq_client::kafka::{
    self, Acks, Assignor, Compression, ErrorCode, NewTopic, Offset, OffsetReset, ProducerRecord,
    Rebalance, RebalanceListener, TopicPartition,
};
use tokio::sync::{mpsc, watch};

const STAGES: [&str; 3] = ["created", "paid", "shipped"];

#[tokio::main]
async fn main() -> Result<(), kafka::Error> {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".to_owned());
    let orders: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let topic = format!("orders-example-{}", std::process::id());
    let partitions = 12;

    let admin = kafka::Admin::builder(&bootstrap).build().await?;
    match admin
        .create_topics([NewTopic::new(&topic, partitions, 1)])
        .await
    {
        Ok(()) => println!("created topic {topic} with {partitions} partitions"),
        Err(kafka::Error::Broker {
            code: ErrorCode::TOPIC_ALREADY_EXISTS,
            ..
        }) => println!("topic {topic} exists"),
        Err(e) => return Err(e),
    }

    // The order service: acks=all (the default), idempotent, snappy.
    let producer = kafka::Producer::builder(&bootstrap)
        .acks(Acks::All)
        .compression(Compression::Snappy)
        .linger(Duration::from_millis(5))
        .build()
        .await?;
    let mut deliveries = Vec::new();
    for stage in STAGES {
        for n in 0..orders {
            let order_id = format!("order-{n:06}");
            let body = format!(
                "{{\"order\":\"{order_id}\",\"status\":\"{stage}\",\"amount\":{}}}",
                (n * 7919) % 10_000
            );
            let delivery = producer
                .enqueue(
                    ProducerRecord::new(&topic)
                        .key(&order_id)
                        .value(&body)
                        .header("event-type", Some(stage)),
                )
                .await?;
            deliveries.push(delivery);
        }
    }
    let mut last = (0, 0);
    for d in deliveries {
        last = d.await?;
    }
    producer.close().await?;
    println!(
        "published {} events; the last went to partition {} at offset {}",
        orders * STAGES.len(),
        last.0,
        last.1
    );

    // A reader replays every partition and checks each order's events
    // arrive as created, paid, shipped.
    let mut builder =
        kafka::PartitionReader::builder(&bootstrap).auto_offset_reset(OffsetReset::Earliest);
    for p in 0..partitions {
        builder = builder.assign(&topic, p, Offset::Earliest);
    }
    let mut reader = builder.build().await?;
    let mut progress: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut seen = 0;
    while seen < orders * STAGES.len() {
        let batch = reader.next_batch().await?;
        for record in batch.iter() {
            let record = record?;
            let key = record.key().unwrap_or_default().to_vec();
            let stage = record
                .headers()
                .last_header(b"event-type")
                .and_then(|h| h.value())
                .unwrap_or_default();
            let next = progress.entry(key).or_insert(0);
            assert_eq!(
                stage,
                STAGES[*next].as_bytes(),
                "events of one order stay in order"
            );
            *next += 1;
            seen += 1;
        }
    }
    let complete = progress.values().filter(|&&n| n == STAGES.len()).count();
    println!("replayed {seen} events: {complete} orders went created -> paid -> shipped");

    notification_service(&bootstrap, &topic, orders).await?;
    admin.delete_topics([topic.as_str()]).await?;
    Ok(())
}

/// One notification: which worker sent it, for which order, at which stage.
type Notification = (usize, String, String);

/// Three workers in the consumer group `notifications-<pid>` share the
/// topic's partitions. They join one after another; with the
/// cooperative-sticky assignor each join moves only some partitions, and
/// the workers keep notifying throughout.
async fn notification_service(
    bootstrap: &str,
    topic: &str,
    orders: usize,
) -> Result<(), kafka::Error> {
    let group = format!("notifications-{}", std::process::id());
    let (sent, mut received) = mpsc::channel::<Notification>(1024);
    let (stop, stopped) = watch::channel(false);
    let mut workers = Vec::new();
    for worker in 0..3 {
        let consumer = kafka::Consumer::builder(bootstrap)
            .group(&group)
            .assignor(Assignor::CooperativeSticky)
            .auto_offset_reset(OffsetReset::Earliest)
            .session_timeout(Duration::from_secs(10))
            .heartbeat_interval(Duration::from_secs(1))
            .listener(Announce(worker))
            .build()
            .await?;
        workers.push(tokio::spawn(notify(
            worker,
            consumer,
            topic.to_owned(),
            sent.clone(),
            stopped.clone(),
        )));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(sent);

    // Wait until every order's every stage was notified (at least once).
    let mut notified: HashMap<String, Vec<String>> = HashMap::new();
    let mut per_worker: BTreeMap<usize, usize> = BTreeMap::new();
    let mut total = 0;
    while notified
        .values()
        .filter(|s| s.len() >= STAGES.len())
        .count()
        < orders
    {
        let Some((worker, order, stage)) = received.recv().await else {
            break;
        };
        let stages = notified.entry(order).or_default();
        if !stages.contains(&stage) {
            stages.push(stage);
        }
        *per_worker.entry(worker).or_default() += 1;
        total += 1;
    }
    let _ = stop.send(true);
    for w in workers {
        w.await.map_err(|_| kafka::Error::Closed)??;
    }
    println!(
        "notification service: {total} notifications for {} orders, per worker {per_worker:?}",
        notified.len()
    );
    Ok(())
}

/// Logs what the group gives and takes.
struct Announce(usize);

impl RebalanceListener for Announce {
    async fn on_assigned(&mut self, _ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        println!("worker {} assigned {:?}", self.0, partitions_of(partitions));
    }

    async fn on_revoked(&mut self, _ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
        // Every notification is committed right after it is sent, so
        // nothing is left to commit here.
        println!("worker {} releases {:?}", self.0, partitions_of(partitions));
    }
}

fn partitions_of(tps: &[TopicPartition]) -> Vec<i32> {
    tps.iter().map(|tp| tp.partition).collect()
}

/// A worker: notify, then commit, per event, until told to stop; then
/// close (commit, leave the group).
async fn notify(
    worker: usize,
    mut consumer: kafka::Consumer<Announce>,
    topic: String,
    sent: mpsc::Sender<Notification>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), kafka::Error> {
    consumer.subscribe([topic]).await?;
    loop {
        let record = tokio::select! {
            _ = stop.changed() => break,
            record = consumer.next() => match record {
                Some(r) => r?,
                None => break,
            },
        };
        let order = String::from_utf8_lossy(record.key().unwrap_or_default()).into_owned();
        let stage = record
            .headers_named(b"event-type")
            .last()
            .flatten()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default();
        // "Send" the notification (an email, a push message...).
        if sent.send((worker, order, stage)).await.is_err() {
            break;
        }
        consumer.commit(&record).await?;
    }
    consumer.close().await
}
