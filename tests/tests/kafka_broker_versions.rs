//! Protocol currency against the running broker: asks it for ApiVersions
//! and, for every API `kafka-proto` implements, prints our range, the
//! broker's range and the version negotiation picks. Fails if negotiation
//! picks anything below the broker's newest version of an implemented API,
//! unless the API is on [`ALLOWED_BELOW_BROKER`] with the reason.
//!
//! (`schema_conformance.rs` in kafka-proto keeps us at the newest version
//! in Kafka's schema files; this test catches a broker newer than those.)
//! Run with `--nocapture` to see the table.

use kafka_proto::api::fetch::FetchTopic;
use kafka_proto::api::offset_commit::OffsetCommitRequestTopic;
use kafka_proto::api::offset_fetch::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_proto::api::produce::TopicProduceData;
use kafka_proto::api::{
    FetchRequest, OffsetCommitRequest, OffsetFetchRequest, ProduceRequest, SUPPORTED_APIS,
};
use kafka_proto::{ApiKey, Config, Connection, ErrorCode, Request, Uuid};
use mq_tests::endpoints;
use mq_tests::kafka_wire::WireClient;

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
        "{:<26} {:>8} {:>8} {:>10}  note",
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
            "{:<26} {:>8} {:>8} {:>10}  {note}",
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
    assert_eq!(rows.len(), 23, "every implemented API is in the table");
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
