//! The AMQP client against the real RabbitMQ: publish, confirms, returns,
//! nacks, consume, get, acks, qos, cancel, recover, tx, close.

mod amqp_client_support;

use std::time::Duration;

use amqp_client_support::{connect, next};
use futures_util::StreamExt;
use mq_client::amqp::{
    ConsumeOptions, Error, ExchangeKind, ExchangeOptions, FieldTable, Properties, PublishOptions,
    QueueOptions, ReplyCode,
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
    let props = Properties::default()
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
}
