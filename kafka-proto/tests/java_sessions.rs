//! Sessions of Kafka's own Java console producer and consumer (4.3.1)
//! with the 4.3.1 broker, recorded through `cli/tests/data/capture.py`
//! (files in `tests/golden/java-*.bin`: both directions, whole size-prefixed
//! frames in the order they crossed the proxy). Every request and response
//! of an implemented API decodes and re-encodes to the same bytes, so this
//! crate writes Produce v13, Fetch v18, Metadata v13 and ListOffsets v11
//! exactly as Kafka's generated code does.

use std::collections::{BTreeSet, HashMap};

use bytes::{Bytes, BytesMut};
use kafka_proto::api::{AnyRequest, AnyResponse, SUPPORTED_APIS};
use kafka_proto::header::{RequestHeader, ResponseHeader, response_header_version};
use kafka_proto::record::BatchReader;
use kafka_proto::{ApiKey, ErrorCode, Uuid};

fn golden(name: &str) -> Bytes {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

fn implemented(api: ApiKey) -> bool {
    SUPPORTED_APIS.iter().any(|s| s.api_key == api)
}

/// What one recorded session held.
#[derive(Default)]
struct Session {
    requests: Vec<(RequestHeader, AnyRequest)>,
    responses: Vec<(ApiKey, i16, AnyResponse)>,
}

impl Session {
    fn versions(&self) -> BTreeSet<(&'static str, i16)> {
        self.requests
            .iter()
            .map(|(h, _)| (h.request_api_key.name(), h.request_api_version))
            .collect()
    }
}

/// Splits `name` into frames; decodes each request and response of an
/// implemented API and checks that it re-encodes to the recorded bytes.
fn replay(name: &str) -> Session {
    let mut data = golden(name);
    let mut pending: HashMap<i32, (ApiKey, i16)> = HashMap::new();
    let mut session = Session::default();
    while !data.is_empty() {
        assert!(data.len() >= 4, "{name}: a partial size prefix");
        let size = i32::from_be_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let _ = data.split_to(4);
        let mut frame = data.split_to(size);
        let first = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
        if let Some((api, version)) = pending.remove(&first) {
            ResponseHeader::decode(&mut frame, response_header_version(api, version))
                .expect("response header");
            if !implemented(api) {
                continue;
            }
            let body = frame.clone();
            let resp = AnyResponse::decode(api, version, &mut frame)
                .unwrap_or_else(|e| panic!("{name}: {api:?} v{version} response: {e}"));
            assert!(
                frame.is_empty(),
                "{name}: {api:?} v{version} response: bytes left"
            );
            let mut again = BytesMut::new();
            resp.encode(version, &mut again).unwrap();
            assert_eq!(
                &again[..],
                &body[..],
                "{name}: {api:?} v{version} response re-encoded"
            );
            session.responses.push((api, version, resp));
        } else {
            let header = RequestHeader::decode_any(&mut frame).expect("request header");
            let (api, version) = (header.request_api_key, header.request_api_version);
            pending.insert(header.correlation_id, (api, version));
            if !implemented(api) {
                continue;
            }
            let body = frame.clone();
            let req = AnyRequest::decode(api, version, &mut frame)
                .unwrap_or_else(|e| panic!("{name}: {api:?} v{version} request: {e}"));
            assert!(
                frame.is_empty(),
                "{name}: {api:?} v{version} request: bytes left"
            );
            let mut again = BytesMut::new();
            req.encode(version, &mut again).unwrap();
            assert_eq!(
                &again[..],
                &body[..],
                "{name}: {api:?} v{version} request re-encoded"
            );
            session.requests.push((header, req));
        }
    }
    session
}

/// The values of the records in a records field.
fn values(records: &Bytes) -> Vec<String> {
    let mut out = Vec::new();
    for batch in BatchReader::new(records.clone()) {
        let records = batch.expect("a whole batch").records().expect("records");
        for record in &records {
            let value = record.expect("a record").value().unwrap_or_default();
            out.push(String::from_utf8_lossy(value).into_owned());
        }
    }
    out
}

/// The topic id the producer's Metadata v13 answer gave.
fn topic_id_from_setup() -> Uuid {
    let setup = replay("java-producer-setup.bin");
    assert!(setup.versions().contains(&("Metadata", 13)));
    let id = setup
        .responses
        .iter()
        .find_map(|(_, _, r)| match r {
            AnyResponse::Metadata(m) => Some(m.topics[0].topic_id),
            _ => None,
        })
        .expect("a Metadata answer");
    assert!(!id.is_zero());
    id
}

#[test]
fn java_producer_writes_produce_v13_by_topic_id() {
    let id = topic_id_from_setup();
    for (file, values_sent) in [
        ("java-produce-v13.bin", vec!["hello from java", "world"]),
        (
            "java-produce-v13-zstd.bin",
            vec![r#"{"id":3,"via":"zstd"}"#],
        ),
    ] {
        let session = replay(file);
        assert!(session.versions().contains(&("Produce", 13)), "{file}");
        let produce = session
            .requests
            .iter()
            .find_map(|(_, r)| match r {
                AnyRequest::Produce(p) => Some(p),
                _ => None,
            })
            .expect("a Produce request");
        let topic = &produce.topic_data[0];
        // v13 names the topic by id only.
        assert_eq!((topic.name.as_str(), topic.topic_id), ("", id), "{file}");
        let records = topic.partition_data[0].records.as_ref().expect("records");
        assert_eq!(values(records), values_sent, "{file}");
        let answer = session
            .responses
            .iter()
            .find_map(|(_, _, r)| match r {
                AnyResponse::Produce(p) => Some(p),
                _ => None,
            })
            .expect("a Produce answer");
        let t = &answer.responses[0];
        assert_eq!((t.name.as_str(), t.topic_id), ("", id), "{file}");
        assert_eq!(t.partition_responses[0].error_code, ErrorCode::NONE);
    }
}

#[test]
fn java_consumer_reads_with_fetch_v18() {
    let id = topic_id_from_setup();
    let session = replay("java-consume-v18.bin");
    let versions = session.versions();
    assert!(versions.contains(&("Fetch", 18)), "{versions:?}");
    assert!(versions.contains(&("ListOffsets", 11)), "{versions:?}");
    let fetch = session
        .requests
        .iter()
        .find_map(|(_, r)| match r {
            AnyRequest::Fetch(f) if !f.topics.is_empty() => Some(f),
            _ => None,
        })
        .expect("a Fetch request");
    assert_eq!(
        (fetch.topics[0].topic.as_str(), fetch.topics[0].topic_id),
        ("", id)
    );
    let got: Vec<String> = session
        .responses
        .iter()
        .filter_map(|(_, _, r)| match r {
            AnyResponse::Fetch(f) => Some(f),
            _ => None,
        })
        .flat_map(|f| &f.responses)
        .inspect(|t| assert_eq!(t.topic_id, id))
        .flat_map(|t| &t.partitions)
        .filter_map(|p| p.records.as_ref())
        .flat_map(values)
        .collect();
    assert_eq!(got, ["hello from java", "world"]);
}
