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
