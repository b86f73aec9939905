//! What the CLI's broker tests share: running `mq`, the broker's URL,
//! unique queue names that expire, and amqp-tools as the peer.
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
pub const NOT_CONFIRMED: i32 = 9;
pub const REFUSED: i32 = 10;
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

/// Runs `mq args` with `stdin`.
pub fn mq(args: &[&str], stdin: &[u8]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_mq"))
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
    let one_line = predicate::function(|s: &str| s.lines().count() == 1 && s.ends_with('\n'));
    let clean = predicate::str::contains("panicked")
        .or(predicate::str::contains(" { "))
        .not();
    let assert = Command::new(env!("CARGO_BIN_EXE_mq"))
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
