//! Transactions against the real broker (issue 18): commit and abort as a
//! read_committed and a read_uncommitted reader see them, under both
//! transaction protocols (version 2, the cluster's, and version 1, forced);
//! fencing by a second producer with the same `transactional_id`; misuse
//! errors that leave the producer usable; an abort with records still
//! unsent, which must leave nothing behind for the next transaction (a
//! failed send is `kafka_transaction_failures`); `Admin::list_offsets` at
//! either isolation level around an open transaction; interop with Java's
//! transactional producer and console consumer; and an exactly-once
//! consume-transform-produce pipeline whose task is killed twice.

mod kafka_client_support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mq_client::kafka::IsolationLevel::{ReadCommitted, ReadUncommitted};
use mq_client::kafka::{
    Admin, Consumer, DeliveryFuture, Error, ErrorCode, IsolationLevel, Offset, OffsetReset,
    OffsetSpec, PartitionReader, Producer, ProducerRecord, Transformed,
};
use mq_tests::{endpoints, names, tools};
use rand::Rng;

use kafka_client_support::{Read, drain, topic};

const WAIT: Duration = Duration::from_secs(20);

async fn transactional(id: &str, version: u8) -> Producer {
    let p = Producer::builder(&endpoints::kafka_bootstrap())
        .transactional_id(id)
        .max_transaction_version(version)
        .linger(Duration::from_millis(2))
        .build()
        .await
        .expect("producer");
    p.init_transactions().await.expect("init_transactions");
    p
}

/// Every record of `topic`'s `partitions` at `isolation`, waiting for
/// `expected` (and a little longer for extras).
async fn read(
    topic: &str,
    partitions: i32,
    isolation: IsolationLevel,
    expected: usize,
) -> Vec<Read> {
    read_for(topic, partitions, isolation, expected, WAIT).await
}

/// As [`read`], waiting at most `wait` for `expected` records.
async fn read_for(
    topic: &str,
    partitions: i32,
    isolation: IsolationLevel,
    expected: usize,
    wait: Duration,
) -> Vec<Read> {
    let mut builder = PartitionReader::builder(&endpoints::kafka_bootstrap())
        .auto_offset_reset(OffsetReset::Earliest)
        .isolation_level(isolation);
    for p in 0..partitions {
        builder = builder.assign(topic, p, Offset::Earliest);
    }
    drain(builder.build().await.expect("reader"), expected, wait).await
}

fn values(records: &[Read]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap_or_default()).expect("utf8"))
        .collect();
    v.sort();
    v
}

async fn send_all(p: &Producer, topic: &str, prefix: &str, n: usize) {
    for i in 0..n {
        let value = format!("{prefix}-{i:03}");
        let key = format!("k{i}");
        p.send(ProducerRecord::new(topic).key(&key).value(&value))
            .await
            .expect("send in a transaction");
    }
}

async fn commit_and_abort(version: u8) {
    let topic = topic(&format!("txn-v{version}"), 3).await;
    let p = transactional(&names::unique("txn-id"), version).await;
    p.begin_transaction().await.expect("begin");
    send_all(&p, &topic, "committed", 20).await;
    p.commit_transaction().await.expect("commit");
    p.begin_transaction().await.expect("begin 2");
    send_all(&p, &topic, "aborted", 15).await;
    p.abort_transaction().await.expect("abort");
    // A third transaction after the abort commits again (the epoch moved
    // on under version 2; sequences restart).
    p.begin_transaction().await.expect("begin 3");
    send_all(&p, &topic, "again", 5).await;
    p.commit_transaction().await.expect("commit 3");

    let committed = read(&topic, 3, IsolationLevel::ReadCommitted, 25).await;
    let got = values(&committed);
    println!(
        "transaction version {version}: read_committed sees {} records",
        got.len()
    );
    assert_eq!(got.len(), 25, "{got:?}");
    assert!(got.iter().all(|v| !v.starts_with("aborted")), "{got:?}");
    let all = read(&topic, 3, IsolationLevel::ReadUncommitted, 40).await;
    let aborted = values(&all)
        .iter()
        .filter(|v| v.starts_with("aborted"))
        .count();
    println!(
        "transaction version {version}: read_uncommitted sees {} records, {aborted} of them aborted",
        all.len()
    );
    assert_eq!(all.len(), 40);
    assert_eq!(aborted, 15);
}

#[tokio::test]
async fn commit_is_visible_and_abort_is_not_under_transaction_version_2() {
    commit_and_abort(2).await;
}

#[tokio::test]
async fn commit_is_visible_and_abort_is_not_under_transaction_version_1() {
    commit_and_abort(1).await;
}

#[tokio::test]
async fn misuse_is_a_clear_error_and_the_producer_stays_usable() {
    let topic = topic("txn-misuse", 1).await;
    let id = names::unique("txn-id");
    let p = Producer::builder(&endpoints::kafka_bootstrap())
        .transactional_id(&id)
        .build()
        .await
        .expect("producer");
    let misuse = |e: Error, what: &str| {
        assert!(matches!(e, Error::TransactionState(_)), "{what}: {e:?}");
        println!("{what}: {e}");
    };
    // Before init_transactions.
    misuse(
        p.begin_transaction().await.expect_err("begin before init"),
        "begin before init",
    );
    p.init_transactions().await.expect("init");
    misuse(
        p.init_transactions().await.expect_err("second init"),
        "second init",
    );
    // Send outside a transaction.
    misuse(
        p.send(ProducerRecord::new(&topic).value("x"))
            .await
            .expect_err("send outside a transaction"),
        "send outside a transaction",
    );
    // Commit and abort without begin.
    misuse(
        p.commit_transaction()
            .await
            .expect_err("commit without begin"),
        "commit without begin",
    );
    misuse(
        p.abort_transaction()
            .await
            .expect_err("abort without begin"),
        "abort without begin",
    );
    // A second begin.
    p.begin_transaction().await.expect("begin");
    misuse(
        p.begin_transaction().await.expect_err("second begin"),
        "second begin",
    );
    // Still usable: the open transaction commits.
    p.send(ProducerRecord::new(&topic).value("after misuse"))
        .await
        .expect("send");
    p.commit_transaction().await.expect("commit");
    // Offsets need a transactional producer.
    let plain = Producer::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("plain producer");
    misuse(
        plain
            .begin_transaction()
            .await
            .expect_err("begin on a non-transactional producer"),
        "begin without a transactional_id",
    );
    let got = read(&topic, 1, IsolationLevel::ReadCommitted, 1).await;
    assert_eq!(values(&got), ["after misuse"]);
}

#[tokio::test]
async fn a_second_producer_with_the_same_id_fences_the_first() {
    let topic = topic("txn-fence", 2).await;
    let id = names::unique("txn-id");
    let first = transactional(&id, 2).await;
    first.begin_transaction().await.expect("begin");
    send_all(&first, &topic, "before-fencing", 5).await;
    // The second producer's InitProducerId fences the first and aborts its
    // open transaction.
    let second = transactional(&id, 2).await;
    let sent = first
        .send(ProducerRecord::new(&topic).key("k").value("after-fencing"))
        .await;
    let commit = first.commit_transaction().await;
    println!("send after fencing: {sent:?}; commit: {commit:?}");
    let fenced = match (&sent, &commit) {
        (Err(e), _) => e.clone(),
        (Ok(_), Err(e)) => e.clone(),
        (Ok(_), Ok(())) => panic!("the fenced producer committed"),
    };
    assert!(fenced.is_fenced(), "{fenced:?}");
    assert!(!fenced.is_retriable());
    assert!(matches!(
        fenced.code(),
        Some(ErrorCode::PRODUCER_FENCED | ErrorCode::INVALID_PRODUCER_EPOCH)
    ));
    // Every later call says fenced too.
    let again = first.begin_transaction().await.expect_err("fenced");
    assert!(again.is_fenced(), "{again:?}");
    // The second producer works; only its records are committed.
    second.begin_transaction().await.expect("begin");
    send_all(&second, &topic, "second", 3).await;
    second.commit_transaction().await.expect("commit");
    let got = values(&read(&topic, 2, IsolationLevel::ReadCommitted, 3).await);
    assert_eq!(got, ["second-000", "second-001", "second-002"]);
}

/// Records of an aborted transaction as its `DeliveryFuture`s report them.
#[derive(Debug, Default)]
struct Settled {
    /// Acknowledged: the request was in flight when the abort began (the
    /// abort marker covers them).
    written: usize,
    /// Failed with [`Error::TransactionAborted`]: never sent.
    aborted: usize,
}

/// Enqueues the records numbered `range` with values of `prefix` (keys
/// spread over the partitions) without awaiting their deliveries.
async fn enqueue_all(
    p: &Producer,
    topic: &str,
    prefix: &str,
    range: std::ops::Range<usize>,
) -> Vec<DeliveryFuture> {
    let mut deliveries = Vec::with_capacity(range.len());
    for i in range {
        let key = format!("k{i}");
        let value = format!("{prefix}-{i:05}-{}", "x".repeat(80));
        deliveries.push(
            p.enqueue(ProducerRecord::new(topic).key(&key).value(&value))
                .await
                .expect("enqueue"),
        );
    }
    deliveries
}

/// Aborts at once and checks that every delivery settles promptly: each
/// record is acknowledged (it was in flight) or fails with the abort.
async fn abort_and_settle(p: &Producer, deliveries: Vec<DeliveryFuture>) -> Settled {
    let started = std::time::Instant::now();
    tokio::time::timeout(WAIT, p.abort_transaction())
        .await
        .expect("the abort hung")
        .expect("abort");
    let mut settled = Settled::default();
    for d in deliveries {
        match tokio::time::timeout(WAIT, d).await {
            Err(_) => panic!("a delivery was still pending {WAIT:?} after the abort"),
            Ok(Ok(_)) => settled.written += 1,
            Ok(Err(Error::TransactionAborted)) => settled.aborted += 1,
            Ok(Err(e)) => panic!("a record of the aborted transaction failed with {e:?}"),
        }
    }
    println!(
        "abort and every delivery settled in {:?}: {settled:?}",
        started.elapsed()
    );
    settled
}

/// A transaction of 5 records, `prefix`-0..4, that must commit promptly.
async fn commit_five(p: &Producer, topic: &str, prefix: &str) {
    p.begin_transaction().await.expect("begin");
    let deliveries = enqueue_all(p, topic, prefix, 0..5).await;
    tokio::time::timeout(WAIT, p.commit_transaction())
        .await
        .expect("the commit after an abort hung")
        .expect("commit after an abort");
    for d in deliveries {
        d.await.expect("delivery of a committed record");
    }
}

/// An abort right after `enqueue`, with most records still in the
/// accumulator (BENCHMARKS.md, "Found by this bench"): the unsent ones
/// fail with [`Error::TransactionAborted`] at once and never reach the log,
/// and the next transaction commits (before the fix, under transaction
/// version 2, the next commit waited for the delivery timeout and failed
/// with it). Two aborts, each followed by a commit: one before the sender
/// took anything (no request of the transaction went out), one with a
/// batch per partition in flight and the rest queued behind it (the next
/// transaction's sequences must follow the batches sent, not the ones
/// failed). The delivery timeout is far longer than the test may take, so
/// a record left behind would show as a hang, not as a timeout error.
async fn abort_with_records_unsent(version: u8) {
    const PARTITIONS: i32 = 4;
    const RECORDS: usize = 5_000;
    let topic = topic(&format!("txn-abort-unsent-v{version}"), PARTITIONS).await;
    let p = Producer::builder(&endpoints::kafka_bootstrap())
        .transactional_id(names::unique("txn-id"))
        .max_transaction_version(version)
        .linger(Duration::ZERO)
        .delivery_timeout(Duration::from_secs(900))
        .build()
        .await
        .expect("producer");
    p.init_transactions().await.expect("init_transactions");

    // 1. Nothing sent: enqueue never yields to the sender here (the
    // topic's metadata is fetched once, before the transaction).
    p.cluster()
        .wait_for_partitions(&topic, WAIT)
        .await
        .expect("metadata");
    p.begin_transaction().await.expect("begin 1");
    let deliveries = enqueue_all(&p, &topic, "aborted-1", 0..RECORDS).await;
    let first = abort_and_settle(&p, deliveries).await;
    assert_eq!(first.written + first.aborted, RECORDS);
    assert!(first.aborted > 0, "{first:?}");
    commit_five(&p, &topic, "committed-1").await;

    // 2. Batches in flight: half the records, a moment for the sender to
    // take the first batch of each partition (the rest wait for its
    // answer), then the other half and the abort at once, before any
    // answer is read (one thread).
    p.begin_transaction().await.expect("begin 2");
    let mut deliveries = enqueue_all(&p, &topic, "aborted-2", 0..RECORDS / 2).await;
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    deliveries.extend(enqueue_all(&p, &topic, "aborted-2", RECORDS / 2..RECORDS).await);
    let second = abort_and_settle(&p, deliveries).await;
    assert_eq!(second.written + second.aborted, RECORDS);
    assert!(second.written > 0, "nothing was in flight: {second:?}");
    assert!(second.aborted > 0, "nothing was left unsent: {second:?}");
    commit_five(&p, &topic, "committed-2").await;

    // read_committed sees exactly the committed transactions; the log holds
    // only the records acknowledged in the aborted ones besides (the unsent
    // ones were never sent later). One record more is waited for, briefly.
    let short = Duration::from_secs(3);
    let committed = values(&read_for(&topic, PARTITIONS, ReadCommitted, 11, short).await);
    assert_eq!(committed.len(), 10, "{committed:?}");
    assert!(
        committed.iter().all(|v| v.starts_with("committed-")),
        "{committed:?}"
    );
    let written = first.written + second.written;
    let all = read_for(&topic, PARTITIONS, ReadUncommitted, written + 11, short).await;
    println!(
        "transaction version {version}: read_committed sees {}, read_uncommitted {} ({written} of them aborted)",
        committed.len(),
        all.len()
    );
    assert_eq!(all.len(), written + 10);
}

#[tokio::test]
async fn an_abort_fails_unsent_records_at_once_and_the_next_commit_succeeds_v2() {
    abort_with_records_unsent(2).await;
}

#[tokio::test]
async fn an_abort_fails_unsent_records_at_once_and_the_next_commit_succeeds_v1() {
    abort_with_records_unsent(1).await;
}

/// The latest offset of each partition as an admin at `isolation` lists it.
async fn latest(topic: &str, isolation: Option<IsolationLevel>) -> (i64, i64) {
    let mut builder = Admin::builder(&endpoints::kafka_bootstrap());
    if let Some(level) = isolation {
        builder = builder.isolation_level(level);
    }
    let admin = builder.build().await.expect("admin");
    let listed = admin
        .list_offsets(topic, &[0, 1], OffsetSpec::Latest)
        .await
        .expect("list offsets");
    (listed[&0].offset, listed[&1].offset)
}

#[tokio::test]
async fn list_offsets_latest_is_the_last_stable_offset_under_read_committed() {
    let topic = topic("txn-lso", 2).await;
    // Three plain records in each partition: offsets 0 to 2.
    let plain = Producer::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("plain producer");
    for p in 0..2 {
        for i in 0..3 {
            plain
                .send(
                    ProducerRecord::new(&topic)
                        .partition(p)
                        .value(&format!("plain-{i}")),
                )
                .await
                .expect("send");
        }
    }
    // An open transaction with four records in partition 0 (offsets 3 to
    // 6); partition 1 has none.
    let txn = transactional(&names::unique("txn-lso"), 2).await;
    txn.begin_transaction().await.expect("begin");
    for i in 0..4 {
        txn.send(
            ProducerRecord::new(&topic)
                .partition(0)
                .value(&format!("open-{i}")),
        )
        .await
        .expect("send in the transaction");
    }
    let default = latest(&topic, None).await;
    let committed = latest(&topic, Some(IsolationLevel::ReadCommitted)).await;
    let uncommitted = latest(&topic, Some(IsolationLevel::ReadUncommitted)).await;
    println!(
        "open transaction from offset 3 of partition 0: latest (0, 1) read_committed {committed:?} \
         (the default {default:?}), read_uncommitted {uncommitted:?}"
    );
    // read_committed stops at the open transaction's first offset (the
    // last stable offset); read_uncommitted gives the high watermark.
    assert_eq!(committed, (3, 3));
    assert_eq!(default, committed, "read_committed is the default");
    assert_eq!(uncommitted, (7, 3));
    // Once it commits, both are past its marker (which the coordinator
    // writes after EndTxn returns: wait for it).
    txn.commit_transaction().await.expect("commit");
    let deadline = tokio::time::Instant::now() + WAIT;
    let committed = loop {
        let now = latest(&topic, Some(IsolationLevel::ReadCommitted)).await;
        if now.0 >= 8 || tokio::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let uncommitted = latest(&topic, Some(IsolationLevel::ReadUncommitted)).await;
    println!("after the commit: read_committed {committed:?}, read_uncommitted {uncommitted:?}");
    assert_eq!(committed, (8, 3));
    assert_eq!(uncommitted, (8, 3));
}

#[tokio::test]
async fn java_transactions_are_filtered_by_our_read_committed_reader() {
    let topic = topic("txn-java", 1).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts/lib/KafkaRecordGoldens.java");
    let script = script.to_str().expect("path");
    let out = tools::kafka_java(
        script,
        &["txn", &endpoints::kafka_bootstrap(), &topic, "lz4"],
    );
    tools::check("KafkaRecordGoldens txn", &out);
    // Java committed 3 records and aborted 2.
    let committed = read(&topic, 1, IsolationLevel::ReadCommitted, 3).await;
    let got = values(&committed);
    println!("read_committed of Java's transactions: {got:?}");
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|v| v.starts_with("committed value")));
    let all = read(&topic, 1, IsolationLevel::ReadUncommitted, 5).await;
    let aborted = values(&all)
        .iter()
        .filter(|v| v.starts_with("aborted value"))
        .count();
    println!(
        "read_uncommitted of Java's transactions: {} records, {aborted} aborted",
        all.len()
    );
    assert_eq!((all.len(), aborted), (5, 2));
}

#[tokio::test]
async fn our_aborted_transactions_are_invisible_to_javas_read_committed_consumer() {
    let topic = topic("txn-java-reads", 1).await;
    let p = transactional(&names::unique("txn-id"), 2).await;
    p.begin_transaction().await.expect("begin");
    send_all(&p, &topic, "aborted", 4).await;
    p.abort_transaction().await.expect("abort");
    p.begin_transaction().await.expect("begin");
    send_all(&p, &topic, "committed", 3).await;
    p.commit_transaction().await.expect("commit");
    let consume = |isolation: &str| {
        tools::kafka_java(
            "org.apache.kafka.tools.consumer.ConsoleConsumer",
            &[
                "--bootstrap-server",
                &endpoints::kafka_bootstrap(),
                "--topic",
                &topic,
                "--from-beginning",
                "--isolation-level",
                isolation,
                "--timeout-ms",
                "8000",
            ],
        )
    };
    let out = consume("read_committed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    lines.sort_unstable();
    println!("kafka-console-consumer --isolation-level read_committed: {lines:?}");
    assert_eq!(lines, ["committed-000", "committed-001", "committed-002"]);
    let out = consume("read_uncommitted");
    let text = String::from_utf8_lossy(&out.stdout);
    let all = text.lines().filter(|l| !l.is_empty()).count();
    println!("kafka-console-consumer --isolation-level read_uncommitted: {all} records");
    assert_eq!(all, 7);
}

/// One run of the pipeline: a transactional producer (always the same
/// `transactional_id`, so a restart fences the killed run's producer and
/// aborts its open transaction) and a static group member (so a restart
/// takes the killed member's place without waiting for its session to
/// expire), looping over `transform_in_transaction`.
async fn pipeline(
    input: String,
    output: String,
    group: String,
    txn_id: String,
    done: Arc<AtomicUsize>,
) {
    let bootstrap = endpoints::kafka_bootstrap();
    let producer = Producer::builder(&bootstrap)
        .transactional_id(&txn_id)
        .linger(Duration::from_millis(2))
        .build()
        .await
        .expect("producer");
    producer
        .init_transactions()
        .await
        .expect("init_transactions");
    let mut consumer = Consumer::builder(&bootstrap)
        .group(&group)
        .group_instance_id("pipeline-0")
        .session_timeout(Duration::from_secs(10))
        .auto_offset_reset(OffsetReset::Earliest)
        // Small fetches: many transactions, so the kills land mid-run.
        .max_partition_fetch_bytes(16 * 1024)
        .build()
        .await
        .expect("consumer");
    consumer
        .subscribe([input.as_str()])
        .await
        .expect("subscribe");
    loop {
        let step = consumer
            .transform_in_transaction(&producer, &output, |r| {
                let mut value = b"out:".to_vec();
                value.extend_from_slice(r.value().unwrap_or_default());
                vec![Transformed::new(r.key.clone(), value)]
            })
            .await;
        match step {
            Ok(n) => {
                done.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) if e.is_abortable() => println!("pipeline step aborted: {e}"),
            Err(e) => panic!("pipeline: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exactly_once_pipeline_survives_two_killed_tasks() {
    const N: usize = 100_000;
    let input = topic("eos-in", 4).await;
    let output = topic("eos-out", 4).await;
    let group = names::group("eos");
    let txn_id = names::unique("eos-txn");
    let bootstrap = endpoints::kafka_bootstrap();
    let source = Producer::builder(&bootstrap)
        .linger(Duration::from_millis(10))
        .build()
        .await
        .expect("source producer");
    let mut deliveries = Vec::with_capacity(N);
    for i in 0..N {
        let key = format!("k{}", i % 997);
        let value = format!("in-{i}");
        deliveries.push(
            source
                .enqueue(ProducerRecord::new(&input).key(&key).value(&value))
                .await
                .expect("enqueue"),
        );
    }
    for d in deliveries {
        d.await.expect("input record");
    }
    let done = Arc::new(AtomicUsize::new(0));
    let start = || {
        tokio::spawn(pipeline(
            input.clone(),
            output.clone(),
            group.clone(),
            txn_id.clone(),
            done.clone(),
        ))
    };
    // Kill the loop's task twice, each time once a random share of the
    // input is through, plus a random few milliseconds (so the kill lands
    // anywhere in a transaction), and start it again.
    for (kill, (lo, hi)) in [(1, (0.10, 0.35)), (2, (0.45, 0.75))] {
        let task = start();
        let (at, jitter) = {
            let mut rng = rand::rng();
            (rng.random_range(lo..hi), rng.random_range(0..40u64))
        };
        let threshold = (N as f64 * at) as usize;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
        while done.load(Ordering::Relaxed) < threshold {
            assert!(!task.is_finished(), "the pipeline task ended");
            assert!(
                tokio::time::Instant::now() < deadline,
                "the pipeline is stuck at {} records",
                done.load(Ordering::Relaxed)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(jitter)).await;
        task.abort();
        let _ = task.await;
        println!(
            "kill {kill}: after {} committed input records (threshold {threshold})",
            done.load(Ordering::Relaxed)
        );
    }
    let task = start();
    // A read_committed reader of the output sees each input exactly once:
    // N records, and nothing more in the seconds after (the pipeline goes
    // on polling meanwhile).
    let mut builder = PartitionReader::builder(&bootstrap).auto_offset_reset(OffsetReset::Earliest);
    for p in 0..4 {
        builder = builder.assign(&output, p, Offset::Earliest);
    }
    let mut reader = builder.build().await.expect("reader");
    let mut committed: Vec<Vec<u8>> = Vec::with_capacity(N);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let mut quiet_until: Option<tokio::time::Instant> = None;
    loop {
        let until = quiet_until.unwrap_or(deadline);
        let Ok(batch) = tokio::time::timeout_at(until, reader.next_batch()).await else {
            break;
        };
        for r in batch.expect("fetch").iter() {
            committed.push(r.expect("record").value().unwrap_or_default().to_vec());
        }
        if committed.len() >= N && quiet_until.is_none() {
            quiet_until = Some(tokio::time::Instant::now() + Duration::from_secs(3));
        }
    }
    task.abort();
    let _ = task.await;
    let distinct: HashSet<&[u8]> = committed.iter().map(Vec::as_slice).collect();
    println!(
        "read_committed output: {} records, {} distinct",
        committed.len(),
        distinct.len()
    );
    assert_eq!(distinct.len(), committed.len(), "duplicates in the output");
    assert_eq!(committed.len(), N, "inputs lost or duplicated");
    for i in (0..N).step_by(7919) {
        let want = format!("out:in-{i}");
        assert!(distinct.contains(want.as_bytes()), "{want} is missing");
    }
    let all = read(&output, 4, IsolationLevel::ReadUncommitted, 2 * N).await;
    println!(
        "read_uncommitted output: {} records, {} of them from aborted transactions",
        all.len(),
        all.len().saturating_sub(N)
    );
    assert!(all.len() >= N);
}
