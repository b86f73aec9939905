//! krafka's child: its `Producer` (idempotent by default), acks all,
//! linger 5 ms, its defaults otherwise; `enqueue` then every
//! `DeliveryHandle` awaited, as its docs show.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use krafka::producer::Acks;
use krafka::{Kafka, Record};

/// Enqueues `n` records, keeping at most [`super::WINDOW`] delivery
/// handles, and awaits every one. Timed from the client's connection to
/// the last acknowledgement.
pub(crate) async fn produce(bootstrap: &str, topic: &str, n: u64) -> Duration {
    let value = Bytes::from(super::value());
    let start = Instant::now();
    let kafka = Kafka::builder(bootstrap)
        .client_id("krafka-bench")
        .connect()
        .await
        .expect("krafka connect");
    let producer = kafka
        .producer()
        .acks(Acks::All)
        .idempotent(true)
        .linger(Duration::from_millis(5))
        .build()
        .await
        .expect("krafka producer");
    let mut window = VecDeque::with_capacity(super::WINDOW);
    for i in 0..n {
        let key = Bytes::copy_from_slice(&super::key(i));
        let handle = producer
            .enqueue(Record::new(topic, value.clone()).key(key))
            .await
            .expect("enqueue");
        window.push_back(handle);
        if window.len() >= super::WINDOW {
            if let Some(h) = window.pop_front() {
                let _metadata = h.await.expect("delivery");
            }
        }
    }
    for h in window {
        let _metadata = h.await.expect("delivery");
    }
    let elapsed = start.elapsed();
    producer.close().await.expect("close");
    elapsed
}
