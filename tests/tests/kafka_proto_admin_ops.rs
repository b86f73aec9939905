//! kafka-proto's operator admin messages against the real broker, at
//! every version both sides support, through the sans-IO connection:
//! DescribeLogDirs, ElectLeaders, Alter/ListPartitionReassignments,
//! Describe/AlterUserScramCredentials, DescribeProducers, ListTransactions
//! and DescribeTransactions. (The client's tests use only the newest.)

use kafka_proto::api::create_topics::CreatableTopic;
use kafka_proto::api::describe_log_dirs::DescribableLogDirTopic;
use kafka_proto::api::describe_producers::DescribeProducersTopicRequest;
use kafka_proto::api::elect_leaders::ElectLeadersTopicPartitions;
use kafka_proto::api::partition_reassignments::{
    ListPartitionReassignmentsTopics, ReassignablePartition, ReassignableTopic,
};
use kafka_proto::api::user_scram_credentials::{ScramCredentialDeletion, UserName};
use kafka_proto::api::{
    AlterPartitionReassignmentsRequest, AlterUserScramCredentialsRequest, CreateTopicsRequest,
    DescribeLogDirsRequest, DescribeProducersRequest, DescribeTransactionsRequest,
    DescribeUserScramCredentialsRequest, ElectLeadersRequest, ListPartitionReassignmentsRequest,
    ListTransactionsRequest,
};
use kafka_proto::{Config, ErrorCode};
use mq_tests::kafka_wire::{self, WireClient, common_versions};
use mq_tests::{endpoints, names};

fn connect() -> WireClient {
    WireClient::connect(endpoints::kafka_addr(), Config::default())
        .expect("Kafka must answer on the bootstrap port; run scripts/brokers up")
}

/// A topic of one partition led by the broker `client` talks to.
fn topic(client: &mut WireClient, prefix: &str) -> String {
    let name = names::topic(prefix);
    let node = kafka_wire::node_id(client).expect("node id");
    let request = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.clone(),
            num_partitions: -1,
            replication_factor: -1,
            assignments: kafka_wire::all_on(node, 1),
            ..Default::default()
        }],
        timeout_ms: 30_000,
        ..Default::default()
    };
    let (_, resp) = client.call(&request).expect("CreateTopics");
    assert_eq!(resp.topics[0].error_code, ErrorCode::NONE, "{resp:?}");
    name
}

#[test]
fn log_dirs_elections_and_reassignments_at_every_version() {
    let mut client = connect();
    let topic = topic(&mut client, "proto-ops");

    // The log dir is created as the broker applies the topic: wait for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    for v in common_versions::<DescribeLogDirsRequest>(&client) {
        let request = DescribeLogDirsRequest {
            topics: Some(vec![DescribableLogDirTopic {
                topic: topic.clone(),
                partitions: vec![0],
                ..Default::default()
            }]),
            ..Default::default()
        };
        let resp = loop {
            let resp = client.call_at(&request, v).expect("DescribeLogDirs");
            let found =
                resp.results.iter().flat_map(|d| &d.topics).any(|t| {
                    t.name == topic && t.partitions.iter().any(|p| p.partition_index == 0)
                });
            if found || std::time::Instant::now() > deadline {
                break resp;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        assert_eq!(resp.error_code, ErrorCode::NONE, "v{v}");
        let dir = resp
            .results
            .iter()
            .find(|d| d.topics.iter().any(|t| t.name == topic))
            .unwrap_or_else(|| panic!("v{v}: no dir holds {topic}: {resp:?}"));
        assert_eq!(dir.error_code, ErrorCode::NONE, "v{v}");
        assert!(dir.log_dir.starts_with('/'), "v{v}: {}", dir.log_dir);
        // Only the partition asked for.
        assert!(dir.topics.iter().all(|t| t.name == topic), "v{v}");
        if v >= 4 {
            assert!(dir.total_bytes > 0 && dir.usable_bytes > 0, "v{v}: {dir:?}");
        } else {
            assert_eq!((dir.total_bytes, dir.usable_bytes), (-1, -1), "v{v}");
        }
    }

    for v in common_versions::<ElectLeadersRequest>(&client) {
        let request = ElectLeadersRequest {
            election_type: 0,
            topic_partitions: Some(vec![ElectLeadersTopicPartitions {
                topic: topic.clone(),
                partitions: vec![0],
                ..Default::default()
            }]),
            timeout_ms: 30_000,
            ..Default::default()
        };
        let resp = client.call_at(&request, v).expect("ElectLeaders");
        assert_eq!(resp.error_code, ErrorCode::NONE, "v{v}");
        let results = &resp.replica_election_results;
        assert_eq!(results.len(), 1, "v{v}: {resp:?}");
        assert_eq!(results[0].topic, topic);
        let p = &results[0].partition_result[0];
        assert_eq!(p.partition_id, 0);
        assert_eq!(p.error_code, ErrorCode::ELECTION_NOT_NEEDED, "v{v}: {p:?}");
    }

    for v in common_versions::<AlterPartitionReassignmentsRequest>(&client) {
        let request = AlterPartitionReassignmentsRequest {
            timeout_ms: 30_000,
            allow_replication_factor_change: true,
            topics: vec![ReassignableTopic {
                name: topic.clone(),
                partitions: vec![ReassignablePartition {
                    partition_index: 0,
                    replicas: None,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = client
            .call_at(&request, v)
            .expect("AlterPartitionReassignments");
        assert_eq!(resp.error_code, ErrorCode::NONE, "v{v}: {resp:?}");
        let p = &resp.responses[0].partitions[0];
        assert_eq!(
            p.error_code,
            ErrorCode::NO_REASSIGNMENT_IN_PROGRESS,
            "v{v}: {p:?}"
        );
    }

    for v in common_versions::<ListPartitionReassignmentsRequest>(&client) {
        let request = ListPartitionReassignmentsRequest {
            timeout_ms: 30_000,
            topics: Some(vec![ListPartitionReassignmentsTopics {
                name: topic.clone(),
                partition_indexes: vec![0],
                ..Default::default()
            }]),
            ..Default::default()
        };
        let resp = client
            .call_at(&request, v)
            .expect("ListPartitionReassignments");
        assert_eq!(resp.error_code, ErrorCode::NONE, "v{v}");
        assert!(resp.topics.is_empty(), "v{v}: {resp:?}");
    }
}

#[test]
fn scram_producers_and_transactions_at_every_version() {
    let mut client = connect();
    let topic = topic(&mut client, "proto-ops-txn");

    for v in common_versions::<DescribeUserScramCredentialsRequest>(&client) {
        let request = DescribeUserScramCredentialsRequest {
            users: Some(vec![UserName {
                name: endpoints::KAFKA_SASL_USER.into(),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let resp = client
            .call_at(&request, v)
            .expect("DescribeUserScramCredentials");
        assert_eq!(resp.error_code, ErrorCode::NONE, "v{v}");
        let alice = &resp.results[0];
        assert_eq!(alice.user, endpoints::KAFKA_SASL_USER);
        assert_eq!(alice.error_code, ErrorCode::NONE);
        let mut mechanisms: Vec<i8> = alice.credential_infos.iter().map(|c| c.mechanism).collect();
        mechanisms.sort();
        assert_eq!(mechanisms, [1, 2], "both SCRAM mechanisms: {alice:?}");
    }

    for v in common_versions::<AlterUserScramCredentialsRequest>(&client) {
        let user = names::unique("proto-nobody");
        let request = AlterUserScramCredentialsRequest {
            deletions: vec![ScramCredentialDeletion {
                name: user.clone(),
                mechanism: 2,
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = client
            .call_at(&request, v)
            .expect("AlterUserScramCredentials");
        assert_eq!(resp.results.len(), 1, "v{v}: {resp:?}");
        assert_eq!(resp.results[0].user, user);
        assert_eq!(
            resp.results[0].error_code,
            ErrorCode::RESOURCE_NOT_FOUND,
            "v{v}"
        );
    }

    for v in common_versions::<DescribeProducersRequest>(&client) {
        let request = DescribeProducersRequest {
            topics: vec![DescribeProducersTopicRequest {
                name: topic.clone(),
                partition_indexes: vec![0],
                ..Default::default()
            }],
            ..Default::default()
        };
        // The broker serves the partition once it has applied the new
        // topic; until then it answers NOT_LEADER_OR_FOLLOWER (or
        // UNKNOWN_TOPIC_OR_PARTITION).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        let resp = loop {
            let resp = client.call_at(&request, v).expect("DescribeProducers");
            let code = resp.topics[0].partitions[0].error_code;
            let settling = matches!(
                code,
                ErrorCode::NOT_LEADER_OR_FOLLOWER | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            );
            if !settling || std::time::Instant::now() > deadline {
                break resp;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let p = &resp.topics[0].partitions[0];
        assert_eq!(p.error_code, ErrorCode::NONE, "v{v}: {p:?}");
        assert!(p.active_producers.is_empty(), "v{v}: {p:?}");
    }

    for v in common_versions::<ListTransactionsRequest>(&client) {
        // A filter no transaction passes: a producer id never handed out.
        let request = ListTransactionsRequest {
            state_filters: vec!["Ongoing".into(), "NoSuchState".into()],
            producer_id_filters: vec![i64::MAX - 7],
            ..Default::default()
        };
        let resp = client.call_at(&request, v).expect("ListTransactions");
        assert_eq!(resp.error_code, ErrorCode::NONE, "v{v}");
        assert_eq!(resp.unknown_state_filters, ["NoSuchState"], "v{v}");
        assert!(resp.transaction_states.is_empty(), "v{v}: {resp:?}");
    }

    for v in common_versions::<DescribeTransactionsRequest>(&client) {
        let id = names::unique("proto-no-txn");
        let request = DescribeTransactionsRequest {
            transactional_ids: vec![id.clone()],
            ..Default::default()
        };
        let resp = client.call_at(&request, v).expect("DescribeTransactions");
        let state = &resp.transaction_states[0];
        assert_eq!(state.transactional_id, id);
        // The coordinator does not know it; another broker of a larger
        // cluster says it is not the coordinator.
        assert!(
            [
                ErrorCode::TRANSACTIONAL_ID_NOT_FOUND,
                ErrorCode::NOT_COORDINATOR
            ]
            .contains(&state.error_code),
            "v{v}: {state:?}"
        );
    }
}
