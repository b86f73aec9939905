//! kafka-proto's messages against the real broker, at every version both
//! sides support: CreateTopics, Metadata, ListOffsets, DescribeConfigs,
//! FindCoordinator and DeleteTopics, driven through the sans-IO connection.

use std::thread::sleep;
use std::time::Duration;

use kafka_proto::api::create_topics::{CreatableTopic, CreatableTopicConfig};
use kafka_proto::api::delete_topics::DeleteTopicState;
use kafka_proto::api::describe_configs::DescribeConfigsResource;
use kafka_proto::api::list_offsets::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_proto::api::metadata::MetadataRequestTopic;
use kafka_proto::api::{
    CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, FindCoordinatorRequest,
    ListOffsetsRequest, MetadataRequest, MetadataResponse,
};
use kafka_proto::{Config, ErrorCode, Uuid};
use mq_tests::kafka_wire::{self, WireClient, common_versions};
use mq_tests::{endpoints, names};

fn connect() -> WireClient {
    WireClient::connect(endpoints::kafka_addr(), Config::default())
        .expect("Kafka must answer on the bootstrap port; run scripts/brokers up")
}

fn create_topic(client: &mut WireClient, name: &str, partitions: i32, version: i16) {
    // Every partition led by the broker this client talks to (ListOffsets
    // goes to the leader), on a cluster of any size.
    let node = kafka_wire::node_id(client).expect("node id");
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.to_owned(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: kafka_wire::all_on(node, partitions),
            configs: vec![CreatableTopicConfig {
                name: "retention.ms".into(),
                value: Some("3600000".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        timeout_ms: 30_000,
        ..Default::default()
    };
    let resp = client
        .call_at(&request, version)
        .unwrap_or_else(|e| panic!("CreateTopics v{version}: {e}"));
    assert_eq!(resp.topics.len(), 1);
    let t = &resp.topics[0];
    assert_eq!(t.name, name);
    assert_eq!(t.error_code, ErrorCode::NONE, "v{version}: {t:?}");
    if version >= 5 {
        assert_eq!(t.num_partitions, partitions, "v{version}");
        assert_eq!(t.replication_factor, 1, "v{version}");
        let configs = t.configs.as_ref().expect("configs in v5+");
        let retention = configs
            .iter()
            .find(|c| c.name == "retention.ms")
            .expect("retention.ms");
        assert_eq!(retention.value.as_deref(), Some("3600000"));
    }
    if version >= 7 {
        assert!(!t.topic_id.is_zero(), "v7 returns the topic id");
    }
}

fn metadata_request(topic: &str) -> MetadataRequest {
    MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some(topic.to_owned()),
            ..Default::default()
        }]),
        allow_auto_topic_creation: false,
        ..Default::default()
    }
}

/// Metadata for `topic`, retried until every partition has a leader.
fn wait_for_leaders(client: &mut WireClient, topic: &str, version: i16) -> MetadataResponse {
    for _ in 0..100 {
        let resp = client
            .call_at(&metadata_request(topic), version)
            .unwrap_or_else(|e| panic!("Metadata v{version}: {e}"));
        let ready = resp.topics.len() == 1
            && resp.topics[0].error_code == ErrorCode::NONE
            && !resp.topics[0].partitions.is_empty()
            && resp.topics[0].partitions.iter().all(|p| p.leader_id >= 0);
        if ready {
            return resp;
        }
        sleep(Duration::from_millis(100));
    }
    panic!("{topic} has no leaders after 10 s (Metadata v{version})");
}

#[test]
fn create_describe_list_offsets_and_delete_at_every_version() {
    let mut client = connect();
    let create_versions = common_versions::<CreateTopicsRequest>(&client);
    let delete_versions: Vec<i16> = common_versions::<DeleteTopicsRequest>(&client).collect();
    assert_eq!(create_versions, 2..=7);
    assert_eq!(delete_versions.first(), Some(&1));
    for (i, version) in create_versions.enumerate() {
        let topic = names::topic(&format!("proto-admin-v{version}"));
        create_topic(&mut client, &topic, 3, version);

        // Metadata at every common version.
        for mv in common_versions::<MetadataRequest>(&client) {
            let resp = wait_for_leaders(&mut client, &topic, mv);
            assert!(!resp.brokers.is_empty(), "Metadata v{mv}");
            let t = &resp.topics[0];
            assert_eq!(t.name.as_deref(), Some(topic.as_str()), "Metadata v{mv}");
            assert_eq!(t.partitions.len(), 3, "Metadata v{mv}");
            let mut indexes: Vec<i32> = t.partitions.iter().map(|p| p.partition_index).collect();
            indexes.sort();
            assert_eq!(indexes, vec![0, 1, 2]);
            for p in &t.partitions {
                assert_eq!(p.replica_nodes, vec![p.leader_id], "Metadata v{mv}");
                assert_eq!(p.isr_nodes, vec![p.leader_id], "Metadata v{mv}");
                if mv >= 7 {
                    assert!(p.leader_epoch >= 0, "Metadata v{mv}");
                }
            }
            if mv >= 2 {
                assert!(resp.cluster_id.is_some(), "Metadata v{mv}");
            }
            if mv >= 10 {
                assert!(!t.topic_id.is_zero(), "Metadata v{mv}");
            }
        }

        // ListOffsets: earliest and latest of an empty topic are both 0.
        for lv in common_versions::<ListOffsetsRequest>(&client) {
            for ts in [-2i64, -1] {
                let request = ListOffsetsRequest {
                    replica_id: -1,
                    topics: vec![ListOffsetsTopic {
                        name: topic.clone(),
                        partitions: (0..3)
                            .map(|p| ListOffsetsPartition {
                                partition_index: p,
                                timestamp: ts,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }],
                    timeout_ms: 10_000,
                    ..Default::default()
                };
                // Right after creation the leader may still be settling in.
                let mut resp = None;
                for _ in 0..100 {
                    let r = client
                        .call_at(&request, lv)
                        .unwrap_or_else(|e| panic!("ListOffsets v{lv}: {e}"));
                    assert_eq!(r.topics.len(), 1);
                    assert_eq!(r.topics[0].partitions.len(), 3);
                    let settling = r.topics[0]
                        .partitions
                        .iter()
                        .any(|p| p.error_code != ErrorCode::NONE && p.error_code.is_retriable());
                    resp = Some(r);
                    if !settling {
                        break;
                    }
                    sleep(Duration::from_millis(100));
                }
                let resp = resp.expect("at least one answer");
                for p in &resp.topics[0].partitions {
                    assert_eq!(p.error_code, ErrorCode::NONE, "ListOffsets v{lv} ts {ts}");
                    assert_eq!(p.offset, 0, "ListOffsets v{lv} ts {ts}");
                }
            }
        }

        // DescribeConfigs: the config set at creation reads back.
        for dv in common_versions::<DescribeConfigsRequest>(&client) {
            let request = DescribeConfigsRequest {
                resources: vec![DescribeConfigsResource {
                    resource_type: 2,
                    resource_name: topic.clone(),
                    configuration_keys: None,
                    ..Default::default()
                }],
                include_synonyms: true,
                include_documentation: true,
                ..Default::default()
            };
            let resp = client
                .call_at(&request, dv)
                .unwrap_or_else(|e| panic!("DescribeConfigs v{dv}: {e}"));
            let result = &resp.results[0];
            assert_eq!(result.error_code, ErrorCode::NONE, "DescribeConfigs v{dv}");
            let retention = result
                .configs
                .iter()
                .find(|c| c.name == "retention.ms")
                .expect("retention.ms");
            assert_eq!(
                retention.value.as_deref(),
                Some("3600000"),
                "DescribeConfigs v{dv}"
            );
            assert!(result.configs.len() > 10);
            if dv >= 3 {
                assert!(
                    result.configs.iter().any(|c| c.documentation.is_some()),
                    "DescribeConfigs v{dv}"
                );
            }
        }

        // DeleteTopics, cycling through its versions.
        let dv = delete_versions[i % delete_versions.len()];
        let request = if dv >= 6 {
            DeleteTopicsRequest {
                topics: vec![DeleteTopicState {
                    name: Some(topic.clone()),
                    topic_id: Uuid::ZERO,
                    ..Default::default()
                }],
                timeout_ms: 30_000,
                ..Default::default()
            }
        } else {
            DeleteTopicsRequest {
                topic_names: vec![topic.clone()],
                timeout_ms: 30_000,
                ..Default::default()
            }
        };
        let resp = client
            .call_at(&request, dv)
            .unwrap_or_else(|e| panic!("DeleteTopics v{dv}: {e}"));
        assert_eq!(resp.responses.len(), 1);
        assert_eq!(resp.responses[0].name.as_deref(), Some(topic.as_str()));
        assert_eq!(
            resp.responses[0].error_code,
            ErrorCode::NONE,
            "DeleteTopics v{dv}"
        );
        // The topic is gone.
        let mut gone = false;
        for _ in 0..100 {
            let (_, meta) = client.call(&metadata_request(&topic)).unwrap();
            if meta.topics[0].error_code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION {
                gone = true;
                break;
            }
            sleep(Duration::from_millis(100));
        }
        assert!(gone, "{topic} still listed after DeleteTopics v{dv}");
    }
}

#[test]
fn remaining_delete_topics_versions() {
    let mut client = connect();
    for dv in common_versions::<DeleteTopicsRequest>(&client) {
        let topic = names::topic(&format!("proto-delete-v{dv}"));
        create_topic(&mut client, &topic, 1, 7);
        let request = DeleteTopicsRequest {
            topics: vec![DeleteTopicState {
                name: Some(topic.clone()),
                ..Default::default()
            }],
            topic_names: vec![topic.clone()],
            timeout_ms: 30_000,
            ..Default::default()
        };
        let resp = client
            .call_at(&request, dv)
            .unwrap_or_else(|e| panic!("DeleteTopics v{dv}: {e}"));
        assert_eq!(
            resp.responses[0].error_code,
            ErrorCode::NONE,
            "DeleteTopics v{dv}"
        );
    }
}

#[test]
fn find_coordinator_at_every_version() {
    let mut client = connect();
    let group = names::group("proto-coordinator");
    let versions = common_versions::<FindCoordinatorRequest>(&client);
    assert_eq!(versions, 0..=6);
    for v in versions {
        let request = FindCoordinatorRequest {
            key: group.clone(),
            key_type: 0,
            coordinator_keys: vec![group.clone()],
            ..Default::default()
        };
        // The first lookup may find the offsets topic still being created.
        let mut found = None;
        for _ in 0..100 {
            let resp = client
                .call_at(&request, v)
                .unwrap_or_else(|e| panic!("FindCoordinator v{v}: {e}"));
            let (code, node, host, port) = if v >= 4 {
                assert_eq!(resp.coordinators.len(), 1, "v{v}");
                let c = &resp.coordinators[0];
                assert_eq!(c.key, group);
                (c.error_code, c.node_id, c.host.clone(), c.port)
            } else {
                (resp.error_code, resp.node_id, resp.host.clone(), resp.port)
            };
            if code == ErrorCode::NONE {
                found = Some((node, host, port));
                break;
            }
            assert!(code.is_retriable(), "FindCoordinator v{v}: {code}");
            sleep(Duration::from_millis(100));
        }
        let (node, host, port) = found.unwrap_or_else(|| panic!("no coordinator at v{v}"));
        assert!(node >= 0, "v{v}");
        assert!(!host.is_empty(), "v{v}");
        // Any broker of the cluster may coordinate the group: its port is
        // one of the bootstrap list's.
        let ports: Vec<i32> = endpoints::kafka_bootstrap()
            .split(',')
            .filter_map(|a| a.trim().rsplit(':').next()?.parse().ok())
            .collect();
        assert!(ports.contains(&port), "v{v}: port {port} not in {ports:?}");
    }
}
