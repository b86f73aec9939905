//! The test broker (feature `test-broker`) as users see it: the real
//! client against it, on ordinary and paused runtimes.

use std::time::Duration;

use mq_client::StreamExt;
use mq_client::amqp::test_broker::{BrokerEvent, TestBroker};
use mq_client::amqp::{
    BasicProperties, ConsumeOptions, Error, ExchangeKind, ExchangeOptions, FieldTable,
    PublishOptions, QueueDeleteOptions, QueueOptions,
};

#[tokio::test]
async fn get_reject_and_requeue() {
    let broker = TestBroker::new();
    let conn = broker.connect().await.unwrap();
    let ch = conn.open_channel().await.unwrap();
    ch.queue_declare("jobs", QueueOptions::default())
        .await
        .unwrap();
    ch.confirm_select().await.unwrap();
    for i in 0..3 {
        let body = format!("job {i}");
        ch.publish("", "jobs", body, BasicProperties::default())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    assert_eq!(broker.queue_len("jobs"), Some(3));

    let d = ch
        .basic_get("jobs", false)
        .await
        .unwrap()
        .expect("a message");
    assert_eq!(&d.body()[..], b"job 0");
    assert_eq!(d.message_count(), Some(2));
    assert!(!d.redelivered());
    d.reject(true).await.unwrap();
    let again = ch
        .basic_get("jobs", false)
        .await
        .unwrap()
        .expect("requeued");
    assert_eq!(&again.body()[..], b"job 0");
    assert!(again.redelivered());
    again.ack().await.unwrap();
    let d = ch
        .basic_get("jobs", true)
        .await
        .unwrap()
        .expect("no-ack get");
    assert_eq!(&d.body()[..], b"job 1");
    assert_eq!(broker.queue_bodies("jobs"), vec!["job 2"]);

    ch.queue_purge("jobs").await.unwrap();
    assert!(ch.basic_get("jobs", false).await.unwrap().is_none());
    conn.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn exchanges_route_and_unroutable_mandatory_publishes_come_back() {
    let broker = TestBroker::builder()
        .latency(Duration::from_millis(1), Duration::from_millis(20))
        .confirm_delay(Duration::ZERO, Duration::from_millis(10))
        .build();
    let conn = broker.connect().await.unwrap();
    let ch = conn.open_channel().await.unwrap();
    ch.exchange_declare("events", ExchangeKind::Topic, ExchangeOptions::durable())
        .await
        .unwrap();
    ch.exchange_declare("all", ExchangeKind::Fanout, ExchangeOptions::durable())
        .await
        .unwrap();
    for q in ["eu", "us", "audit"] {
        ch.queue_declare(q, QueueOptions::durable()).await.unwrap();
    }
    let none = FieldTable::new();
    ch.queue_bind("eu", "events", "order.*.eu", none.clone())
        .await
        .unwrap();
    ch.queue_bind("us", "events", "order.#", none.clone())
        .await
        .unwrap();
    ch.queue_bind("audit", "all", "", none.clone())
        .await
        .unwrap();
    ch.queue_bind("eu", "amq.direct", "eu", none).await.unwrap();
    ch.confirm_select().await.unwrap();

    let send = |x: &'static str, key: &'static str| {
        let ch = ch.clone();
        async move {
            ch.publish_with(
                x,
                key,
                &b"x"[..],
                BasicProperties::default(),
                PublishOptions::mandatory(),
            )
            .await?
            .await
        }
    };
    send("events", "order.created.eu").await.unwrap();
    send("events", "order.paid").await.unwrap();
    send("all", "whatever").await.unwrap();
    send("amq.direct", "eu").await.unwrap();
    match send("events", "invoice.sent").await {
        Err(Error::Returned { .. }) => {}
        other => panic!("an unroutable mandatory publish came back as {other:?}"),
    }
    assert_eq!(broker.queue_len("eu"), Some(2));
    assert_eq!(broker.queue_len("us"), Some(2));
    assert_eq!(broker.queue_len("audit"), Some(1));

    // A publish to an exchange that does not exist closes the channel.
    let r = ch
        .publish("nope", "k", &b"x"[..], BasicProperties::default())
        .await
        .unwrap()
        .await;
    assert!(r.is_err(), "{r:?}");
    conn.close().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn prefetch_bounds_deliveries_and_deleting_a_queue_cancels_its_consumer() {
    let broker = TestBroker::builder().record_events(true).build();
    let conn = broker.connect().await.unwrap();
    let ch = conn.open_channel().await.unwrap();
    ch.queue_declare("work", QueueOptions::default())
        .await
        .unwrap();
    for i in 0..10 {
        // Not in confirm mode: the confirm is ready at once.
        ch.publish("", "work", format!("{i}"), BasicProperties::default())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let consumer_ch = conn.open_channel().await.unwrap();
    let mut c = consumer_ch
        .consume("work", ConsumeOptions::default().prefetch(3))
        .await
        .unwrap();
    let first = c.next().await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(broker.unacked(), 3, "prefetch 3: three out, the rest wait");
    assert_eq!(broker.queue_len("work"), Some(7));
    first.ack().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(broker.queue_len("work"), Some(6));

    ch.queue_delete("work", QueueDeleteOptions::default())
        .await
        .unwrap();
    let mut ended = false;
    while let Some(item) = c.next().await {
        if let Err(e) = item {
            assert!(matches!(e, Error::ConsumerCancelled { .. }), "{e}");
            ended = true;
        }
    }
    assert!(ended, "the consumer's stream ends with the cancel");
    assert!(broker.queue_names().is_empty());
    conn.close().await.unwrap();
    let acked = broker
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, BrokerEvent::Acked { .. }))
        .count();
    assert_eq!(acked, 1);
}

#[tokio::test(start_paused = true)]
async fn a_restart_keeps_confirmed_messages_in_durable_queues_and_recovery_reconnects() {
    let broker = TestBroker::builder()
        .confirm_delay(Duration::from_millis(5), Duration::from_millis(5))
        .build();
    let conn = broker.connect().await.unwrap();
    let ch = conn.open_channel().await.unwrap();
    ch.queue_declare("kept", QueueOptions::durable())
        .await
        .unwrap();
    ch.queue_declare("gone", QueueOptions::default())
        .await
        .unwrap();
    ch.confirm_select().await.unwrap();
    ch.publish("", "kept", &b"confirmed"[..], BasicProperties::default())
        .await
        .unwrap()
        .await
        .unwrap();
    ch.publish("", "gone", &b"confirmed"[..], BasicProperties::default())
        .await
        .unwrap()
        .await
        .unwrap();
    // Not confirmed yet when the broker restarts: lost.
    let pending = ch
        .publish("", "kept", &b"unconfirmed"[..], BasicProperties::default())
        .await
        .unwrap();
    tokio::task::yield_now().await;
    broker.restart(Duration::from_millis(300));
    assert!(matches!(pending.await, Err(Error::ConfirmLost)));
    assert_eq!(broker.queue_bodies("kept"), vec!["confirmed"]);

    // Recovery reconnects once the broker is back, and re-declares the
    // non-durable queue, empty.
    let mut waited = 0;
    while !(conn.is_connected() && broker.queue_len("gone") == Some(0)) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
        assert!(waited < 200, "recovered within 10 s");
    }
    ch.publish("", "kept", &b"after"[..], BasicProperties::default())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(broker.queue_bodies("kept"), vec!["confirmed", "after"]);
    conn.close().await.unwrap();
}

#[tokio::test]
async fn an_unknown_address_is_refused_and_a_dropped_broker_is_unreachable() {
    let broker = TestBroker::new();
    let uri = broker.uri();
    drop(broker);
    let r = mq_client::amqp::Connection::builder()
        .uri(uri)
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await;
    assert!(matches!(r, Err(Error::Connect { .. })), "{r:?}");
}
