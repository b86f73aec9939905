//! `mq groups`, `mq group reset-offsets|delete` and `mq config get|set`
//! against the real Kafka broker, with Kafka's own `kafka-configs` as the
//! second opinion on configs.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use support::*;

/// `mq consume --group G --exit-at-end`: the records read (committed at
/// exit).
fn consume_group(topic: &Topic, group: &str) -> Vec<String> {
    let run = mq(
        &[
            "consume",
            &topic.url,
            "--group",
            group,
            "--from",
            "earliest",
            "--exit-at-end",
        ],
        b"",
    )
    .ok();
    run.text().lines().map(str::to_owned).collect()
}

#[test]
fn reset_offsets_is_a_dry_run_until_execute_and_refused_with_live_members() {
    let topic = Topic::new("reset", 2);
    let lines: Vec<String> = (0..6).map(|i| format!("r{i}")).collect();
    let input = lines.join("\n") + "\n";
    mq(&["produce", &topic.url], input.as_bytes()).ok();
    let group = mq_tests::names::group("reset");
    assert_eq!(consume_group(&topic, &group).len(), 6);
    // Read to the end: a second run reads nothing.
    assert_eq!(consume_group(&topic, &group).len(), 0);

    // A dry run shows the plan and changes nothing.
    let plan = mq(
        &[
            "group",
            "reset-offsets",
            &topic.url,
            "--group",
            &group,
            "--to-earliest",
        ],
        b"",
    )
    .ok()
    .text();
    assert!(plan.starts_with("TOPIC"), "{plan}");
    assert!(plan.contains("dry run: nothing changed"), "{plan}");
    assert_eq!(
        plan.lines().filter(|l| l.starts_with(&topic.name)).count(),
        2,
        "{plan}"
    );
    assert_eq!(consume_group(&topic, &group).len(), 0);

    // --execute commits it: the next run reads everything again.
    let json = mq(
        &[
            "group",
            "reset-offsets",
            &topic.url,
            "--group",
            &group,
            "--to-earliest",
            "--execute",
            "--format",
            "json",
        ],
        b"",
    )
    .ok();
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(doc["executed"], true);
    assert!(
        doc["partitions"]
            .as_array()
            .expect("partitions")
            .iter()
            .all(|p| p["new"] == 0),
        "{doc}"
    );
    let mut again = consume_group(&topic, &group);
    again.sort();
    assert_eq!(again, lines);

    // describe: a stopped group, every partition read to its end.
    let described = mq(&["group", "describe", &topic.url, "--group", &group], b"")
        .ok()
        .text();
    assert!(
        described.starts_with(&format!("group '{group}': Empty, 0 member(s)")),
        "{described}"
    );
    let doc: serde_json::Value = serde_json::from_slice(
        &mq(
            &[
                "group", "describe", &topic.url, "--group", &group, "--format", "json",
            ],
            b"",
        )
        .ok()
        .stdout,
    )
    .expect("json");
    let parts = doc["partitions"].as_array().expect("partitions");
    assert_eq!(parts.len(), 2, "{doc}");
    let total: i64 = parts.iter().map(|p| p["end"].as_i64().unwrap_or(-1)).sum();
    assert_eq!(total, 6, "{doc}");
    assert!(parts.iter().all(|p| p["lag"] == 0), "{doc}");

    // With a live member the reset is refused, in one line that says why.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let member = rt.block_on(async {
        let mut c = mq_client::kafka::Consumer::builder(&kafka_bootstrap())
            .group(&group)
            .build()
            .await
            .expect("consumer");
        c.subscribe([topic.name.as_str()]).await.expect("subscribe");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while c.assignment().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never assigned");
            let _ = tokio::time::timeout(Duration::from_millis(200), c.next()).await;
        }
        c
    });
    fails(
        &[
            "group",
            "reset-offsets",
            &topic.url,
            "--group",
            &group,
            "--to-earliest",
            "--execute",
        ],
        b"",
        10,
        "live member",
    );
    // Nor can the group be deleted while it has one.
    fails(
        &[
            "group",
            "delete",
            &format!("kafka://{}", kafka_bootstrap()),
            "--group",
            &group,
        ],
        b"",
        10,
        "NON_EMPTY_GROUP",
    );
    rt.block_on(member.close()).expect("close");
}

#[test]
fn groups_are_listed_and_deleted() {
    let topic = Topic::new("groups", 1);
    mq(&["produce", &topic.url], b"g1\ng2\n").ok();
    let group = mq_tests::names::group("listed");
    assert_eq!(consume_group(&topic, &group).len(), 2);
    let cluster = format!("kafka://{}", kafka_bootstrap());

    let text = mq(&["groups", &cluster], b"").ok().text();
    let header: Vec<&str> = text
        .lines()
        .next()
        .expect("header")
        .split_whitespace()
        .collect();
    assert_eq!(header, ["GROUP", "STATE", "TYPE", "PROTOCOL"]);
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(group.as_str()))
        .unwrap_or_else(|| panic!("{group} not listed:\n{text}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[1..], ["Empty", "classic", "consumer"], "{line}");

    let json = mq(&["groups", &cluster, "--format", "json"], b"").ok();
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert!(
        doc.as_array()
            .expect("an array")
            .iter()
            .any(|g| g["group"] == group.as_str() && g["state"] == "Empty"),
        "{doc}"
    );

    let deleted = mq(&["group", "delete", &cluster, "--group", &group], b"").ok();
    assert_eq!(deleted.text(), format!("group '{group}' deleted\n"));
    let text = mq(&["groups", &cluster], b"").ok().text();
    assert!(
        !text
            .lines()
            .any(|l| l.split_whitespace().next() == Some(group.as_str())),
        "{text}"
    );
}

/// `retention.ms` as `mq config get --format json` reports it, once its
/// source is `source` or 15 s have passed: a broker applies a config
/// change from the metadata log a moment after the controller accepted it
/// (a CI run read the old value right after `--delete`).
fn retention_when(url: &str, source: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let json = mq(&["config", "get", url, "--format", "json"], b"").ok();
        let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
        let retention = doc
            .as_array()
            .expect("an array")
            .iter()
            .find(|e| e["name"] == "retention.ms")
            .expect("retention.ms")
            .clone();
        if retention["source"] == source || std::time::Instant::now() > deadline {
            return retention;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn config_set_is_read_back_by_config_get_and_kafka_configs() {
    let topic = Topic::new("config", 1);
    let set = mq(&["config", "set", &topic.url, "retention.ms=5400000"], b"").ok();
    assert_eq!(
        set.text(),
        format!("topic '{}': retention.ms=5400000\n", topic.name)
    );
    // The broker applies the change a moment after the controller took it.
    retention_when(&topic.url, "topic");
    let got = mq(&["config", "get", &topic.url], b"").ok().text();
    let line = got
        .lines()
        .find(|l| l.starts_with("retention.ms "))
        .unwrap_or_else(|| panic!("{got}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[..3], ["retention.ms", "5400000", "topic"], "{line}");

    let out = mq_tests::tools::kafka_java(
        "kafka.admin.ConfigCommand",
        &[
            "--bootstrap-server",
            &kafka_bootstrap(),
            "--entity-type",
            "topics",
            "--entity-name",
            &topic.name,
            "--describe",
        ],
    );
    mq_tests::tools::check("kafka-configs --describe", &out);
    let described = String::from_utf8_lossy(&out.stdout);
    assert!(described.contains("retention.ms=5400000"), "{described}");

    // An unknown name is refused by name, in one line; nothing changes.
    fails(
        &["config", "set", &topic.url, "retention.nonsense=1"],
        b"",
        10,
        "retention.nonsense",
    );
    // Back to the default.
    mq(
        &["config", "set", &topic.url, "--delete", "retention.ms"],
        b"",
    )
    .ok();
    let retention = retention_when(&topic.url, "default");
    assert_eq!(retention["source"], "default", "{retention}");

    // A broker's configs, and the usage errors.
    let cluster = format!("kafka://{}", kafka_bootstrap());
    let broker = mq(&["config", "get", &cluster, "--broker", "1"], b"")
        .ok()
        .text();
    assert!(
        broker.lines().any(|l| l.starts_with("log.dirs ")),
        "{broker}"
    );
    fails(&["config", "get", &cluster], b"", 3, "needs a topic");
    fails(&["config", "set", &topic.url], b"", 3, "NAME=VALUE");
}

/// `group reset-offsets` and `group describe` work on the log, as
/// kafka-consumer-groups does: with a transaction open at the end of a
/// partition, `--to-latest` is the high watermark (the open transaction's
/// records are skipped too) and describe's end is the high watermark, not
/// the last stable offset a read_committed reader stops at.
#[test]
fn reset_to_latest_and_describe_use_the_high_watermark() {
    let topic = Topic::new("reset-open-txn", 1);
    let (_rt, _open) = open_transaction(&topic.name, &["a", "b"], &["x", "y", "z"]);
    let group = mq_tests::names::group("reset-open-txn");
    let plan = mq(
        &[
            "group",
            "reset-offsets",
            &topic.url,
            "--group",
            &group,
            "--to-latest",
            "--execute",
            "--format",
            "json",
        ],
        b"",
    )
    .ok();
    let doc: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("json");
    println!("reset-offsets --to-latest with an open transaction: {doc}");
    assert_eq!(doc["partitions"][0]["new"], 5, "{doc}");
    let described = mq(
        &[
            "group", "describe", &topic.url, "--group", &group, "--format", "json",
        ],
        b"",
    )
    .ok();
    let doc: serde_json::Value = serde_json::from_slice(&described.stdout).expect("json");
    println!("group describe with an open transaction: {doc}");
    assert_eq!(doc["partitions"][0]["end"], 5, "{doc}");
    assert_eq!(doc["partitions"][0]["committed"], 5, "{doc}");
    assert_eq!(doc["partitions"][0]["lag"], 0, "{doc}");
}
