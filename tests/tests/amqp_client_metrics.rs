//! Connection metrics against the real RabbitMQ: N messages published
//! with confirms and consumed make the snapshot count N publishes, N acked
//! confirms and N deliveries; a nack'd publish (a full queue that rejects
//! new messages) counts as nacked; a cut connection counts one loss and
//! one recovery; the Prometheus text parses strictly with the same
//! figures.

mod amqp_client_support;

use std::time::Duration;

use amqp_client_support::{connect, next, proxy_uri, wait_event};
use mq_client::amqp::{
    BasicProperties, Connection, ConnectionEvent, ConnectionMetrics, ConsumeOptions, Error,
    Overflow, QueueDeleteOptions, QueueOptions, RecoveryConfig,
};
use mq_client::backoff::BackoffConfig;
use mq_tests::proxy::FaultProxy;
use mq_tests::{endpoints, names, prometheus};

const MESSAGES: usize = 1_000;

/// Parses the snapshot's text and checks it says what the snapshot says.
fn check_text(m: &ConnectionMetrics) {
    let text = m.to_prometheus_text();
    let e = prometheus::parse(&text).unwrap_or_else(|err| panic!("{err}\n{text}"));
    let name = [("connection", m.connection.as_str())];
    assert!(e.samples.iter().all(
        |s| s.name.starts_with("mq_amqp_connection_") && s.labels["connection"] == m.connection
    ));
    for (metric, value) in [
        ("mq_amqp_connection_publishes_total", m.publishes),
        ("mq_amqp_connection_confirms_acked_total", m.confirms_acked),
        (
            "mq_amqp_connection_confirms_nacked_total",
            m.confirms_nacked,
        ),
        ("mq_amqp_connection_deliveries_total", m.deliveries),
        ("mq_amqp_connection_bytes_sent_total", m.bytes_sent),
        ("mq_amqp_connection_bytes_received_total", m.bytes_received),
        ("mq_amqp_connection_recoveries_total", m.recoveries),
        ("mq_amqp_connection_channels_open", m.channels_open),
    ] {
        assert_eq!(e.value(metric, &name), value as f64, "{metric}");
    }
    assert_eq!(e.types["mq_amqp_connection_publishes_total"], "counter");
    assert_eq!(e.types["mq_amqp_connection_channels_open"], "gauge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_confirms_and_deliveries_are_counted() {
    let conn = connect("metrics-counts").await;
    let before = conn.metrics();
    assert_eq!(before.connection, "metrics-counts");
    assert!(
        before.bytes_sent > 0 && before.bytes_received > 0,
        "the handshake"
    );
    assert_eq!(before.channels_open, 0);
    let ch = conn.open_channel().await.expect("channel");
    let queue = names::queue("metrics");
    ch.queue_declare(&queue, QueueOptions::default().exclusive())
        .await
        .expect("declare");
    ch.confirm_select().await.expect("confirm mode");
    let mut confirms = Vec::with_capacity(MESSAGES);
    for i in 0..MESSAGES {
        let body = format!("message {i}");
        let c = ch
            .publish("", &queue, body.into_bytes(), BasicProperties::default())
            .await
            .expect("publish");
        confirms.push(c);
    }
    for c in confirms {
        c.await.expect("acked");
    }
    let mut consumer = ch
        .consume(&queue, ConsumeOptions::default().prefetch(100))
        .await
        .expect("consume");
    for i in 0..MESSAGES {
        let d = next(&mut consumer).await;
        assert_eq!(d.body(), format!("message {i}").as_bytes());
        d.ack().await.expect("ack");
    }
    let m = conn.metrics();
    assert_eq!(m.publishes, MESSAGES as u64, "{m:?}");
    assert_eq!(m.confirms_acked, MESSAGES as u64, "{m:?}");
    assert_eq!(m.confirms_nacked, 0);
    assert_eq!(m.deliveries, MESSAGES as u64, "{m:?}");
    assert_eq!(m.channels_open, 1);
    assert_eq!((m.recoveries, m.connection_losses), (0, 0));
    assert!(
        m.bytes_sent > before.bytes_sent + (MESSAGES * 9) as u64,
        "{m:?}"
    );
    assert!(
        m.bytes_received > before.bytes_received + (MESSAGES * 9) as u64,
        "{m:?}"
    );
    check_text(&m);
    ch.close().await.expect("close channel");
    assert_eq!(conn.metrics().channels_open, 0);
    conn.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nacked_publish_is_counted_as_nacked() {
    let conn = connect("metrics-nacks").await;
    let ch = conn.open_channel().await.expect("channel");
    let queue = names::queue("metrics-full");
    // A queue of one message that refuses more: the broker nacks the rest.
    ch.queue_declare(
        &queue,
        QueueOptions::default()
            .exclusive()
            .max_length(1)
            .overflow(Overflow::RejectPublish),
    )
    .await
    .expect("declare");
    ch.confirm_select().await.expect("confirm mode");
    let publish = |body: &'static [u8]| ch.publish("", &queue, body, BasicProperties::default());
    publish(b"first")
        .await
        .expect("publish")
        .await
        .expect("acked");
    let refused = publish(b"second").await.expect("publish").await;
    assert!(matches!(refused, Err(Error::Nacked)), "{refused:?}");
    let m = conn.metrics();
    assert_eq!(
        (m.publishes, m.confirms_acked, m.confirms_nacked),
        (2, 1, 1),
        "{m:?}"
    );
    check_text(&m);
    conn.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_is_counted_and_the_channel_stays_open() {
    let proxy = FaultProxy::start(endpoints::amqp_addr())
        .await
        .expect("proxy");
    let conn = Connection::builder()
        .uri(proxy_uri(proxy.addr(), ""))
        .name("metrics-recovery")
        .operation_timeout(Duration::from_secs(10))
        .recovery(RecoveryConfig {
            backoff: BackoffConfig {
                initial: Duration::from_millis(50),
                max: Duration::from_millis(500),
                multiplier: 2.0,
                jitter: 0.2,
                max_attempts: Some(40),
            },
            ..RecoveryConfig::default()
        })
        .connect()
        .await
        .expect("connect");
    let mut events = conn.events();
    let ch = conn.open_channel().await.expect("channel");
    let queue = names::queue("metrics-recovery");
    ch.queue_declare(&queue, QueueOptions::default().auto_delete())
        .await
        .expect("declare");
    ch.confirm_select().await.expect("confirm mode");
    let publish = || ch.publish("", &queue, &b"m"[..], BasicProperties::default());
    publish().await.expect("publish").await.expect("acked");
    let before = conn.metrics();
    assert_eq!((before.recoveries, before.connection_losses), (0, 0));
    proxy.cut_all();
    wait_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, ConnectionEvent::Recovered { .. })
    })
    .await;
    publish().await.expect("publish").await.expect("acked");
    let m = conn.metrics();
    assert_eq!((m.recoveries, m.connection_losses), (1, 1), "{m:?}");
    assert_eq!(m.channels_open, 1, "the channel was reopened: {m:?}");
    assert_eq!((m.publishes, m.confirms_acked), (2, 2), "{m:?}");
    assert!(m.bytes_sent > before.bytes_sent && m.bytes_received > before.bytes_received);
    check_text(&m);
    ch.queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .expect("delete");
    conn.close().await.expect("close");
}
