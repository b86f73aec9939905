//! `mq produce` and `mq consume` against RabbitMQ, with amqp-tools
//! (rabbitmq-c) on the other end: bodies byte for byte, and headers and
//! properties where amqp-tools can carry them.

mod support;

use support::*;

/// Bodies that stress the line splitting: spaces, an empty line, a CR
/// before the newline, bytes that are not UTF-8, a NUL, tabs and quotes.
const LINES: &[&[u8]] = &[
    b"hello world",
    b"",
    b"carriage return\r",
    b"\xff\xfe not utf-8 \x80",
    b"nul \x00 inside",
    b"{\"json\": \"quotes\\\" and\ttabs\"}",
    "ünïcödé ✓".as_bytes(),
];

#[test]
fn amqp_consume_reads_what_mq_produce_publishes() {
    let q = queue("produce-to-amqp-consume");
    mq(
        &[
            "produce",
            &url(),
            "--routing-key",
            &q,
            "--persistent",
            "--header",
            "source=mq",
        ],
        &stdin_of(LINES),
    )
    .ok();
    let script = framing_script();
    let count = LINES.len().to_string();
    let out = amqp_tool(
        "amqp-consume",
        &[
            "-u",
            &url(),
            "-q",
            &q,
            "-c",
            &count,
            script.to_str().expect("a UTF-8 temp path"),
        ],
        b"",
    );
    let bodies: Vec<&[u8]> = out
        .stdout
        .strip_suffix(b"\x1e")
        .expect("every body ends with the separator")
        .split(|&b| b == 0x1e)
        .collect();
    assert_eq!(bodies, LINES, "byte for byte, in order");
}

#[test]
fn mq_consume_reads_what_amqp_publish_sends_with_headers() {
    let q = queue("amqp-publish-to-consume");
    // Without -b, amqp-publish sends all of stdin as one body: binary,
    // with a NUL and the trailing newline.
    let binary: &[u8] = b"bin\x00\xff\xfe\n";
    amqp_tool(
        "amqp-publish",
        &[
            "-u",
            &url(),
            "-r",
            &q,
            "-p",
            "-C",
            "application/octet-stream",
            "-H",
            "source: amqp-publish",
            "-H",
            "trace-id: 4bf92f3577b34da6",
        ],
        binary,
    );
    amqp_tool(
        "amqp-publish",
        &[
            "-u",
            &url(),
            "-r",
            &q,
            "-b",
            "text body ✓",
            "-E",
            "identity",
        ],
        b"",
    );
    let run = mq(
        &[
            "consume",
            &url(),
            "--queue",
            &q,
            "--count",
            "2",
            "--format",
            "json",
        ],
        b"",
    )
    .ok();
    let msgs = json_lines(&run.stdout);
    assert_eq!(msgs.len(), 2, "{}", run.text());

    let first = &msgs[0];
    assert_eq!(first["queue"], q.as_str());
    assert_eq!(first["routing_key"], q.as_str());
    assert_eq!(first["exchange"], "");
    assert_eq!(first["redelivered"], false);
    assert!(first["delivery_tag"].as_u64().is_some());
    assert!(first.get("value").is_none(), "not UTF-8: base64 only");
    let body = base64_decode(first["value_base64"].as_str().expect("value_base64"));
    assert_eq!(body, binary);
    assert_eq!(first["headers"]["source"], "amqp-publish");
    assert_eq!(first["headers"]["trace-id"], "4bf92f3577b34da6");
    assert_eq!(first["properties"]["delivery_mode"], 2);
    assert_eq!(
        first["properties"]["content_type"],
        "application/octet-stream"
    );
    assert_eq!(first["timestamp"], serde_json::Value::Null);

    let second = &msgs[1];
    assert_eq!(second["value"], "text body ✓");
    assert!(second.get("value_base64").is_none());
    assert_eq!(second["properties"]["content_encoding"], "identity");
    assert_eq!(second["headers"], serde_json::json!({}));
}

#[test]
fn mq_consume_raw_writes_amqp_publish_bodies_byte_for_byte() {
    let q = queue("amqp-publish-raw");
    let bodies: [&[u8]; 3] = [b"first", b"\x00\x01\x02\xff", b"third line"];
    for body in bodies {
        amqp_tool("amqp-publish", &["-u", &url(), "-r", &q], body);
    }
    let run = mq(&["consume", &url(), "--queue", &q, "--count", "3"], b"").ok();
    assert_eq!(run.stdout, b"first\n\x00\x01\x02\xff\nthird line\n");
    // Acked after writing: the queue is empty now.
    let run = mq(
        &[
            "declare",
            &url(),
            "--queue",
            &q,
            "--argument",
            "x-expires=60000",
        ],
        b"",
    )
    .ok();
    assert_eq!(
        run.text(),
        format!("queue '{q}' declared: 0 messages, 0 consumers\n")
    );
}

#[test]
fn mq_produce_to_mq_consume_keeps_bodies_headers_and_properties() {
    let q = queue("mq-roundtrip");
    mq(
        &[
            "produce",
            &url(),
            "--exchange",
            "",
            "--routing-key",
            &q,
            "--persistent",
            "--mandatory",
            "--header",
            "source=mq",
            "--header",
            "k=v=w",
        ],
        &stdin_of(LINES),
    )
    .ok();
    let run = mq(
        &[
            "consume",
            &url(),
            "--queue",
            &q,
            "--count",
            "7",
            "--prefetch",
            "3",
            "--format",
            "json",
        ],
        b"",
    )
    .ok();
    let msgs = json_lines(&run.stdout);
    assert_eq!(msgs.len(), LINES.len());
    for (m, line) in msgs.iter().zip(LINES) {
        let body = match (m.get("value"), m.get("value_base64")) {
            (Some(v), None) => v.as_str().expect("a string").as_bytes().to_vec(),
            (None, Some(b)) => base64_decode(b.as_str().expect("a string")),
            other => panic!("exactly one of value and value_base64: {other:?}"),
        };
        assert_eq!(body, *line);
        assert_eq!(
            m["headers"],
            serde_json::json!({"source": "mq", "k": "v=w"})
        );
        assert_eq!(m["properties"]["delivery_mode"], 2);
    }
    // The tags count up on the consumer's channel.
    let tags: Vec<u64> = msgs
        .iter()
        .filter_map(|m| m["delivery_tag"].as_u64())
        .collect();
    assert_eq!(tags, (1..=7).collect::<Vec<_>>());
}

#[test]
fn an_empty_stdin_publishes_nothing_and_succeeds() {
    let q = queue("empty-stdin");
    let run = mq(&["produce", &url(), "--routing-key", &q], b"").ok();
    assert!(run.stdout.is_empty());
    let run = mq(
        &[
            "declare",
            &url(),
            "--queue",
            &q,
            "--argument",
            "x-expires=60000",
        ],
        b"",
    )
    .ok();
    assert!(run.text().contains("0 messages"), "{}", run.text());
}

#[test]
fn no_confirms_still_publishes() {
    let q = queue("no-confirms");
    mq(
        &["produce", &url(), "--routing-key", &q, "--no-confirms"],
        b"one\ntwo\n",
    )
    .ok();
    let run = mq(&["consume", &url(), "--queue", &q, "--count", "2"], b"").ok();
    assert_eq!(run.stdout, b"one\ntwo\n");
}
