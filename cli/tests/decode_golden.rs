//! Golden tests of `mq decode` over bytes captured from the real brokers.
//!
//! Inputs are in `cli/tests/data/` (see its README) and in the protocol
//! cores' golden directories; expected outputs in `cli/tests/data/expected/`
//! are compared exactly. `MQ_BLESS=1` rewrites them instead.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ is inside the workspace")
        .to_owned()
}

fn data(name: &str) -> Vec<u8> {
    let path = repo().join("cli/tests/data").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn read(path: &str) -> Vec<u8> {
    let path = repo().join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `mq` with `args` on `input`; it must succeed with nothing on stderr.
fn decode_ok(args: &[&str], input: Vec<u8>) -> String {
    let assert = Command::new(env!("CARGO_BIN_EXE_mq"))
        .args(args)
        .write_stdin(input)
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
    String::from_utf8(assert.get_output().stdout.clone()).expect("the output is UTF-8")
}

/// Compares `actual` with `expected/<name>.txt`, or writes it there when
/// `MQ_BLESS` is set.
fn golden(name: &str, actual: &str) {
    let path = repo()
        .join("cli/tests/data/expected")
        .join(format!("{name}.txt"));
    if std::env::var_os("MQ_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with MQ_BLESS=1 to create it)", path.display()));
    let same = predicate::str::diff(expected.clone());
    if !same.eval(actual) {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name}: output differs from {} at line {}:\n  expected: {:?}\n  actual:   {:?}\n\
             (MQ_BLESS=1 re-blesses after a deliberate change)",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

/// The golden AMQP recording is a sequence of reads, each prefixed by its
/// length (u32, big-endian); this joins them into the byte stream.
fn joined_reads(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some((len, rest)) = data.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        out.extend_from_slice(&rest[..len]);
        data = &rest[len..];
    }
    out
}

/// A Kafka frame: the size prefix, then `body`.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[test]
fn amqp_rabbitmq_server_session() {
    let input = joined_reads(&read("tests/golden/amqp_proto_session.bin"));
    let out = decode_ok(&["decode", "amqp"], input.clone());
    assert!(out.starts_with("[0] channel 0: method connection.start (10.10)\n"));
    golden("amqp-rabbitmq-session", &out);
    // Said explicitly, the direction changes nothing for server bytes.
    assert_eq!(
        decode_ok(&["decode", "amqp", "--direction", "server"], input),
        out
    );
}

#[test]
fn amqp_client_publish_from_rabbitmq_c() {
    let input = data("amqp-publish.client.bin");
    let out = decode_ok(&["decode", "amqp"], input.clone());
    assert!(out.starts_with("[0] protocol header AMQP 0-9-1\n"));
    assert!(out.contains("method basic.publish (60.40)"));
    assert!(out.contains("delivery-mode: 2 (persistent)"));
    // The PLAIN response carries guest's password; it is not shown.
    assert!(
        out.contains(r#"response: "\0guest\0***" (password hidden)"#),
        "{out}"
    );
    golden("amqp-publish.client", &out);
    assert_eq!(
        decode_ok(&["decode", "amqp", "--direction", "client"], input),
        out
    );
}

#[test]
fn amqp_consumer_both_sides_from_rabbitmq_c() {
    let client = decode_ok(&["decode", "amqp"], data("amqp-consume.client.bin"));
    assert!(client.contains("method basic.consume (60.20)"));
    assert!(client.contains("method basic.ack (60.80)"));
    golden("amqp-consume.client", &client);
    let server = decode_ok(&["decode", "amqp"], data("amqp-consume.server.bin"));
    assert!(server.contains("method basic.deliver (60.60)"));
    assert!(server.contains("content body, 23 bytes (23 of 23)"));
    golden("amqp-consume.server", &server);
}

#[test]
fn kafka_kcat_produce_both_directions() {
    let out = decode_ok(&["decode", "kafka"], data("kcat-produce.bin"));
    // Pipelined: three Produce requests, then their responses, matched by
    // correlation id.
    for id in 4..=6 {
        assert!(
            out.contains(&format!("request Produce v7, correlation id {id},")),
            "{out}"
        );
        assert!(out.contains(&format!("response Produce v7, correlation id {id} (")));
    }
    assert!(out.contains("compression: snappy"));
    assert!(out.contains(r#""trace": "def""#));
    golden("kcat-produce", &out);
}

#[test]
fn kafka_kcat_requests_only() {
    let out = decode_ok(
        &["decode", "kafka", "--direction", "client"],
        data("kcat-produce.client.bin"),
    );
    assert!(!out.contains("response"));
    golden("kcat-produce.client", &out);
}

#[test]
fn kafka_kcat_consume_both_directions() {
    let out = decode_ok(&["decode", "kafka"], data("kcat-consume.bin"));
    assert!(out.contains("response Fetch v11, correlation id 5"));
    assert!(out.contains("records: 3 batches in 312 bytes"));
    assert!(out.contains("request ListOffsets v2"));
    golden("kcat-consume", &out);
}

/// Kafka's Java console producer and consumer (4.3.1) against the 4.3.1
/// broker: Produce v13 and Fetch v18 name topics by id (recordings in
/// `kafka-proto/tests/golden/java-*.bin`; see `cli/tests/data/README.md`).
#[test]
fn kafka_java_console_tools_at_produce_v13_and_fetch_v18() {
    let mut all = String::new();
    for (file, wanted) in [
        (
            "java-producer-setup.bin",
            &[
                "request Metadata v13, correlation id 1",
                "request InitProducerId v5",
            ][..],
        ),
        (
            "java-produce-v13.bin",
            &[
                "request Produce v13, correlation id 5",
                "response Produce v13, correlation id 5",
                "topic_id: ba9aaa9b-2683-4242-b28d-6f48b68ecd69",
                r#"value: "hello from java""#,
            ][..],
        ),
        (
            "java-produce-v13-zstd.bin",
            &[
                "request Produce v13",
                "compression: zstd",
                r#"\"via\":\"zstd\""#,
            ][..],
        ),
        (
            "java-consume-v18.bin",
            &[
                "request ListOffsets v11",
                "request Fetch v18, correlation id 5",
                "response Fetch v18, correlation id 5",
                r#"value: "world""#,
            ][..],
        ),
    ] {
        let out = decode_ok(
            &["decode", "kafka"],
            read(&format!("kafka-proto/tests/golden/{file}")),
        );
        for w in wanted {
            assert!(out.contains(w), "{file}: no {w:?} in\n{out}");
        }
        // Every frame of an implemented API decodes: none is shown raw.
        assert!(!out.contains("body not decoded"), "{file}: {out}");
        all.push_str(&format!("== {file} ==\n{out}"));
    }
    golden("kafka-java-v13-v18", &all);
}

#[test]
fn kafka_responses_from_the_core_goldens_with_api_and_version() {
    let mut all = String::new();
    for (file, api, version) in [
        ("api_versions_v0.bin", "ApiVersions", "0"),
        ("api_versions_v4.bin", "api-versions", "4"),
        ("metadata_v1_no_topics.bin", "metadata", "1"),
        ("metadata_v12_no_topics.bin", "3", "12"),
    ] {
        let input = framed(&read(&format!("kafka-proto/tests/golden/{file}")));
        let out = decode_ok(
            &[
                "decode",
                "kafka",
                "--direction",
                "server",
                "--api",
                api,
                "--version",
                version,
            ],
            input.clone(),
        );
        // Without --direction, a response that answers no request in the
        // input is decoded as --api says too.
        let auto = decode_ok(
            &["decode", "kafka", "--api", api, "--version", version],
            input,
        );
        assert_eq!(auto, out, "{file}");
        all.push_str(&format!("== {file} ==\n{out}"));
    }
    golden("kafka-core-responses", &all);
}

#[test]
fn kafka_record_batches_from_kcat_java_and_legacy_producers() {
    let dir = repo().join("kafka-proto/tests/data/records");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the record goldens are committed")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".log"))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "{names:?}");
    let mut all = String::new();
    for name in &names {
        let out = decode_ok(
            &["decode", "kafka", "--records"],
            read(&format!("kafka-proto/tests/data/records/{name}")),
        );
        assert!(out.starts_with("[0] "), "{name}: {out}");
        all.push_str(&format!("== {name} ==\n{out}"));
    }
    assert!(all.contains("control: COMMIT"));
    assert!(all.contains("control: ABORT"));
    assert!(all.contains("legacy message: offset 100, magic 0"));
    golden("kafka-records", &all);
}

/// `xxd` output decodes to what the bytes decode to.
#[test]
fn hex_input_from_xxd_and_plain_hex() {
    let bytes = data("kcat-produce.bin");
    let binary = decode_ok(&["decode", "kafka"], bytes.clone());
    let mut xxd = String::new();
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = chunk
            .chunks(2)
            .map(|p| p.iter().map(|b| format!("{b:02x}")).collect())
            .collect();
        let text: String = chunk
            .iter()
            .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
            .collect();
        xxd.push_str(&format!("{:08x}: {:<39}  {text}\n", i * 16, hex.join(" ")));
    }
    assert_eq!(
        decode_ok(&["decode", "kafka", "--hex"], xxd.into_bytes()),
        binary
    );
    let plain: String = bytes.iter().map(|b| format!("0x{b:02X}, ")).collect();
    assert_eq!(
        decode_ok(&["decode", "kafka", "--hex"], plain.into_bytes()),
        binary
    );
}

/// A request of a version `kafka_proto` does not implement is shown raw,
/// and so is its response; neither is an error.
#[test]
fn kafka_unimplemented_versions_are_shown_raw() {
    let hex = "0000000d 0000 0002 00000007 0001 78 6162  00000006 00000007 6364";
    let out = decode_ok(&["decode", "kafka", "--hex"], hex.as_bytes().to_vec());
    assert_eq!(
        out,
        "[0] request Produce v2, correlation id 7, client id \"x\" (13 bytes)\n  \
         body not decoded: version 2 of API 0 is not supported (supported: 3..=13)\n  \
         body: \"ab\"\n\n\
         [17] response Produce v2, correlation id 7 (6 bytes)\n  \
         body not decoded: version 2 of API 0 is not supported (supported: 3..=13)\n  \
         body: \"cd\"\n"
    );
}

/// A server's protocol header refuses the client's version.
#[test]
fn amqp_server_protocol_header() {
    let out = decode_ok(
        &["decode", "amqp", "--direction", "server"],
        b"AMQP\x00\x00\x09\x01".to_vec(),
    );
    assert_eq!(
        out,
        "[0] protocol header AMQP 0-9-1\n  \
         a server sends this to refuse the client's protocol version, then closes\n"
    );
}
