//! Shared helpers for the `amqp_client_*` tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use futures_util::StreamExt;
use mq_client::amqp::{Connection, ConnectionEvent, ConnectionEvents, Consumer, Delivery};
use mq_tests::endpoints;

/// Connects to the test broker with a short operation timeout.
pub async fn connect(name: &str) -> Connection {
    Connection::builder()
        .uri(endpoints::amqp_url())
        .name(name)
        .operation_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect to RabbitMQ (scripts/brokers up)")
}

/// The URI of a proxy in front of the broker.
pub fn proxy_uri(addr: std::net::SocketAddr, query: &str) -> String {
    format!("amqp://guest:guest@{addr}/%2f{query}")
}

/// The next delivery, within 10 s.
pub async fn next(c: &mut Consumer) -> Delivery {
    tokio::time::timeout(Duration::from_secs(10), c.next())
        .await
        .expect("a delivery within 10 s")
        .expect("the stream goes on")
        .expect("a delivery, not an error")
}

/// Waits for an event matching `pred`, within `limit`.
pub async fn wait_event(
    events: &mut ConnectionEvents,
    limit: Duration,
    pred: impl Fn(&ConnectionEvent) -> bool,
) -> ConnectionEvent {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let ev = tokio::time::timeout_at(deadline, events.next())
            .await
            .expect("the event in time")
            .expect("events go on");
        if pred(&ev) {
            return ev;
        }
    }
}

/// Runs `rabbitmqctl` with arguments; panics if it fails.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the queue reports `n` ready messages (the broker updates
/// counts asynchronously), within 10 s.
pub async fn wait_count(ch: &mq_client::amqp::Channel, queue: &str, n: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let q = ch
            .queue_declare(queue, mq_client::amqp::QueueOptions::passive())
            .await
            .expect("passive declare");
        if q.message_count == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "queue {queue} has {} messages, not {n}",
            q.message_count
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
