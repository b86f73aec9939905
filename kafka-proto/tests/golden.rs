//! Responses captured from the real Kafka 4.3.1 broker (files in
//! `tests/golden/`, whole frames without the size prefix): they decode, and
//! re-encode to the same bytes, so what this crate writes matches what
//! Kafka's generated code writes, tagged fields included.

use bytes::{Bytes, BytesMut};
use kafka_proto::api::{ApiVersionsResponse, MetadataResponse};
use kafka_proto::header::{ResponseHeader, response_header_version};
use kafka_proto::{ApiKey, ErrorCode, Message};

fn golden(name: &str) -> Bytes {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// Splits off the response header, decodes the body, re-encodes it, and
/// checks the bytes match.
fn decode_exact<M: Message>(name: &str, correlation_id: i32, version: i16) -> M {
    let mut frame = golden(name);
    let header = ResponseHeader::decode(&mut frame, response_header_version(M::API_KEY, version))
        .expect("header");
    assert_eq!(header.correlation_id, correlation_id);
    let body = frame.clone();
    let msg = M::decode(&mut frame, version).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(frame.is_empty(), "{name}: {} bytes left", frame.len());
    let mut again = BytesMut::new();
    msg.encode(version, &mut again).unwrap();
    assert_eq!(&again[..], &body[..], "{name}: re-encoding differs");
    msg
}

#[test]
fn api_versions_v4_from_kafka() {
    let r: ApiVersionsResponse = decode_exact("api_versions_v4.bin", 1, 4);
    assert_eq!(r.error_code, ErrorCode::NONE);
    let produce = r
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::PRODUCE)
        .unwrap();
    // Kafka 4.3 still advertises Produce from v0; this crate's floor is v3.
    assert_eq!((produce.min_version, produce.max_version), (0, 13));
    let fetch = r
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::FETCH)
        .unwrap();
    assert_eq!((fetch.min_version, fetch.max_version), (4, 18));
    // Tagged fields 0-2 are present; ZkMigrationReady (tag 3) is at its default.
    assert!(!r.supported_features.is_empty());
    assert!(r.finalized_features_epoch > 0);
    assert!(
        r.finalized_features
            .iter()
            .any(|f| f.name == "metadata.version")
    );
    assert!(r.unknown_tagged_fields.is_empty());
}

#[test]
fn api_versions_v0_from_kafka() {
    let r: ApiVersionsResponse = decode_exact("api_versions_v0.bin", 2, 0);
    assert_eq!(r.error_code, ErrorCode::NONE);
    assert_eq!(r.api_keys.len(), 75);
    let av = r
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::API_VERSIONS)
        .unwrap();
    assert_eq!((av.min_version, av.max_version), (0, 4));
}

#[test]
fn metadata_from_kafka() {
    let v12: MetadataResponse = decode_exact("metadata_v12_no_topics.bin", 3, 12);
    let v1: MetadataResponse = decode_exact("metadata_v1_no_topics.bin", 4, 1);
    assert_eq!(v12.brokers.len(), 1);
    assert_eq!(v12.brokers[0].port, 9092);
    assert_eq!(v12.brokers[0].host, v1.brokers[0].host);
    assert!(v12.cluster_id.is_some());
    assert_eq!(v1.cluster_id, None, "v1 has no cluster id");
    assert_eq!(v12.controller_id, v1.controller_id);
    assert!(v12.topics.is_empty() && v1.topics.is_empty());
}
