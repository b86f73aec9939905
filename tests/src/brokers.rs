//! Runs `scripts/brokers` from a test: stop, kill, start or recreate what
//! the environment's `BROKERS_STATE` names (the fault tests' own cluster).

use std::path::PathBuf;
use std::process::Command;

/// The repository's `scripts/brokers`.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/brokers")
}

/// Runs `scripts/brokers ARGS...`; panics if it fails.
pub fn run(args: &[&str]) {
    let status = Command::new(script())
        .args(args)
        .status()
        .expect("scripts/brokers");
    assert!(status.success(), "scripts/brokers {args:?} failed");
}

/// Starts Kafka broker `node` again when dropped, even if the test fails.
#[derive(Debug)]
pub struct RestartKafka(pub i32);

impl Drop for RestartKafka {
    fn drop(&mut self) {
        run(&["start-kafka", &self.0.to_string()]);
    }
}
