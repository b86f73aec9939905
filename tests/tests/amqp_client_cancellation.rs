//! Cancellation safety and timeouts: dropped or timed-out calls leave the
//! channel consistent, and the default operation timeout applies to every
//! request. Latency and stalls come from the fault proxy.

mod amqp_client_support;

use std::time::{Duration, Instant};

use amqp_client_support::{connect, next, proxy_uri, wait_count};
use mq_client::amqp::{BasicProperties, Connection, ConsumeOptions, Error, QueueOptions};
use mq_tests::proxy::FaultProxy;
use mq_tests::{endpoints, names};

async fn through_proxy(proxy: &FaultProxy, name: &str, op_timeout: Duration) -> Connection {
    Connection::builder()
        .uri(proxy_uri(proxy.addr(), ""))
        .name(name)
        .operation_timeout(op_timeout)
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn timed_out_and_dropped_calls_leave_the_channel_consistent() {
    let proxy = FaultProxy::start(endpoints::amqp_addr()).await.unwrap();
    let conn = through_proxy(&proxy, "cancel-drop", Duration::from_secs(10)).await;
    let ch = conn.open_channel().await.unwrap();
    proxy.set_latency(Duration::from_millis(100));
    let a = names::queue("cancel-a");
    let b = names::queue("cancel-b");
    // Times out long before the reply; the declare still happens.
    let r = tokio::time::timeout(
        Duration::from_millis(20),
        ch.queue_declare(&a, QueueOptions::default()),
    )
    .await;
    assert!(r.is_err(), "timed out");
    // The next request gets its own reply, not the abandoned one's.
    let qb = ch
        .queue_declare(&b, QueueOptions::default().auto_delete())
        .await
        .unwrap();
    assert_eq!(qb.name(), b);
    let qa = ch.queue_declare(&a, QueueOptions::passive()).await.unwrap();
    assert_eq!(qa.name(), a, "the abandoned declare completed");

    // A dropped consume: the driver cancels the orphan consumer, and its
    // messages stay for the next one.
    ch.confirm_select().await.unwrap();
    for i in 0..5u8 {
        ch.publish("", &a, vec![i], BasicProperties::default())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let r = tokio::time::timeout(
        Duration::from_millis(20),
        ch.consume(&a, ConsumeOptions::default()),
    )
    .await;
    assert!(r.is_err());
    // A dropped publish future after it was queued still publishes.
    let publish = ch.publish("", &a, vec![5u8], BasicProperties::default());
    let confirm = publish.await.unwrap();
    drop(confirm);
    proxy.set_latency(Duration::ZERO);
    let direct = connect("cancel-check").await;
    let check = direct.open_channel().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let q = check
            .queue_declare(&a, QueueOptions::passive())
            .await
            .unwrap();
        if q.consumer_count == 0 && q.message_count == 6 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "orphan consumer still there: {q:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut consumer = ch.consume(&a, ConsumeOptions::default()).await.unwrap();
    let mut bodies = Vec::new();
    for _ in 0..6 {
        let d = next(&mut consumer).await;
        bodies.push(d.body()[0]);
        d.ack().await.unwrap();
    }
    bodies.sort_unstable();
    assert_eq!(bodies, vec![0, 1, 2, 3, 4, 5], "nothing lost or stolen");
    check.queue_delete(&a, Default::default()).await.unwrap();
}

#[tokio::test]
async fn the_operation_timeout_applies_to_requests() {
    let proxy = FaultProxy::start(endpoints::amqp_addr()).await.unwrap();
    let conn = through_proxy(&proxy, "cancel-optimeout", Duration::from_millis(400)).await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    proxy.stall(true);
    let started = Instant::now();
    match ch.queue_purge(q.name()).await {
        Err(e @ Error::Timeout { .. }) => {
            assert!(e.is_retriable());
            assert!(matches!(
                e,
                Error::Timeout {
                    operation: "queue.purge",
                    ..
                }
            ));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(matches!(
        conn.open_channel().await,
        Err(Error::Timeout {
            operation: "channel.open",
            ..
        })
    ));
    proxy.stall(false);
    // The stalled requests complete in the driver; later ones get their own replies.
    let other = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    assert_ne!(other.name(), q.name());
    wait_count(&ch, q.name(), 0).await;
}
