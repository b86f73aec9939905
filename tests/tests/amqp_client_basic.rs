//! The AMQP client against the real RabbitMQ: publish, confirms, returns,
//! nacks, consume, get, acks, qos, cancel, recover, tx, channel close.

mod amqp_client_support;

use std::time::Duration;

use amqp_client_support::{connect, next, wait_count};
use futures_util::StreamExt;
use mq_client::amqp::{
    BasicProperties, ConsumeOptions, Error, ExchangeKind, ExchangeOptions, FieldTable,
    PublishOptions, QueueOptions, ReplyCode,
};
use mq_tests::names;

#[tokio::test]
async fn publish_with_confirm_then_consume_and_ack() {
    let conn = connect("basic-roundtrip").await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    ch.confirm_select().await.unwrap();
    assert!(ch.is_confirm_mode());
    let props = BasicProperties::default()
        .persistent()
        .with_content_type("text/plain")
        .with_headers(FieldTable::builder().insert("k", "v").build());
    let confirm = ch
        .publish("", q.name(), &b"hello"[..], props.clone())
        .await
        .unwrap();
    confirm.await.expect("acked");
    let mut consumer = ch
        .consume(q.name(), ConsumeOptions::default().prefetch(10))
        .await
        .unwrap();
    let d = next(&mut consumer).await;
    assert_eq!(d.body(), &b"hello"[..]);
    assert_eq!(d.properties(), props);
    assert!(!d.redelivered());
    assert_eq!(d.routing_key(), q.name());
    assert_eq!(d.exchange(), "");
    assert_eq!(d.consumer_tag().unwrap(), consumer.tag());
    d.ack().await.unwrap();
    // A second ack of the same delivery is not sent (it would close the channel).
    d.ack().await.unwrap();
    ch.queue_declare(q.name(), QueueOptions::passive())
        .await
        .expect("the channel is still open");
    conn.close().await.unwrap();
    assert!(conn.is_closed());
    assert!(matches!(
        ch.queue_declare("", QueueOptions::default()).await,
        Err(Error::ConnectionClosed { .. }) | Err(Error::ChannelClosed { .. })
    ));
}

#[tokio::test]
async fn publish_without_confirms_is_ready_at_once() {
    let conn = connect("basic-no-confirm").await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    for i in 0..10u8 {
        ch.publish("", q.name(), vec![i], BasicProperties::default())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let mut consumer = ch
        .consume(q.name(), ConsumeOptions::default())
        .await
        .unwrap();
    for i in 0..10u8 {
        let d = next(&mut consumer).await;
        assert_eq!(d.body(), &[i][..], "in publish order");
        d.ack().await.unwrap();
    }
}

#[tokio::test]
async fn unroutable_mandatory_publish_resolves_as_returned() {
    let conn = connect("basic-returned").await;
    let ch = conn.open_channel().await.unwrap();
    let x = names::exchange("returned");
    ch.exchange_declare(
        &x,
        ExchangeKind::Direct,
        ExchangeOptions::default().auto_delete(),
    )
    .await
    .unwrap();
    ch.confirm_select().await.unwrap();
    let confirm = ch
        .publish_with(
            &x,
            "nowhere",
            &b"lost"[..],
            BasicProperties::default().with_message_id("m1"),
            PublishOptions::mandatory(),
        )
        .await
        .unwrap();
    match confirm.await {
        Err(Error::Returned {
            code,
            text,
            message,
        }) => {
            assert_eq!(code, ReplyCode::NO_ROUTE);
            assert_eq!(text, "NO_ROUTE");
            assert_eq!(message.body(), &b"lost"[..]);
            assert_eq!(message.routing_key(), "nowhere");
            assert_eq!(
                message.properties().message_id.unwrap(),
                "m1",
                "the returned message keeps its properties"
            );
        }
        other => panic!("expected Returned, got {other:?}"),
    }
    // A routable mandatory publish and a non-mandatory unroutable one ack.
    ch.publish(&x, "nowhere", &b"dropped"[..], BasicProperties::default())
        .await
        .unwrap()
        .await
        .expect("not mandatory: acked");
    ch.exchange_delete(&x, false).await.unwrap();
}

#[tokio::test]
async fn a_full_reject_publish_queue_nacks() {
    let conn = connect("basic-nack").await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare(
            "",
            QueueOptions::default()
                .exclusive()
                .max_length(1)
                .argument("x-overflow", "reject-publish"),
        )
        .await
        .unwrap();
    ch.confirm_select().await.unwrap();
    let first = ch
        .publish("", q.name(), &b"1"[..], BasicProperties::default())
        .await
        .unwrap();
    let second = ch
        .publish("", q.name(), &b"2"[..], BasicProperties::default())
        .await
        .unwrap();
    first.await.expect("the first fits");
    assert!(matches!(second.await, Err(Error::Nacked)));
    assert!(Error::Nacked.is_retriable());
}

#[tokio::test]
async fn basic_get_empty_then_a_message() {
    let conn = connect("basic-get").await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    assert!(ch.basic_get(q.name(), false).await.unwrap().is_none());
    ch.confirm_select().await.unwrap();
    for body in [&b"a"[..], &b"b"[..]] {
        ch.publish("", q.name(), body, BasicProperties::default())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let m = ch
        .basic_get(q.name(), false)
        .await
        .unwrap()
        .expect("a message");
    assert_eq!(m.body(), &b"a"[..]);
    assert_eq!(m.message_count(), Some(1));
    assert!(m.consumer_tag().is_none());
    m.ack().await.unwrap();
    let m = ch.basic_get(q.name(), true).await.unwrap().expect("b");
    assert_eq!(m.body(), &b"b"[..]);
    assert!(
        matches!(m.ack().await, Err(Error::Usage(_))),
        "no-ack gets need no ack"
    );
    assert!(ch.basic_get(q.name(), false).await.unwrap().is_none());
    // The manual ack of "a" took effect: closing the channel requeues nothing.
    ch.close().await.unwrap();
    let other = conn.open_channel().await.unwrap();
    wait_count(&other, q.name(), 0).await;
}

async fn fill(ch: &mq_client::amqp::Channel, queue: &str, n: u32) {
    ch.confirm_select().await.unwrap();
    let mut confirms = Vec::new();
    for i in 0..n {
        confirms.push(
            ch.publish(
                "",
                queue,
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
}

#[tokio::test]
async fn prefetch_limits_unacked_deliveries() {
    let conn = connect("basic-qos").await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    fill(&ch, q.name(), 20).await;
    let mut consumer = ch
        .consume(q.name(), ConsumeOptions::default().prefetch(5))
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(next(&mut consumer).await);
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), consumer.next())
            .await
            .is_err(),
        "no sixth delivery while five are unacked"
    );
    got[0].ack().await.unwrap();
    let sixth = next(&mut consumer).await;
    assert_eq!(sixth.body(), &5u32.to_be_bytes()[..]);
    // Channel-wide QoS through basic_qos.
    let ch2 = conn.open_channel().await.unwrap();
    ch2.basic_qos(2, true).await.unwrap();
}

#[tokio::test]
async fn cancel_ends_the_stream_and_requeues() {
    let conn = connect("basic-cancel").await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    fill(&ch, q.name(), 3).await;
    let mut consumer = ch
        .consume(
            q.name(),
            ConsumeOptions::default().tag("my-tag").prefetch(10),
        )
        .await
        .unwrap();
    assert_eq!(consumer.tag(), "my-tag");
    let d = next(&mut consumer).await;
    consumer.cancel().await.unwrap();
    assert!(
        matches!(d.ack().await, Err(Error::StaleDelivery)),
        "a cancelled consumer's deliveries went back to the queue"
    );
    // Everything is back in the queue.
    wait_count(&ch, q.name(), 3).await;
    // Cancel by tag through the channel: the stream ends without an error.
    let mut c2 = ch
        .consume(q.name(), ConsumeOptions::default().tag("tag-2"))
        .await
        .unwrap();
    let _ = next(&mut c2).await;
    ch.basic_cancel("tag-2").await.unwrap();
    let mut rest = 0;
    while let Some(item) = tokio::time::timeout(Duration::from_secs(5), c2.next())
        .await
        .unwrap()
    {
        item.expect("no error after a cancel");
        rest += 1;
    }
    assert!(rest <= 2);
}

#[tokio::test]
async fn server_cancel_ends_the_stream_with_its_reason() {
    let conn = connect("basic-server-cancel").await;
    let ch = conn.open_channel().await.unwrap();
    let name = names::queue("server-cancel");
    ch.queue_declare(&name, QueueOptions::default().auto_delete())
        .await
        .unwrap();
    let mut consumer = ch.consume(&name, ConsumeOptions::default()).await.unwrap();
    let other = conn.open_channel().await.unwrap();
    other.queue_delete(&name, Default::default()).await.unwrap();
    let item = tokio::time::timeout(Duration::from_secs(5), consumer.next())
        .await
        .unwrap()
        .expect("an item");
    match item {
        Err(Error::ConsumerCancelled { consumer_tag }) => assert_eq!(consumer_tag, consumer.tag()),
        other => panic!("expected ConsumerCancelled, got {other:?}"),
    }
    assert!(consumer.next().await.is_none(), "then the stream ends");
    assert!(ch.is_open(), "the channel stays open");
}

#[tokio::test]
async fn nack_requeue_reject_and_recover_redeliver() {
    let conn = connect("basic-nack-recover").await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    fill(&ch, q.name(), 2).await;
    let mut consumer = ch
        .consume(q.name(), ConsumeOptions::default().prefetch(1))
        .await
        .unwrap();
    let d = next(&mut consumer).await;
    assert!(!d.redelivered());
    d.nack(true).await.unwrap();
    let d = next(&mut consumer).await;
    assert!(d.redelivered(), "nack(requeue) redelivers");
    assert_eq!(d.body(), &0u32.to_be_bytes()[..]);
    d.reject(false).await.unwrap();
    let d = next(&mut consumer).await;
    assert_eq!(d.body(), &1u32.to_be_bytes()[..]);
    // basic.recover redelivers what is unacked on the channel.
    ch.basic_recover(true).await.unwrap();
    let again = next(&mut consumer).await;
    assert!(again.redelivered());
    assert_eq!(again.body(), &1u32.to_be_bytes()[..]);
    again.ack().await.unwrap();
    // Rejected without requeue: gone.
    wait_count(&ch, q.name(), 0).await;
}

#[tokio::test]
async fn tx_commit_and_rollback() {
    let conn = connect("basic-tx").await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    ch.tx_select().await.unwrap();
    ch.publish(
        "",
        q.name(),
        &b"rolled back"[..],
        BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    ch.tx_rollback().await.unwrap();
    for _ in 0..3 {
        ch.publish("", q.name(), &b"committed"[..], BasicProperties::default())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    ch.tx_commit().await.unwrap();
    wait_count(&ch, q.name(), 3).await;
    let first = ch.basic_get(q.name(), true).await.unwrap().unwrap();
    assert_eq!(
        first.body(),
        &b"committed"[..],
        "the rolled-back publish is gone"
    );
}

#[tokio::test]
async fn channel_errors_close_only_that_channel() {
    let conn = connect("basic-channel-error").await;
    let ch = conn.open_channel().await.unwrap();
    let missing = names::queue("missing");
    match ch.queue_declare(&missing, QueueOptions::passive()).await {
        Err(Error::ChannelClosed { code, text }) => {
            assert_eq!(code, ReplyCode::NOT_FOUND);
            assert!(text.contains(&missing), "{text}");
        }
        other => panic!("expected a 404 channel close, got {other:?}"),
    }
    assert!(!ch.is_open());
    assert!(matches!(
        ch.publish("", "x", &b""[..], BasicProperties::default())
            .await,
        Err(Error::ChannelClosed { .. })
    ));
    let ch2 = conn.open_channel().await.unwrap();
    ch2.queue_declare("", QueueOptions::default().exclusive())
        .await
        .expect("other channels work");
    ch2.close().await.unwrap();
    assert!(!ch2.is_open());
    assert!(matches!(
        ch2.queue_declare("", QueueOptions::default()).await,
        Err(Error::ChannelClosed {
            code: ReplyCode::SUCCESS,
            ..
        })
    ));
}

#[tokio::test]
async fn graceful_close_waits_for_outstanding_confirms() {
    let conn = connect("basic-graceful-close").await;
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    ch.confirm_select().await.unwrap();
    let mut confirms = Vec::new();
    for i in 0..2000u32 {
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
    let mut consumer = ch
        .consume(q.name(), ConsumeOptions::default())
        .await
        .unwrap();
    conn.close().await.unwrap();
    for c in confirms {
        c.await.expect("every confirm resolved before the close");
    }
    // The consumer's stream ends cleanly after a graceful close.
    let mut n = 0;
    while let Some(d) = consumer.next().await {
        d.expect("no error on a graceful close");
        n += 1;
    }
    assert!(n <= 2000);
}

#[tokio::test]
async fn dropping_every_handle_closes_the_connection_gracefully() {
    let name = names::unique("basic-drop-all");
    let conn = mq_client::amqp::Connection::builder()
        .uri(mq_tests::endpoints::amqp_url())
        .name(&name)
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
    // Published and not awaited: the graceful close still sends it.
    let confirm = ch
        .publish("", q.name(), &b"last words"[..], BasicProperties::default())
        .await
        .unwrap();
    drop((conn, ch));
    confirm.await.expect("confirmed during the graceful close");
    let ev = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("the connection closes");
    assert!(
        matches!(ev, Some(mq_client::amqp::ConnectionEvent::Closed)),
        "{ev:?}"
    );
}
