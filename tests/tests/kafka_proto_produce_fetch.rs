//! Produce and Fetch through the real broker at every version both sides
//! support. Record batches come from the record module on another branch;
//! here a Produce carries an empty records payload and a Fetch reads an
//! empty topic, which proves the message codecs (topic names up to Fetch
//! v12, topic ids from v13) and the zero-copy records field.

use std::thread::sleep;
use std::time::Duration;

use bytes::Bytes;
use kafka_proto::api::create_topics::CreatableTopic;
use kafka_proto::api::fetch::{FetchPartition, FetchTopic};
use kafka_proto::api::metadata::MetadataRequestTopic;
use kafka_proto::api::produce::{PartitionProduceData, TopicProduceData};
use kafka_proto::api::{CreateTopicsRequest, FetchRequest, MetadataRequest, ProduceRequest};
use kafka_proto::{Config, ErrorCode, Uuid};
use mq_tests::kafka_wire::{self, WireClient, common_versions};
use mq_tests::{endpoints, names};

const PARTITIONS: i32 = 2;

fn connect() -> WireClient {
    WireClient::connect(endpoints::kafka_addr(), Config::default())
        .expect("Kafka must answer on the bootstrap port; run scripts/brokers up")
}

/// Creates a topic and waits until its partitions have leaders; returns its id.
fn create_topic(client: &mut WireClient, name: &str) -> Uuid {
    // Every partition led by the broker this client talks to, on a cluster
    // of any size.
    let node = kafka_wire::node_id(client).expect("node id");
    let (_, resp) = client
        .call(&CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: name.to_owned(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: kafka_wire::all_on(node, PARTITIONS),
                ..Default::default()
            }],
            timeout_ms: 30_000,
            ..Default::default()
        })
        .expect("CreateTopics");
    assert_eq!(resp.topics[0].error_code, ErrorCode::NONE);
    for _ in 0..100 {
        let (_, meta) = client
            .call(&MetadataRequest {
                topics: Some(vec![MetadataRequestTopic {
                    name: Some(name.to_owned()),
                    ..Default::default()
                }]),
                ..Default::default()
            })
            .expect("Metadata");
        let t = &meta.topics[0];
        if t.error_code == ErrorCode::NONE
            && t.partitions.len() == PARTITIONS as usize
            && t.partitions.iter().all(|p| p.leader_id >= 0)
        {
            let id = t.topic_id;
            wait_until_fetchable(client, name, id);
            return id;
        }
        sleep(Duration::from_millis(100));
    }
    panic!("{name} has no leaders after 10 s");
}

/// Waits until a Fetch of every partition gets no retriable error (a new
/// partition's leader takes a moment to settle after Metadata shows it).
fn wait_until_fetchable(client: &mut WireClient, name: &str, id: Uuid) {
    for _ in 0..100 {
        let (_, resp) = client.call(&fetch(name, id)).expect("Fetch");
        let settled = resp
            .responses
            .iter()
            .flat_map(|t| &t.partitions)
            .all(|p| p.error_code == ErrorCode::NONE);
        if settled {
            return;
        }
        sleep(Duration::from_millis(100));
    }
    panic!("{name} is not fetchable after 10 s");
}

fn empty_produce(topic: &str, topic_id: Uuid, acks: i16) -> ProduceRequest {
    ProduceRequest {
        transactional_id: None,
        acks,
        timeout_ms: 10_000,
        topic_data: vec![TopicProduceData {
            name: topic.to_owned(),
            topic_id,
            partition_data: (0..PARTITIONS)
                .map(|p| PartitionProduceData {
                    index: p,
                    records: Some(Bytes::new()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn fetch(topic: &str, topic_id: Uuid) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 0,
        max_bytes: 1 << 20,
        isolation_level: 1,
        topics: vec![FetchTopic {
            topic: topic.to_owned(),
            topic_id,
            partitions: (0..PARTITIONS)
                .map(|p| FetchPartition {
                    partition: p,
                    fetch_offset: 0,
                    partition_max_bytes: 1 << 20,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn empty_produce_round_trips_at_every_version() {
    let mut client = connect();
    let topic = names::topic("proto-produce");
    let topic_id = create_topic(&mut client, &topic);
    let versions = common_versions::<ProduceRequest>(&client);
    assert_eq!(versions, 3..=13);
    for v in versions {
        let resp = client
            .call_at(&empty_produce(&topic, topic_id, -1), v)
            .unwrap_or_else(|e| panic!("Produce v{v}: {e}"));
        assert_eq!(resp.responses.len(), 1, "v{v}");
        let t = &resp.responses[0];
        // v13 names the topic by id only (KIP-516).
        if v >= 13 {
            assert_eq!((t.name.as_str(), t.topic_id), ("", topic_id), "v{v}");
        } else {
            assert_eq!(
                (t.name.as_str(), t.topic_id),
                (topic.as_str(), Uuid::ZERO),
                "v{v}"
            );
        }
        let mut indexes: Vec<i32> = t.partition_responses.iter().map(|p| p.index).collect();
        indexes.sort();
        assert_eq!(indexes, (0..PARTITIONS).collect::<Vec<_>>(), "v{v}");
        for p in &t.partition_responses {
            // An empty payload holds no batch: Kafka 4 refuses it per
            // partition as INVALID_RECORD and appends nothing.
            assert_eq!(p.error_code, ErrorCode::INVALID_RECORD, "v{v}: {p:?}");
            assert_eq!(p.base_offset, -1, "v{v}");
        }
    }
    // acks = 0: the broker sends nothing back and the connection does not
    // wait for it. A failed acks = 0 produce is the one case where Kafka
    // closes the connection instead of answering, so nothing more comes.
    client
        .send_only(&empty_produce(&topic, topic_id, 0), 13)
        .expect("send");
    assert_eq!(client.connection().in_flight(), 0);
    let after = client.call(&fetch(&topic, Uuid::ZERO));
    assert!(
        after
            .as_ref()
            .is_err_and(|e| e.to_string().contains("closed")),
        "{after:?}"
    );
}

#[test]
fn fetch_of_an_empty_topic_at_every_version() {
    let mut client = connect();
    let topic = names::topic("proto-fetch");
    let topic_id = create_topic(&mut client, &topic);
    assert!(!topic_id.is_zero());
    let versions = common_versions::<FetchRequest>(&client);
    assert_eq!(versions, 4..=18);
    for v in versions {
        // Right after creation the leader may still be settling in.
        let mut resp = None;
        for _ in 0..100 {
            let r = client
                .call_at(&fetch(&topic, topic_id), v)
                .unwrap_or_else(|e| panic!("Fetch v{v}: {e}"));
            let settling = r
                .responses
                .iter()
                .flat_map(|t| &t.partitions)
                .any(|p| p.error_code != ErrorCode::NONE && p.error_code.is_retriable());
            resp = Some(r);
            if !settling {
                break;
            }
            sleep(Duration::from_millis(100));
        }
        let resp = resp.expect("at least one answer");
        if v >= 7 {
            assert_eq!(resp.error_code, ErrorCode::NONE, "v{v}");
        }
        assert_eq!(resp.responses.len(), 1, "v{v}");
        let t = &resp.responses[0];
        if v >= 13 {
            assert_eq!(t.topic_id, topic_id, "v{v}");
        } else {
            assert_eq!(t.topic, topic, "v{v}");
        }
        assert_eq!(t.partitions.len(), PARTITIONS as usize, "v{v}");
        for p in &t.partitions {
            assert_eq!(p.error_code, ErrorCode::NONE, "v{v}: {p:?}");
            assert_eq!(p.high_watermark, 0, "v{v}");
            if v >= 5 {
                assert_eq!(p.log_start_offset, 0, "v{v}");
            }
            let records = p.records.as_ref().map_or(0, Bytes::len);
            assert_eq!(records, 0, "v{v}: an empty topic has no batches");
        }
    }
}
