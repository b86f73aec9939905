//! Waiting for a new topic to be usable.

use std::time::{Duration, Instant};

use mq_client::kafka::Admin;

/// Waits until `topic` has `partitions` partitions, each with a leader.
/// A topic just created is not yet known everywhere: right after a
/// broker restart, a describe sent at once was answered
/// UNKNOWN_TOPIC_OR_PARTITION (a CI run).
///
/// # Panics
/// If that takes longer than `within`.
pub async fn wait_for_leaders(admin: &Admin, topic: &str, partitions: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let ready = admin.describe_topics([topic]).await.is_ok_and(|t| {
            t.first().is_some_and(|t| {
                t.partitions.len() == partitions && t.partitions.iter().all(|p| p.leader >= 0)
            })
        });
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "topic {topic} has no leader for every partition after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
