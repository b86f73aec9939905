//! Failures of the Kafka commands against the real broker (or a port with
//! no broker): one line on stderr, `mq: ...`, the documented exit status,
//! never a panic or a debug dump.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Command as StdCommand, Stdio};

use support::*;

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

#[test]
fn an_unreachable_broker_exits_6() {
    let port = closed_port();
    let dead = format!("kafka://127.0.0.1:{port}/orders");
    let expected = format!(
        "mq: cannot connect to kafka://127.0.0.1:{port}: no broker reachable \
         (broker 127.0.0.1:{port}: ConnectionRefused: Connection refused"
    );
    for args in [
        &["produce", &dead][..],
        &["consume", &dead, "--from", "earliest"],
        &["topics", &dead],
        &["topic", "create", &dead],
        &["topic", "delete", &dead],
        &["bench", &dead, "--count", "10"],
    ] {
        fails(args, b"x\n", UNREACHABLE, &expected);
    }
    // A name that does not resolve, in a bootstrap list of two.
    let unresolvable = format!("kafka://no-such-host.invalid:9092,127.0.0.1:{port}");
    fails(
        &["topics", &unresolvable],
        b"",
        UNREACHABLE,
        &format!("mq: cannot connect to {unresolvable}: no broker reachable"),
    );
}

#[test]
fn a_bad_url_exits_4() {
    let bootstrap = kafka_bootstrap();
    let bad_topic = format!("kafka://{bootstrap}/no spaces");
    let bad_port = "kafka://127.0.0.1:99999/t".to_owned();
    for url in [&bad_topic, &bad_port] {
        for args in [
            &["produce", url.as_str()][..],
            &["consume", url],
            &["topics", url],
            &["topic", "create", url],
            &["topic", "delete", url],
            &["bench", url],
        ] {
            fails(args, b"x\n", BAD_URL, "mq: bad URL: ");
        }
    }
    fails(
        &["produce", &bad_topic],
        b"",
        BAD_URL,
        "'no spaces' is not a valid topic name",
    );
}

#[test]
fn an_unknown_topic_exits_8() {
    let name = mq_tests::names::topic("unknown");
    let url = kafka_url(&name);
    fails(
        &["produce", &url],
        b"x\n",
        NOT_FOUND,
        &format!(
            "mq: cannot produce to topic '{name}': unknown topic '{name}' \
             (create it with 'mq topic create {url}')"
        ),
    );
    fails(
        &["consume", &url, "--from", "earliest"],
        b"",
        NOT_FOUND,
        &format!("mq: cannot consume from topic '{name}': unknown topic '{name}'"),
    );
    fails(
        &["topics", &url],
        b"",
        NOT_FOUND,
        &format!("mq: cannot describe topic '{name}': unknown topic '{name}'"),
    );
    fails(
        &["topic", "delete", &url],
        b"",
        NOT_FOUND,
        &format!("mq: cannot delete topic '{name}': unknown topic '{name}'"),
    );
    fails(
        &["bench", &url, "--count", "10"],
        b"",
        NOT_FOUND,
        &format!("unknown topic '{name}'"),
    );
    // Producing did not create it.
    fails(&["topics", &url], b"", NOT_FOUND, "unknown topic");
}

#[test]
fn an_unknown_partition_exits_8() {
    let topic = Topic::new("unknown-partition", 2);
    let t = &topic.name;
    fails(
        &["produce", &topic.url, "--partition", "2"],
        b"x\n",
        NOT_FOUND,
        &format!(
            "mq: cannot produce to topic '{t}': topic '{t}' has no partition 2 \
             (it has 2 partitions, 0 to 1)"
        ),
    );
    fails(
        &["consume", &topic.url, "--partition", "7"],
        b"",
        NOT_FOUND,
        &format!("mq: cannot consume from topic '{t}': topic '{t}' has no partition 7"),
    );
}

#[test]
fn the_broker_refuses_a_topic_with_10() {
    let topic = Topic::new("exists", 1);
    fails(
        &["topic", "create", &topic.url],
        b"",
        REFUSED,
        &format!(
            "mq: cannot create topic '{}': it already exists",
            topic.name
        ),
    );
    // More replicas than brokers: scripts/brokers starts at most five.
    let name = mq_tests::names::topic("six-replicas");
    fails(
        &[
            "topic",
            "create",
            &kafka_url(&name),
            "--replication-factor",
            "6",
        ],
        b"",
        REFUSED,
        "(INVALID_REPLICATION_FACTOR (38))",
    );
    fails(
        &[
            "topic",
            "create",
            &kafka_url(&name),
            "--topic-config",
            "retention.ms=soon",
        ],
        b"",
        REFUSED,
        "Invalid value soon for configuration retention.ms",
    );
}

/// A record larger than the producer sends fails alone; the others are
/// delivered, and the exit status says one was not.
#[test]
fn a_record_too_large_exits_9_and_the_others_still_go() {
    let topic = Topic::new("too-large", 1);
    let mut input = b"before\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 1_100_000));
    input.extend_from_slice(b"\nafter\n");
    fails(
        &["produce", &topic.url],
        &input,
        NOT_CONFIRMED,
        "mq: 1 of 3 records were not delivered: record of 1100",
    );
    let run = mq(
        &["consume", &topic.url, "--from", "earliest", "--exit-at-end"],
        b"",
    )
    .ok();
    assert_eq!(run.text(), "before\nafter\n");
}

/// The broker refuses batches larger than the topic's max.message.bytes:
/// every record in them is counted as not delivered.
#[test]
fn records_the_broker_refuses_exit_9() {
    let topic = Topic::with_args(
        "broker-refuses",
        &["--topic-config", "max.message.bytes=200"],
    );
    let line = "y".repeat(300);
    let run = fails(
        &["produce", &topic.url],
        format!("{line}\n{line}\n").as_bytes(),
        NOT_CONFIRMED,
        "mq: 2 of 2 records were not delivered: MESSAGE_TOO_LARGE (10)",
    );
    assert!(run.stderr.contains("(2 records)"), "{}", run.stderr);
}

/// `mq consume ... | head -1`: stdout closes early; mq exits quietly with
/// the status a SIGPIPE death would give.
#[test]
fn a_closed_stdout_exits_quietly() {
    let topic = Topic::new("closed-stdout", 1);
    let body = "x".repeat(1000);
    let input: String = (0..2000).map(|i| format!("{i} {body}\n")).collect();
    mq(
        &["produce", &topic.url, "--compression", "lz4"],
        input.as_bytes(),
    )
    .ok();
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_mq"))
        .args(["consume", &topic.url, "--from", "earliest"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mq starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("one line");
    assert!(first.starts_with("0 xxx"), "{first}");
    // The reader is gone: the pipe is closed, as `head -1` does.
    let out = child.wait_with_output().expect("mq exits");
    assert_eq!(out.status.code(), Some(BROKEN_PIPE));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// A consumer group on a topic that does not exist: one line, exit 8,
/// before joining anything.
#[test]
fn a_consumer_group_on_an_unknown_topic_exits_8() {
    let name = mq_tests::names::topic("group-nope");
    fails(
        &[
            "consume",
            &kafka_url(&name),
            "--group",
            "g",
            "--from",
            "earliest",
        ],
        b"",
        NOT_FOUND,
        &format!("mq: cannot consume from topic '{name}' in group 'g': unknown topic '{name}'"),
    );
}
