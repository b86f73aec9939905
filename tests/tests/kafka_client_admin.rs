//! The admin client against the real broker: create (with configs),
//! describe, configs, partitions, list offsets (earliest, latest, by
//! timestamp), delete records, delete topics, describe the cluster.

mod kafka_client_support;

use std::time::Duration;

use mq_client::kafka::{
    Admin, ConfigResource, Error, ErrorCode, NewTopic, OffsetSpec, Producer, ProducerRecord,
};
use mq_tests::{endpoints, names};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_configs_partitions_offsets_and_records() {
    kafka_client_support::init_tracing();
    let bootstrap = endpoints::kafka_bootstrap();
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    let name = names::topic("admin");

    admin
        .create_topics([NewTopic::new(&name, 3, 1)
            .config("retention.ms", "3600000")
            .config("cleanup.policy", "delete")])
        .await
        .expect("create");
    let again = admin.create_topics([NewTopic::new(&name, 3, 1)]).await;
    assert!(
        matches!(
            again,
            Err(Error::Broker {
                code: ErrorCode::TOPIC_ALREADY_EXISTS,
                ..
            })
        ),
        "{again:?}"
    );

    let described = admin
        .describe_topics([name.as_str()])
        .await
        .expect("describe");
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].partitions.len(), 3);
    assert!(
        described[0]
            .partitions
            .iter()
            .all(|p| p.leader >= 0 && !p.isr.is_empty())
    );
    assert!(admin.list_topics().await.expect("list").contains(&name));

    let configs = admin
        .describe_configs(ConfigResource::Topic(name.clone()))
        .await
        .expect("configs");
    let retention = configs
        .iter()
        .find(|c| c.name == "retention.ms")
        .expect("retention.ms");
    assert_eq!(retention.value.as_deref(), Some("3600000"));

    let cluster = admin.describe_cluster().await.expect("cluster");
    assert!(!cluster.brokers.is_empty());
    assert!(cluster.cluster_id.is_some());
    let broker_configs = admin
        .describe_configs(ConfigResource::Broker(cluster.brokers[0].node_id))
        .await
        .expect("broker configs");
    assert!(broker_configs.iter().any(|c| c.name == "log.dirs"));

    admin.create_partitions(&name, 5).await.expect("grow to 5");
    let grown = admin
        .describe_topics([name.as_str()])
        .await
        .expect("describe");
    assert_eq!(grown[0].partitions.len(), 5);

    // Ten records on partition 0, with known timestamps.
    let producer = Producer::builder(&bootstrap)
        .build()
        .await
        .expect("producer");
    let base = 1_700_000_000_000i64;
    for i in 0..10 {
        producer
            .send(
                ProducerRecord::new(&name)
                    .partition(0)
                    .value("x")
                    .timestamp(base + i * 1000),
            )
            .await
            .expect("send");
    }
    producer.close().await.expect("close");

    let earliest = admin
        .list_offsets(&name, &[0, 1], OffsetSpec::Earliest)
        .await
        .expect("earliest");
    let latest = admin
        .list_offsets(&name, &[0, 1], OffsetSpec::Latest)
        .await
        .expect("latest");
    assert_eq!((earliest[&0].offset, latest[&0].offset), (0, 10));
    assert_eq!((earliest[&1].offset, latest[&1].offset), (0, 0));
    let by_time = admin
        .list_offsets(&name, &[0], OffsetSpec::Timestamp(base + 4500))
        .await
        .expect("by timestamp");
    assert_eq!(
        by_time[&0].offset, 5,
        "first record at or after the timestamp"
    );
    assert_eq!(by_time[&0].timestamp, base + 5000);

    let low = admin
        .delete_records(&name, &[(0, 4)])
        .await
        .expect("delete records");
    assert_eq!(low[&0], 4);
    let earliest = admin
        .list_offsets(&name, &[0], OffsetSpec::Earliest)
        .await
        .expect("earliest");
    assert_eq!(earliest[&0].offset, 4);

    admin.delete_topics([name.as_str()]).await.expect("delete");
    let mut gone = false;
    for _ in 0..50 {
        match admin.describe_topics([name.as_str()]).await {
            Err(Error::Broker {
                code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                ..
            }) => {
                gone = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(gone, "the topic is deleted");
}

/// A group that read `topic` to `upto` records and committed, then left.
async fn stopped_group(bootstrap: &str, group: &str, topic: &str, upto: usize) {
    use futures_util::StreamExt;
    let mut consumer = mq_client::kafka::Consumer::builder(bootstrap)
        .group(group)
        .auto_offset_reset(mq_client::kafka::OffsetReset::Earliest)
        .build()
        .await
        .expect("consumer");
    consumer.subscribe([topic]).await.expect("subscribe");
    for _ in 0..upto {
        let record = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .expect("a record in time")
            .expect("stream open")
            .expect("record");
        consumer.commit(&record).await.expect("commit");
    }
    consumer.close().await.expect("close");
}

async fn produce(bootstrap: &str, topic: &str, n: usize) {
    let producer = Producer::builder(bootstrap)
        .build()
        .await
        .expect("producer");
    for i in 0..n {
        let value = format!("v{i}");
        producer
            .send(ProducerRecord::new(topic).partition(0).value(&value))
            .await
            .expect("send");
    }
    producer.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_listed_their_offsets_reset_and_deleted() {
    use mq_client::kafka::TopicPartition;
    use std::collections::BTreeMap;
    kafka_client_support::init_tracing();
    let bootstrap = endpoints::kafka_bootstrap();
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    let topic = names::topic("admin-groups");
    admin
        .create_topics([NewTopic::new(&topic, 1, 1)])
        .await
        .expect("create");
    produce(&bootstrap, &topic, 10).await;
    let group = names::group("admin-groups");
    stopped_group(&bootstrap, &group, &topic, 10).await;
    let tp = TopicPartition::new(topic.as_str(), 0);

    let listed = admin.list_groups().await.expect("list groups");
    let ours = listed
        .iter()
        .find(|g| g.group_id == group)
        .unwrap_or_else(|| panic!("{group} not in {listed:?}"));
    assert_eq!(ours.state, "Empty");
    assert_eq!(ours.protocol_type, "consumer");
    let committed = admin
        .consumer_group_offsets(&group, std::slice::from_ref(&tp))
        .await
        .expect("offsets");
    assert_eq!(committed[&tp].map(|o| o.offset), Some(10));

    // Back to the start: the group's next run reads everything again.
    admin
        .alter_group_offsets(&group, &BTreeMap::from([(tp.clone(), 0)]))
        .await
        .expect("reset");
    let committed = admin
        .consumer_group_offsets(&group, std::slice::from_ref(&tp))
        .await
        .expect("offsets");
    assert_eq!(committed[&tp].map(|o| o.offset), Some(0));
    stopped_group(&bootstrap, &group, &topic, 10).await;

    // With a live member, the reset is refused and nothing changes.
    let mut live = mq_client::kafka::Consumer::builder(&bootstrap)
        .group(&group)
        .build()
        .await
        .expect("consumer");
    live.subscribe([topic.as_str()]).await.expect("subscribe");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while live.assignment().is_empty() {
        assert!(std::time::Instant::now() < deadline, "never assigned");
        let _ = tokio::time::timeout(
            Duration::from_millis(200),
            futures_util::StreamExt::next(&mut live),
        )
        .await;
    }
    let refused = admin
        .alter_group_offsets(&group, &BTreeMap::from([(tp.clone(), 3)]))
        .await;
    assert!(
        matches!(&refused, Err(Error::GroupNotEmpty { members: 1, .. })),
        "{refused:?}"
    );
    let deleted = admin.delete_groups([group.as_str()]).await;
    assert!(
        matches!(
            &deleted,
            Err(Error::Broker {
                code: ErrorCode::NON_EMPTY_GROUP,
                ..
            })
        ),
        "{deleted:?}"
    );
    live.close().await.expect("close");
    let committed = admin
        .consumer_group_offsets(&group, std::slice::from_ref(&tp))
        .await
        .expect("offsets");
    assert_eq!(committed[&tp].map(|o| o.offset), Some(10));

    // Offsets deleted; then the group itself.
    admin
        .delete_group_offsets(&group, std::slice::from_ref(&tp))
        .await
        .expect("delete offsets");
    let committed = admin
        .consumer_group_offsets(&group, std::slice::from_ref(&tp))
        .await
        .expect("offsets");
    assert_eq!(committed[&tp], None);
    admin
        .delete_groups([group.as_str()])
        .await
        .expect("delete group");
    let listed = admin.list_groups().await.expect("list groups");
    assert!(!listed.iter().any(|g| g.group_id == group), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_entries_are_set_read_back_and_reset() {
    use mq_client::kafka::AlterConfigOp;
    kafka_client_support::init_tracing();
    let bootstrap = endpoints::kafka_bootstrap();
    let admin = Admin::builder(&bootstrap).build().await.expect("admin");
    let topic = names::topic("admin-configs");
    admin
        .create_topics([NewTopic::new(&topic, 1, 1)])
        .await
        .expect("create");
    let resource = ConfigResource::Topic(topic.clone());
    let value_of = |entries: &[mq_client::kafka::ConfigEntry], name: &str| {
        entries
            .iter()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    admin
        .incremental_alter_configs(
            resource.clone(),
            &[AlterConfigOp::set("retention.ms", "7200000")],
        )
        .await
        .expect("set");
    let entries = admin
        .describe_configs(resource.clone())
        .await
        .expect("describe");
    assert_eq!(
        value_of(&entries, "retention.ms").as_deref(),
        Some("7200000")
    );

    // Kafka's own kafka-configs reads it back.
    let out = mq_tests::tools::kafka_java(
        "kafka.admin.ConfigCommand",
        &[
            "--bootstrap-server",
            &bootstrap,
            "--entity-type",
            "topics",
            "--entity-name",
            &topic,
            "--describe",
        ],
    );
    mq_tests::tools::check("kafka-configs --describe", &out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("retention.ms=7200000"), "{text}");

    // An unknown name is refused by name; nothing changes.
    let refused = admin
        .incremental_alter_configs(
            resource.clone(),
            &[AlterConfigOp::set("retention.nonsense", "1")],
        )
        .await;
    match &refused {
        Err(e @ Error::Broker { code, .. }) => {
            assert_eq!(*code, ErrorCode::INVALID_CONFIG, "{e}");
            assert!(e.to_string().contains("retention.nonsense"), "{e}");
        }
        other => panic!("{other:?}"),
    }

    // Delete: back to the broker's default.
    admin
        .incremental_alter_configs(resource.clone(), &[AlterConfigOp::delete("retention.ms")])
        .await
        .expect("delete");
    // The broker applies a config change through its metadata log: a
    // describe right after may still see the old value for a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let entries = admin
            .describe_configs(resource.clone())
            .await
            .expect("describe");
        let value = value_of(&entries, "retention.ms");
        if value.as_deref() == Some("604800000") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "retention.ms still {value:?} after the delete"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
