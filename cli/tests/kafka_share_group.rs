//! `mq consume --share-group` against the real broker (Kafka 4.3, share
//! groups on): records are written with their delivery count and each
//! is accepted, so the group has none left to hand out afterwards; the
//! options a share group decides are refused before any broker is
//! contacted.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use mq_client::kafka::{Admin, AlterConfigOp, ConfigResource, ShareConsumer};
use support::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A share group that starts at the earliest offset (a new one starts at
/// the latest: `share.auto.offset.reset`).
fn earliest_group(prefix: &str) -> String {
    let group = mq_tests::names::unique(&format!("mq-cli-{prefix}"));
    runtime().block_on(async {
        let admin = Admin::builder(&kafka_bootstrap())
            .build()
            .await
            .expect("admin");
        admin
            .incremental_alter_configs(
                ConfigResource::Group(group.clone()),
                &[AlterConfigOp::set("share.auto.offset.reset", "earliest")],
            )
            .await
            .expect("share.auto.offset.reset");
    });
    group
}

#[test]
fn records_are_written_with_their_delivery_count_and_accepted() {
    const N: usize = 25;
    let topic = Topic::new("share-cli", 1);
    let group = earliest_group("share");
    let values: Vec<String> = (0..N).map(|i| format!("job-{i:02}")).collect();
    let input: String = values.iter().map(|v| format!("{v}\n")).collect();
    mq(&["produce", &topic.url], input.as_bytes()).ok();

    let run = mq(
        &[
            "consume",
            &topic.url,
            "--share-group",
            &group,
            "--count",
            &N.to_string(),
            "--format",
            "json",
        ],
        b"",
    )
    .ok();
    let objects = json_lines(&run.stdout);
    let got: Vec<&str> = objects
        .iter()
        .map(|o| o["value"].as_str().expect("text value"))
        .collect();
    assert_eq!(got, values.iter().map(String::as_str).collect::<Vec<_>>());
    for (i, o) in objects.iter().enumerate() {
        assert_eq!(o["topic"], topic.name.as_str());
        assert_eq!(o["partition"], 0);
        assert_eq!(o["offset"], i as u64);
        assert_eq!(o["delivery_count"], 1);
    }

    // Every record was accepted: the group hands nothing out any more.
    runtime().block_on(async {
        let mut c = ShareConsumer::builder(&kafka_bootstrap())
            .group(&group)
            .subscribe([topic.name.as_str()])
            .build()
            .await
            .expect("share consumer");
        let next = tokio::time::timeout(Duration::from_secs(4), c.next()).await;
        assert!(next.is_err(), "a record was left in the group: {next:?}");
        c.close().await.expect("close");
    });

    // `mq groups` and `mq group describe` know it as a share group.
    let listed = mq(
        &[
            "groups",
            &topic.url.replace(&format!("/{}", topic.name), ""),
        ],
        b"",
    )
    .ok();
    let line = listed
        .text()
        .lines()
        .find(|l| l.starts_with(&group))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(line.contains("share"), "{}", listed.text());
    let described = mq(
        &[
            "group", "describe", &topic.url, "--group", &group, "--format", "json",
        ],
        b"",
    )
    .ok();
    let d: serde_json::Value = serde_json::from_slice(&described.stdout).expect("json");
    assert_eq!(d["type"], "share", "{d}");
    assert_ne!(d["state"], "Dead", "{d}");
}

#[test]
fn options_a_share_group_decides_are_refused() {
    for (flag, value) in [
        ("--from", Some("earliest")),
        ("--partition", Some("0")),
        ("--exit-at-end", None),
        ("--isolation", Some("read_committed")),
        ("--group", Some("g")),
    ] {
        let mut args = vec![
            "consume",
            "kafka://localhost:1/orders",
            "--share-group",
            "workers",
            flag,
        ];
        args.extend(value);
        let expected = format!(
            "{flag} cannot be used with --share-group: a share group hands out records from where its share.auto.offset.reset config says, at its share.isolation.level"
        );
        fails(&args, b"", USAGE, &expected);
    }
    fails(
        &["consume", "kafka://localhost:1/orders", "--share-group", ""],
        b"",
        USAGE,
        "--share-group must not be empty",
    );
    fails(
        &[
            "consume",
            "amqp://localhost/%2f",
            "--queue",
            "q",
            "--share-group",
            "g",
        ],
        b"",
        USAGE,
        "--share-group applies to kafka:// URLs only",
    );
}
