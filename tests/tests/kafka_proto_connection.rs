//! kafka-proto's sans-IO connection against the real broker: ApiVersions
//! negotiation at every version, and the UNSUPPORTED_VERSION answer that the
//! connection's retry relies on.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_proto::api::{ApiVersionsRequest, ApiVersionsResponse, SUPPORTED_APIS};
use kafka_proto::{ApiKey, Config, ErrorCode, Message};
use mq_tests::endpoints;
use mq_tests::kafka_wire::{WireClient, common_versions};

fn connect() -> WireClient {
    WireClient::connect(endpoints::kafka_addr(), Config::default())
        .expect("Kafka must answer on the bootstrap port; run scripts/brokers up")
}

#[test]
fn negotiation_picks_the_highest_version_both_support() {
    let client = connect();
    let conn = client.connection();
    assert!(conn.is_ready());
    let broker = conn.broker_versions().expect("ApiVersions answer");
    assert_eq!(broker.error_code, ErrorCode::NONE);
    for ours in SUPPORTED_APIS {
        let theirs = broker
            .api_keys
            .iter()
            .find(|k| k.api_key == ours.api_key)
            .unwrap_or_else(|| panic!("broker lacks {:?}", ours.api_key));
        let expected = ours.max_version.min(theirs.max_version);
        assert!(expected >= ours.min_version.max(theirs.min_version));
        assert_eq!(
            conn.version_for(ours.api_key),
            Some(expected),
            "{:?}",
            ours.api_key
        );
    }
    // Kafka 4.3's newest, which name topics by id.
    assert_eq!(conn.version_for(ApiKey::PRODUCE), Some(13));
    assert_eq!(conn.version_for(ApiKey::FETCH), Some(18));
    assert_eq!(conn.version_for(ApiKey::API_VERSIONS), Some(4));
}

#[test]
fn api_versions_at_every_version() {
    let mut client = connect();
    let versions = common_versions::<ApiVersionsRequest>(&client);
    assert_eq!(versions, 0..=4);
    for v in versions {
        let request = ApiVersionsRequest {
            client_software_name: "mq-tests".into(),
            client_software_version: "0.1.0".into(),
            ..Default::default()
        };
        let resp = client
            .call_at(&request, v)
            .unwrap_or_else(|e| panic!("v{v}: {e}"));
        assert_eq!(resp.error_code, ErrorCode::NONE, "v{v}");
        assert!(
            resp.api_keys.len() > 20,
            "v{v}: {} keys",
            resp.api_keys.len()
        );
        if v >= 3 {
            // Kafka 4 reports its finalized features in the tagged fields.
            assert!(resp.finalized_features_epoch >= 0, "v{v}: {resp:?}");
            assert!(
                resp.finalized_features
                    .iter()
                    .any(|f| f.name == "metadata.version"),
                "v{v}"
            );
        }
    }
}

/// The broker answers an ApiVersions version it does not know with a v0
/// body carrying UNSUPPORTED_VERSION and its own range, which is what the
/// connection's retry reads.
#[test]
fn unknown_api_versions_version_gets_a_v0_answer() {
    let mut s = TcpStream::connect(endpoints::kafka_addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Header v2 (flexible), version 99, client id "mq", no tagged fields,
    // and an empty flexible body (no fields, no tagged fields).
    let mut frame = BytesMut::new();
    frame.put_i16(ApiKey::API_VERSIONS.0);
    frame.put_i16(99);
    frame.put_i32(77);
    frame.put_i16(2);
    frame.put_slice(b"mq");
    frame.put_u8(0);
    frame.put_slice(&[1, 1, 0]);
    let mut out = BytesMut::new();
    out.put_i32(frame.len() as i32);
    out.put_slice(&frame);
    s.write_all(&out).unwrap();
    let mut size = [0u8; 4];
    s.read_exact(&mut size).unwrap();
    let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).unwrap();
    let mut body = Bytes::from(body);
    assert_eq!(
        body.get_i32(),
        77,
        "response header v0: just the correlation id"
    );
    let resp = ApiVersionsResponse::decode(&mut body, 0).expect("v0 body");
    assert_eq!(resp.error_code, ErrorCode::UNSUPPORTED_VERSION);
    let range = resp
        .api_keys
        .iter()
        .find(|k| k.api_key == ApiKey::API_VERSIONS)
        .expect("the broker names its ApiVersions range");
    assert_eq!((range.min_version, range.max_version.min(4)), (0, 4));
}
