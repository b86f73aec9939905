//! `mq topics`, `mq topic create|delete`, and the options of `mq produce`
//! and `mq consume` against the real Kafka broker, checked with kcat where
//! a second opinion helps.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// The partition lines of `mq topics` for `topic`: (partition, leader,
/// replicas, isr).
fn partition_lines(listing: &str, topic: &str) -> Vec<(i32, String, String, String)> {
    listing
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(topic))
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            assert!(cells.len() == 5 || cells.len() == 4, "{l}");
            (
                cells[1].parse().expect("a partition number"),
                cells[2].to_owned(),
                cells[3].to_owned(),
                cells.get(4).copied().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[test]
fn topic_create_list_and_delete() {
    let name = mq_tests::names::topic("create");
    let url = kafka_url(&name);
    let created = mq(
        &[
            "topic",
            "create",
            &url,
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "--topic-config",
            "retention.ms=3600000",
        ],
        b"",
    )
    .ok();
    assert_eq!(
        created.text(),
        format!("topic '{name}' created: 3 partitions, replication factor 1\n")
    );

    // The topic alone: a header and one line per partition.
    let one = mq(&["topics", &url], b"").ok().text();
    let mut lines = one.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"]);
    let parts = partition_lines(&one, &name);
    assert_eq!(parts.len(), 3, "{one}");
    assert_eq!(lines.count(), 3, "{one}");
    for (i, (partition, leader, replicas, isr)) in parts.iter().enumerate() {
        assert_eq!(*partition, i as i32);
        let leader: i32 = leader.parse().expect("a leader id");
        // One replica, the leader, in sync.
        assert_eq!(replicas, &leader.to_string());
        assert_eq!(isr, &leader.to_string());
    }
    // kcat agrees.
    let kcat_list = kcat(&["-L", "-t", &name], b"");
    let kcat_text = String::from_utf8_lossy(&kcat_list.stdout);
    assert!(
        kcat_text.contains(&format!("topic \"{name}\" with 3 partitions")),
        "{kcat_text}"
    );
    // The cluster's listing has it too, and the internal topics.
    let all = mq(&["topics", &format!("kafka://{}", kafka_bootstrap())], b"")
        .ok()
        .text();
    assert_eq!(partition_lines(&all, &name), parts);

    let deleted = mq(&["topic", "delete", &url], b"").ok();
    assert_eq!(deleted.text(), format!("topic '{name}' deleted\n"));
    fails(
        &["topics", &url],
        b"",
        NOT_FOUND,
        &format!("cannot describe topic '{name}': unknown topic '{name}'"),
    );
}

#[test]
fn produce_to_one_partition_and_consume_it_alone() {
    let topic = Topic::new("one-partition", 3);
    mq(
        &["produce", &topic.url, "--partition", "2"],
        b"first\nsecond\n",
    )
    .ok();
    let two = mq(
        &[
            "consume",
            &topic.url,
            "--partition",
            "2",
            "--from",
            "earliest",
            "--exit-at-end",
        ],
        b"",
    )
    .ok();
    assert_eq!(two.text(), "first\nsecond\n");
    // Partition 0 is empty: with --exit-at-end there is nothing to wait for.
    let zero = mq(
        &[
            "consume",
            &topic.url,
            "--partition",
            "0",
            "--from",
            "earliest",
            "--exit-at-end",
        ],
        b"",
    )
    .ok();
    assert_eq!(zero.text(), "");
    let seen = kcat(
        &[
            "-C",
            "-t",
            &topic.name,
            "-p",
            "2",
            "-e",
            "-q",
            "-f",
            "%p %s\\n",
        ],
        b"",
    );
    assert_eq!(String::from_utf8_lossy(&seen.stdout), "2 first\n2 second\n");
}

#[test]
fn consume_reads_every_partition_in_order() {
    let topic = Topic::new("every-partition", 4);
    let input: String = (0..200).map(|i| format!("key-{}:{i}\n", i % 10)).collect();
    mq(
        &[
            "produce",
            &topic.url,
            "--key-delimiter",
            ":",
            "--compression",
            "snappy",
        ],
        input.as_bytes(),
    )
    .ok();
    let run = mq(
        &[
            "consume",
            &topic.url,
            "--from",
            "earliest",
            "--exit-at-end",
            "--format",
            "json",
        ],
        b"",
    )
    .ok();
    let records = json_lines(&run.stdout);
    assert_eq!(records.len(), 200);
    let mut partitions = std::collections::BTreeMap::<i64, Vec<i64>>::new();
    let mut key_partition = std::collections::HashMap::<String, i64>::new();
    for r in &records {
        let p = r["partition"].as_i64().unwrap();
        partitions
            .entry(p)
            .or_default()
            .push(r["offset"].as_i64().unwrap());
        // One key, one partition.
        let key = r["key"].as_str().unwrap().to_owned();
        assert_eq!(*key_partition.entry(key).or_insert(p), p, "{r}");
    }
    assert!(partitions.len() > 1, "ten keys spread over partitions");
    for offsets in partitions.values() {
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(offsets, &expected, "each partition's offsets in order");
    }
    // Each key's values arrive in the order they were produced.
    for k in 0..10 {
        let values: Vec<u64> = records
            .iter()
            .filter(|r| r["key"] == format!("key-{k}"))
            .map(|r| r["value"].as_str().unwrap().parse().unwrap())
            .collect();
        let expected: Vec<u64> = (0..20).map(|i| i * 10 + k).collect();
        assert_eq!(values, expected);
    }
}

#[test]
fn from_an_offset_with_a_count() {
    let topic = Topic::new("from-offset", 1);
    let input: String = (0..10).map(|i| format!("{i}\n")).collect();
    mq(&["produce", &topic.url], input.as_bytes()).ok();
    let consume = |args: &[&str]| {
        let mut all = vec!["consume", topic.url.as_str()];
        all.extend_from_slice(args);
        mq(&all, b"").ok().text()
    };
    assert_eq!(consume(&["--from", "3", "--count", "2"]), "3\n4\n");
    assert_eq!(consume(&["--from", "8", "--exit-at-end"]), "8\n9\n");
    // An offset past the end starts at the end.
    assert_eq!(consume(&["--from", "100", "--exit-at-end"]), "");
    assert_eq!(consume(&["--from", "earliest", "--count", "1"]), "0\n");
    // The default start is the end: nothing old is read.
    assert_eq!(consume(&["--exit-at-end"]), "");
    assert_eq!(consume(&["--from", "latest", "--exit-at-end"]), "");
    assert_eq!(consume(&["--from", "earliest", "--count", "0"]), "");
    // Records before offset 5 deleted: an offset before the start, and
    // earliest, start at 5.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let admin = mq_client::kafka::Admin::builder(&kafka_bootstrap())
            .build()
            .await
            .expect("admin");
        let low = admin
            .delete_records(&topic.name, &[(0, 5)])
            .await
            .expect("DeleteRecords");
        assert_eq!(low.get(&0), Some(&5));
    });
    assert_eq!(consume(&["--from", "2", "--count", "1"]), "5\n");
    assert_eq!(
        consume(&["--from", "earliest", "--exit-at-end"]),
        "5\n6\n7\n8\n9\n"
    );
}

/// Without --exit-at-end, consume waits for records produced after it
/// started (from the end, the default), and --count ends it.
#[test]
fn consume_follows_new_records() {
    let topic = Topic::new("follow", 1);
    mq(&["produce", &topic.url], b"old\n").ok();
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_mq"))
        .args(["consume", &topic.url, "--count", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mq starts");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map(|l| l.expect("a line"))
            .collect::<Vec<String>>()
    });
    // Produce until mq has read two: records produced before it found the
    // end are not for it.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut tick = 0;
    while child.try_wait().expect("mq runs").is_none() {
        assert!(
            Instant::now() < deadline,
            "mq consume never got two records"
        );
        mq(
            &["produce", &topic.url],
            format!("tick-{tick}\n").as_bytes(),
        )
        .ok();
        tick += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = child.wait().expect("mq exits");
    assert!(status.success(), "{status}");
    let lines = reader.join().expect("the reader");
    assert_eq!(lines.len(), 2, "{lines:?}");
    let first: u32 = lines[0]
        .strip_prefix("tick-")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(lines[1], format!("tick-{}", first + 1));
}

#[test]
fn acks_0_1_and_all_deliver() {
    let topic = Topic::new("acks", 1);
    for acks in ["0", "1", "all"] {
        let input: String = (0..50).map(|i| format!("acks={acks} {i}\n")).collect();
        mq(
            &[
                "produce",
                &topic.url,
                "--acks",
                acks,
                "--compression",
                "lz4",
            ],
            input.as_bytes(),
        )
        .ok();
    }
    let out = kcat(&["-C", "-t", &topic.name, "-e", "-q"], b"");
    let text = String::from_utf8_lossy(&out.stdout);
    for acks in ["0", "1", "all"] {
        let n = text
            .lines()
            .filter(|l| l.starts_with(&format!("acks={acks} ")))
            .count();
        assert_eq!(n, 50, "acks {acks}: {text}");
    }
}

#[test]
fn an_empty_input_produces_nothing() {
    let topic = Topic::new("empty-input", 1);
    mq(&["produce", &topic.url], b"").ok();
    let run = mq(
        &["consume", &topic.url, "--from", "earliest", "--exit-at-end"],
        b"",
    )
    .ok();
    assert_eq!(run.text(), "");
}

/// A transactional producer's log: each transaction's records, then its
/// commit marker (a control batch, which has an offset but is not a
/// record). `--exit-at-end` reaches the end even when all that is left
/// before it is a marker, and only the data records are printed.
#[test]
fn exit_at_end_steps_over_transaction_markers() {
    let topic = Topic::new("transactions", 1);
    // Offsets 0-2 and the marker at 3; offset 4 and the marker at 5.
    produce_transaction(&topic.name, &["a", "b", "c"]);
    produce_transaction(&topic.name, &["d"]);
    let consume = |args: &[&str]| {
        let mut all = vec!["consume", topic.url.as_str(), "--exit-at-end"];
        all.extend_from_slice(args);
        mq(&all, b"").ok().text()
    };
    assert_eq!(consume(&["--from", "earliest"]), "a\nb\nc\nd\n");
    // From the first marker: the second transaction.
    assert_eq!(consume(&["--from", "3"]), "d\n");
    // From the last marker: nothing but the marker is left.
    assert_eq!(consume(&["--from", "5"]), "");
    let json = mq(
        &[
            "consume",
            &topic.url,
            "--from",
            "earliest",
            "--exit-at-end",
            "--format",
            "json",
        ],
        b"",
    )
    .ok();
    let offsets: Vec<i64> = json_lines(&json.stdout)
        .iter()
        .map(|r| r["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(offsets, [0, 1, 2, 4]);
}

/// `mq consume` reads read_committed by default: a transaction our
/// producer aborted is skipped; `--isolation read_uncommitted` shows it.
#[test]
fn consume_skips_aborted_transactions_unless_read_uncommitted() {
    use mq_client::kafka::{Producer, ProducerRecord};
    let topic = Topic::new("isolation", 1);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let p = Producer::builder(&kafka_bootstrap())
            .transactional_id(mq_tests::names::unique("mq-cli-isolation"))
            .build()
            .await
            .expect("producer");
        p.init_transactions().await.expect("init");
        for (values, commit) in [(["a", "b"], true), (["x", "y"], false), (["c", "d"], true)] {
            p.begin_transaction().await.expect("begin");
            for v in values {
                p.send(ProducerRecord::new(&topic.name).value(v))
                    .await
                    .expect("send");
            }
            if commit {
                p.commit_transaction().await.expect("commit");
            } else {
                p.abort_transaction().await.expect("abort");
            }
        }
    });
    let consume = |args: &[&str]| {
        let mut all = vec![
            "consume",
            topic.url.as_str(),
            "--exit-at-end",
            "--from",
            "earliest",
        ];
        all.extend_from_slice(args);
        mq(&all, b"").ok().text()
    };
    assert_eq!(consume(&[]), "a\nb\nc\nd\n");
    assert_eq!(consume(&["--isolation", "read_committed"]), "a\nb\nc\nd\n");
    assert_eq!(
        consume(&["--isolation", "read_uncommitted"]),
        "a\nb\nx\ny\nc\nd\n"
    );
}

/// `--exit-at-end` stops at the end a reader at `--isolation` reaches:
/// under read_committed (the default) the last stable offset, so a
/// transaction still open at the end of the partition does not keep `mq`
/// waiting (the end used to be the high watermark, which a read_committed
/// reader never passes while the transaction is open); under
/// read_uncommitted the high watermark, open records included. The same
/// with a group.
#[test]
fn exit_at_end_stops_before_an_open_transaction_under_read_committed() {
    let topic = Topic::new("open-txn", 1);
    let (_rt, _open) = open_transaction(&topic.name, &["a", "b"], &["x", "y"]);
    let consume = |args: &[&str]| {
        let mut all = vec![
            "consume",
            topic.url.as_str(),
            "--exit-at-end",
            "--from",
            "earliest",
        ];
        all.extend_from_slice(args);
        let started = Instant::now();
        let text = mq(&all, b"").ok().text();
        println!("mq consume {args:?}: {text:?} in {:?}", started.elapsed());
        text
    };
    assert_eq!(consume(&[]), "a\nb\n");
    assert_eq!(
        consume(&["--isolation", "read_uncommitted"]),
        "a\nb\nx\ny\n"
    );
    let group = mq_tests::names::group("open-txn");
    assert_eq!(consume(&["--group", &group]), "a\nb\n");
    let group = mq_tests::names::group("open-txn-uncommitted");
    assert_eq!(
        consume(&["--group", &group, "--isolation", "read_uncommitted"]),
        "a\nb\nx\ny\n"
    );
}
