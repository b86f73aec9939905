//! Other clients as interop peers: Kafka's Java tools (from the jars that
//! `scripts/brokers up` fetches) and `kcat`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The directory holding the Kafka jars: `$KAFKA_LIBS`, else
/// `.brokers/kafka-dist/$KAFKA_VERSION/lib` of this checkout (or of
/// `$BROKERS_STATE`).
///
/// # Panics
/// If the jars are not there: run `scripts/brokers up` first.
pub fn kafka_libs() -> PathBuf {
    if let Ok(dir) = std::env::var("KAFKA_LIBS") {
        return PathBuf::from(dir);
    }
    let version = std::env::var("KAFKA_VERSION").unwrap_or_else(|_| "4.3.1".to_owned());
    let state = std::env::var("BROKERS_STATE").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.brokers"),
        PathBuf::from,
    );
    let lib = state.join("kafka-dist").join(&version).join("lib");
    assert!(
        lib.join(format!("kafka-clients-{version}.jar")).is_file(),
        "Kafka {version} jars not found in {}: run scripts/brokers up or set KAFKA_LIBS",
        lib.display()
    );
    lib
}

/// Runs a Java main class with the Kafka jars on the class path.
pub fn kafka_java(main_class: &str, args: &[&str]) -> Output {
    Command::new("java")
        .arg("-cp")
        .arg(format!("{}/*", kafka_libs().display()))
        .arg(main_class)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("java must be installed")
}

/// Runs a Java main class with the Kafka jars on the class path, feeding
/// `stdin`.
pub fn kafka_java_with_stdin(main_class: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new("java")
        .arg("-cp")
        .arg(format!("{}/*", kafka_libs().display()))
        .arg(main_class)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("java must be installed");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).expect("write to java");
    }
    child.wait_with_output().expect("java output")
}

/// Where `scripts/brokers up` puts a current librdkafka for kcat (see
/// `install_current_librdkafka` there): Debian's kcat runs on librdkafka
/// 2.0.2, whose SCRAM Kafka 4.x refuses.
pub const CURRENT_LIBRDKAFKA_DIR: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../.brokers/librdkafka");

/// Runs `kcat` with `args`, feeding `stdin`, on Debian's librdkafka.
pub fn kcat(args: &[&str], stdin: &[u8]) -> Output {
    kcat_on(None, args, stdin)
}

/// Runs `kcat` on the current librdkafka that `scripts/brokers up`
/// fetched ([`CURRENT_LIBRDKAFKA_DIR`]), for what Debian's cannot do
/// (SCRAM against Kafka 4.x).
///
/// # Panics
/// If that librdkafka is not there.
pub fn kcat_current(args: &[&str], stdin: &[u8]) -> Output {
    let dir = std::path::Path::new(CURRENT_LIBRDKAFKA_DIR);
    assert!(
        dir.join("librdkafka.so.1").is_file(),
        "no current librdkafka in {}: run scripts/brokers up",
        dir.display()
    );
    kcat_on(Some(dir), args, stdin)
}

fn kcat_on(lib: Option<&std::path::Path>, args: &[&str], stdin: &[u8]) -> Output {
    let mut command = Command::new("kcat");
    if let Some(lib) = lib {
        command.env("LD_LIBRARY_PATH", lib);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat must be installed (scripts/brokers up installs it)");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin).expect("write to kcat");
    }
    child.wait_with_output().expect("kcat output")
}

/// Panics with the tool's stderr unless it exited successfully.
pub fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The file the test brokers' telemetry reporter
/// (`scripts/lib/kafka-plugin`) appends the KIP-714 pushes it receives to:
/// `$KAFKA_TELEMETRY_LOG`, else broker 1's in `.brokers/kafka` of this
/// checkout (or of `$BROKERS_STATE`).
pub fn kafka_telemetry_log() -> PathBuf {
    if let Ok(file) = std::env::var("KAFKA_TELEMETRY_LOG") {
        return PathBuf::from(file);
    }
    let state = std::env::var("BROKERS_STATE").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.brokers"),
        PathBuf::from,
    );
    state.join("kafka/1/logs/client-telemetry.log")
}
