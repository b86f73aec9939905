//! Unique names for queues, exchanges, topics and groups.

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name that no other test, run or process will pick: the prefix, then a
/// per-process counter, the process id and a random suffix.
///
/// The result uses only `[a-z0-9.-]`, which is legal for AMQP queue and
/// exchange names and Kafka topic and group names alike.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let r: u32 = rand::random();
    format!("{prefix}-{}-{n}-{r:08x}", std::process::id())
}

/// A unique AMQP queue name.
pub fn queue(prefix: &str) -> String {
    unique(&format!("q.{prefix}"))
}

/// A unique AMQP exchange name.
pub fn exchange(prefix: &str) -> String {
    unique(&format!("x.{prefix}"))
}

/// A unique Kafka topic name.
pub fn topic(prefix: &str) -> String {
    unique(&format!("t.{prefix}"))
}

/// A unique Kafka consumer group id.
pub fn group(prefix: &str) -> String {
    unique(&format!("g.{prefix}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_legal() {
        let names: HashSet<String> = (0..1000).map(|_| topic("orders")).collect();
        assert_eq!(names.len(), 1000);
        for n in &names {
            assert!(n.starts_with("t.orders-"));
            assert!(n.len() < 249, "Kafka caps topic names at 249 chars");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'),
                "{n}"
            );
        }
        assert_ne!(queue("a"), queue("a"));
        assert!(exchange("a").starts_with("x.a-"));
        assert!(group("a").starts_with("g.a-"));
    }
}
