//! Confirm and delivery coalescing (the socket's receive low-water mark
//! while many confirms are outstanding or deliveries stream in): every
//! confirm still resolves and every delivery comes once and in order, a
//! lone confirm after a burst is not held, a lone delivery after a drain
//! is held at most a linger and the ones after it not at all, and a stall
//! with a deep window outstanding is still detected within two
//! heartbeats.

mod amqp_client_support;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use amqp_client_support::{next, proxy_uri, wait_count, wait_event};
use bytes::Bytes;
use mq_client::amqp::{
    BasicProperties, Channel, Confirm, Connection, ConnectionEvent, ConsumeOptions, Error,
    QueueDeleteOptions, QueueOptions, RecoveryConfig,
};
use mq_tests::proxy::FaultProxy;
use mq_tests::{endpoints, names};

async fn connect(name: &str, linger: Duration) -> Connection {
    Connection::builder()
        .uri(endpoints::amqp_url())
        .name(name)
        .operation_timeout(Duration::from_secs(10))
        .read_coalescing(linger)
        .connect()
        .await
        .expect("connect to RabbitMQ (scripts/brokers up)")
}

async fn confirmed_channel(conn: &Connection, prefix: &str) -> (Channel, String) {
    let ch = conn.open_channel().await.unwrap();
    let queue = names::queue(prefix);
    ch.queue_declare(&queue, QueueOptions::default())
        .await
        .unwrap();
    ch.confirm_select().await.unwrap();
    (ch, queue)
}

async fn publish(ch: &Channel, queue: &str, i: u32) -> Confirm {
    ch.publish(
        "",
        queue,
        Bytes::from(i.to_be_bytes().to_vec()),
        BasicProperties::default(),
    )
    .await
    .unwrap()
}

/// Awaits a confirm that must be an ack, within 10 s.
async fn acked(c: Confirm) {
    tokio::time::timeout(Duration::from_secs(10), c)
        .await
        .expect("a confirm within 10 s")
        .expect("acked");
}

/// Publishes the numbers of `range` keeping at most `window` confirms
/// open (the oldest must be an ack); returns the confirms still open.
async fn publish_windowed(
    ch: &Channel,
    queue: &str,
    range: std::ops::Range<u32>,
    window: usize,
) -> VecDeque<Confirm> {
    let mut open = VecDeque::new();
    for i in range {
        open.push_back(publish(ch, queue, i).await);
        if open.len() >= window {
            acked(open.pop_front().unwrap()).await;
        }
    }
    open
}

/// Publishes `n` keeping `window` confirms open; every confirm must be an
/// ack, and every message must be in the queue.
async fn windowed(linger: Duration, n: u32, window: usize) {
    let conn = connect("coalescing-window", linger).await;
    let (ch, queue) = confirmed_channel(&conn, "coalescing-window").await;
    for c in publish_windowed(&ch, &queue, 0..n, window).await {
        acked(c).await;
    }
    wait_count(&ch, &queue, n).await;
    ch.queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_window_settles_every_confirm_multi_thread() {
    windowed(Duration::from_millis(1), 30_000, 1000).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_deep_window_settles_every_confirm_current_thread() {
    windowed(Duration::from_millis(1), 30_000, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_around_the_threshold_settle_every_confirm() {
    // Just under and just over the outstanding count that raises the
    // mark, and a long linger: the fallback must not stall a small window.
    windowed(Duration::from_millis(20), 5_000, 127).await;
    windowed(Duration::from_millis(20), 5_000, 130).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalescing_off_settles_every_confirm() {
    windowed(Duration::ZERO, 20_000, 1000).await;
}

/// After a burst that raised the mark, the tail of the burst and then a
/// single publish resolve within the linger's order of magnitude, not
/// at some later wake-up: the mark comes down and the fallback reads
/// what is below it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_confirm_after_a_burst_is_not_held() {
    // A long linger makes a held confirm plain to see.
    let linger = Duration::from_millis(300);
    let conn = connect("coalescing-lone", linger).await;
    let (ch, queue) = confirmed_channel(&conn, "coalescing-lone").await;
    for _round in 0..3 {
        let burst = publish_windowed(&ch, &queue, 0..2000, usize::MAX).await;
        let t = Instant::now();
        for c in burst {
            acked(c).await;
        }
        // The tail may wait for the fallback once (the last acks sit below
        // the mark), never for more than a few lingers.
        let tail = t.elapsed();
        assert!(
            tail < Duration::from_secs(3),
            "the burst settled after {tail:?}"
        );
        // One publish alone: too few outstanding for a mark, so its ack
        // wakes the driver at once.
        let t = Instant::now();
        acked(publish(&ch, &queue, 0).await).await;
        let lone = t.elapsed();
        assert!(
            lone < linger,
            "a lone confirm took {lone:?}, as long as the linger ({linger:?}): it was held"
        );
    }
    ch.queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
    conn.close().await.unwrap();
}

/// A stall while a deep window of confirms is outstanding (the mark is
/// up) is still detected within two heartbeats, and every confirm fails
/// with a retriable error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_with_the_mark_up_is_detected_within_two_heartbeats() {
    let proxy = FaultProxy::start(endpoints::amqp_addr()).await.unwrap();
    let conn = Connection::builder()
        .uri(proxy_uri(proxy.addr(), "?heartbeat=1"))
        .name("coalescing-stall")
        .operation_timeout(Duration::from_secs(10))
        .recovery(RecoveryConfig::disabled())
        .connect()
        .await
        .unwrap();
    let mut events = conn.events();
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    ch.confirm_select().await.unwrap();
    // A window kept open while the connection stalls.
    let mut open = publish_windowed(&ch, q.name(), 0..5_000, 1000).await;
    proxy.stall(true);
    let stalled_at = Instant::now();
    open.extend(publish_windowed(&ch, q.name(), 0..500, usize::MAX).await);
    wait_event(&mut events, Duration::from_secs(5), |e| {
        matches!(e, ConnectionEvent::Lost { .. })
    })
    .await;
    let detected = stalled_at.elapsed();
    assert!(
        detected <= Duration::from_millis(2300),
        "detected after {detected:?}, more than 2 x 1 s heartbeat"
    );
    let mut failed = 0;
    for c in open {
        match tokio::time::timeout(Duration::from_secs(5), c)
            .await
            .expect("every confirm resolves")
        {
            Ok(()) => {}
            Err(e) => {
                assert!(e.is_retriable(), "{e:?}");
                assert!(matches!(e, Error::ConfirmLost), "{e:?}");
                failed += 1;
            }
        }
    }
    assert!(
        failed >= 500,
        "the publishes made during the stall fail: {failed}"
    );
    proxy.stall(false);
}

/// Fills a queue with `n` messages (numbered) through a confirmed channel.
async fn fill(conn: &Connection, queue: &str, n: u32) {
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    for c in publish_windowed(&ch, queue, 0..n, 1000).await {
        acked(c).await;
    }
    ch.close().await.unwrap();
}

/// A consumer with a deep prefetch drains a deep queue (the mark is up
/// while deliveries stream in) and gets every message once, in order;
/// the tail below the mark comes with the fallback read.
async fn drain(linger: Duration, n: u32) {
    let conn = connect("coalescing-drain", linger).await;
    let ch = conn.open_channel().await.unwrap();
    let queue = names::queue("coalescing-drain");
    ch.queue_declare(&queue, QueueOptions::default())
        .await
        .unwrap();
    fill(&conn, &queue, n).await;
    wait_count(&ch, &queue, n).await;
    let mut consumer = ch
        .consume(&queue, ConsumeOptions::default().prefetch(1000))
        .await
        .unwrap();
    for i in 0..n {
        let d = next(&mut consumer).await;
        assert_eq!(d.body().as_ref(), &i.to_be_bytes(), "message {i} in order");
        assert!(!d.redelivered());
        d.ack().await.unwrap();
    }
    consumer.cancel().await.unwrap();
    wait_count(&ch, &queue, 0).await;
    ch.queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_queue_drains_every_message_once_multi_thread() {
    drain(Duration::from_millis(1), 30_000).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_deep_queue_drains_every_message_once_current_thread() {
    drain(Duration::from_millis(1), 30_000).await;
}

/// Right after a deep queue drained, the mark is still up: a message
/// published alone then waits at most for the fallback read, a linger
/// after the last read. That small read drops the mark, so the messages
/// after it reach the consumer at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_delivery_after_a_drain_is_held_at_most_a_linger() {
    let linger = Duration::from_millis(300);
    let conn = connect("coalescing-lone-delivery", linger).await;
    let ch = conn.open_channel().await.unwrap();
    let queue = names::queue("coalescing-lone-delivery");
    ch.queue_declare(&queue, QueueOptions::default())
        .await
        .unwrap();
    let publisher = connect("coalescing-lone-delivery-pub", Duration::ZERO).await;
    let pch = publisher.open_channel().await.unwrap();
    pch.confirm_select().await.unwrap();
    fill(&publisher, &queue, 20_000).await;
    wait_count(&ch, &queue, 20_000).await;
    let mut consumer = ch
        .consume(&queue, ConsumeOptions::default().prefetch(1000))
        .await
        .unwrap();
    let t = Instant::now();
    for _ in 0..20_000 {
        next(&mut consumer).await.ack().await.unwrap();
    }
    let drained = t.elapsed();
    assert!(drained < Duration::from_secs(10), "drained in {drained:?}");
    for i in 0..4u32 {
        let t = Instant::now();
        acked(publish(&pch, &queue, i).await).await;
        let d = next(&mut consumer).await;
        let lone = t.elapsed();
        assert_eq!(d.body().as_ref(), &i.to_be_bytes());
        d.ack().await.unwrap();
        if i == 0 {
            // The linger, and the timer's granularity.
            assert!(
                lone < linger + Duration::from_millis(250),
                "the first lone delivery took {lone:?}, longer than the linger ({linger:?})"
            );
        } else {
            assert!(
                lone < linger / 2,
                "lone delivery {i} took {lone:?} (linger {linger:?}): it was held"
            );
        }
    }
    consumer.cancel().await.unwrap();
    ch.queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
    conn.close().await.unwrap();
    publisher.close().await.unwrap();
}

/// CPU time of the calling thread so far, from /proc/thread-self/stat
/// (user + system, in clock ticks of 10 ms).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    let after_name = &stat[stat.rfind(')').expect("comm") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted from the state (field 3).
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// A consumer that stops taking deliveries in the middle of a stream (the
/// mark is up) fills its queue and the driver's held deliveries, and the
/// driver stops reading: it then parks, rather than spinning on a
/// fallback read it cannot make. On the current-thread runtime the
/// driver runs on the test's thread, so that thread's CPU time shows it.
/// Once the consumer takes deliveries again, every message comes.
#[tokio::test(flavor = "current_thread")]
async fn a_stopped_consumer_with_the_mark_up_parks_the_driver() {
    const N: u32 = 20_000;
    let conn = Connection::builder()
        .uri(endpoints::amqp_url())
        .name("coalescing-stopped-consumer")
        .operation_timeout(Duration::from_secs(10))
        .read_coalescing(Duration::from_millis(1))
        .max_held_deliveries(64)
        .connect()
        .await
        .unwrap();
    let ch = conn.open_channel().await.unwrap();
    let queue = names::queue("coalescing-stopped-consumer");
    ch.queue_declare(&queue, QueueOptions::default())
        .await
        .unwrap();
    fill(&conn, &queue, N).await;
    wait_count(&ch, &queue, N).await;
    // No prefetch limit: the broker streams the whole queue.
    let mut consumer = ch
        .consume(&queue, ConsumeOptions::default().prefetch(0))
        .await
        .unwrap();
    for i in 0..100u32 {
        let d = next(&mut consumer).await;
        assert_eq!(d.body().as_ref(), &i.to_be_bytes());
        d.ack().await.unwrap();
    }
    // Stop taking deliveries; let the queues fill.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = thread_cpu();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = thread_cpu() - before;
    assert!(
        spent < Duration::from_millis(300),
        "the driver used {spent:?} of CPU in 1 s while the consumer took nothing: it spins"
    );
    for i in 100..N {
        let d = next(&mut consumer).await;
        assert_eq!(d.body().as_ref(), &i.to_be_bytes(), "message {i} in order");
        d.ack().await.unwrap();
    }
    consumer.cancel().await.unwrap();
    ch.queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
    conn.close().await.unwrap();
}
