//! The orders scenario on Kafka: an order service publishes order events
//! (created, paid, shipped) keyed by order id, with acks=all, idempotence
//! and snappy, so every event of one order lands on one partition in order;
//! then a reader replays the topic and checks each order's lifecycle.
//!
//! ```text
//! cargo run -p mq-client --example kafka_orders [bootstrap] [orders]
//! ```

use std::collections::HashMap;
use std::time::Duration;

use mq_client::kafka::{
    self, Acks, Compression, ErrorCode, NewTopic, Offset, OffsetReset, ProducerRecord,
};

const STAGES: [&str; 3] = ["created", "paid", "shipped"];

#[tokio::main]
async fn main() -> Result<(), kafka::Error> {
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
    admin.delete_topics([topic.as_str()]).await?;
    Ok(())
}
