//! `mq bench kafka://...` run small against the real broker: the summary
//! as JSON parses with sane figures, the table has them too, and the
//! temporary topic is gone afterwards.

mod support;

use serde_json::Value;
use support::*;

fn number(v: &Value, path: &[&str]) -> f64 {
    let mut at = v;
    for key in path {
        at = &at[*key];
    }
    at.as_f64()
        .unwrap_or_else(|| panic!("{} is not a number in {v}", path.join(".")))
}

/// Checks a run of `count` messages of `size` bytes that all arrived.
fn check_complete(v: &Value, count: u64, size: u64) {
    assert_eq!(v["protocol"], "kafka");
    assert_eq!(v["count"], count);
    assert_eq!(v["size"], size);
    for side in ["publish", "consume"] {
        assert_eq!(v[side]["messages"], count, "{side}: {v}");
        assert_eq!(v[side]["failed"], 0, "{side}: {v}");
        assert_eq!(v[side]["bytes"], count * size, "{side}: {v}");
        let secs = number(v, &[side, "seconds"]);
        assert!(secs > 0.0 && secs < 60.0, "{side}: {v}");
        let rate = number(v, &[side, "msgs_per_sec"]);
        let expected = count as f64 / secs;
        assert!((rate - expected).abs() <= expected * 1e-6, "{side}: {v}");
        assert!(number(v, &[side, "mb_per_sec"]) > 0.0);
    }
    assert_eq!(v["latency"]["samples"], count);
    let p50 = number(v, &["latency", "p50_us"]);
    let p99 = number(v, &["latency", "p99_us"]);
    let max = number(v, &["latency", "max_us"]);
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{v}");
    assert!(max < 60e6, "{v}");
    let cpu = number(v, &["cpu", "per_message_us"]);
    assert!(cpu.is_finite() && cpu >= 0.0, "{v}");
    assert!(number(v, &["cpu", "user_seconds"]) >= 0.0);
    assert_eq!(v["foreign"], 0);
}

#[test]
fn bench_runs_small_on_a_temporary_topic_and_its_json_parses() {
    let run = mq(
        &[
            "bench",
            &format!("kafka://{}", kafka_bootstrap()),
            "--count",
            "500",
            "--size",
            "64",
            "--compression",
            "lz4",
            "--acks",
            "1",
            "--window",
            "50",
            "--json",
        ],
        b"",
    )
    .ok();
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 1, "{}", run.text());
    let v = &lines[0];
    check_complete(v, 500, 64);
    assert_eq!(v["window"], 50);
    assert_eq!(v["compression"], "lz4");
    assert_eq!(v["acks"], "1");
    assert_eq!(v["partitions"], "1");
    let destination = v["destination"].as_str().unwrap();
    let topic = destination
        .strip_prefix("topic ")
        .filter(|t| t.starts_with("mq-bench-"))
        .unwrap_or_else(|| panic!("{destination}"));
    // The temporary topic was deleted.
    fails(
        &["topics", &kafka_url(topic)],
        b"",
        NOT_FOUND,
        "unknown topic",
    );
}

/// On a named topic, records already in it are not read: only this run's
/// count, all its own (none foreign).
#[test]
fn bench_on_a_topic_reads_from_its_end() {
    let topic = Topic::new("bench", 3);
    let old: String = (0..100).map(|i| format!("old {i}\n")).collect();
    mq(&["produce", &topic.url], old.as_bytes()).ok();
    let run = mq(
        &[
            "bench", &topic.url, "--count", "300", "--size", "16", "--json",
        ],
        b"",
    )
    .ok();
    let v = &json_lines(&run.stdout)[0];
    check_complete(v, 300, 16);
    assert_eq!(v["destination"], format!("topic {}", topic.name));
    assert_eq!(v["partitions"], "3");
    assert_eq!(v["acks"], "all");
    assert_eq!(v["compression"], "none");
    // The topic is still there, with the bench's records after the old ones.
    // (JSON lines: the stamped values are bytes that may hold newlines.)
    let all = mq(
        &[
            "consume",
            &topic.url,
            "--from",
            "earliest",
            "--exit-at-end",
            "--format",
            "json",
        ],
        b"",
    )
    .ok();
    let records = json_lines(&all.stdout);
    assert_eq!(records.len(), 100 + 300);
    let old = records
        .iter()
        .filter(|r| r["value"].as_str().is_some_and(|v| v.starts_with("old ")))
        .count();
    assert_eq!(old, 100);
}

#[test]
fn bench_prints_a_table() {
    let run = mq(
        &[
            "bench",
            &format!("kafka://{}", kafka_bootstrap()),
            "--count",
            "200",
            "--compression",
            "zstd",
        ],
        b"",
    )
    .ok();
    let text = run.text();
    for part in [
        "200 messages of 100 bytes, window 1000, partitions 1, compression zstd, acks all",
        "msgs/s",
        "MB/s",
        "publish          200        0",
        "consume          200        0",
        "latency  p50 ",
        "(200 samples)",
        "CPU      ",
    ] {
        assert!(text.contains(part), "{part:?} not in\n{text}");
    }
}
