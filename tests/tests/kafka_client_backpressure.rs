//! Back-pressure: with a small `buffer_memory`, producing faster than the
//! broker accepts makes `send` wait, buffered memory never passes the
//! limit, and `max_block` bounds the wait.

mod kafka_client_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mq_client::kafka::{Error, Producer, ProducerRecord};
use mq_tests::endpoints;
use mq_tests::kafka_proxies::KafkaProxies;

use kafka_client_support::topic;

const BUFFER: usize = 256 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_buffer_makes_send_wait_and_memory_stays_bounded() {
    let topic = topic("backpressure", 2).await;
    // A slow broker: every chunk is delayed on the way, both ways.
    let proxy = KafkaProxies::start(&endpoints::kafka_bootstrap())
        .await
        .expect("proxies");
    let producer = Producer::builder(&proxy.bootstrap())
        .address_map(proxy.map())
        .buffer_memory(BUFFER)
        .batch_size(16 * 1024)
        .build()
        .await
        .expect("producer");
    proxy.set_latency(Duration::from_millis(40));

    // Watch the buffered bytes while producing.
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (peak, done, producer) = (peak.clone(), done.clone(), producer.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(producer.buffered_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let value = vec![b'v'; 1000];
    let count = 4_000; // ~4 MB through a 256 KiB buffer
    let mut longest_wait = Duration::ZERO;
    let mut deliveries = Vec::with_capacity(count);
    let started = Instant::now();
    for i in 0..count {
        let key = format!("k{}", i % 16);
        let t = Instant::now();
        deliveries.push(
            producer
                .enqueue(ProducerRecord::new(&topic).key(&key).value(&value))
                .await
                .expect("enqueue waits, then succeeds"),
        );
        longest_wait = longest_wait.max(t.elapsed());
        assert!(producer.buffered_bytes() <= BUFFER);
    }
    let enqueue_time = started.elapsed();
    for d in deliveries {
        d.await.expect("delivery");
    }
    done.store(true, Ordering::Relaxed);
    watcher.await.expect("watcher");
    producer.close().await.expect("close");
    let peak = peak.load(Ordering::Relaxed);
    assert!(peak <= BUFFER, "buffered {peak} bytes, limit {BUFFER}");
    assert!(peak > BUFFER / 2, "the buffer did fill up: peak {peak}");
    assert!(
        longest_wait >= Duration::from_millis(20),
        "send waited for room (longest wait {longest_wait:?})"
    );
    assert!(
        enqueue_time >= Duration::from_millis(200),
        "enqueueing 4 MB through a slow link took {enqueue_time:?}"
    );
    assert_eq!(producer.buffered_bytes(), 0, "all memory given back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_block_bounds_the_wait_for_buffer_space() {
    let topic = topic("backpressure-block", 1).await;
    let proxy = KafkaProxies::start(&endpoints::kafka_bootstrap())
        .await
        .expect("proxies");
    let producer = Producer::builder(&proxy.bootstrap())
        .address_map(proxy.map())
        .buffer_memory(64 * 1024)
        .max_block(Duration::from_millis(300))
        .build()
        .await
        .expect("producer");
    // Learn the topic's metadata first, then stall the broker.
    producer
        .send(ProducerRecord::new(&topic).value("warm-up"))
        .await
        .expect("warm-up");
    proxy.stall(true);
    let value = vec![b'v'; 1000];
    let mut pending = Vec::new();
    let error = loop {
        match producer
            .enqueue(ProducerRecord::new(&topic).value(&value))
            .await
        {
            Ok(d) => pending.push(d),
            Err(e) => break e,
        }
        assert!(pending.len() < 1000, "the buffer must fill up");
    };
    assert!(
        matches!(
            error,
            Error::Timeout {
                what: "buffer space",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_retriable());
    proxy.stall(false);
    for d in pending {
        d.await.expect("delivered after the stall");
    }
    producer.close().await.expect("close");
}
