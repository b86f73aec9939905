//! Exchanges, queues and bindings through the AMQP client, against the
//! real RabbitMQ: every exchange type, exchange-to-exchange bindings,
//! headers routing, DLX with TTL, priority and quorum queues.

mod amqp_client_support;

use std::time::Duration;

use amqp_client_support::{connect, next, wait_count};
use mq_client::amqp::{
    BasicProperties, Channel, ConsumeOptions, Error, ExchangeKind, ExchangeOptions, FieldTable,
    QueueDeleteOptions, QueueOptions, ReplyCode,
};
use mq_tests::names;

async fn temp_queue(ch: &Channel) -> String {
    ch.queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap()
        .name()
        .to_owned()
}

async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8], props: BasicProperties) {
    ch.publish(exchange, key, body.to_vec(), props)
        .await
        .unwrap()
        .await
        .unwrap();
}

/// The bodies in a queue now, by basic.get.
async fn drain(ch: &Channel, queue: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(m) = ch.basic_get(queue, true).await.unwrap() {
        out.push(m.body().to_vec());
    }
    out
}

#[tokio::test]
async fn every_exchange_type_routes() {
    let conn = connect("topo-types").await;
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    let kinds = [
        ExchangeKind::Direct,
        ExchangeKind::Fanout,
        ExchangeKind::Topic,
        ExchangeKind::Headers,
    ];
    for kind in kinds {
        let x = names::exchange(kind.as_str());
        ch.exchange_declare(&x, kind.clone(), ExchangeOptions::default().auto_delete())
            .await
            .unwrap();
        let q = temp_queue(&ch).await;
        let (bind_key, args, hit, miss, hit_props) = match kind {
            ExchangeKind::Direct => (
                "k1",
                FieldTable::new(),
                "k1",
                Some("k2"),
                BasicProperties::default(),
            ),
            ExchangeKind::Fanout => (
                "",
                FieldTable::new(),
                "any",
                None,
                BasicProperties::default(),
            ),
            ExchangeKind::Topic => (
                "a.*.c",
                FieldTable::new(),
                "a.b.c",
                Some("a.b.d"),
                BasicProperties::default(),
            ),
            ExchangeKind::Headers => (
                "",
                FieldTable::builder()
                    .insert("x-match", "all")
                    .insert("type", "order")
                    .build(),
                "ignored",
                Some("ignored"),
                BasicProperties::default()
                    .with_headers(FieldTable::builder().insert("type", "order").build()),
            ),
            ExchangeKind::Custom(_) => unreachable!(),
        };
        ch.queue_bind(&q, &x, bind_key, args).await.unwrap();
        publish(&ch, &x, hit, b"hit", hit_props).await;
        if let Some(miss) = miss {
            let miss_props = match kind {
                ExchangeKind::Headers => BasicProperties::default()
                    .with_headers(FieldTable::builder().insert("type", "invoice").build()),
                _ => BasicProperties::default(),
            };
            publish(&ch, &x, miss, b"miss", miss_props).await;
        }
        wait_count(&ch, &q, 1).await;
        assert_eq!(drain(&ch, &q).await, vec![b"hit".to_vec()], "{kind:?}");
        ch.queue_delete(&q, QueueDeleteOptions::default())
            .await
            .unwrap();
        ch.exchange_delete(&x, false).await.unwrap();
    }
}

#[tokio::test]
async fn exchange_arguments_delete_and_passive() {
    let conn = connect("topo-exchange-args").await;
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    let alt = names::exchange("alt");
    let main = names::exchange("main");
    ch.exchange_declare(&alt, ExchangeKind::Fanout, ExchangeOptions::default())
        .await
        .unwrap();
    ch.exchange_declare(
        &main,
        ExchangeKind::Direct,
        ExchangeOptions::durable().alternate_exchange(&alt),
    )
    .await
    .unwrap();
    let q = temp_queue(&ch).await;
    ch.queue_bind(&q, &alt, "", FieldTable::new())
        .await
        .unwrap();
    publish(
        &ch,
        &main,
        "unrouted",
        b"to the alternate",
        BasicProperties::default(),
    )
    .await;
    wait_count(&ch, &q, 1).await;
    ch.exchange_declare(&main, ExchangeKind::Direct, ExchangeOptions::passive())
        .await
        .expect("it exists");
    ch.exchange_delete(&main, false).await.unwrap();
    ch.exchange_delete(&alt, false).await.unwrap();
    match ch
        .exchange_declare(&main, ExchangeKind::Direct, ExchangeOptions::passive())
        .await
    {
        Err(Error::ChannelClosed { code, .. }) => assert_eq!(code, ReplyCode::NOT_FOUND),
        other => panic!("deleted exchange: {other:?}"),
    }
}

#[tokio::test]
async fn exchange_to_exchange_bindings_route_and_unbind() {
    let conn = connect("topo-e2e").await;
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    let source = names::exchange("source");
    let dest = names::exchange("dest");
    ch.exchange_declare(&source, ExchangeKind::Topic, ExchangeOptions::default())
        .await
        .unwrap();
    ch.exchange_declare(&dest, ExchangeKind::Fanout, ExchangeOptions::default())
        .await
        .unwrap();
    ch.exchange_bind(&dest, &source, "order.#", FieldTable::new())
        .await
        .unwrap();
    let q = temp_queue(&ch).await;
    ch.queue_bind(&q, &dest, "", FieldTable::new())
        .await
        .unwrap();
    publish(
        &ch,
        &source,
        "order.created",
        b"through",
        BasicProperties::default(),
    )
    .await;
    publish(
        &ch,
        &source,
        "invoice.created",
        b"not routed",
        BasicProperties::default(),
    )
    .await;
    wait_count(&ch, &q, 1).await;
    assert_eq!(drain(&ch, &q).await, vec![b"through".to_vec()]);
    ch.exchange_unbind(&dest, &source, "order.#", FieldTable::new())
        .await
        .unwrap();
    publish(
        &ch,
        &source,
        "order.created",
        b"after unbind",
        BasicProperties::default(),
    )
    .await;
    // An unrouted marker proves the previous publish was handled.
    ch.queue_unbind(&q, &dest, "", FieldTable::new())
        .await
        .unwrap();
    assert!(drain(&ch, &q).await.is_empty());
    ch.exchange_delete(&source, false).await.unwrap();
    ch.exchange_delete(&dest, false).await.unwrap();
}

#[tokio::test]
async fn queues_named_and_server_named_bind_purge_delete() {
    let conn = connect("topo-queues").await;
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    let name = names::queue("named");
    let q = ch
        .queue_declare(&name, QueueOptions::durable())
        .await
        .unwrap();
    assert_eq!(q.name(), name);
    assert_eq!((q.message_count, q.consumer_count), (0, 0));
    let server_named = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    assert!(
        server_named.name().starts_with("amq.gen-"),
        "{}",
        server_named.name()
    );
    let x = names::exchange("queues");
    ch.exchange_declare(&x, ExchangeKind::Direct, ExchangeOptions::default())
        .await
        .unwrap();
    ch.queue_bind(&name, &x, "k", FieldTable::new())
        .await
        .unwrap();
    ch.queue_bind(server_named.name(), &x, "k", FieldTable::new())
        .await
        .unwrap();
    for _ in 0..3 {
        publish(&ch, &x, "k", b"m", BasicProperties::default()).await;
    }
    wait_count(&ch, &name, 3).await;
    wait_count(&ch, server_named.name(), 3).await;
    assert_eq!(ch.queue_purge(&name).await.unwrap(), 3);
    ch.queue_unbind(server_named.name(), &x, "k", FieldTable::new())
        .await
        .unwrap();
    publish(&ch, &x, "k", b"m", BasicProperties::default()).await;
    wait_count(&ch, &name, 1).await;
    wait_count(&ch, server_named.name(), 3).await;
    assert_eq!(
        ch.queue_delete(server_named.name(), QueueDeleteOptions::default())
            .await
            .unwrap(),
        3
    );
    // if_empty refuses to delete a queue with messages (406).
    let guarded = conn.open_channel().await.unwrap();
    match guarded
        .queue_delete(
            &name,
            QueueDeleteOptions {
                if_empty: true,
                if_unused: false,
            },
        )
        .await
    {
        Err(Error::ChannelClosed { code, .. }) => assert_eq!(code, ReplyCode::PRECONDITION_FAILED),
        other => panic!("if_empty on a non-empty queue: {other:?}"),
    }
    assert_eq!(
        ch.queue_delete(&name, QueueDeleteOptions::default())
            .await
            .unwrap(),
        1
    );
    ch.exchange_delete(&x, false).await.unwrap();
}

#[tokio::test]
async fn dlx_and_ttl_dead_letter_expired_messages() {
    let conn = connect("topo-dlx").await;
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    let dlx = names::exchange("dlx");
    ch.exchange_declare(&dlx, ExchangeKind::Fanout, ExchangeOptions::default())
        .await
        .unwrap();
    let dlq = temp_queue(&ch).await;
    ch.queue_bind(&dlq, &dlx, "", FieldTable::new())
        .await
        .unwrap();
    let work = ch
        .queue_declare(
            "",
            QueueOptions::default()
                .exclusive()
                .message_ttl(50)
                .dead_letter_exchange(&dlx),
        )
        .await
        .unwrap();
    publish(&ch, "", work.name(), b"expires", BasicProperties::default()).await;
    let mut consumer = ch.consume(&dlq, ConsumeOptions::default()).await.unwrap();
    let d = next(&mut consumer).await;
    assert_eq!(d.body(), &b"expires"[..]);
    let headers = d.properties().headers.expect("x-death headers");
    let death = format!("{:?}", headers.get("x-death").expect("x-death"));
    assert!(death.contains("expired"), "{death}");
    d.ack().await.unwrap();
    ch.exchange_delete(&dlx, false).await.unwrap();
}

#[tokio::test]
async fn priority_queue_delivers_in_priority_order() {
    let conn = connect("topo-priority").await;
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive().max_priority(9))
        .await
        .unwrap();
    for p in [1u8, 5, 9, 3, 7] {
        publish(
            &ch,
            "",
            q.name(),
            &[p],
            BasicProperties::default().with_priority(p),
        )
        .await;
    }
    wait_count(&ch, q.name(), 5).await;
    let mut consumer = ch
        .consume(q.name(), ConsumeOptions::default().prefetch(1))
        .await
        .unwrap();
    let mut order = Vec::new();
    for _ in 0..5 {
        let d = next(&mut consumer).await;
        order.push(d.body()[0]);
        d.ack().await.unwrap();
    }
    assert_eq!(order, vec![9, 7, 5, 3, 1]);
}

#[tokio::test]
async fn quorum_queue_works() {
    let conn = connect("topo-quorum").await;
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    let name = names::queue("quorum");
    ch.queue_declare(&name, QueueOptions::default().quorum())
        .await
        .unwrap();
    for i in 0..10u8 {
        publish(
            &ch,
            "",
            &name,
            &[i],
            BasicProperties::default().persistent(),
        )
        .await;
    }
    let mut consumer = ch
        .consume(&name, ConsumeOptions::default().prefetch(5))
        .await
        .unwrap();
    let d = next(&mut consumer).await;
    assert_eq!(d.body(), &[0u8][..]);
    d.nack(true).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 10 {
        let d = next(&mut consumer).await;
        if d.body()[0] == 0 {
            assert!(d.redelivered());
            let count = d
                .properties()
                .headers
                .and_then(|h| h.get("x-delivery-count"))
                .and_then(|v| v.as_i64());
            assert_eq!(count, Some(1), "quorum queues count deliveries");
        }
        seen.push(d.body()[0]);
        d.ack().await.unwrap();
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<u8>>());
    drop(consumer);
    tokio::time::sleep(Duration::from_millis(50)).await;
    ch.queue_delete(&name, QueueDeleteOptions::default())
        .await
        .unwrap();
    ch.close().await.unwrap();
}
