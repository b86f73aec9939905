//! mq-client's children: the throughput run (defaults, or a larger batch
//! size) and the latency run (defaults).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mq_client::kafka::{Producer, ProducerRecord};

/// Enqueues `n` records, keeping at most [`super::WINDOW`] delivery futures
/// outstanding, and awaits every delivery. Timed from the producer's
/// construction to the last acknowledgement.
pub(crate) async fn produce(
    bootstrap: &str,
    topic: &str,
    n: u64,
    batch_size: Option<usize>,
) -> Duration {
    let value = super::value();
    let start = Instant::now();
    let mut builder = Producer::builder(bootstrap).linger(Duration::from_millis(5));
    if let Some(bytes) = batch_size {
        builder = builder.batch_size(bytes);
    }
    let producer = builder.build().await.expect("mq producer");
    let mut window = VecDeque::with_capacity(super::WINDOW);
    for i in 0..n {
        let key = super::key(i);
        let delivery = producer
            .enqueue(ProducerRecord::new(topic).key(&key).value(&value))
            .await
            .expect("enqueue");
        window.push_back(delivery);
        if window.len() >= super::WINDOW {
            if let Some(d) = window.pop_front() {
                d.await.expect("delivery");
            }
        }
    }
    for d in window {
        d.await.expect("delivery");
    }
    let elapsed = start.elapsed();
    producer.close().await.expect("close");
    elapsed
}

/// One record every 10 ms, `run_for` / 10 ms records, each delivery awaited in its own
/// task; the time from enqueue to acknowledgement of every record.
pub(crate) async fn latency(bootstrap: &str, topic: &str, run_for: Duration) -> Vec<Duration> {
    let value = super::value();
    let producer = Producer::builder(bootstrap)
        .build()
        .await
        .expect("mq producer");
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let records = run_for.as_millis() as u64 / 10;
    let mut tasks = Vec::with_capacity(records as usize);
    for i in 0..records {
        tick.tick().await;
        let key = super::key(i);
        let sent = Instant::now();
        let delivery = producer
            .enqueue(ProducerRecord::new(topic).key(&key).value(&value))
            .await
            .expect("enqueue");
        tasks.push(tokio::spawn(async move {
            delivery.await.expect("delivery");
            sent.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for t in tasks {
        latencies.push(t.await.expect("task"));
    }
    producer.close().await.expect("close");
    latencies
}
