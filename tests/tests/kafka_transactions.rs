//! Transactions against the real broker (issue 18): commit and abort as a
//! read_committed and a read_uncommitted reader see them, under both
//! transaction protocols (version 2, the cluster's, and version 1, forced);
//! fencing by a second producer with the same `transactional_id`; misuse
//! errors that leave the producer usable; and interop with Java's
//! transactional producer and console consumer.

mod kafka_client_support;

use std::time::Duration;

use mq_client::kafka::{
    Error, ErrorCode, IsolationLevel, Offset, OffsetReset, PartitionReader, Producer,
    ProducerRecord,
};
use mq_tests::{endpoints, names, tools};

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
    let mut builder = PartitionReader::builder(&endpoints::kafka_bootstrap())
        .auto_offset_reset(OffsetReset::Earliest)
        .isolation_level(isolation);
    for p in 0..partitions {
        builder = builder.assign(topic, p, Offset::Earliest);
    }
    drain(builder.build().await.expect("reader"), expected, WAIT).await
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
