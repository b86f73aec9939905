//! Consumers at volume: 100,000 confirmed publishes consumed exactly once
//! with manual acks; a dropped consumer's deliveries come back redelivered;
//! a consumer that does not keep up holds the driver back without losing
//! anything; acks the client holds back (coalesced, under a quarter of the
//! prefetch window) reach the broker on their own, and before a cancel.

mod amqp_client_support;

use std::collections::VecDeque;
use std::time::Duration;

use amqp_client_support::{connect, next, proxy_uri, wait_count};
use futures_util::StreamExt;
use mq_client::amqp::{
    BasicProperties, Channel, Connection, ConsumeOptions, QueueDeleteOptions, QueueOptions,
    RecoveryConfig,
};
use mq_tests::proxy::FaultProxy;
use mq_tests::{endpoints, names};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_confirmed_then_consumed_exactly_once() {
    const N: u32 = 100_000;
    const WINDOW: usize = 1000;
    let conn = connect("consumers-100k").await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    ch.confirm_select().await.unwrap();
    let mut window = VecDeque::with_capacity(WINDOW);
    let mut acked = 0u32;
    for i in 0..N {
        let mut body = [0u8; 100];
        body[..4].copy_from_slice(&i.to_be_bytes());
        window.push_back(
            ch.publish("", q.name(), body.to_vec(), BasicProperties::default())
                .await
                .unwrap(),
        );
        if window.len() == WINDOW {
            window.pop_front().unwrap().await.expect("acked");
            acked += 1;
        }
    }
    for c in window {
        c.await.expect("acked");
        acked += 1;
    }
    assert_eq!(acked, N);

    let consumer_ch = conn.open_channel().await.unwrap();
    let mut consumer = consumer_ch
        .consume(q.name(), ConsumeOptions::default().prefetch(1000))
        .await
        .unwrap();
    let mut seen = vec![false; N as usize];
    for _ in 0..N {
        let d = next(&mut consumer).await;
        assert!(!d.redelivered());
        let i = u32::from_be_bytes(d.body()[..4].try_into().unwrap()) as usize;
        assert!(!seen[i], "message {i} delivered twice");
        seen[i] = true;
        d.ack().await.unwrap();
    }
    assert!(seen.iter().all(|s| *s));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), consumer.next())
            .await
            .is_err(),
        "nothing more"
    );
}

#[tokio::test]
async fn dropped_consumer_without_acks_leads_to_redelivery() {
    let conn = connect("consumers-dropped").await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    ch.confirm_select().await.unwrap();
    for i in 0..5u8 {
        ch.publish("", q.name(), vec![i], BasicProperties::default())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    {
        let mut consumer = ch
            .consume(q.name(), ConsumeOptions::default().prefetch(10))
            .await
            .unwrap();
        for _ in 0..5 {
            let d = next(&mut consumer).await;
            assert!(!d.redelivered());
        }
        // Dropped here with nothing acked.
    }
    let mut again = ch
        .consume(q.name(), ConsumeOptions::default().prefetch(10))
        .await
        .unwrap();
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let d = next(&mut again).await;
        assert!(d.redelivered(), "the broker marks them redelivered");
        bodies.push(d.body()[0]);
        d.ack().await.unwrap();
    }
    bodies.sort_unstable();
    assert_eq!(bodies, vec![0, 1, 2, 3, 4]);
}

#[tokio::test]
async fn slow_consumer_with_unlimited_prefetch_loses_nothing() {
    const N: u32 = 5000;
    // A small hold limit, so the driver stops reading the socket while the
    // consumer's queue is full.
    let conn = mq_client::amqp::Connection::builder()
        .uri(mq_tests::endpoints::amqp_url())
        .name("consumers-slow")
        .max_held_deliveries(64)
        .connect()
        .await
        .unwrap();
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    ch.confirm_select().await.unwrap();
    let mut confirms = Vec::new();
    for i in 0..N {
        confirms.push(
            ch.publish(
                "",
                q.name(),
                i.to_be_bytes().to_vec(),
                BasicProperties::default(),
            )
            .await
            .unwrap(),
        );
    }
    for c in confirms {
        c.await.unwrap();
    }
    let mut consumer = ch
        .consume(q.name(), ConsumeOptions::default().prefetch(0).no_ack())
        .await
        .unwrap();
    // Let the broker push everything at the client before reading.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The driver holds at most 64 deliveries and then stops reading, so a
    // request waits until the consumer catches up (it is not lost).
    let request = tokio::spawn({
        let conn = conn.clone();
        async move { conn.open_channel().await }
    });
    for i in 0..N {
        let d = next(&mut consumer).await;
        assert_eq!(d.body(), &i.to_be_bytes()[..], "in order");
    }
    let other = request.await.unwrap().expect("the request completes");
    other
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
}

/// A queue with `n` confirmed messages, and the channel that made it.
async fn queue_with(conn: &Connection, prefix: &str, n: u8) -> (Channel, String) {
    let ch = conn.open_channel().await.unwrap();
    let queue = names::queue(prefix);
    ch.queue_declare(&queue, QueueOptions::default())
        .await
        .unwrap();
    ch.confirm_select().await.unwrap();
    for i in 0..n {
        ch.publish("", &queue, vec![i], BasicProperties::default())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    (ch, queue)
}

/// Waits until the broker counts no consumer on the queue, then returns
/// its ready messages (a dead consumer's unacked ones are requeued in the
/// same step that removes it).
async fn ready_once_unconsumed(ch: &Channel, queue: &str) -> u32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let q = ch
            .queue_declare(queue, QueueOptions::passive())
            .await
            .unwrap();
        if q.consumer_count == 0 {
            return q.message_count;
        }
        assert!(tokio::time::Instant::now() < deadline, "consumer not gone");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_back_acks_reach_the_broker_without_a_close() {
    let direct = connect("acks-held-check").await;
    let (ch, queue) = queue_with(&direct, "acks-held", 5).await;
    let proxy = FaultProxy::start(endpoints::amqp_addr()).await.unwrap();
    let conn = Connection::builder()
        .uri(proxy_uri(proxy.addr(), ""))
        .name("acks-held")
        .recovery(RecoveryConfig::disabled())
        .connect()
        .await
        .unwrap();
    let cch = conn.open_channel().await.unwrap();
    // Prefetch 100: five acks are under a quarter of the window, so the
    // driver holds them back, waiting for more.
    let mut consumer = cch
        .consume(&queue, ConsumeOptions::default().prefetch(100))
        .await
        .unwrap();
    for _ in 0..5 {
        next(&mut consumer).await.ack().await.unwrap();
    }
    // Nothing else happens on the connection: the acks must go out on
    // their own (the driver's linger timer, a millisecond), well within
    // this pause. Then the connection is cut, not closed: an ack not on
    // the wire by now is lost, and the broker would requeue its message.
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut_all();
    assert_eq!(ready_once_unconsumed(&ch, &queue).await, 0);
    drop(consumer);
    ch.queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn after_a_cancel_only_unacked_deliveries_come_back() {
    let conn = connect("acks-before-cancel").await;
    let (ch, queue) = queue_with(&conn, "acks-before-cancel", 5).await;
    let cch = conn.open_channel().await.unwrap();
    let mut consumer = cch
        .consume(&queue, ConsumeOptions::default().prefetch(100))
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for _ in 0..5 {
        deliveries.push(next(&mut consumer).await);
    }
    // Three acks the driver holds back (under a quarter of the window),
    // then a cancel, which requeues what was not acked.
    for d in &deliveries[..3] {
        d.ack().await.unwrap();
    }
    consumer.cancel().await.unwrap();
    wait_count(&ch, &queue, 2).await;
    let mut back = Vec::new();
    while let Some(d) = ch.basic_get(&queue, true).await.unwrap() {
        assert!(d.redelivered());
        back.push(d.body()[0]);
    }
    assert_eq!(back, [3, 4]);
    // Closing the consuming channel requeues whatever the broker still
    // counts as unacked: nothing, the acks went out.
    cch.close().await.unwrap();
    assert_eq!(ready_once_unconsumed(&ch, &queue).await, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(ready_once_unconsumed(&ch, &queue).await, 0);
    ch.queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
}
