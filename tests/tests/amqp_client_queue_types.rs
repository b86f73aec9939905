//! RabbitMQ's queue types through the typed options, against the real
//! broker: a quorum queue's delivery limit dead-letters a poison message
//! (at-least-once dead-lettering), consumer priorities, and streams read
//! from each kind of `x-stream-offset`, with retention arguments.

mod amqp_client_support;

use std::time::{Duration, SystemTime};

use amqp_client_support::{connect, next};
use futures_util::StreamExt;
use mq_client::amqp::{
    BasicProperties, Channel, ConsumeOptions, Consumer, DeadLetterStrategy, ExchangeKind,
    ExchangeOptions, FieldTable, FieldValue, QueueDeleteOptions, QueueOptions, StreamOffset,
};
use mq_tests::names;

fn header(props: &BasicProperties, name: &str) -> Option<FieldValue> {
    props.headers.as_ref()?.get(name)
}

async fn publish_confirmed(ch: &Channel, queue: &str, bodies: impl IntoIterator<Item = String>) {
    let mut confirms = Vec::new();
    for b in bodies {
        confirms.push(
            ch.publish("", queue, b.into_bytes(), BasicProperties::default())
                .await
                .expect("publish"),
        );
    }
    for c in confirms {
        c.await.expect("confirmed");
    }
}

/// The bodies of the next `n` deliveries, acked.
async fn take(consumer: &mut Consumer, n: usize) -> Vec<String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let d = next(consumer).await;
        out.push(String::from_utf8(d.body().to_vec()).expect("utf8"));
        d.ack().await.expect("ack");
    }
    out
}

/// No delivery arrives within `wait`.
async fn quiet(consumer: &mut Consumer, wait: Duration) {
    if let Ok(d) = tokio::time::timeout(wait, consumer.next()).await {
        panic!("expected nothing, got {d:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_delivery_limit_dead_letters_the_poison_message_at_least_once() {
    let conn = connect("queue-types-quorum").await;
    let ch = conn.open_channel().await.expect("channel");
    ch.confirm_select().await.expect("confirms");
    let dlx = names::exchange("qq-dlx");
    let dead = names::queue("qq-dead");
    let queue = names::queue("qq-limit");
    ch.exchange_declare(&dlx, ExchangeKind::Fanout, ExchangeOptions::durable())
        .await
        .expect("dlx");
    ch.queue_declare(&dead, QueueOptions::durable().quorum())
        .await
        .expect("dead-letter queue");
    ch.queue_bind(&dead, &dlx, "", FieldTable::new())
        .await
        .expect("bind");
    ch.queue_declare(
        &queue,
        QueueOptions::durable()
            .quorum()
            .delivery_limit(2)
            .dead_letter_exchange(&dlx)
            .dead_letter_strategy(DeadLetterStrategy::AtLeastOnce),
    )
    .await
    .expect("quorum queue with a delivery limit");
    publish_confirmed(&ch, &queue, ["poison".to_owned(), "fine".to_owned()]).await;

    let mut consumer = ch
        .consume(&queue, ConsumeOptions::default().prefetch(10))
        .await
        .expect("consume");
    let mut poison_deliveries = 0;
    let mut counts = Vec::new();
    let mut fine = 0;
    // The poison message is nacked with requeue each time, until the limit
    // takes it out of the queue; the other is processed.
    while poison_deliveries < 3 || fine == 0 {
        let d = match tokio::time::timeout(Duration::from_secs(3), consumer.next()).await {
            Ok(Some(Ok(d))) => d,
            Ok(other) => panic!("consumer: {other:?}"),
            Err(_) => break, // nothing more: the poison message is gone
        };
        if d.body_ref() == b"poison" {
            poison_deliveries += 1;
            counts.push(header(&d.properties(), "x-delivery-count").and_then(|v| v.as_i64()));
            d.nack(true).await.expect("nack");
        } else {
            fine += 1;
            d.ack().await.expect("ack");
        }
    }
    assert_eq!(fine, 1);
    // First delivery, then redeliveries counted 1 and 2; a limit of 2 lets
    // the message be delivered three times.
    assert_eq!(poison_deliveries, 3, "delivery counts seen: {counts:?}");
    assert_eq!(counts, vec![None, Some(1), Some(2)]);

    let mut dead_consumer = ch
        .consume(&dead, ConsumeOptions::default())
        .await
        .expect("consume dead letters");
    let d = next(&mut dead_consumer).await;
    assert_eq!(d.body_ref(), b"poison");
    let props = d.properties();
    let reason = header(&props, "x-first-death-reason");
    assert_eq!(
        reason,
        Some(FieldValue::from("delivery_limit")),
        "{props:?}"
    );
    d.ack().await.expect("ack");
    quiet(&mut dead_consumer, Duration::from_millis(500)).await;

    drop((consumer, dead_consumer));
    for q in [&queue, &dead] {
        ch.queue_delete(q, QueueDeleteOptions::default())
            .await
            .expect("delete");
    }
    ch.exchange_delete(&dlx, false).await.expect("delete dlx");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_higher_priority_consumer_gets_the_messages_while_it_has_room() {
    const N: usize = 50;
    let conn = connect("queue-types-priority").await;
    let ch = conn.open_channel().await.expect("channel");
    ch.confirm_select().await.expect("confirms");
    let queue = names::queue("consumer-priority");
    ch.queue_declare(&queue, QueueOptions::durable().quorum())
        .await
        .expect("queue");
    let low_ch = conn.open_channel().await.expect("channel");
    let high_ch = conn.open_channel().await.expect("channel");
    let mut low = low_ch
        .consume(&queue, ConsumeOptions::default().prefetch(100).priority(-1))
        .await
        .expect("low");
    let mut high = high_ch
        .consume(&queue, ConsumeOptions::default().prefetch(100).priority(10))
        .await
        .expect("high");
    publish_confirmed(&ch, &queue, (0..N).map(|i| format!("m{i}"))).await;
    let got = take(&mut high, N).await;
    assert_eq!(got.len(), N);
    quiet(&mut low, Duration::from_millis(500)).await;
    drop((low, high));
    ch.queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .expect("delete");
}

/// A consumer of `stream` from `offset`, on a channel of its own.
async fn stream_consumer(ch: &Channel, stream: &str, offset: StreamOffset) -> Consumer {
    ch.consume(
        stream,
        ConsumeOptions::default()
            .prefetch(500)
            .stream_offset(offset),
    )
    .await
    .expect("consume the stream")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_read_from_each_kind_of_offset() {
    const N: usize = 100;
    let conn = connect("queue-types-stream").await;
    let ch = conn.open_channel().await.expect("channel");
    ch.confirm_select().await.expect("confirms");
    let stream = names::queue("stream");
    ch.queue_declare(
        &stream,
        QueueOptions::default()
            .stream()
            .max_age(Duration::from_secs(3600))
            .max_length_bytes(64 << 20)
            .stream_max_segment_size_bytes(1 << 20),
    )
    .await
    .expect("declare stream");
    publish_confirmed(&ch, &stream, (0..N).map(|i| format!("m{i}"))).await;
    let all: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();

    // first: everything, in order, each with its offset.
    let c1 = conn.open_channel().await.expect("channel");
    let mut first = stream_consumer(&c1, &stream, StreamOffset::First).await;
    let mut offsets = Vec::new();
    for (i, want) in all.iter().enumerate() {
        let d = next(&mut first).await;
        assert_eq!(d.body_ref(), want.as_bytes(), "message {i}");
        offsets.push(
            header(&d.properties(), "x-stream-offset")
                .and_then(|v| v.as_i64())
                .expect("x-stream-offset"),
        );
        d.ack().await.expect("ack");
    }
    assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1), "{offsets:?}");

    // offset: from message 50 on.
    let c2 = conn.open_channel().await.expect("channel");
    let at = u64::try_from(offsets[50]).expect("offset");
    let mut from_50 = stream_consumer(&c2, &stream, StreamOffset::Offset(at)).await;
    assert_eq!(take(&mut from_50, N - 50).await, all[50..].to_vec());

    // interval and timestamp: written within the last hour, and since a
    // time before the first publish.
    let c3 = conn.open_channel().await.expect("channel");
    let mut hour = stream_consumer(&c3, &stream, StreamOffset::Interval("1h".into())).await;
    assert_eq!(take(&mut hour, N).await, all);
    let c4 = conn.open_channel().await.expect("channel");
    let since = SystemTime::now() - Duration::from_secs(600);
    let mut ts = stream_consumer(&c4, &stream, StreamOffset::Timestamp(since)).await;
    assert_eq!(take(&mut ts, N).await, all);

    // last: the last chunk, which ends with the last message.
    let c5 = conn.open_channel().await.expect("channel");
    let mut last = stream_consumer(&c5, &stream, StreamOffset::Last).await;
    let mut tail = Vec::new();
    while tail.last() != Some(&all[N - 1]) {
        tail.extend(take(&mut last, 1).await);
        assert!(tail.len() <= N);
    }
    assert!(all.ends_with(&tail), "{tail:?}");

    // next: only what is written after it starts.
    let c6 = conn.open_channel().await.expect("channel");
    let mut next_only = stream_consumer(&c6, &stream, StreamOffset::Next).await;
    quiet(&mut next_only, Duration::from_millis(500)).await;
    publish_confirmed(&ch, &stream, ["later".to_owned()]).await;
    assert_eq!(take(&mut next_only, 1).await, vec!["later".to_owned()]);

    // The consumers before `next_only` each hold "later", unacked. Dropped,
    // they give it back. A stream takes no reject: one racing the delete
    // below made RabbitMQ close this connection (540) in 2 of 7 runs
    // before the client acked them instead.
    drop((first, from_50, hour, ts, last, next_only));
    ch.queue_delete(&stream, QueueDeleteOptions::default())
        .await
        .expect("delete on the same connection");
    let after = conn.open_channel().await.expect("the connection is open");
    after.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_delivery_refuses_nack_and_a_dropped_stream_consumer_keeps_its_connection() {
    const N: usize = 20;
    let writer = connect("queue-types-stream-writer").await;
    let wch = writer.open_channel().await.expect("channel");
    wch.confirm_select().await.expect("confirms");
    let stream = names::queue("stream-drop");
    wch.queue_declare(&stream, QueueOptions::default().stream())
        .await
        .expect("declare stream");

    // A reader on a connection that did not declare the stream, without an
    // x-stream-offset argument (it starts at `next`): the client learns it
    // reads a stream from the first delivery's offset header.
    let reader = connect("queue-types-stream-reader").await;
    let rch = reader.open_channel().await.expect("channel");
    let mut consumer = rch
        .consume(&stream, ConsumeOptions::default().prefetch(100))
        .await
        .expect("consume");
    quiet(&mut consumer, Duration::from_millis(300)).await;
    publish_confirmed(&wch, &stream, (0..N).map(|i| format!("s{i}"))).await;
    let mut held = Vec::new();
    for i in 0..N {
        let d = next(&mut consumer).await;
        assert_eq!(d.body_ref(), format!("s{i}").as_bytes());
        held.push(d);
    }
    for nack in [held[0].nack(true).await, held[1].reject(false).await] {
        match nack {
            Err(mq_client::amqp::Error::Usage(why)) => assert!(why.contains("stream"), "{why}"),
            other => panic!("a nack on a stream delivery: {other:?}"),
        }
    }
    held[2].ack().await.expect("an ack is fine");
    // Dropped with 19 deliveries unsettled: they are acked, not rejected.
    drop(consumer);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let check = names::queue("stream-drop-check");
    rch.queue_declare(&check, QueueOptions::default())
        .await
        .expect("the reader's connection is open");
    rch.queue_delete(&check, QueueDeleteOptions::default())
        .await
        .expect("delete");
    assert!(matches!(
        held[3].ack().await,
        Err(mq_client::amqp::Error::StaleDelivery)
    ));

    // The stream still has every message.
    let again = reader.open_channel().await.expect("channel");
    let mut all = stream_consumer(&again, &stream, StreamOffset::First).await;
    let want: Vec<String> = (0..N).map(|i| format!("s{i}")).collect();
    assert_eq!(take(&mut all, N).await, want);
    drop(all);
    wch.queue_delete(&stream, QueueDeleteOptions::default())
        .await
        .expect("delete");
}
