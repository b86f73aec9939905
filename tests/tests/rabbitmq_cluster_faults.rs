//! Hard faults on a three-node RabbitMQ cluster: the node that leads a
//! quorum queue is killed with SIGKILL (no goodbye to the cluster or the
//! clients) while a publisher or a consumer connected to it is mid-stream.
//! The client reconnects to another node of its list, the queue elects a
//! new leader among the survivors, and nothing confirmed is lost. Each test
//! prints its loss, retry and duplicate counts.
//!
//! It kills and restarts nodes, so it is built only with the
//! `rabbitmq-cluster` feature, and runs as its own phase of `scripts/test`
//! against the cluster that `scripts/brokers up --rabbitmq-nodes 3` starts
//! (its node URIs in `RABBITMQ_CLUSTER_URLS`):
//!
//! ```text
//! export RABBITMQ_CLUSTER_URLS=$(scripts/brokers up --rabbitmq-nodes 3 | sed -n 's/^RABBITMQ_CLUSTER_URLS=//p')
//! cargo test -p mq-tests --features rabbitmq-cluster --test rabbitmq_cluster_faults -- --nocapture --test-threads 1
//! ```

mod amqp_client_support;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use amqp_client_support::wait_event;
use futures_util::StreamExt;
use mq_client::amqp::{
    BasicProperties, Channel, Connection, ConnectionEvent, ConsumeOptions, Error,
    QueueDeleteOptions, QueueOptions, RecoveryConfig,
};
use mq_client::backoff::BackoffConfig;
use mq_tests::names;

/// The cluster's node URIs, node 1 first.
fn node_urls() -> Vec<String> {
    let urls = std::env::var("RABBITMQ_CLUSTER_URLS")
        .expect("RABBITMQ_CLUSTER_URLS (scripts/brokers up --rabbitmq-nodes 3)");
    let urls: Vec<String> = urls.split(',').map(str::to_owned).collect();
    assert!(urls.len() >= 3, "needs three nodes: {urls:?}");
    urls
}

/// The node's number (1-based) from its name, `mq-rabbitK@localhost`.
fn node_number(name: &str) -> usize {
    name.trim()
        .strip_prefix("mq-rabbit")
        .and_then(|s| s.split('@').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a cluster node name: {name:?}"))
}

fn brokers(command: &str, node: usize) {
    assert!(
        brokers_ran(command, node),
        "scripts/brokers {command} {node} failed"
    );
}

fn brokers_ran(command: &str, node: usize) -> bool {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/brokers");
    Command::new(script)
        .args([command, &node.to_string()])
        .status()
        .expect("scripts/brokers")
        .success()
}

/// Kills a node paused with SIGSTOP if the test fails before it does, so
/// that [`Restart`] (dropped after it) can start the node again.
struct KillIfPaused(Option<usize>);

impl Drop for KillIfPaused {
    fn drop(&mut self) {
        if let Some(n) = self.0 {
            brokers_ran("kill-rabbitmq", n);
        }
    }
}

/// Starts the killed node again even if the test fails, so that the next
/// test finds three nodes.
struct Restart(usize);

impl Drop for Restart {
    fn drop(&mut self) {
        brokers("start-rabbitmq", self.0);
    }
}

/// The node that leads `queue`, asked of `via` (another node).
fn leader_of(queue: &str, via: usize) -> usize {
    let out = Command::new("rabbitmqctl")
        .args([
            "-n",
            &format!("mq-rabbit{via}@localhost"),
            "list_queues",
            "name",
            "leader",
            "--quiet",
            "--no-table-headers",
        ])
        .output()
        .expect("rabbitmqctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.split('\t').next() == Some(queue))
        .unwrap_or_else(|| panic!("{queue} not listed: {text}"));
    node_number(line.split('\t').nth(1).unwrap_or(""))
}

/// Recovered, with every recorded queue and consumer restored (a topology
/// failure on the way fails the test).
fn recovered_whole(e: &ConnectionEvent) -> bool {
    if let ConnectionEvent::TopologyFailed { .. } = e {
        panic!("recovery could not restore the topology: {e:?}");
    }
    matches!(e, ConnectionEvent::Recovered { .. })
}

fn recovery() -> RecoveryConfig {
    RecoveryConfig {
        backoff: BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.2,
            max_attempts: Some(60),
        },
        ..RecoveryConfig::default()
    }
}

/// A connection that tries `first` first, then the other nodes.
async fn connect_to(urls: &[String], first: usize, name: &str) -> Connection {
    let mut ordered = vec![urls[first - 1].clone()];
    ordered.extend(
        urls.iter()
            .enumerate()
            .filter(|(i, _)| i + 1 != first)
            .map(|(_, u)| u.clone()),
    );
    Connection::builder()
        .uris(ordered)
        .name(name)
        .operation_timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(3))
        .heartbeat(Duration::from_secs(5))
        .recovery(recovery())
        .connect()
        .await
        .expect("connect to the cluster")
}

/// Declares a quorum queue through node 1 and returns its leader.
async fn quorum_queue(urls: &[String], prefix: &str) -> (String, usize, Channel) {
    let admin = Connection::connect(&urls[0]).await.expect("connect node 1");
    let ch = admin.open_channel().await.expect("channel");
    let queue = names::queue(prefix);
    ch.queue_declare(&queue, QueueOptions::durable().quorum())
        .await
        .expect("declare quorum queue");
    let leader = leader_of(&queue, 1);
    (queue, leader, ch)
}

fn body(i: u32) -> Vec<u8> {
    let mut b = vec![0u8; 100];
    b[..4].copy_from_slice(&i.to_be_bytes());
    b
}

fn index(body: &[u8]) -> usize {
    u32::from_be_bytes(body[..4].try_into().expect("4 bytes")) as usize
}

/// Reads the whole queue through a node that stays up; how many times
/// each message is there.
async fn drain_counts(url: &str, queue: &str, n: usize) -> Vec<u32> {
    let conn = Connection::connect(url).await.expect("connect survivor");
    let ch = conn.open_channel().await.expect("channel");
    let mut consumer = ch
        .consume(queue, ConsumeOptions::default().prefetch(1000))
        .await
        .expect("consume");
    let mut counts = vec![0u32; n];
    loop {
        match tokio::time::timeout(Duration::from_secs(3), consumer.next()).await {
            Ok(Some(Ok(d))) => {
                counts[index(&d.body())] += 1;
                d.ack().await.expect("ack");
            }
            Ok(other) => panic!("the drain consumer ended: {other:?}"),
            Err(_) => break, // quiet for 3 s: the queue is empty
        }
    }
    ch.queue_delete(queue, QueueDeleteOptions::default())
        .await
        .expect("delete");
    conn.close().await.expect("close");
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_leader_killed_mid_publish_loses_nothing_confirmed() {
    const N: u32 = 50_000;
    const WINDOW: usize = 1000;
    let urls = node_urls();
    let (queue, leader, _admin) = quorum_queue(&urls, "cluster-publish").await;
    let survivor = if leader == 1 { 2 } else { 1 };

    // The publisher sits on the leader's node.
    let conn = connect_to(&urls, leader, "cluster-publish").await;
    let mut events = conn.events();
    let ch = conn.open_channel().await.expect("channel");
    ch.confirm_select().await.expect("confirm mode");
    // Declared here too: recovery declares it again on the new node, which
    // a quorum queue (durable, shared) takes as a no-op.
    ch.queue_declare(&queue, QueueOptions::durable().quorum())
        .await
        .expect("redeclare");

    let mut acked = vec![false; N as usize];
    let mut failed = Vec::new();
    let mut window: VecDeque<(u32, _)> = VecDeque::with_capacity(WINDOW);
    let settle = |(i, r): (u32, Result<(), Error>), acked: &mut [bool], failed: &mut Vec<u32>| {
        match r {
            Ok(()) => acked[i as usize] = true,
            // Lost with the node, or refused while the queue had no
            // leader: the application publishes it again.
            Err(e) => {
                assert!(e.is_retriable(), "{e:?}");
                failed.push(i);
            }
        }
    };
    // The leader is paused (SIGSTOP) at a third of the way, PAUSED more
    // publishes go out that it cannot confirm, and then it is killed: so
    // the kill always finds confirms pending, whatever the timing. (Killed
    // straight from this loop, the node had sometimes confirmed all it got
    // before the kill landed.) While it is paused, the window is not
    // awaited: its oldest confirm may be one the node will never send.
    const PAUSED: u32 = 200;
    let paused_at = N / 3;
    let mut restart = None;
    let mut paused = KillIfPaused(None);
    for i in 0..N {
        if i == paused_at {
            restart = Some(Restart(leader));
            paused.0 = Some(leader);
            brokers("pause-rabbitmq", leader);
        }
        if i == paused_at + PAUSED {
            // Give the driver a moment to write what was queued.
            tokio::time::sleep(Duration::from_millis(200)).await;
            paused.0 = None;
            brokers("kill-rabbitmq", leader);
        }
        let confirm = ch
            .publish("", &queue, body(i), BasicProperties::default())
            .await
            .expect("publishes wait through the recovery");
        window.push_back((i, confirm));
        let pausing = (paused_at..paused_at + PAUSED).contains(&i);
        while window.len() >= WINDOW && !pausing {
            let (i, c) = window.pop_front().expect("full window");
            settle((i, c.await), &mut acked, &mut failed);
        }
    }
    for (i, c) in window {
        settle((i, c.await), &mut acked, &mut failed);
    }
    let recovered = wait_event(&mut events, Duration::from_secs(60), recovered_whole).await;
    let ConnectionEvent::Recovered { addr, .. } = &recovered else {
        unreachable!()
    };
    let leader_port = urls[leader - 1]
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .expect("port");
    assert!(
        !addr.ends_with(&format!(":{leader_port}")),
        "the publisher finished on another node, not {addr}"
    );
    assert!(
        !failed.is_empty(),
        "the kill left confirms pending (published while the node was paused); they were \
         reported"
    );

    // The application publishes again what failed, until it is confirmed.
    let retried = failed.len();
    for &i in &failed {
        let mut tries = 0;
        loop {
            tries += 1;
            let r = ch
                .publish("", &queue, body(i), BasicProperties::default())
                .await
                .expect("publish");
            match r.await {
                Ok(()) => break,
                Err(e) if e.is_retriable() && tries < 20 => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("message {i} never confirmed: {e:?}"),
            }
        }
        acked[i as usize] = true;
    }
    conn.close().await.expect("close");

    let counts = drain_counts(&urls[survivor - 1], &queue, N as usize).await;
    let lost = acked
        .iter()
        .zip(&counts)
        .filter(|(a, c)| **a && **c == 0)
        .count();
    let duplicates: u32 = counts.iter().map(|c| c.saturating_sub(1)).sum();
    println!(
        "quorum publish, leader node {leader} paused at {paused_at} and killed {PAUSED} \
         publishes later: {N} published, {retried} retried after the kill, lost {lost}, \
         duplicates {duplicates} (a retried message the broker had written before the node \
         died), recovered to {addr}"
    );
    assert_eq!(lost, 0, "a confirmed message is missing");
    assert!(acked.iter().all(|a| *a));
    drop(restart);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_leader_killed_under_consumer_resumes_elsewhere() {
    const N: u32 = 10_000;
    let urls = node_urls();
    let (queue, leader, admin) = quorum_queue(&urls, "cluster-consume").await;
    admin.confirm_select().await.expect("confirm mode");
    for i in 0..N {
        // Confirmed one window at a time below; the queue holds all N.
        let c = admin
            .publish("", &queue, body(i), BasicProperties::default())
            .await
            .expect("publish");
        if i % 1000 == 999 || i == N - 1 {
            c.await.expect("confirmed");
        }
    }

    // The consumer sits on the leader's node, acks each message.
    let conn = connect_to(&urls, leader, "cluster-consume").await;
    let mut events = conn.events();
    let ch = conn.open_channel().await.expect("channel");
    ch.queue_declare(&queue, QueueOptions::durable().quorum())
        .await
        .expect("redeclare");
    let mut consumer = ch
        .consume(&queue, ConsumeOptions::default().prefetch(200))
        .await
        .expect("consume");
    let mut seen = vec![0u32; N as usize];
    let (mut distinct, mut redelivered, mut stale_acks) = (0usize, 0u32, 0u32);
    let mut restart = None;
    while distinct < N as usize {
        let d = tokio::time::timeout(Duration::from_secs(60), consumer.next())
            .await
            .expect("a delivery within 60 s")
            .expect("the consumer goes on")
            .expect("a delivery");
        let i = index(&d.body());
        if seen[i] == 0 {
            distinct += 1;
        }
        seen[i] += 1;
        if d.redelivered() {
            redelivered += 1;
        }
        // An ack for a delivery of the dead connection fails: the broker
        // redelivers that message, which is counted above when it comes.
        if d.ack().await.is_err() {
            stale_acks += 1;
        }
        if distinct == N as usize / 3 && restart.is_none() {
            brokers("kill-rabbitmq", leader);
            restart = Some(Restart(leader));
        }
    }
    let recovered = wait_event(&mut events, Duration::from_secs(5), recovered_whole).await;
    let duplicates: u32 = seen.iter().map(|c| c.saturating_sub(1)).sum();
    println!(
        "quorum consume, leader node {leader} killed after {}: {N} messages, lost 0, \
         {duplicates} delivered twice ({redelivered} flagged redelivered, {stale_acks} stale \
         acks), {recovered:?}",
        N / 3
    );
    assert!(seen.iter().all(|c| *c >= 1), "every message was delivered");
    drop(consumer);
    conn.close().await.expect("close");
    // Nothing is left behind: every message was acked on the new node.
    let survivor = if leader == 1 { 2 } else { 1 };
    let left = drain_counts(&urls[survivor - 1], &queue, N as usize).await;
    let left: u32 = left.iter().sum();
    assert_eq!(left, 0, "{left} messages left unacked in the queue");
    drop(restart);
}
