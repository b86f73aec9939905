//! `mq decode kafka` decodes every version of every API `kafka_proto`
//! implements, requests and responses: one stream holds a request and its
//! response at each version (each with an id of its own), and none is shown
//! raw. The topic-id versions (Produce v13, Fetch v18) carry ids and a
//! tagged field that differs from its default, so those are walked too.

use std::collections::BTreeSet;

use assert_cmd::Command;
use bytes::BytesMut;
use kafka_proto::Request;
use kafka_proto::Uuid;
use kafka_proto::api::fetch::{FetchPartition, FetchTopic};
use kafka_proto::api::produce::{PartitionProduceData, TopicProduceData};
use kafka_proto::api::*;
use kafka_proto::connection::{write_request_frame, write_response_frame};

/// Frames written so far, and what the output must then show.
#[derive(Default)]
struct Stream {
    bytes: BytesMut,
    next_id: i32,
    expected: Vec<String>,
    versions: BTreeSet<(&'static str, i16)>,
}

impl Stream {
    /// A request and its response, at `version`.
    fn pair<R: Request>(&mut self, request: &R, response: &R::Response, version: i16) {
        let id = self.next_id;
        self.next_id += 1;
        let name = R::API_KEY.name();
        write_request_frame(&mut self.bytes, id, Some("t"), version, request)
            .unwrap_or_else(|e| panic!("{name} v{version} request: {e}"));
        write_response_frame(&mut self.bytes, id, version, response)
            .unwrap_or_else(|e| panic!("{name} v{version} response: {e}"));
        self.expected
            .push(format!("request {name} v{version}, correlation id {id}, "));
        self.expected
            .push(format!("response {name} v{version}, correlation id {id} ("));
        self.versions.insert((name, version));
    }

    /// Default values at every version whose encoding they fit (a few
    /// defaults are null where an old version allows no null).
    fn every_version<R: Request>(&mut self) {
        self.every_version_of(R::default());
    }

    /// `req`, and a default response, at every version they fit.
    fn every_version_of<R: Request>(&mut self, req: R) {
        for version in R::MIN_VERSION..=R::MAX_VERSION {
            let resp = R::Response::default();
            let fits = req.encode(version, &mut BytesMut::new()).is_ok()
                && resp.encode(version, &mut BytesMut::new()).is_ok();
            if fits {
                self.pair(&req, &resp, version);
            }
        }
    }
}

fn all_versions(s: &mut Stream) {
    // acks = 0 would have no response.
    s.every_version_of(ProduceRequest {
        acks: -1,
        ..Default::default()
    });
    s.every_version::<FetchRequest>();
    s.every_version::<ListOffsetsRequest>();
    s.every_version::<MetadataRequest>();
    s.every_version::<OffsetCommitRequest>();
    s.every_version::<OffsetFetchRequest>();
    s.every_version::<FindCoordinatorRequest>();
    s.every_version::<JoinGroupRequest>();
    s.every_version::<HeartbeatRequest>();
    s.every_version::<LeaveGroupRequest>();
    s.every_version::<SyncGroupRequest>();
    s.every_version::<DescribeGroupsRequest>();
    s.every_version::<ListGroupsRequest>();
    s.every_version::<SaslHandshakeRequest>();
    s.every_version::<ApiVersionsRequest>();
    s.every_version::<CreateTopicsRequest>();
    s.every_version::<DeleteTopicsRequest>();
    s.every_version::<DeleteRecordsRequest>();
    s.every_version::<InitProducerIdRequest>();
    s.every_version::<OffsetForLeaderEpochRequest>();
    s.every_version::<DescribeConfigsRequest>();
    s.every_version::<SaslAuthenticateRequest>();
    s.every_version::<CreatePartitionsRequest>();
    s.every_version::<DeleteGroupsRequest>();
    s.every_version::<IncrementalAlterConfigsRequest>();
    s.every_version::<OffsetDeleteRequest>();
    s.every_version::<AddPartitionsToTxnRequest>();
    s.every_version::<AddOffsetsToTxnRequest>();
    s.every_version::<EndTxnRequest>();
    s.every_version::<TxnOffsetCommitRequest>();
    s.every_version::<DescribeAclsRequest>();
    s.every_version::<CreateAclsRequest>();
    s.every_version::<DeleteAclsRequest>();
    s.every_version::<ConsumerGroupDescribeRequest>();
    s.every_version::<ConsumerGroupHeartbeatRequest>();
    s.every_version::<GetTelemetrySubscriptionsRequest>();
    s.every_version::<PushTelemetryRequest>();
    s.every_version::<DescribeLogDirsRequest>();
    s.every_version::<ElectLeadersRequest>();
    s.every_version::<AlterPartitionReassignmentsRequest>();
    s.every_version::<ListPartitionReassignmentsRequest>();
    s.every_version::<DescribeUserScramCredentialsRequest>();
    s.every_version::<AlterUserScramCredentialsRequest>();
    s.every_version::<DescribeProducersRequest>();
    s.every_version::<DescribeTransactionsRequest>();
    s.every_version::<ListTransactionsRequest>();
    s.every_version::<ShareGroupHeartbeatRequest>();
    s.every_version::<ShareGroupDescribeRequest>();
    s.every_version::<ShareFetchRequest>();
    s.every_version::<ShareAcknowledgeRequest>();
}

#[test]
fn every_implemented_version_decodes() {
    let mut s = Stream::default();
    all_versions(&mut s);
    // Defaults that are null where old versions allow no null.
    s.pair(
        &MetadataRequest {
            topics: Some(Vec::new()),
            ..Default::default()
        },
        &MetadataResponse::default(),
        0,
    );
    s.pair(
        &OffsetFetchRequest {
            topics: Some(Vec::new()),
            ..Default::default()
        },
        &OffsetFetchResponse::default(),
        1,
    );
    for version in 0..=6 {
        let response = JoinGroupResponse {
            protocol_name: Some(String::new()),
            ..Default::default()
        };
        s.pair(&JoinGroupRequest::default(), &response, version);
    }
    // Now every supported version of every API is in the stream.
    let missing: Vec<String> = SUPPORTED_APIS
        .iter()
        .flat_map(|a| (a.min_version..=a.max_version).map(move |v| (a.api_key.name(), v)))
        .filter(|k| !s.versions.contains(k))
        .map(|(a, v)| format!("{a} v{v}"))
        .collect();
    assert_eq!(missing, Vec::<String>::new());
    assert_eq!(SUPPORTED_APIS.len(), 50);
    assert_eq!(s.versions.len(), 228);
    for (api, version) in [("Produce", 13), ("Fetch", 18), ("Metadata", 13)] {
        assert!(s.versions.contains(&(api, version)), "{api} v{version}");
    }

    // The topic-id versions, with ids and a tagged field set.
    let id = Uuid([0xab; 16]);
    let produce = ProduceRequest {
        acks: -1,
        topic_data: vec![TopicProduceData {
            topic_id: id,
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: None,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    s.pair(&produce, &ProduceResponse::default(), 13);
    let fetch = FetchRequest {
        topics: vec![FetchTopic {
            topic_id: id,
            partitions: vec![FetchPartition {
                high_watermark: 42,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    s.pair(&fetch, &FetchResponse::default(), 18);

    let out = Command::new(env!("CARGO_BIN_EXE_mq"))
        .args(["decode", "kafka"])
        .write_stdin(s.bytes.to_vec())
        .output()
        .expect("mq runs");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert!(!stdout.contains("body not decoded"), "{stdout}");
    for e in &s.expected {
        assert!(stdout.contains(e.as_str()), "no {e:?} in the output");
    }
    assert!(stdout.contains("topic_id: abababab-abab-abab-abab-abababababab"));
    assert!(stdout.contains("high_watermark (tag 1): 42"), "{stdout}");
}
