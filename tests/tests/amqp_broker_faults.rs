//! Broker faults, on the shared RabbitMQ: a memory alarm blocks publishing
//! (connection.blocked) until the watermark is restored, and a broker
//! restart (stop_app / start_app) is recovered from. One test runs the
//! steps serially and keeps each outage short; a guard restores the broker
//! even if a step fails.

mod amqp_client_support;

use std::time::Duration;

use amqp_client_support::{next, rabbitmqctl, wait_event};
use mq_client::amqp::{
    BasicProperties, Connection, ConnectionEvent, ConsumeOptions, Error, FieldTable,
    PublishOptions, QueueOptions, RecoveryConfig,
};
use mq_client::backoff::BackoffConfig;
use mq_tests::endpoints;

/// The tests here change the whole broker: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Puts the broker back as it was: watermark 0.4, application running.
struct RestoreBroker;

impl Drop for RestoreBroker {
    fn drop(&mut self) {
        let run = |args: &[&str]| {
            let _ = std::process::Command::new("rabbitmqctl")
                .args(args)
                .output();
        };
        run(&["set_vm_memory_high_watermark", "0.4"]);
        run(&["start_app"]);
        run(&["await_startup"]);
    }
}

async fn ctl(args: &'static [&'static str]) -> String {
    tokio::task::spawn_blocking(move || rabbitmqctl(args))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_alarm_blocks_publishes_and_restart_is_recovered() {
    let _serial = SERIAL.lock().await;
    let _restore = RestoreBroker;
    let conn = Connection::builder()
        .uri(endpoints::amqp_url())
        .name("broker-faults")
        .operation_timeout(Duration::from_secs(20))
        .recovery(RecoveryConfig {
            backoff: BackoffConfig {
                initial: Duration::from_millis(200),
                max: Duration::from_secs(1),
                multiplier: 2.0,
                jitter: 0.2,
                max_attempts: Some(120),
            },
            ..RecoveryConfig::default()
        })
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
    ch.publish("", q.name(), &b"warm-up"[..], BasicProperties::default())
        .await
        .unwrap()
        .await
        .unwrap();

    // 1. Memory alarm: connection.blocked, publishes wait.
    ctl(&["set_vm_memory_high_watermark", "0"]).await;
    let first = ch
        .publish(
            "",
            q.name(),
            &b"during-alarm-1"[..],
            BasicProperties::default(),
        )
        .await
        .expect("queued");
    wait_event(&mut events, Duration::from_secs(15), |e| {
        matches!(e, ConnectionEvent::Blocked { .. })
    })
    .await;
    assert!(conn.is_blocked());
    let second = ch
        .publish(
            "",
            q.name(),
            &b"during-alarm-2"[..],
            BasicProperties::default(),
        )
        .await
        .expect("queued; the driver holds it");
    let mut both = Box::pin(async move { (first.await, second.await) });
    assert!(
        tokio::time::timeout(Duration::from_secs(1), &mut both)
            .await
            .is_err(),
        "no confirm while blocked"
    );
    ctl(&["set_vm_memory_high_watermark", "0.4"]).await;
    wait_event(&mut events, Duration::from_secs(15), |e| {
        matches!(e, ConnectionEvent::Unblocked)
    })
    .await;
    assert!(!conn.is_blocked());
    let (a, b) = tokio::time::timeout(Duration::from_secs(10), both)
        .await
        .expect("publishes resume after the alarm");
    a.expect("acked");
    b.expect("acked");

    // 2. Broker restart: the connection is recovered.
    let mut consumer = ch
        .consume(q.name(), ConsumeOptions::default().prefetch(10))
        .await
        .unwrap();
    for _ in 0..3 {
        next(&mut consumer).await.ack().await.unwrap();
    }
    ctl(&["stop_app"]).await;
    match wait_event(&mut events, Duration::from_secs(15), |e| {
        matches!(e, ConnectionEvent::Lost { .. })
    })
    .await
    {
        ConnectionEvent::Lost { error } => assert!(error.is_retriable(), "{error:?}"),
        _ => unreachable!(),
    }
    ctl(&["start_app"]).await;
    wait_event(&mut events, Duration::from_secs(60), |e| {
        matches!(e, ConnectionEvent::Recovered { .. })
    })
    .await;
    // The exclusive server-named queue came back (under a new name) with
    // its consumer; old-name calls follow it.
    // The default exchange routes by the literal queue name, which the
    // client does not rewrite: publish to the new name.
    let renamed = ch
        .queue_declare(q.name(), QueueOptions::passive())
        .await
        .unwrap();
    ch.publish(
        "",
        renamed.name(),
        &b"after-restart"[..],
        BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let d = next(&mut consumer).await;
    assert_eq!(d.body(), &b"after-restart"[..]);
    d.ack().await.unwrap();
    let other = conn.open_channel().await.unwrap();
    other
        .queue_bind(renamed.name(), "amq.fanout", "", FieldTable::new())
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirm_times_out_while_blocked_and_the_channel_confirms_again_after() {
    let _serial = SERIAL.lock().await;
    let _restore = RestoreBroker;
    let conn = Connection::builder()
        .uri(endpoints::amqp_url())
        .name("confirm-timeout")
        .operation_timeout(Duration::from_secs(20))
        .confirm_timeout(Duration::from_millis(1500))
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
    ch.publish("", q.name(), &b"warm-up"[..], BasicProperties::default())
        .await
        .unwrap()
        .await
        .expect("acked within the timeout");

    ctl(&["set_vm_memory_high_watermark", "0"]).await;
    // The broker blocks a connection when it publishes: this publish is
    // held (in the broker's socket buffer, or by the driver).
    let started = std::time::Instant::now();
    let blocked = ch
        .publish(
            "",
            q.name(),
            &b"during-alarm"[..],
            BasicProperties::default(),
        )
        .await
        .expect("queued");
    wait_event(&mut events, Duration::from_secs(15), |e| {
        matches!(e, ConnectionEvent::Blocked { .. })
    })
    .await;
    // The connection default: 1.5 s.
    match blocked.await {
        Err(e @ Error::ConfirmTimeout { .. }) => {
            assert!(e.is_retriable());
            assert!(
                matches!(e, Error::ConfirmTimeout { after } if after == Duration::from_millis(1500))
            );
        }
        other => panic!("expected ConfirmTimeout, got {other:?}"),
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // A per-publish override: 300 ms.
    let started = std::time::Instant::now();
    let short = ch
        .publish_with(
            "",
            q.name(),
            &b"during-alarm-short"[..],
            BasicProperties::default(),
            PublishOptions::default().confirm_timeout(Duration::from_millis(300)),
        )
        .await
        .expect("queued");
    assert!(matches!(
        short.await,
        Err(Error::ConfirmTimeout { after }) if after == Duration::from_millis(300)
    ));
    assert!(started.elapsed() < Duration::from_millis(1400));
    assert!(
        ch.is_open(),
        "a timed-out confirm leaves the channel usable"
    );

    ctl(&["set_vm_memory_high_watermark", "0.4"]).await;
    wait_event(&mut events, Duration::from_secs(15), |e| {
        matches!(e, ConnectionEvent::Unblocked)
    })
    .await;
    // The channel publishes and confirms again.
    for i in 0..10u8 {
        ch.publish("", q.name(), vec![i], BasicProperties::default())
            .await
            .unwrap()
            .await
            .expect("acked after the alarm");
    }
    // The publishes whose confirms timed out were not withdrawn: they
    // went out once the broker unblocked.
    amqp_client_support::wait_count(&ch, q.name(), 1 + 2 + 10).await;
    conn.close().await.unwrap();
}
