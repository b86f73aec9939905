//! librdkafka's child (the `rdkafka` crate's `FutureProducer`): acks=all,
//! idempotence on, linger.ms=5, its defaults otherwise.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("rdkafka producer")
}

/// Produces `n` records with `send_result`, keeping at most
/// [`super::WINDOW`] delivery futures; when librdkafka's queue is full
/// (its default `queue.buffering.max.messages` is 100,000) it awaits the
/// oldest delivery and tries again. Timed from the producer's creation to
/// the last acknowledgement.
pub(crate) async fn produce(bootstrap: &str, topic: &str, n: u64) -> Duration {
    let value = super::value();
    let start = Instant::now();
    let producer = producer(bootstrap);
    let mut window = VecDeque::with_capacity(super::WINDOW);
    for i in 0..n {
        let key = super::key(i);
        let mut record = FutureRecord::to(topic).key(&key[..]).payload(&value[..]);
        loop {
            match producer.send_result(record) {
                Ok(d) => {
                    window.push_back(d);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    match window.pop_front() {
                        Some(d) => {
                            d.await.expect("delivery").expect("delivered");
                        }
                        None => tokio::time::sleep(Duration::from_millis(1)).await,
                    }
                }
                Err((e, _)) => panic!("rdkafka enqueue: {e}"),
            }
        }
        if window.len() >= super::WINDOW {
            if let Some(d) = window.pop_front() {
                d.await.expect("delivery").expect("delivered");
            }
        }
    }
    for d in window {
        d.await.expect("delivery").expect("delivered");
    }
    let elapsed = start.elapsed();
    producer.flush(Duration::from_secs(30)).expect("flush");
    elapsed
}

/// One record every 10 ms, `run_for` / 10 ms records, each delivery awaited in its own
/// task.
pub(crate) async fn latency(bootstrap: &str, topic: &str, run_for: Duration) -> Vec<Duration> {
    let value = super::value();
    let producer = producer(bootstrap);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let records = run_for.as_millis() as u64 / 10;
    let mut tasks = Vec::with_capacity(records as usize);
    for i in 0..records {
        tick.tick().await;
        let key = super::key(i);
        let sent = Instant::now();
        let record = FutureRecord::to(topic).key(&key[..]).payload(&value[..]);
        let delivery = match producer.send_result(record) {
            Ok(d) => d,
            Err((e, _)) => panic!("rdkafka enqueue: {e}"),
        };
        tasks.push(tokio::spawn(async move {
            delivery.await.expect("delivery").expect("delivered");
            sent.elapsed()
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    for t in tasks {
        latencies.push(t.await.expect("task"));
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    latencies
}
