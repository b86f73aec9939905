//! Automatic recovery through the fault proxy: a cut during a confirmed
//! publish, a consumer that resumes, stale acks, a stalled connection
//! detected by heartbeats, a server-named queue that survives with its
//! bindings.

mod amqp_client_support;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use amqp_client_support::{connect, next, proxy_uri, wait_event};
use futures_util::StreamExt;
use mq_client::amqp::{
    BasicProperties, Connection, ConnectionEvent, ConsumeOptions, Error, ExchangeKind,
    ExchangeOptions, FieldTable, QueueDeleteOptions, QueueOptions, RecoveryConfig,
};
use mq_client::backoff::BackoffConfig;
use mq_tests::proxy::FaultProxy;
use mq_tests::{endpoints, names};

fn fast_recovery() -> RecoveryConfig {
    RecoveryConfig {
        backoff: BackoffConfig {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(500),
            multiplier: 2.0,
            jitter: 0.2,
            max_attempts: Some(40),
        },
        ..RecoveryConfig::default()
    }
}

async fn proxied(proxy: &FaultProxy, name: &str, query: &str) -> Connection {
    Connection::builder()
        .uri(proxy_uri(proxy.addr(), query))
        .name(name)
        .operation_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .recovery(fast_recovery())
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_during_confirmed_publish_loses_nothing_confirmed() {
    const N: u32 = 50_000;
    const WINDOW: usize = 1000;
    let direct = connect("recovery-publish-check").await;
    let check = direct.open_channel().await.unwrap();
    let queue = names::queue("recovery-publish");
    check
        .queue_declare(&queue, QueueOptions::default())
        .await
        .unwrap();

    let proxy = FaultProxy::start(endpoints::amqp_addr()).await.unwrap();
    let conn = proxied(&proxy, "recovery-publish", "").await;
    let mut events = conn.events();
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    let mut acked = vec![false; N as usize];
    let mut failed = Vec::new();
    let mut window: VecDeque<(u32, _)> = VecDeque::with_capacity(WINDOW);
    let settle =
        |(i, r): (u32, Result<(), Error>), acked: &mut Vec<bool>, failed: &mut Vec<u32>| match r {
            Ok(()) => acked[i as usize] = true,
            Err(e) => {
                assert!(matches!(e, Error::ConfirmLost), "{e:?}");
                assert!(e.is_retriable());
                failed.push(i);
            }
        };
    for i in 0..N {
        if i == N / 3 {
            proxy.cut_all();
        }
        let mut body = vec![0u8; 100];
        body[..4].copy_from_slice(&i.to_be_bytes());
        let confirm = ch
            .publish("", &queue, body, BasicProperties::default())
            .await
            .expect("publishes wait through the outage");
        window.push_back((i, confirm));
        if window.len() == WINDOW {
            let (i, c) = window.pop_front().unwrap();
            settle((i, c.await), &mut acked, &mut failed);
        }
    }
    for (i, c) in window {
        settle((i, c.await), &mut acked, &mut failed);
    }
    wait_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, ConnectionEvent::Recovered { .. })
    })
    .await;
    let confirmed = acked.iter().filter(|a| **a).count();
    assert_eq!(confirmed + failed.len(), N as usize);
    assert!(
        !failed.is_empty(),
        "the cut left confirms pending; they were reported"
    );
    // The application retries what failed.
    for &i in &failed {
        let mut body = vec![0u8; 100];
        body[..4].copy_from_slice(&i.to_be_bytes());
        ch.publish("", &queue, body, BasicProperties::default())
            .await
            .unwrap()
            .await
            .expect("acked after recovery");
    }
    // Every confirmed message is in the queue: zero confirmed loss.
    let mut consumer = check
        .consume(&queue, ConsumeOptions::default().prefetch(1000))
        .await
        .unwrap();
    let mut present = vec![false; N as usize];
    let mut missing = N as usize;
    while missing > 0 {
        let d = next(&mut consumer).await;
        let i = u32::from_be_bytes(d.body()[..4].try_into().unwrap()) as usize;
        if !present[i] {
            present[i] = true;
            missing -= 1;
        }
        d.ack().await.unwrap();
    }
    assert!(acked.iter().zip(&present).all(|(a, p)| !a || *p));
    drop(consumer);
    check
        .queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn consumer_resumes_after_recovery_and_stale_acks_fail() {
    let direct = connect("recovery-consumer-check").await;
    let pub_ch = direct.open_channel().await.unwrap();
    pub_ch.confirm_select().await.unwrap();
    let queue = names::queue("recovery-consumer");
    pub_ch
        .queue_declare(&queue, QueueOptions::default())
        .await
        .unwrap();

    let proxy = FaultProxy::start(endpoints::amqp_addr()).await.unwrap();
    let conn = proxied(&proxy, "recovery-consumer", "").await;
    let mut events = conn.events();
    let ch = conn.open_channel().await.unwrap();
    let mut consumer = ch
        .consume(
            &queue,
            ConsumeOptions::default().tag("resume-tag").prefetch(10),
        )
        .await
        .unwrap();
    pub_ch
        .publish("", &queue, &b"before"[..], BasicProperties::default())
        .await
        .unwrap()
        .await
        .unwrap();
    let before = next(&mut consumer).await;
    assert!(!before.redelivered());

    proxy.cut_all();
    wait_event(&mut events, Duration::from_secs(5), |e| {
        matches!(e, ConnectionEvent::Lost { .. })
    })
    .await;
    wait_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, ConnectionEvent::Recovered { .. })
    })
    .await;
    assert!(conn.is_connected());
    assert!(
        matches!(before.ack().await, Err(Error::StaleDelivery)),
        "a delivery from before the loss cannot be acked"
    );
    // The broker redelivers it to the re-subscribed consumer, same tag.
    let again = next(&mut consumer).await;
    assert_eq!(again.body(), &b"before"[..]);
    assert!(again.redelivered());
    assert_eq!(again.consumer_tag().unwrap(), "resume-tag");
    again.ack().await.unwrap();
    pub_ch
        .publish("", &queue, &b"after"[..], BasicProperties::default())
        .await
        .unwrap()
        .await
        .unwrap();
    let after = next(&mut consumer).await;
    assert_eq!(after.body(), &b"after"[..]);
    after.ack().await.unwrap();
    drop(consumer);
    pub_ch
        .queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn stalled_connection_is_detected_within_two_heartbeats() {
    let proxy = FaultProxy::start(endpoints::amqp_addr()).await.unwrap();
    let conn = proxied(&proxy, "recovery-stall", "?heartbeat=1").await;
    let mut events = conn.events();
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    // Let heartbeats flow, then stall both ways.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stalled_at = Instant::now();
    proxy.stall(true);
    let waiter = tokio::spawn({
        let ch = ch.clone();
        let name = q.name().to_owned();
        async move { ch.queue_purge(&name).await }
    });
    wait_event(&mut events, Duration::from_secs(5), |e| {
        matches!(e, ConnectionEvent::Lost { .. })
    })
    .await;
    let detected = stalled_at.elapsed();
    assert!(
        detected <= Duration::from_millis(2300),
        "detected after {detected:?}, more than 2 x 1 s heartbeat"
    );
    match waiter.await.unwrap() {
        Err(e @ Error::ConnectionLost { .. }) => assert!(e.is_retriable()),
        other => panic!("the waiter gets an error: {other:?}"),
    }
    proxy.stall(false);
    proxy.cut_all();
    wait_event(&mut events, Duration::from_secs(15), |e| {
        matches!(e, ConnectionEvent::Recovered { .. })
    })
    .await;
    // The exclusive server-named queue was re-declared; the old name maps
    // to the new one.
    ch.queue_declare(q.name(), QueueOptions::passive())
        .await
        .expect("the queue is back");
}

#[tokio::test]
async fn without_recovery_every_waiter_gets_an_error() {
    let proxy = FaultProxy::start(endpoints::amqp_addr()).await.unwrap();
    let conn = Connection::builder()
        .uri(proxy_uri(proxy.addr(), "?heartbeat=1"))
        .name("recovery-off")
        .recovery(RecoveryConfig::disabled())
        .connect()
        .await
        .unwrap();
    let ch = conn.open_channel().await.unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    ch.confirm_select().await.unwrap();
    let mut consumer = ch
        .consume(q.name(), ConsumeOptions::default())
        .await
        .unwrap();
    proxy.stall(true);
    let confirm = ch
        .publish("", q.name(), &b"x"[..], BasicProperties::default())
        .await
        .unwrap();
    let rpc = tokio::spawn({
        let ch = ch.clone();
        async move {
            ch.queue_declare("", QueueOptions::default().exclusive())
                .await
        }
    });
    let started = Instant::now();
    assert!(matches!(confirm.await, Err(Error::ConfirmLost)));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(rpc.await.unwrap().is_err());
    match tokio::time::timeout(Duration::from_secs(3), consumer.next()).await {
        Ok(Some(Err(Error::ConnectionClosed { .. }))) => {}
        other => panic!("the consumer ends with the error: {other:?}"),
    }
    assert!(conn.is_closed());
    assert!(matches!(
        conn.open_channel().await,
        Err(Error::ConnectionClosed { .. })
    ));
}

#[tokio::test]
async fn server_named_queue_survives_recovery_with_bindings() {
    let proxy = FaultProxy::start(endpoints::amqp_addr()).await.unwrap();
    let conn = proxied(&proxy, "recovery-server-named", "").await;
    let mut events = conn.events();
    let ch = conn.open_channel().await.unwrap();
    let x = names::exchange("recovery-topic");
    ch.exchange_declare(&x, ExchangeKind::Topic, ExchangeOptions::default())
        .await
        .unwrap();
    let q = ch
        .queue_declare("", QueueOptions::default().exclusive())
        .await
        .unwrap();
    ch.queue_bind(q.name(), &x, "order.*", FieldTable::new())
        .await
        .unwrap();
    let mut consumer = ch
        .consume(q.name(), ConsumeOptions::default().no_ack())
        .await
        .unwrap();

    proxy.cut_all();
    let renamed = wait_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, ConnectionEvent::QueueRenamed { .. })
    })
    .await;
    let ConnectionEvent::QueueRenamed { old, new } = renamed else {
        unreachable!()
    };
    assert_eq!(old, q.name());
    assert_ne!(new, old);
    assert!(new.starts_with("amq.gen-"));
    wait_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, ConnectionEvent::Recovered { .. })
    })
    .await;

    // The binding followed the new name: a publish from elsewhere reaches
    // the consumer, which followed it too.
    let direct = connect("recovery-server-named-pub").await;
    let pub_ch = direct.open_channel().await.unwrap();
    pub_ch.confirm_select().await.unwrap();
    pub_ch
        .publish(
            &x,
            "order.created",
            &b"routed"[..],
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let d = next(&mut consumer).await;
    assert_eq!(d.body(), &b"routed"[..]);
    assert_eq!(d.routing_key(), "order.created");
    // Calls with the old name go to the new queue.
    let same = ch
        .queue_declare(q.name(), QueueOptions::passive())
        .await
        .unwrap();
    assert_eq!(same.name(), new);
    assert_eq!(same.consumer_count, 1);
    ch.exchange_delete(&x, false).await.unwrap();
}
