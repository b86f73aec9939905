//! Every failure reachable without a broker: one line on stderr, `mq: ...`,
//! the documented exit status, and never a password. (The RabbitMQ
//! commands' failures against the broker are in `amqp_errors.rs`.)

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;
use predicates::prelude::*;

/// Exit statuses, as `mq --help` lists them.
const BAD_INPUT: i32 = 1;
const USAGE: i32 = 3;
const BAD_URL: i32 = 4;
const BROKEN_PIPE: i32 = 141;

fn data(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn mq(args: &[&str], stdin: &[u8]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_mq"))
        .args(args)
        .write_stdin(stdin.to_vec())
        .output()
        .expect("mq runs");
    Run {
        code: out.status.code().expect("mq exits, it is not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `mq args` fails with `code` and exactly one stderr line that starts
/// with `mq: ` and contains `expected`; returns the run.
fn fails(args: &[&str], stdin: &[u8], code: i32, expected: &str) -> Run {
    let one_line = predicate::function(|s: &str| s.lines().count() == 1 && s.ends_with('\n'));
    // No panics, and no Debug dumps (struct syntax).
    let clean = predicate::str::contains("panicked")
        .or(predicate::str::contains(" { "))
        .not();
    let assert = Command::new(env!("CARGO_BIN_EXE_mq"))
        .args(args)
        .write_stdin(stdin.to_vec())
        .assert()
        .code(code)
        .stderr(
            predicate::str::starts_with("mq: ")
                .and(predicate::str::contains(expected))
                .and(one_line)
                .and(clean),
        );
    let out = assert.get_output();
    Run {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn bad_urls_exit_4_with_one_line() {
    for (args, expected) in [
        (&["produce", "kafka://h:bad/t"][..], "bad URL: port 'bad'"),
        (
            &["produce", "kafka://h/two/parts"],
            "bad URL: the path of a kafka:// URL is one topic",
        ),
        (
            &["consume", "kafka:///t"],
            "bad URL: the bootstrap list has an empty host",
        ),
        (
            &["topics", "kafka://h/bad topic"],
            "is not a valid topic name",
        ),
        (
            &["produce", "localhost:9092"],
            "bad URL: a URL starts with kafka:// or amqp://",
        ),
        (&["bench", "http://h"], "bad URL: unknown scheme 'http://'"),
        (
            &["consume", "amqp://h:0/v", "--queue", "q"],
            "bad URL: the URI port is not a valid port",
        ),
        (
            &["declare", "amqp://h/a/b", "--queue", "q"],
            "bad URL: the vhost must be one path segment",
        ),
        (
            &["produce", "amqp://h?bogus=1"],
            "bad URL: the URI parameter bogus is not supported",
        ),
        (&["topic", "delete", "kafka://h:99999/t"], "bad URL"),
    ] {
        fails(args, b"", BAD_URL, expected);
    }
}

/// A consumer group decides which partitions a member reads and where it
/// starts: `--partition` and `--from OFFSET` are refused with `--group`
/// before any broker is contacted, and so is an empty group id.
#[test]
fn options_a_consumer_group_decides_are_refused_with_group() {
    fails(
        &[
            "consume",
            "kafka://localhost:1/orders",
            "--group",
            "billing",
            "--from",
            "42",
        ],
        b"",
        USAGE,
        "--from OFFSET cannot be used with --group: a group starts at its committed offsets (--from earliest|latest where it has none); drop --group to start at an offset",
    );
    fails(
        &[
            "consume",
            "kafka://localhost:1/orders",
            "--group",
            "billing",
            "--partition",
            "0",
        ],
        b"",
        USAGE,
        "--partition cannot be used with --group: the group assigns the partitions",
    );
    fails(
        &["consume", "kafka://localhost:1/orders", "--group", ""],
        b"",
        USAGE,
        "--group must not be empty",
    );
    fails(
        &[
            "consume",
            "amqp://localhost/%2f",
            "--queue",
            "q",
            "--group",
            "g",
        ],
        b"",
        USAGE,
        "--group applies to kafka:// URLs only",
    );
    // A bad option still is a usage error, and a bad URL a bad URL.
    fails(
        &["consume", "kafka://h/t", "--group", "g", "--from", "never"],
        b"",
        USAGE,
        "expected earliest, latest or an offset",
    );
    fails(
        &["consume", "kafka://h:0/t", "--group", "g"],
        b"",
        BAD_URL,
        "bad URL",
    );
}

#[test]
fn usage_errors_exit_3_with_one_line() {
    for (args, expected) in [
        (
            &["decode", "amqp", "--bogus"][..],
            "unexpected argument '--bogus' found (see 'mq decode --help')",
        ),
        (
            &["produce", "kafka://h/t", "--no-such-option"],
            "unexpected argument '--no-such-option' found (see 'mq produce --help')",
        ),
        (
            &["topic", "create", "kafka://h/t", "--partitions", "0"],
            "(see 'mq topic create --help')",
        ),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (
            &[],
            "'mq' needs a subcommand: produce, consume, topics, topic, groups, group, config, acl, declare, dead-letters, bench, decode, completions",
        ),
        (&["topic"], "'mq topic' needs a subcommand: create, delete"),
        (
            &["dead-letters"],
            "'mq dead-letters' needs a subcommand: list, replay",
        ),
        (
            &["decode"],
            "required arguments were not provided: <PROTOCOL>",
        ),
        (&["decode", "xml"], "invalid value 'xml' for '<PROTOCOL>'"),
        (&["decode", "kafka", "--api", "Metadata"], "--version <N>"),
        (
            &["decode", "kafka", "--api", "Nope", "--version", "1"],
            "unknown Kafka API 'Nope'",
        ),
        (
            &["decode", "kafka", "--api", "Metadata", "--version", "99"],
            "Metadata versions 0..=13 can be decoded, not 99",
        ),
        (
            &["decode", "kafka", "--direction", "server"],
            "add --api NAME --version N",
        ),
        (
            &["decode", "amqp", "--records"],
            "--records applies to 'mq decode kafka' only",
        ),
        (
            &["produce", "kafka://h/t", "--exchange", "x"],
            "--exchange applies to amqp:// URLs only",
        ),
        (
            &["produce", "amqp://h", "--partition", "1"],
            "--partition applies to kafka:// URLs only",
        ),
        (&["consume", "amqp://h"], "needs --queue NAME"),
        (
            &["consume", "kafka://h/t", "--queue", "q"],
            "--queue applies to amqp:// URLs only",
        ),
        (&["produce", "kafka://h"], "'mq produce' needs a topic"),
        (&["consume", "kafka://h"], "'mq consume' needs a topic"),
        (
            &["topic", "create", "kafka://h"],
            "'mq topic create' needs a topic",
        ),
        (
            &["consume", "kafka://h/t", "--partition=-1"],
            "expected a partition index",
        ),
        (
            &[
                "consume",
                "kafka://h/t",
                "--group",
                "g",
                "--group-protocol",
                "eager",
            ],
            "expected classic or consumer",
        ),
        (
            &["consume", "kafka://h/t", "--group-protocol", "consumer"],
            "--group",
        ),
        (
            &["produce", "kafka://h/t", "--partition", "2147483648"],
            "expected a partition index",
        ),
        (
            &["consume", "amqp://h", "--queue", "q", "--partition", "1"],
            "--partition applies to kafka:// URLs only",
        ),
        (
            &[
                "topic",
                "create",
                "kafka://h/t",
                "--replication-factor",
                "0",
            ],
            "(see 'mq topic create --help')",
        ),
        (
            &["bench", "kafka://h", "--acks", "2"],
            "invalid value '2' for '--acks <ACKS>'",
        ),
        (
            &["topics", "amqp://h"],
            "'mq topics' works with kafka:// URLs only",
        ),
        (
            &["declare", "kafka://h/t", "--queue", "q"],
            "'mq declare' works with amqp:// URLs only",
        ),
        (
            &["declare", "amqp://h"],
            "required arguments were not provided",
        ),
        (
            &["consume", "kafka://h/t", "--from", "yesterday"],
            "expected earliest, latest or an offset",
        ),
        (
            &["produce", "kafka://h/t", "--header", "novalue"],
            "expected KEY=VALUE",
        ),
        (&["completions", "tcsh"], "invalid value 'tcsh'"),
        (
            &["produce", "amqp://h", "--mandatory", "--no-confirms"],
            "--mandatory needs publisher confirms",
        ),
        (
            &["bench", "amqp://h", "--size", "15"],
            "--size must be at least 16",
        ),
        (
            &["bench", "kafka://h", "--size", "134217729"],
            "--size must be at most 134217728 (128 MiB)",
        ),
        (
            &["bench", "kafka://h", "--prefetch", "5"],
            "--prefetch applies to amqp:// URLs only",
        ),
    ] {
        fails(args, b"", USAGE, expected);
    }
}

/// A password given in a URL appears in no error message, whatever the
/// error: a bad URL, a usage error that echoes arguments.
#[test]
fn no_password_appears_in_any_error() {
    const PW: &str = "Sup3rS3cret";
    let amqp = format!("amqp://alice:{PW}@broker:5672/prod");
    let bad_port = format!("amqp://alice:{PW}@broker:notaport/prod");
    let bad_escape = format!("amqp://alice:{PW}%zz@broker/prod");
    let kafka = format!("kafka://alice:{PW}@broker:9092/orders");
    let http = format!("http://alice:{PW}@broker");
    let amqp_header = format!("url={amqp}");
    let kafka_plain = "kafka://broker:9092/orders".to_owned();
    let cases: Vec<(Vec<&str>, i32)> = vec![
        (
            vec![
                "consume",
                &kafka_plain,
                "--group",
                &amqp_header,
                "--from",
                "1",
            ],
            USAGE,
        ),
        (
            vec!["produce", &kafka_plain, "--partition", &amqp_header],
            USAGE,
        ),
        (vec!["produce", &bad_port], BAD_URL),
        (vec!["produce", &bad_escape], BAD_URL),
        (vec!["produce", &kafka], BAD_URL),
        (vec!["bench", &http], BAD_URL),
        (vec!["consume", &amqp], USAGE),
        (vec!["consume", &amqp, "--queue", "q", &amqp], USAGE),
        (vec!["produce", &amqp, "--partition", "x"], USAGE),
        (vec!["produce", &amqp, "--compression", "zstd"], USAGE),
        (vec!["topics", &amqp], USAGE),
        (vec!["decode", "amqp", &amqp], USAGE),
    ];
    for (args, code) in cases {
        let run = mq(&args, b"");
        assert_eq!(run.code, code, "mq {args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "mq {args:?}: {}", run.stderr);
        assert!(
            !run.stderr.contains(PW),
            "mq {args:?} leaked the password: {}",
            run.stderr
        );
        assert!(
            !run.stdout.contains(PW),
            "mq {args:?} leaked the password: {}",
            run.stdout
        );
    }
}

#[test]
fn bad_hex_names_line_and_column() {
    fails(
        &["decode", "kafka", "--hex"],
        b"00 00 00 08\n00 12 zz 04",
        BAD_INPUT,
        "bad hex on line 2, column 7: 'zz' is not hex",
    );
    fails(
        &["decode", "amqp", "--hex"],
        b"414d515",
        BAD_INPUT,
        "odd number of digits",
    );
    fails(
        &["decode", "amqp", "--hex"],
        &[0xff, 0xfe],
        BAD_INPUT,
        "not text",
    );
}

/// Cut anywhere, the AMQP session prints every frame before the cut, then
/// one error line naming the offset of the incomplete frame.
#[test]
fn truncated_amqp_prints_what_decoded_then_the_offset() {
    let input = data("amqp-publish.client.bin");
    let whole = mq(&["decode", "amqp"], &input);
    assert_eq!(whole.code, 0);
    let starts: Vec<usize> = whole
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect();
    assert!(starts.len() > 5);
    for cut in [3, 9, 15, 337, 400, input.len() - 1] {
        assert!(!starts.contains(&cut), "{cut} is a frame boundary");
        let run = fails(
            &["decode", "amqp"],
            &input[..cut],
            BAD_INPUT,
            "truncated input at byte",
        );
        // The frame being cut is the last one that starts before the cut.
        let at = starts
            .iter()
            .rev()
            .find(|&&s| s < cut)
            .copied()
            .unwrap_or(0);
        assert!(
            run.stderr
                .contains(&format!("truncated input at byte {at}:")),
            "cut {cut}: {}",
            run.stderr
        );
        // What came before is printed as in the whole decode.
        let printed: Vec<&str> = run.stdout.lines().collect();
        let expected: Vec<&str> = whole.stdout.lines().take(printed.len()).collect();
        assert_eq!(printed, expected, "cut {cut}");
        if at > 0 {
            assert!(run.stdout.contains("protocol header"), "cut {cut}");
        }
    }
    let header = fails(&["decode", "amqp"], &input[..341], BAD_INPUT, "");
    assert_eq!(
        header.stderr.trim(),
        "mq: truncated input at byte 336: a frame header needs 7 bytes, only 5 are left"
    );
    let frame = fails(&["decode", "amqp"], &input[..346], BAD_INPUT, "");
    assert_eq!(
        frame.stderr.trim(),
        "mq: truncated input at byte 336: the frame needs 20 bytes, only 10 are left"
    );
}

#[test]
fn truncated_kafka_prints_what_decoded_then_the_offset() {
    let input = data("kcat-produce.bin");
    let whole = mq(&["decode", "kafka"], &input);
    assert_eq!(whole.code, 0);
    let run = fails(
        &["decode", "kafka"],
        &input[..input.len() - 10],
        BAD_INPUT,
        "",
    );
    assert_eq!(
        run.stderr.trim(),
        "mq: truncated input at byte 1703: the frame's size prefix says 64 bytes follow, only 54 are left"
    );
    assert!(whole.stdout.starts_with(&run.stdout));
    assert!(run.stdout.contains("response Produce v7, correlation id 5"));
    fails(
        &["decode", "kafka"],
        &input[..2],
        BAD_INPUT,
        "a frame's size prefix needs 4 bytes, only 2 are left",
    );
    // A record batch cut short in --records input is truncated input too.
    let log = std::fs::read(repo_file("kafka-proto/tests/data/records/kcat-snappy.log")).unwrap();
    let run = fails(
        &["decode", "kafka", "--records"],
        &log[..log.len() - 1],
        BAD_INPUT,
        "",
    );
    assert_eq!(
        run.stderr.trim(),
        "mq: truncated input at byte 187: the batch needs 366 bytes, only 365 are left"
    );
    assert!(run.stdout.starts_with("[0] batch:"), "{}", run.stdout);
}

#[test]
fn malformed_input_names_the_offset() {
    // A frame whose end octet is wrong, after the protocol header.
    let mut input = data("amqp-publish.client.bin");
    input[335] = 0x00;
    let run = fails(&["decode", "amqp"], &input, BAD_INPUT, "");
    assert_eq!(
        run.stderr.trim(),
        "mq: malformed AMQP frame at byte 8: frame on channel 0 ends with 0x00, not 0xce"
    );
    assert_eq!(run.stdout, "[0] protocol header AMQP 0-9-1\n");
    // A method whose routing key runs past its frame: the frame's offset,
    // where its payload starts, and what the core found there.
    let mut input = data("amqp-publish.client.bin");
    input[385 + 7 + 4 + 2 + 1] = 200;
    let run = fails(&["decode", "amqp"], &input, BAD_INPUT, "");
    assert_eq!(
        run.stderr.trim(),
        "mq: malformed AMQP frame at byte 385: (payload from byte 392) routing-key truncated at byte 8 of the frame payload"
    );
    assert!(
        run.stdout
            .ends_with("method channel.open (20.10)\n  out-of-band: \"\"\n"),
        "{}",
        run.stdout
    );
    // Client bytes must start with the protocol header.
    fails(
        &["decode", "amqp", "--direction", "client"],
        b"HTTP/1.1 200",
        BAD_INPUT,
        "malformed AMQP at byte 0: client bytes start with the protocol header",
    );
    // An unknown frame type.
    fails(
        &["decode", "amqp"],
        b"\x09\x00\x00\x00\x00\x00\x00\xce",
        BAD_INPUT,
        "malformed AMQP frame at byte 0: unknown frame type 9",
    );
    // A Kafka frame with a negative size.
    fails(
        &["decode", "kafka"],
        b"\xff\xff\xff\xfe",
        BAD_INPUT,
        "malformed Kafka frame at byte 0: negative frame size -2",
    );
    // A Metadata v12 request whose topic count runs past the frame.
    fails(
        &["decode", "kafka", "--direction", "client", "--hex"],
        b"00000011 0003 000c 00000007 0002 6d71 00 7f 01 00 00",
        BAD_INPUT,
        "malformed Kafka Metadata v12 request at byte 17: length 126 exceeds the 3 bytes left in MetadataRequest.topics",
    );
    // A CRC mismatch inside a Fetch response: the frame is printed up to the
    // bad batch, then the error names the batch's offset.
    let mut fetch = data("kcat-consume.bin");
    fetch[1408 + 61] ^= 0xff;
    let run = fails(
        &["decode", "kafka"],
        &fetch,
        BAD_INPUT,
        "malformed record batch at byte 1408: batch at offset 0: CRC mismatch",
    );
    assert!(
        run.stdout.contains("(stopped at a malformed record batch)"),
        "{}",
        run.stdout
    );
}

#[test]
fn help_on_every_command_shows_examples_and_exit_statuses() {
    let top = mq(&["--help"], b"");
    assert_eq!(top.code, 0);
    assert!(top.stdout.contains("Exit status:"));
    for line in [
        "  1    the input did not decode",
        "  3    usage error",
        "  4    bad URL",
        "  141  stdout was closed early",
    ] {
        assert!(top.stdout.contains(line), "{line}: {}", top.stdout);
    }
    // Every command is built: no status says otherwise.
    assert!(!top.stdout.contains("  2    "), "{}", top.stdout);
    for cmd in [
        &["produce"][..],
        &["consume"],
        &["topics"],
        &["topic"],
        &["topic", "create"],
        &["topic", "delete"],
        &["declare"],
        &["dead-letters"],
        &["dead-letters", "list"],
        &["dead-letters", "replay"],
        &["bench"],
        &["decode"],
        &["completions"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let run = mq(&args, b"");
        assert_eq!(run.code, 0, "{args:?}");
        assert!(run.stdout.contains("Example"), "{args:?}: {}", run.stdout);
        assert!(run.stderr.is_empty());
    }
    let produce = mq(&["produce", "--help"], b"").stdout;
    for option in [
        "--key-delimiter",
        "--header",
        "--partition",
        "--compression",
        "--acks",
        "--exchange",
        "--routing-key",
        "--mandatory",
        "--persistent",
    ] {
        assert!(produce.contains(option), "{option}");
    }
    let consume = mq(&["consume", "--help"], b"").stdout;
    for option in [
        "--group",
        "--from",
        "--count",
        "--exit-at-end",
        "--queue",
        "--prefetch",
        "--format",
    ] {
        assert!(consume.contains(option), "{option}");
    }
    let version = mq(&["--version"], b"");
    assert_eq!(
        version.stdout.trim(),
        format!("mq {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let run = mq(&["completions", shell], b"");
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        for word in ["decode", "produce", "key-delimiter", "exit-at-end"] {
            assert!(run.stdout.contains(word), "{shell} completions lack {word}");
        }
    }
    let bash = mq(&["completions", "bash"], b"").stdout;
    assert!(bash.contains("complete -F"), "{bash}");
}

/// `mq decode ... | head -1`: stdout closes early; mq stops quietly with
/// the status a SIGPIPE death would give.
#[test]
fn a_closed_stdout_exits_quietly() {
    // Heartbeats, enough output to fill any pipe buffer many times over.
    let input: Vec<u8> = std::iter::repeat_n(*b"\x08\x00\x00\x00\x00\x00\x00\xce", 200_000)
        .flatten()
        .collect();
    let mut child = StdCommand::new(env!("CARGO_BIN_EXE_mq"))
        .args(["decode", "amqp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mq starts");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("one line");
    assert_eq!(first, "[0] channel 0: heartbeat\n");
    // The reader is dropped: the pipe is closed, as `head -1` does.
    let out = child.wait_with_output().expect("mq exits");
    writer.join().expect("the writer finishes");
    assert_eq!(out.status.code(), Some(BROKEN_PIPE));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// SASL PLAIN tokens carry the password: `mq decode` shows the user, not it.
#[test]
fn decode_hides_sasl_passwords() {
    use bytes::{Bytes, BytesMut};
    use kafka_proto::api::{SaslAuthenticateRequest, SaslHandshakeRequest};
    use kafka_proto::connection::write_request_frame;

    let mut frames = BytesMut::new();
    let handshake = SaslHandshakeRequest {
        mechanism: "PLAIN".into(),
        ..Default::default()
    };
    write_request_frame(&mut frames, 1, Some("app"), 1, &handshake).unwrap();
    let auth = SaslAuthenticateRequest {
        auth_bytes: Bytes::from_static(b"\0alice\0Sup3rS3cret"),
        ..Default::default()
    };
    write_request_frame(&mut frames, 2, Some("app"), 2, &auth).unwrap();
    let run = mq(&["decode", "kafka", "--direction", "client"], &frames);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("request SaslAuthenticate v2, correlation id 2")
    );
    assert!(
        run.stdout
            .contains(r#"auth_bytes: "\0alice\0***" (password hidden)"#),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("Sup3rS3cret"), "{}", run.stdout);
}
