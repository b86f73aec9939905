//! Helpers shared by the Kafka client integration tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::time::Duration;

use mq_client::kafka::{Admin, NewTopic, Offset, OffsetReset, PartitionReader};
use mq_tests::{endpoints, names};

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// Creates a topic with a unique name and returns the name.
pub async fn topic(prefix: &str, partitions: i32) -> String {
    topic_with_config(prefix, partitions, &[]).await
}

/// Creates a topic with a unique name and these topic configs (such as
/// `max.message.bytes`) and returns the name.
pub async fn topic_with_config(prefix: &str, partitions: i32, config: &[(&str, &str)]) -> String {
    init_tracing();
    let name = names::topic(prefix);
    let admin = Admin::builder(&endpoints::kafka_bootstrap())
        .build()
        .await
        .expect("admin");
    let new = config
        .iter()
        .fold(NewTopic::new(&name, partitions, 1), |t, (k, v)| {
            t.config(*k, *v)
        });
    admin.create_topics([new]).await.expect("create topic");
    name
}

/// A record read back: partition, offset, key, value and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// Reads every partition of `topic` from the start until `expected`
/// records have arrived (or `timeout` passes), with the zero-copy batch API.
pub async fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    timeout: Duration,
) -> Vec<Read> {
    let reader = reader_for(bootstrap, topic, partitions).await;
    drain(reader, expected, timeout).await
}

/// A reader of every partition of `topic` from the start.
pub async fn reader_for(bootstrap: &str, topic: &str, partitions: i32) -> PartitionReader {
    let mut builder = PartitionReader::builder(bootstrap).auto_offset_reset(OffsetReset::Earliest);
    for p in 0..partitions {
        builder = builder.assign(topic, p, Offset::Earliest);
    }
    builder.build().await.expect("reader")
}

/// Reads until `expected` records have arrived (or `timeout` passes), then
/// a little longer to catch extras.
pub async fn drain(mut reader: PartitionReader, expected: usize, timeout: Duration) -> Vec<Read> {
    let mut out = Vec::with_capacity(expected);
    let deadline = tokio::time::Instant::now() + timeout;
    while out.len() < expected {
        let batch = match tokio::time::timeout_at(deadline, reader.next_batch()).await {
            Ok(b) => b.expect("fetch"),
            Err(_) => break,
        };
        for r in batch.iter() {
            let r = r.expect("record");
            out.push(Read {
                partition: batch.partition(),
                offset: r.offset(),
                key: r.key().map(<[u8]>::to_vec),
                value: r.value().map(<[u8]>::to_vec),
                headers: r
                    .headers()
                    .map(|h| (h.key().to_vec(), h.value().map(<[u8]>::to_vec)))
                    .collect(),
            });
        }
    }
    // Nothing more should arrive: give the reader a moment to find extras.
    if let Ok(Ok(batch)) =
        tokio::time::timeout(Duration::from_millis(700), reader.next_batch()).await
    {
        for r in batch.iter().flatten() {
            out.push(Read {
                partition: batch.partition(),
                offset: r.offset(),
                key: r.key().map(<[u8]>::to_vec),
                value: r.value().map(<[u8]>::to_vec),
                headers: Vec::new(),
            });
        }
    }
    out
}

/// Checks that records whose values are `"<key>:<seq>"` arrived exactly
/// once each, in per-key order; returns how many per key.
pub fn check_exactly_once_in_order(records: &[Read]) -> HashMap<Vec<u8>, u64> {
    let mut last: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut sorted: Vec<&Read> = records.iter().collect();
    sorted.sort_by_key(|r| (r.partition, r.offset));
    for w in sorted.windows(2) {
        assert!(
            (w[0].partition, w[0].offset) != (w[1].partition, w[1].offset),
            "offset {} of partition {} read twice",
            w[0].offset,
            w[0].partition
        );
    }
    for r in sorted {
        let value = String::from_utf8(r.value.clone().expect("value")).expect("utf8");
        let (key, seq) = value.rsplit_once(':').expect("key:seq");
        let seq: u64 = seq.parse().expect("seq");
        assert_eq!(r.key.as_deref(), Some(key.as_bytes()), "key/value mismatch");
        let expected = last.get(key.as_bytes()).map_or(0, |s| s + 1);
        assert_eq!(
            seq, expected,
            "key {key}: got seq {seq}, expected {expected} (duplicate, loss or reorder)"
        );
        last.insert(key.as_bytes().to_vec(), seq);
    }
    last.into_iter().map(|(k, v)| (k, v + 1)).collect()
}
