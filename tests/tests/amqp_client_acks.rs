//! Acks the client holds back to coalesce them (fewer than a quarter of
//! the prefetch window, with the window far from full) still reach the
//! broker promptly: while the application waits with its consumer open and
//! nothing else happens on the connection, before a synchronous method on
//! the channel, and on a close. The broker's own counts (`rabbitmqctl
//! list_queues`) are the witness: an ack stuck in the client leaves its
//! message unacknowledged there.

mod amqp_client_support;

use std::time::Duration;

use amqp_client_support::{connect, next, rabbitmqctl, wait_count};
use futures_util::StreamExt;
use mq_client::amqp::{
    BasicProperties, Channel, Connection, ConsumeOptions, Consumer, Delivery, QueueDeleteOptions,
    QueueOptions,
};
use mq_tests::names;

/// A queue with `n` confirmed one-byte messages (0, 1, ...), and the
/// channel that made it.
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

/// A consumer with prefetch 100 on its own channel, and the `n` messages
/// it was handed (the whole queue: far under half the window, so the
/// client holds acks back).
async fn consume_all(conn: &Connection, queue: &str, n: usize) -> (Consumer, Vec<Delivery>) {
    let ch = conn.open_channel().await.unwrap();
    let mut consumer = ch
        .consume(queue, ConsumeOptions::default().prefetch(100))
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for _ in 0..n {
        deliveries.push(next(&mut consumer).await);
    }
    (consumer, deliveries)
}

/// The broker's (ready, unacknowledged) counts for `queue`.
async fn broker_counts(queue: &str) -> (u64, u64) {
    let out = tokio::task::spawn_blocking(|| {
        rabbitmqctl(&[
            "-q",
            "list_queues",
            "--no-table-headers",
            "name",
            "messages_ready",
            "messages_unacknowledged",
        ])
    })
    .await
    .unwrap();
    let line = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&queue))
        .unwrap_or_else(|| panic!("queue {queue} not listed:\n{out}"));
    let count = |at: usize| -> u64 { line.get(at).and_then(|v| v.parse().ok()).unwrap() };
    (count(1), count(2))
}

/// Waits, 3 s at most, for the broker to count `want` (ready, unacked)
/// messages on `queue`.
async fn wait_broker_counts(queue: &str, want: (u64, u64)) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let got = broker_counts(queue).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "broker counts (ready, unacked) {got:?}, not {want:?}: acks stuck in the client"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn delete(ch: &Channel, queue: &str) {
    ch.queue_delete(queue, QueueDeleteOptions::default())
        .await
        .unwrap();
}

/// Three individual acks under a window of 100, then the application
/// waits with the consumer open: the broker must see them.
async fn few_individual_acks_reach_the_broker_while_the_consumer_waits() {
    let conn = connect("acks-few").await;
    let (ch, queue) = queue_with(&conn, "acks-few", 5).await;
    let (consumer, deliveries) = consume_all(&conn, &queue, 5).await;
    wait_broker_counts(&queue, (0, 5)).await;
    for d in &deliveries[..3] {
        d.ack().await.unwrap();
    }
    wait_broker_counts(&queue, (0, 2)).await;
    // Acks of the rest, out of order this time.
    deliveries[4].ack().await.unwrap();
    deliveries[3].ack().await.unwrap();
    wait_broker_counts(&queue, (0, 0)).await;
    assert!(consumer.channel().is_open());
    drop(consumer);
    delete(&ch, &queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn few_individual_acks_reach_the_broker_while_the_consumer_waits_multi_thread() {
    few_individual_acks_reach_the_broker_while_the_consumer_waits().await;
}

#[tokio::test]
async fn few_individual_acks_reach_the_broker_while_the_consumer_waits_current_thread() {
    few_individual_acks_reach_the_broker_while_the_consumer_waits().await;
}

/// The same with `multiple` acks: one covers three deliveries, a second
/// the rest.
async fn a_multiple_ack_reaches_the_broker_while_the_consumer_waits() {
    let conn = connect("acks-multiple").await;
    let (ch, queue) = queue_with(&conn, "acks-multiple", 6).await;
    let (consumer, deliveries) = consume_all(&conn, &queue, 6).await;
    wait_broker_counts(&queue, (0, 6)).await;
    deliveries[2].ack_multiple().await.unwrap();
    wait_broker_counts(&queue, (0, 3)).await;
    deliveries[5].ack_multiple().await.unwrap();
    wait_broker_counts(&queue, (0, 0)).await;
    assert!(consumer.channel().is_open());
    drop(consumer);
    delete(&ch, &queue).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multiple_ack_reaches_the_broker_while_the_consumer_waits_multi_thread() {
    a_multiple_ack_reaches_the_broker_while_the_consumer_waits().await;
}

#[tokio::test]
async fn a_multiple_ack_reaches_the_broker_while_the_consumer_waits_current_thread() {
    a_multiple_ack_reaches_the_broker_while_the_consumer_waits().await;
}

/// basic.recover(requeue) redelivers what the broker counts as unacked:
/// held acks must reach it first, or the acked messages come back too
/// (and the late acks would name tags the broker no longer knows).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_acks_go_out_before_a_synchronous_method_on_their_channel() {
    let conn = connect("acks-before-recover").await;
    let (ch, queue) = queue_with(&conn, "acks-before-recover", 5).await;
    let (mut consumer, deliveries) = consume_all(&conn, &queue, 5).await;
    for d in &deliveries[..3] {
        d.ack().await.unwrap();
    }
    consumer.channel().basic_recover(true).await.unwrap();
    let mut again = Vec::new();
    for _ in 0..2 {
        let d = next(&mut consumer).await;
        assert!(d.redelivered());
        again.push(d.body()[0]);
        d.ack().await.unwrap();
    }
    assert_eq!(again, [3, 4], "only the unacked deliveries come back");
    wait_broker_counts(&queue, (0, 0)).await;
    // Nothing else was redelivered, and the channel is still open (no
    // ack named an unknown tag).
    assert!(
        tokio::time::timeout(Duration::from_millis(200), consumer.next())
            .await
            .is_err()
    );
    assert!(consumer.channel().is_open());
    drop(consumer);
    delete(&ch, &queue).await;
}

/// Held acks go out before the connection's close: only the unacked
/// deliveries are requeued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_acks_go_out_before_a_connection_close() {
    let admin = connect("acks-before-close-admin").await;
    let (ch, queue) = queue_with(&admin, "acks-before-close", 5).await;
    let conn = connect("acks-before-close").await;
    let (_consumer, deliveries) = consume_all(&conn, &queue, 5).await;
    for d in &deliveries[..3] {
        d.ack().await.unwrap();
    }
    conn.close().await.unwrap();
    wait_count(&ch, &queue, 2).await;
    wait_broker_counts(&queue, (2, 0)).await;
    delete(&ch, &queue).await;
}

/// Held acks go out before their channel's close.
#[tokio::test]
async fn held_acks_go_out_before_a_channel_close() {
    let conn = connect("acks-before-channel-close").await;
    let (ch, queue) = queue_with(&conn, "acks-before-channel-close", 5).await;
    let (consumer, deliveries) = consume_all(&conn, &queue, 5).await;
    deliveries[0].ack().await.unwrap();
    deliveries[2].ack_multiple().await.unwrap();
    consumer.channel().close().await.unwrap();
    wait_count(&ch, &queue, 2).await;
    wait_broker_counts(&queue, (2, 0)).await;
    delete(&ch, &queue).await;
}
