//! What the CLI's broker tests share: running `mq`, the brokers' URLs,
//! unique queue names that expire, topics that are deleted after the test,
//! and amqp-tools and kcat as peers.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command as StdCommand, Output, Stdio};

use assert_cmd::Command;
use predicates::prelude::*;

/// Exit statuses, as `mq --help` lists them.
pub const USAGE: i32 = 3;
pub const UNREACHABLE: i32 = 6;
pub const AUTH: i32 = 7;
pub const NOT_FOUND: i32 = 8;
pub const BAD_URL: i32 = 4;
pub const NOT_CONFIRMED: i32 = 9;
pub const REFUSED: i32 = 10;
pub const TLS: i32 = 11;
pub const BROKEN_PIPE: i32 = 141;

/// The RabbitMQ URL (`AMQP_URL`, default guest on 127.0.0.1:5672).
pub fn url() -> String {
    mq_tests::endpoints::amqp_url()
}

/// The URL with another password.
pub fn url_with_password(password: &str) -> String {
    let addr = mq_tests::endpoints::amqp_addr();
    format!("amqp://guest:{password}@{addr}/%2f")
}

/// A run of `mq`.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    /// Stdout as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Panics unless `mq` succeeded.
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "mq failed: {}", self.stderr);
        self
    }
}

/// The variables `mq` takes passwords from: unset for every run unless a
/// test gives them.
const PASSWORD_VARS: [&str; 2] = ["MQ_AMQP_PASSWORD", "MQ_KAFKA_PASSWORD"];

/// `mq` with `env` set and the password variables otherwise unset.
fn command(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mq"));
    for var in PASSWORD_VARS {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `mq args` with `stdin`.
pub fn mq(args: &[&str], stdin: &[u8]) -> Run {
    mq_env(args, stdin, &[])
}

/// Runs `mq args` with `stdin` and the environment variables `env`.
pub fn mq_env(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
    let out = command(env)
        .args(args)
        .write_stdin(stdin.to_vec())
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("mq runs");
    Run {
        code: out.status.code().expect("mq exits, it is not killed"),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `mq args` fails with `code` and exactly one stderr line that starts
/// with `mq: ` and contains `expected`, with no panic or debug dump.
pub fn fails(args: &[&str], stdin: &[u8], code: i32, expected: &str) -> Run {
    fails_env(args, stdin, &[], code, expected)
}

/// [`fails`] with the environment variables `env`.
pub fn fails_env(
    args: &[&str],
    stdin: &[u8],
    env: &[(&str, &str)],
    code: i32,
    expected: &str,
) -> Run {
    let one_line = predicate::function(|s: &str| s.lines().count() == 1 && s.ends_with('\n'));
    let clean = predicate::str::contains("panicked")
        .or(predicate::str::contains(" { "))
        .not();
    let assert = command(env)
        .args(args)
        .write_stdin(stdin.to_vec())
        .timeout(std::time::Duration::from_secs(60))
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
        stdout: out.stdout.clone(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A new queue that RabbitMQ deletes a minute after its last use, so test
/// runs leave nothing behind.
pub fn queue(prefix: &str) -> String {
    let name = mq_tests::names::queue(prefix);
    mq(
        &[
            "declare",
            &url(),
            "--queue",
            &name,
            "--argument",
            "x-expires=60000",
        ],
        b"",
    )
    .ok();
    name
}

/// Runs an amqp-tools program (`amqp-publish`, `amqp-consume`, ...).
pub fn amqp_tool(program: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = StdCommand::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} must be installed (amqp-tools): {e}"));
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).expect("write to the tool's stdin");
    }
    let out = child.wait_with_output().expect("the tool's output");
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A script for `amqp-consume` that copies each message body to stdout
/// and ends it with an ASCII record separator (0x1e), so message
/// boundaries survive.
pub fn framing_script() -> PathBuf {
    let dir = std::env::temp_dir().join(mq_tests::names::unique("mq-cli-test"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("frame.sh");
    std::fs::write(&path, "#!/bin/sh\ncat\nprintf '\\036'\n").expect("write the script");
    let status = StdCommand::new("chmod")
        .arg("+x")
        .arg(&path)
        .status()
        .expect("chmod");
    assert!(status.success());
    path
}

/// Parses JSON lines.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// Decodes standard base64 with padding (for checking `value_base64`).
pub fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET
            .iter()
            .position(|&a| a == c)
            .unwrap_or_else(|| panic!("not base64: {text}")) as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// The Kafka bootstrap list (`KAFKA_BOOTSTRAP`, default 127.0.0.1:9092).
pub fn kafka_bootstrap() -> String {
    mq_tests::endpoints::kafka_bootstrap()
}

/// `kafka://<bootstrap>/<topic>`.
pub fn kafka_url(topic: &str) -> String {
    format!("kafka://{}/{topic}", kafka_bootstrap())
}

/// A new topic, made with `mq topic create`, deleted when dropped.
#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub url: String,
}

/// A transaction left open on partition 0 of `topic`: the plain records
/// `before` first, then the transaction's `open` records. The transaction
/// stays open while the returned runtime and producer live.
pub fn open_transaction(
    topic: &str,
    before: &[&str],
    open: &[&str],
) -> (tokio::runtime::Runtime, mq_client::kafka::Producer) {
    use mq_client::kafka::{Producer, ProducerRecord};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let producer = rt.block_on(async {
        let plain = Producer::builder(&kafka_bootstrap())
            .build()
            .await
            .expect("producer");
        for v in before {
            plain
                .send(ProducerRecord::new(topic).partition(0).value(v))
                .await
                .expect("send");
        }
        let txn = Producer::builder(&kafka_bootstrap())
            .transactional_id(mq_tests::names::unique("mq-cli-open-txn"))
            .build()
            .await
            .expect("transactional producer");
        txn.init_transactions().await.expect("init");
        txn.begin_transaction().await.expect("begin");
        for v in open {
            txn.send(ProducerRecord::new(topic).partition(0).value(v))
                .await
                .expect("send in the transaction");
        }
        txn
    });
    (rt, producer)
}

impl Topic {
    /// A topic with `partitions` partitions.
    pub fn new(prefix: &str, partitions: u32) -> Topic {
        Topic::with_args(prefix, &["--partitions", &partitions.to_string()])
    }

    /// A topic made with these extra `mq topic create` arguments.
    pub fn with_args(prefix: &str, args: &[&str]) -> Topic {
        let name = mq_tests::names::topic(prefix);
        let url = kafka_url(&name);
        let mut all = vec!["topic", "create", url.as_str()];
        all.extend_from_slice(args);
        mq(&all, b"").ok();
        Topic { name, url }
    }
}

impl Drop for Topic {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_mq"))
            .args(["topic", "delete", &self.url])
            .timeout(std::time::Duration::from_secs(30))
            .output();
    }
}

/// Runs `kcat -b <bootstrap> args` with `stdin`; panics unless it succeeds.
pub fn kcat(args: &[&str], stdin: &[u8]) -> Output {
    let bootstrap = kafka_bootstrap();
    let mut all = vec!["-b", bootstrap.as_str()];
    all.extend_from_slice(args);
    let out = mq_tests::tools::kcat(&all, stdin);
    mq_tests::tools::check(&format!("kcat {args:?}"), &out);
    out
}

/// The lines of `input`, each with its newline.
pub fn stdin_of(lines: &[&[u8]]) -> Vec<u8> {
    let mut input = Vec::new();
    for l in lines {
        input.extend_from_slice(l);
        input.push(b'\n');
    }
    input
}

/// The codec of every record batch in `topic`/`partition`, read with a
/// raw Fetch (the clients decompress and do not say).
pub fn batch_codecs(topic: &str, partition: i32) -> Vec<kafka_proto::compression::Compression> {
    use kafka_proto::api::fetch::{FetchPartition, FetchTopic};
    use kafka_proto::api::metadata::MetadataRequestTopic;
    use kafka_proto::api::{FetchRequest, MetadataRequest};
    use kafka_proto::record::BatchReader;
    use mq_tests::kafka_wire::WireClient;

    let mut client = WireClient::connect(
        mq_tests::endpoints::kafka_addr(),
        kafka_proto::Config::default(),
    )
    .expect("a connection to Kafka");
    let (_, metadata) = client
        .call(&MetadataRequest {
            topics: Some(vec![MetadataRequestTopic {
                name: Some(topic.to_owned()),
                ..Default::default()
            }]),
            allow_auto_topic_creation: false,
            ..Default::default()
        })
        .expect("Metadata");
    let topic_id = metadata
        .topics
        .first()
        .map(|t| t.topic_id)
        .expect("the topic's metadata");
    // Fetch goes to the partition's leader, on a cluster of any size.
    let leader = metadata.topics[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)
        .map(|p| p.leader_id)
        .expect("the partition's leader");
    let broker = metadata
        .brokers
        .iter()
        .find(|b| b.node_id == leader)
        .expect("the leader in the broker list");
    let leader_addr =
        std::net::ToSocketAddrs::to_socket_addrs(&(broker.host.as_str(), broker.port as u16))
            .ok()
            .and_then(|mut a| a.next())
            .expect("the leader's address");
    let mut client = WireClient::connect(leader_addr, kafka_proto::Config::default())
        .expect("a connection to the leader");
    let mut codecs = Vec::new();
    let mut offset = 0;
    loop {
        let (_, response) = client
            .call(&FetchRequest {
                replica_id: -1,
                max_wait_ms: 100,
                min_bytes: 1,
                max_bytes: 8 << 20,
                topics: vec![FetchTopic {
                    topic: topic.to_owned(),
                    topic_id,
                    partitions: vec![FetchPartition {
                        partition,
                        fetch_offset: offset,
                        partition_max_bytes: 8 << 20,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            })
            .expect("Fetch");
        let p = &response.responses[0].partitions[0];
        assert!(p.error_code.is_ok(), "fetch: {}", p.error_code);
        let before = offset;
        for batch in BatchReader::new(p.records.clone().unwrap_or_default()) {
            let batch = batch.expect("a whole batch");
            offset = batch.next_offset();
            if !batch.is_control() {
                codecs.push(batch.compression());
            }
        }
        if offset == before || offset >= p.high_watermark {
            return codecs;
        }
    }
}

/// Commits one transaction of `values` to partition 0 of `topic` with
/// Kafka's Java producer (`tests/data/java/TxnProduce.java`, run as a
/// single-file program): the log gets the values, then a commit marker.
pub fn produce_transaction(topic: &str, values: &[&str]) {
    let source =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/java/TxnProduce.java");
    let source = source.to_string_lossy().into_owned();
    let bootstrap = kafka_bootstrap();
    let id = mq_tests::names::unique("mq-cli-txn");
    let mut args = vec![source.as_str(), bootstrap.as_str(), topic, id.as_str()];
    args.extend_from_slice(values);
    let out = StdCommand::new("java")
        .arg("-cp")
        .arg(format!("{}/*", mq_tests::tools::kafka_libs().display()))
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .expect("java must be installed");
    mq_tests::tools::check("the transactional producer (TxnProduce.java)", &out);
}

/// A file of the brokers' throwaway PKI (`ca.pem`, `other-ca.pem`, ...),
/// as a path for a command line.
pub fn tls_file(name: &str) -> String {
    mq_tests::endpoints::tls_dir()
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Panics if `secret` shows anywhere in the run's output.
pub fn assert_hidden(run: &Run, secret: &str) {
    assert!(
        !run.stderr.contains(secret) && !run.text().contains(secret),
        "the secret was printed: {run:?}"
    );
}

/// A file holding `text`, in a directory of its own, deleted with it.
#[derive(Debug)]
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    pub fn new(name: &str, text: &str) -> TempFile {
        let dir = std::env::temp_dir().join(mq_tests::names::unique("mq-cli-test"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write the file");
        TempFile { path }
    }

    /// The path, for a command line.
    pub fn arg(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
