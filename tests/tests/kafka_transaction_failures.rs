//! A transaction spoiled by a send that failed (refused by the broker, or
//! expired before it was sent), against the real broker: the records
//! queued behind it fail at once, so the commit reports the failure at
//! once instead of after the delivery timeout; the abort leaves nothing of
//! it behind, and the next transaction commits. Both transaction
//! protocols. (Aborts with records still unsent are in
//! `kafka_transactions`.)

mod kafka_client_support;

use std::time::{Duration, Instant};

use mq_client::kafka::IsolationLevel::ReadCommitted;
use mq_client::kafka::{
    DeliveryFuture, Error, ErrorCode, Offset, OffsetReset, PartitionReader, Producer,
    ProducerRecord,
};
use mq_tests::{endpoints, names};

use kafka_client_support::{drain, topic, topic_with_config};

const WAIT: Duration = Duration::from_secs(20);

/// A transactional producer with this `linger` that gives up on a record
/// after `delivery_timeout`.
async fn producer(version: u8, linger: Duration, delivery_timeout: Duration) -> Producer {
    let p = Producer::builder(&endpoints::kafka_bootstrap())
        .transactional_id(names::unique("txn-id"))
        .max_transaction_version(version)
        .linger(linger)
        .delivery_timeout(delivery_timeout)
        // Batches close at 16 KiB as they fill: a backlog would otherwise
        // grow one batch up to the request size, and these tests need
        // batches queued behind the first.
        .max_request_size(16 * 1024)
        .build()
        .await
        .expect("producer");
    p.init_transactions().await.expect("init_transactions");
    p
}

/// Enqueues `n` records of about 100 bytes to partition 0, without
/// awaiting their deliveries.
async fn enqueue(p: &Producer, topic: &str, prefix: &str, n: usize) -> Vec<DeliveryFuture> {
    let mut deliveries = Vec::with_capacity(n);
    for i in 0..n {
        let value = format!("{prefix}-{i:05}-{}", "x".repeat(80));
        deliveries.push(
            p.enqueue(ProducerRecord::new(topic).partition(0).value(&value))
                .await
                .expect("enqueue"),
        );
    }
    deliveries
}

/// Counts the outcomes of a spoiled transaction's records: each must
/// settle promptly, and fail. Returns how many failed with `first` (the
/// error of the failed send) and how many failed unsent because of it.
async fn settle_failed(
    deliveries: Vec<DeliveryFuture>,
    first: fn(&Error) -> bool,
) -> (usize, usize) {
    let (mut failed, mut not_sent) = (0, 0);
    for d in deliveries {
        match tokio::time::timeout(WAIT, d).await {
            Err(_) => panic!("a delivery was still pending {WAIT:?} after the send failed"),
            Ok(Ok(_)) => panic!("a record of the spoiled transaction was written"),
            Ok(Err(e)) if e.is_abortable() => not_sent += 1,
            Ok(Err(e)) => {
                assert!(first(&e), "{e:?}");
                failed += 1;
            }
        }
    }
    (failed, not_sent)
}

/// Aborts, then commits a transaction of 3 records and checks that a
/// read_committed reader sees exactly those.
async fn abort_then_commit(p: &Producer, topic: &str) {
    tokio::time::timeout(WAIT, p.abort_transaction())
        .await
        .expect("the abort hung")
        .expect("abort");
    p.begin_transaction().await.expect("begin after the abort");
    let deliveries = enqueue(p, topic, "after", 3).await;
    tokio::time::timeout(WAIT, p.commit_transaction())
        .await
        .expect("the commit after the abort hung")
        .expect("commit after the abort");
    for d in deliveries {
        d.await.expect("delivery of a committed record");
    }
    let reader = PartitionReader::builder(&endpoints::kafka_bootstrap())
        .auto_offset_reset(OffsetReset::Earliest)
        .isolation_level(ReadCommitted)
        .assign(topic, 0, Offset::Earliest)
        .build()
        .await
        .expect("reader");
    // One record more is waited for, briefly: there must be none.
    let got = drain(reader, 4, Duration::from_secs(3)).await;
    let got: Vec<&[u8]> = got.iter().filter_map(|r| r.value.as_deref()).collect();
    assert_eq!(got.len(), 3, "read_committed sees {} records", got.len());
    assert!(got.iter().all(|v| v.starts_with(b"after-")));
}

/// A send refused by the broker (a batch over the topic's
/// `max.message.bytes`) spoils the transaction: the records queued behind
/// it fail at once with [`Error::TransactionAbortable`] instead of waiting
/// for the delivery timeout (15 minutes here), so the commit reports the
/// failure promptly; after the abort nothing of it is left, and the next
/// transaction commits.
async fn refused_send(version: u8) {
    let prefix = format!("txn-refused-v{version}");
    let topic = topic_with_config(&prefix, 1, &[("max.message.bytes", "4096")]).await;
    let p = producer(version, Duration::ZERO, Duration::from_secs(900)).await;
    p.cluster()
        .wait_for_partitions(&topic, WAIT)
        .await
        .expect("metadata");
    // Batches of 16 KiB: the first goes out alone (no ack yet in this
    // epoch) and is refused; the others are still queued.
    p.begin_transaction().await.expect("begin");
    let deliveries = enqueue(&p, &topic, "refused", 1_000).await;
    let started = Instant::now();
    let commit = tokio::time::timeout(WAIT, p.commit_transaction())
        .await
        .expect("the commit after a failed send hung");
    println!("commit after a refused send: {commit:?}");
    assert!(commit.expect_err("committed").is_abortable());
    let (refused, not_sent) = settle_failed(deliveries, |e| {
        e.code() == Some(ErrorCode::MESSAGE_TOO_LARGE)
    })
    .await;
    println!(
        "transaction version {version}: {refused} refused by the broker, {not_sent} failed unsent, in {:?}",
        started.elapsed()
    );
    assert!(
        refused > 0 && not_sent > 0,
        "{refused} refused, {not_sent} unsent"
    );
    // Records small enough for the topic go in the next transaction.
    abort_then_commit(&p, &topic).await;
}

#[tokio::test]
async fn a_refused_send_fails_the_queued_records_at_once_v2() {
    refused_send(2).await;
}

#[tokio::test]
async fn a_refused_send_fails_the_queued_records_at_once_v1() {
    refused_send(1).await;
}

/// Batches that expire before they are sent (`delivery_timeout` passes
/// while the sender cannot run) spoil a transaction none of whose requests
/// went out: the abort sends no EndTxn then (there is nothing to end), yet
/// the next transaction must not wait for an epoch bump that nothing
/// would make (under version 2 it did, until its delivery timeout).
async fn expired_unsent(version: u8) {
    let topic = topic(&format!("txn-expired-v{version}"), 1).await;
    // A long linger keeps the last, open batch from going out by itself.
    let p = producer(version, Duration::from_secs(10), Duration::from_millis(300)).await;
    p.cluster()
        .wait_for_partitions(&topic, WAIT)
        .await
        .expect("metadata");
    p.begin_transaction().await.expect("begin");
    let mut deliveries = enqueue(&p, &topic, "expired", 1_000).await;
    // The full batches are queued; the sender, on this one thread, cannot
    // take them before they are past their delivery timeout.
    std::thread::sleep(Duration::from_millis(400));
    let first = deliveries.remove(0);
    match tokio::time::timeout(WAIT, first).await.expect("no expiry") {
        Err(Error::DeliveryTimeout {
            possibly_written: false,
            ..
        }) => {}
        other => panic!("the first batch did not expire unsent: {other:?}"),
    }
    let (expired, not_sent) =
        settle_failed(deliveries, |e| matches!(e, Error::DeliveryTimeout { .. })).await;
    println!("transaction version {version}: {expired} more expired, {not_sent} failed unsent");
    assert!(not_sent > 0, "the open batch was not failed");
    abort_then_commit(&p, &topic).await;
}

#[tokio::test]
async fn batches_expired_unsent_do_not_stall_the_next_transaction_v2() {
    expired_unsent(2).await;
}

#[tokio::test]
async fn batches_expired_unsent_do_not_stall_the_next_transaction_v1() {
    expired_unsent(1).await;
}
