//! Protocol currency against the running broker: asks it for ApiVersions
//! and, for every API `kafka-proto` implements, prints our range, the
//! broker's range and the version negotiation picks. Fails if negotiation
//! picks anything below the broker's newest version of an implemented API,
//! unless the API is on [`ALLOWED_BELOW_BROKER`] with the reason.
//!
//! (`schema_conformance.rs` in kafka-proto keeps us at the newest version
//! in Kafka's schema files; this test catches a broker newer than those.)
//! Run with `--nocapture` to see the table.
//!
//! A second test records, through the test proxy, every request that
//! mq-client's producer, consumer group and admin write, and checks each
//! went out at the negotiated version: Produce v13, Fetch v18 and the v10
//! offset APIs by topic id, not the by-name versions before them.

mod kafka_client_support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use futures_util::StreamExt;
use kafka_proto::api::fetch::FetchTopic;
use kafka_proto::api::offset_commit::OffsetCommitRequestTopic;
use kafka_proto::api::offset_fetch::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_proto::api::produce::TopicProduceData;
use kafka_proto::api::{
    FetchRequest, OffsetCommitRequest, OffsetFetchRequest, ProduceRequest, SUPPORTED_APIS,
};
use kafka_proto::{ApiKey, Config, Connection, ErrorCode, Request, Uuid};
use mq_client::kafka::{Admin, Consumer, OffsetReset, Producer, ProducerRecord, TopicPartition};
use mq_tests::kafka_proxies::KafkaProxies;
use mq_tests::kafka_wire::WireClient;
use mq_tests::{endpoints, names};

use kafka_client_support::topic;

/// APIs that may negotiate below the broker's newest version, each with
/// why. Keep it short: an entry here is protocol debt.
const ALLOWED_BELOW_BROKER: &[(ApiKey, &str)] = &[
    // Nothing today: every implemented API is at the newest version of
    // Kafka 4.3.1's schemas, and the 4.3.1 broker advertises none newer.
    // (An entry reads like:
    //   (ApiKey::PRODUCE, "v14 changes X; the producer does not use it yet"),)
];

/// One row of the table.
struct Row {
    api: ApiKey,
    ours: (i16, i16),
    broker: Option<(i16, i16)>,
    negotiated: Option<i16>,
}

impl Row {
    /// Why this row fails the test, if it does.
    fn problem(&self) -> Option<String> {
        let Some((_, broker_max)) = self.broker else {
            return Some(format!("{}: the broker does not offer it", self.api));
        };
        match self.negotiated {
            Some(v) if v >= broker_max => None,
            Some(v) => Some(format!(
                "{}: negotiated v{v}, below the broker's newest v{broker_max} (ours {}..={})",
                self.api, self.ours.0, self.ours.1
            )),
            None => Some(format!("{}: no common version", self.api)),
        }
    }
}

fn range(r: Option<(i16, i16)>) -> String {
    r.map_or_else(|| "-".to_owned(), |(lo, hi)| format!("{lo}..={hi}"))
}

#[test]
fn negotiation_reaches_the_brokers_newest_version_of_every_implemented_api() {
    let client = WireClient::connect(endpoints::kafka_addr(), Config::default())
        .expect("Kafka must answer on the bootstrap port; run scripts/brokers up");
    let conn = client.connection();
    let broker = conn.broker_versions().expect("an ApiVersions answer");
    assert_eq!(broker.error_code, ErrorCode::NONE);
    let rows: Vec<Row> = SUPPORTED_APIS
        .iter()
        .map(|ours| Row {
            api: ours.api_key,
            ours: (ours.min_version, ours.max_version),
            broker: broker
                .api_keys
                .iter()
                .find(|k| k.api_key == ours.api_key)
                .map(|k| (k.min_version, k.max_version)),
            negotiated: conn.version_for(ours.api_key),
        })
        .collect();

    println!(
        "{:<36} {:>8} {:>8} {:>10}  note",
        "API", "ours", "broker", "negotiated"
    );
    for row in &rows {
        let allowed = ALLOWED_BELOW_BROKER.iter().find(|(k, _)| *k == row.api);
        let note = match (row.problem(), allowed) {
            (None, _) => String::new(),
            (Some(_), Some((_, why))) => format!("allowed: {why}"),
            (Some(p), None) => format!("FAIL: {p}"),
        };
        println!(
            "{:<36} {:>8} {:>8} {:>10}  {note}",
            format!("{} ({})", row.api.name(), row.api.0),
            range(Some(row.ours)),
            range(row.broker),
            row.negotiated
                .map_or_else(|| "-".to_owned(), |v| v.to_string()),
        );
    }

    let failures: Vec<String> = rows
        .iter()
        .filter(|r| !ALLOWED_BELOW_BROKER.iter().any(|(k, _)| *k == r.api))
        .filter_map(Row::problem)
        .collect();
    assert!(
        failures.is_empty(),
        "negotiation is behind the broker:\n{}",
        failures.join("\n")
    );
    // An allow-list entry that no longer applies is stale: drop it.
    let stale: Vec<String> = ALLOWED_BELOW_BROKER
        .iter()
        .filter(|(k, _)| rows.iter().any(|r| r.api == *k && r.problem().is_none()))
        .map(|(k, why)| format!("{k}: {why}"))
        .collect();
    assert!(
        stale.is_empty(),
        "stale allow-list entries:\n{}",
        stale.join("\n")
    );
    assert_eq!(rows.len(), 50, "every implemented API is in the table");
    by_id_requests_go_out_at_the_negotiated_version(conn);
}

/// The APIs that name topics by id in their newest versions are sent at
/// the negotiated version when every topic's id is known (only a topic
/// without one keeps a request at the last by-name version).
fn by_id_requests_go_out_at_the_negotiated_version(conn: &Connection) {
    fn check<R: Request>(conn: &Connection, request: &R) {
        assert_eq!(
            conn.version_to_send(request).ok(),
            conn.version_for(R::API_KEY),
            "{:?}",
            R::API_KEY
        );
    }
    let id = Uuid([1; 16]);
    check(
        conn,
        &ProduceRequest {
            topic_data: vec![TopicProduceData {
                topic_id: id,
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    check(
        conn,
        &FetchRequest {
            topics: vec![FetchTopic {
                topic_id: id,
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    check(
        conn,
        &OffsetCommitRequest {
            topics: vec![OffsetCommitRequestTopic {
                topic_id: id,
                ..Default::default()
            }],
            ..Default::default()
        },
    );
    check(
        conn,
        &OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                topics: Some(vec![OffsetFetchRequestTopics {
                    topic_id: id,
                    ..Default::default()
                }]),
                ..Default::default()
            }],
            ..Default::default()
        },
    );
}

/// The version negotiated with the running broker for each implemented API.
fn negotiated_versions() -> HashMap<ApiKey, i16> {
    let client = WireClient::connect(endpoints::kafka_addr(), Config::default())
        .expect("Kafka must answer on the bootstrap port; run scripts/brokers up");
    SUPPORTED_APIS
        .iter()
        .filter_map(|a| Some((a.api_key, client.connection().version_for(a.api_key)?)))
        .collect()
}

/// The (API, version) of every request frame in one connection's
/// client-to-broker bytes.
fn request_versions(mut stream: &[u8]) -> Vec<(ApiKey, i16)> {
    let mut out = Vec::new();
    while let Some((size, rest)) = stream.split_first_chunk::<4>() {
        let size = u32::from_be_bytes(*size) as usize;
        let (frame, rest) = rest.split_at(size.min(rest.len()));
        if let Some((key, frame)) = frame.split_first_chunk::<2>() {
            if let Some(version) = frame.first_chunk::<2>() {
                out.push((
                    ApiKey(i16::from_be_bytes(*key)),
                    i16::from_be_bytes(*version),
                ));
            }
        }
        stream = rest;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_sends_every_request_at_the_negotiated_version() {
    let negotiated = tokio::task::spawn_blocking(negotiated_versions)
        .await
        .expect("negotiation");
    let topic = topic("versions", 1).await;
    let group = names::group("versions");
    // A recording proxy in front of each broker, on a cluster of any size.
    let proxies = KafkaProxies::start(&endpoints::kafka_bootstrap())
        .await
        .expect("proxies");
    proxies.all().for_each(|p| p.record(true));
    let via = proxies.bootstrap();
    let map = proxies.map();

    let producer = Producer::builder(&via)
        .address_map(map.clone())
        .build()
        .await
        .expect("producer");
    producer
        .send(ProducerRecord::new(&topic).key("k").value("v"))
        .await
        .expect("produced");
    producer.close().await.expect("close");

    let mut consumer = Consumer::builder(&via)
        .address_map(map.clone())
        .group(group.as_str())
        .auto_offset_reset(OffsetReset::Earliest)
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_millis(500))
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .await
        .expect("consumer");
    consumer
        .subscribe([topic.as_str()])
        .await
        .expect("subscribe");
    let record = tokio::time::timeout(Duration::from_secs(30), consumer.next())
        .await
        .expect("a record in time")
        .expect("stream open")
        .expect("record");
    assert_eq!(record.value(), Some(&b"v"[..]));
    consumer.commit(&record).await.expect("commit");
    consumer.close().await.expect("close");

    let admin = Admin::builder(&via)
        .address_map(map)
        .build()
        .await
        .expect("admin");
    let described = admin
        .describe_consumer_group(&group)
        .await
        .expect("describe");
    assert_eq!(described.group_id, group);
    let tp = TopicPartition::new(topic.as_str(), 0);
    let committed = admin
        .consumer_group_offsets(&group, std::slice::from_ref(&tp))
        .await
        .expect("committed offsets");
    assert_eq!(committed[&tp].map(|o| o.offset), Some(1));
    // A group that does not exist reads as Dead at every version
    // (DescribeGroups v6 answers GROUP_ID_NOT_FOUND for it).
    let missing = admin
        .describe_consumer_group(&names::group("never-joined"))
        .await
        .expect("describe a missing group");
    assert_eq!((missing.state.as_str(), missing.members.len()), ("Dead", 0));
    proxies.all().for_each(|p| p.record(false));

    let mut seen: BTreeMap<&'static str, BTreeSet<i16>> = BTreeMap::new();
    for stream in proxies.all().flat_map(|p| p.recorded()) {
        for (api, version) in request_versions(&stream) {
            if let Some(&want) = negotiated.get(&api) {
                assert_eq!(
                    version, want,
                    "{api:?} went out below the negotiated version"
                );
            }
            seen.entry(api.name()).or_default().insert(version);
        }
    }
    println!("requests the client sent: {seen:?}");
    for api in [
        ApiKey::PRODUCE,
        ApiKey::FETCH,
        ApiKey::METADATA,
        ApiKey::OFFSET_COMMIT,
        ApiKey::OFFSET_FETCH,
        ApiKey::DESCRIBE_GROUPS,
        ApiKey::JOIN_GROUP,
        ApiKey::SYNC_GROUP,
        ApiKey::FIND_COORDINATOR,
    ] {
        assert!(
            seen.contains_key(api.name()),
            "no {api:?} request: {seen:?}"
        );
    }
}
