//! The connection against a scripted broker built from this crate's own
//! encoders (the broker's side of each message).

use super::*;
use crate::api::api_versions::ApiVersion;
use crate::api::{AnyRequest, JoinGroupRequest, MetadataRequest, MetadataResponse, ProduceRequest};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::header::RequestHeader;

mod reauthentication;
mod sasl;

fn t0() -> Instant {
    Instant::now()
}

/// Everything the connection wants to send, decoded as a broker would.
fn requests(conn: &mut Connection) -> Vec<(RequestHeader, AnyRequest)> {
    let mut out = BytesMut::new();
    conn.poll_transmit(&mut out);
    let mut frames = FrameDecoder::new(1 << 20);
    let mut got = Vec::new();
    while let Some(frame) = frames.decode(&mut out).unwrap() {
        got.push(read_request_frame(frame).unwrap());
    }
    assert!(out.is_empty(), "a partial frame was left");
    got
}

fn api(key: ApiKey, min: i16, max: i16) -> ApiVersion {
    ApiVersion {
        api_key: key,
        min_version: min,
        max_version: max,
        ..Default::default()
    }
}

fn broker_apis() -> Vec<ApiVersion> {
    vec![
        api(ApiKey::PRODUCE, 3, 14),
        api(ApiKey::FETCH, 4, 19),
        api(ApiKey::LIST_OFFSETS, 1, 5),
        api(ApiKey::METADATA, 0, 14),
        api(ApiKey::API_VERSIONS, 0, 4),
        api(ApiKey::SASL_HANDSHAKE, 0, 1),
        api(ApiKey::SASL_AUTHENTICATE, 0, 2),
    ]
}

fn reply<M: Message>(correlation_id: i32, version: i16, body: &M) -> BytesMut {
    let mut b = BytesMut::new();
    write_response_frame(&mut b, correlation_id, version, body).unwrap();
    b
}

/// Runs ApiVersions to completion with the default broker table.
fn ready_connection(config: Config, now: Instant) -> Connection {
    ready_connection_with(config, now, broker_apis())
}

/// Runs ApiVersions to completion with the given broker table.
fn ready_connection_with(config: Config, now: Instant, table: Vec<ApiVersion>) -> Connection {
    let mut conn = Connection::new(config, now);
    let reqs = requests(&mut conn);
    assert_eq!(reqs.len(), 1);
    let (h, body) = &reqs[0];
    assert_eq!(h.request_api_key, ApiKey::API_VERSIONS);
    assert_eq!(h.request_api_version, 4);
    assert!(matches!(body, AnyRequest::ApiVersions(r) if r.client_software_name == "mq-rust"));
    let resp = ApiVersionsResponse {
        api_keys: table,
        ..Default::default()
    };
    conn.handle_input(now, &mut reply(h.correlation_id, 4, &resp))
        .unwrap();
    conn
}

#[test]
fn negotiation_picks_the_highest_common_version() {
    let now = t0();
    let mut conn = ready_connection(Config::default(), now);
    assert_eq!(conn.poll_event(), Some(Event::Ready));
    assert!(conn.is_ready());
    assert_eq!(conn.version_for(ApiKey::PRODUCE), Some(13));
    assert_eq!(conn.version_for(ApiKey::FETCH), Some(18));
    assert_eq!(conn.version_for(ApiKey::METADATA), Some(13));
    assert_eq!(conn.version_for(ApiKey::LIST_OFFSETS), Some(5));
    assert_eq!(conn.version_for(ApiKey::JOIN_GROUP), None);
    assert_eq!(
        conn.send(now, &JoinGroupRequest::default()),
        Err(ConnectionError::UnsupportedApi(ApiKey::JOIN_GROUP))
    );
}

#[test]
fn no_common_version_means_unsupported() {
    let broker = ApiVersionsResponse {
        api_keys: vec![api(ApiKey::PRODUCE, 0, 2), api(ApiKey::FETCH, 19, 21)],
        ..Default::default()
    };
    let n = negotiate(&broker);
    assert_eq!(n.get(&ApiKey::PRODUCE), None);
    assert_eq!(n.get(&ApiKey::FETCH), None);
}

#[test]
fn send_before_ready_is_refused() {
    let now = t0();
    let mut conn = Connection::new(Config::default(), now);
    assert_eq!(
        conn.send(now, &MetadataRequest::default()),
        Err(ConnectionError::NotReady)
    );
}

#[test]
fn unsupported_api_versions_is_retried_at_the_brokers_version() {
    let now = t0();
    let mut conn = Connection::new(Config::default(), now);
    let (h, _) = requests(&mut conn).remove(0);
    assert_eq!(h.request_api_version, 4);
    // An older broker answers in the v0 format with its ApiVersions range.
    let v0 = ApiVersionsResponse {
        error_code: ErrorCode::UNSUPPORTED_VERSION,
        api_keys: vec![api(ApiKey::API_VERSIONS, 0, 2)],
        ..Default::default()
    };
    conn.handle_input(now, &mut reply(h.correlation_id, 0, &v0))
        .unwrap();
    assert_eq!(conn.poll_event(), None);
    let (h2, _) = requests(&mut conn).remove(0);
    assert_eq!(h2.request_api_version, 2);
    assert_ne!(h2.correlation_id, h.correlation_id);
    let ok = ApiVersionsResponse {
        api_keys: broker_apis(),
        ..Default::default()
    };
    conn.handle_input(now, &mut reply(h2.correlation_id, 2, &ok))
        .unwrap();
    assert_eq!(conn.poll_event(), Some(Event::Ready));
}

#[test]
fn unsupported_api_versions_without_a_range_retries_at_v0() {
    let now = t0();
    let mut conn = Connection::new(Config::default(), now);
    let (h, _) = requests(&mut conn).remove(0);
    let v0 = ApiVersionsResponse {
        error_code: ErrorCode::UNSUPPORTED_VERSION,
        ..Default::default()
    };
    conn.handle_input(now, &mut reply(h.correlation_id, 0, &v0))
        .unwrap();
    let (h2, _) = requests(&mut conn).remove(0);
    assert_eq!(h2.request_api_version, 0);
    // And an error at v0 is final.
    conn.handle_input(now, &mut reply(h2.correlation_id, 0, &v0))
        .unwrap_err();
    assert!(conn.is_failed());
}

#[test]
fn api_versions_error_fails_the_connection() {
    let now = t0();
    let mut conn = Connection::new(Config::default(), now);
    let (h, _) = requests(&mut conn).remove(0);
    let bad = ApiVersionsResponse {
        error_code: ErrorCode::CLUSTER_AUTHORIZATION_FAILED,
        ..Default::default()
    };
    assert_eq!(
        conn.handle_input(now, &mut reply(h.correlation_id, 4, &bad)),
        Err(ConnectionError::ApiVersions(
            ErrorCode::CLUSTER_AUTHORIZATION_FAILED
        ))
    );
    assert_eq!(
        conn.send(now, &MetadataRequest::default()),
        Err(ConnectionError::Failed)
    );
}

#[test]
fn api_versions_response_uses_header_v0_even_when_flexible() {
    let now = t0();
    let mut conn = Connection::new(Config::default(), now);
    let (h, _) = requests(&mut conn).remove(0);
    // Built by hand: size, correlation id (header v0: no tagged fields),
    // then the flexible v4 body.
    let mut body = BytesMut::new();
    ApiVersionsResponse {
        api_keys: broker_apis(),
        ..Default::default()
    }
    .encode(4, &mut body)
    .unwrap();
    let mut frame = BytesMut::new();
    frame.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    frame.extend_from_slice(&h.correlation_id.to_be_bytes());
    frame.extend_from_slice(&body);
    conn.handle_input(now, &mut frame).unwrap();
    assert_eq!(conn.poll_event(), Some(Event::Ready));
}

#[test]
fn responses_are_matched_by_correlation_id_in_any_order_and_byte_by_byte() {
    let now = t0();
    let mut conn = ready_connection(Config::default(), now);
    assert_eq!(conn.poll_event(), Some(Event::Ready));
    let a = conn.send(now, &MetadataRequest::default()).unwrap();
    let b = conn
        .send(
            now,
            &MetadataRequest {
                topics: Some(vec![]),
                ..Default::default()
            },
        )
        .unwrap();
    assert_ne!(a, b);
    assert_eq!(conn.in_flight(), 2);
    let sent = requests(&mut conn);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].0.request_api_version, 13);
    assert_eq!(sent[0].0.client_id.as_deref(), Some("mq"));
    let resp_a = MetadataResponse {
        cluster_id: Some("a".into()),
        ..Default::default()
    };
    let resp_b = MetadataResponse {
        cluster_id: Some("b".into()),
        ..Default::default()
    };
    // Answer b first, then a, fed one byte at a time.
    let mut wire = reply(b, 13, &resp_b);
    wire.extend_from_slice(&reply(a, 13, &resp_a));
    let mut inbuf = BytesMut::new();
    for byte in wire.iter() {
        inbuf.extend_from_slice(&[*byte]);
        conn.handle_input(now, &mut inbuf).unwrap();
    }
    assert!(inbuf.is_empty());
    let mut got = Vec::new();
    while let Some(Event::Response(r)) = conn.poll_event() {
        assert_eq!(r.api_key, ApiKey::METADATA);
        assert_eq!(r.api_version, 13);
        got.push((r.correlation_id, r.decode::<MetadataResponse>().unwrap()));
    }
    assert_eq!(got, vec![(b, resp_b), (a, resp_a)]);
    assert_eq!(conn.in_flight(), 0);
}

#[test]
fn unknown_correlation_id_is_a_typed_error() {
    let now = t0();
    let mut conn = ready_connection(Config::default(), now);
    let e = conn
        .handle_input(now, &mut reply(999, 12, &MetadataResponse::default()))
        .unwrap_err();
    assert_eq!(e, ConnectionError::UnknownCorrelationId(999));
    assert!(conn.is_failed());
}

#[test]
fn oversized_responses_are_refused() {
    let now = t0();
    let config = Config {
        max_response_size: 64,
        ..Config::default()
    };
    let mut conn = Connection::new(config, now);
    let mut buf = BytesMut::from(&[0, 0, 1, 0][..]);
    assert!(matches!(
        conn.handle_input(now, &mut buf),
        Err(ConnectionError::Decode(DecodeError {
            kind: DecodeErrorKind::FrameTooLarge { size: 256, max: 64 },
            ..
        }))
    ));
}

#[test]
fn requests_time_out_and_late_responses_are_dropped() {
    let now = t0();
    let config = Config {
        request_timeout: Duration::from_secs(10),
        ..Config::default()
    };
    let mut conn = ready_connection(config, now);
    assert_eq!(conn.poll_event(), Some(Event::Ready));
    let later = now + Duration::from_secs(2);
    let id = conn.send(later, &MetadataRequest::default()).unwrap();
    assert_eq!(conn.poll_timeout(), Some(later + Duration::from_secs(10)));
    conn.handle_timeout(later + Duration::from_secs(9));
    assert_eq!(conn.poll_event(), None);
    conn.handle_timeout(later + Duration::from_secs(10));
    assert_eq!(
        conn.poll_event(),
        Some(Event::RequestFailed {
            correlation_id: id,
            api_key: ApiKey::METADATA,
            error: RequestError::TimedOut,
        })
    );
    assert_eq!(conn.poll_timeout(), None);
    // The broker answers after all: dropped, not an error.
    conn.handle_input(now, &mut reply(id, 12, &MetadataResponse::default()))
        .unwrap();
    assert_eq!(conn.poll_event(), None);
    assert!(!conn.is_failed());
}

#[test]
fn per_request_timeouts() {
    let now = t0();
    let mut conn = ready_connection(Config::default(), now);
    let _ = conn.poll_event();
    let long = conn
        .send_with_timeout(now, &MetadataRequest::default(), Duration::from_secs(120))
        .unwrap();
    let short = conn
        .send_with_timeout(now, &MetadataRequest::default(), Duration::from_secs(1))
        .unwrap();
    assert_eq!(conn.poll_timeout(), Some(now + Duration::from_secs(1)));
    conn.handle_timeout(now + Duration::from_secs(60));
    assert!(matches!(
        conn.poll_event(),
        Some(Event::RequestFailed { correlation_id, .. }) if correlation_id == short
    ));
    assert_eq!(conn.poll_event(), None);
    assert_eq!(conn.poll_timeout(), Some(now + Duration::from_secs(120)));
    conn.handle_input(now, &mut reply(long, 12, &MetadataResponse::default()))
        .unwrap();
    assert!(matches!(conn.poll_event(), Some(Event::Response(r)) if r.correlation_id == long));
}

#[test]
fn setup_timeout_fails_the_connection() {
    let now = t0();
    let mut conn = Connection::new(Config::default(), now);
    let deadline = conn.poll_timeout().unwrap();
    assert_eq!(deadline, now + Duration::from_secs(30));
    conn.handle_timeout(deadline);
    assert_eq!(
        conn.poll_event(),
        Some(Event::Failed(ConnectionError::SetupTimedOut(
            ApiKey::API_VERSIONS
        )))
    );
    assert!(conn.is_failed());
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn produce_with_acks_zero_expects_no_response() {
    let now = t0();
    let mut conn = ready_connection(Config::default(), now);
    let _ = conn.poll_event();
    conn.send(
        now,
        &ProduceRequest {
            acks: 0,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(conn.in_flight(), 0);
    conn.send(
        now,
        &ProduceRequest {
            acks: -1,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(conn.in_flight(), 1);
    assert_eq!(requests(&mut conn).len(), 2);
}

#[test]
fn a_topic_without_a_known_id_keeps_produce_and_fetch_on_the_name_path() {
    use crate::api::FetchRequest;
    use crate::api::fetch::FetchTopic;
    use crate::api::produce::TopicProduceData;
    use crate::primitives::Uuid;

    let now = t0();
    let mut conn = ready_connection(Config::default(), now);
    let _ = conn.poll_event();
    let id = Uuid([7; 16]);
    let produce = |topic_id| ProduceRequest {
        acks: -1,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            topic_id,
            ..Default::default()
        }],
        ..Default::default()
    };
    let fetch = |topic_id| FetchRequest {
        topics: vec![FetchTopic {
            topic: "t".into(),
            topic_id,
            ..Default::default()
        }],
        ..Default::default()
    };
    conn.send(now, &produce(id)).unwrap();
    conn.send(now, &produce(Uuid::ZERO)).unwrap();
    conn.send(now, &fetch(id)).unwrap();
    conn.send(now, &fetch(Uuid::ZERO)).unwrap();
    let sent: Vec<(i16, AnyRequest)> = requests(&mut conn)
        .into_iter()
        .map(|(h, body)| (h.request_api_version, body))
        .collect();
    let versions: Vec<i16> = sent.iter().map(|(v, _)| *v).collect();
    assert_eq!(versions, [13, 12, 18, 12]);
    // v13 carries the id and no name; v12 the name and no id.
    match (&sent[0].1, &sent[1].1) {
        (AnyRequest::Produce(by_id), AnyRequest::Produce(by_name)) => {
            assert_eq!(
                (
                    by_id.topic_data[0].name.as_str(),
                    by_id.topic_data[0].topic_id
                ),
                ("", id)
            );
            assert_eq!(
                (
                    by_name.topic_data[0].name.as_str(),
                    by_name.topic_data[0].topic_id
                ),
                ("t", Uuid::ZERO)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_older_broker_gets_topic_names_from_the_same_request() {
    use crate::api::produce::TopicProduceData;
    use crate::primitives::Uuid;

    // Kafka 4.0's table: Produce up to v12, Fetch up to v17 (which still
    // names fetched topics by id, from v13).
    let table = vec![
        api(ApiKey::PRODUCE, 0, 12),
        api(ApiKey::FETCH, 4, 17),
        api(ApiKey::METADATA, 0, 12),
        api(ApiKey::API_VERSIONS, 0, 4),
    ];
    let now = t0();
    let mut conn = ready_connection_with(Config::default(), now, table);
    let _ = conn.poll_event();
    let request = ProduceRequest {
        acks: -1,
        topic_data: vec![TopicProduceData {
            name: "t".into(),
            topic_id: Uuid([7; 16]),
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(conn.version_to_send(&request), Ok(12));
    conn.send(now, &request).unwrap();
    let sent = requests(&mut conn);
    assert_eq!(sent[0].0.request_api_version, 12);
    match &sent[0].1 {
        AnyRequest::Produce(p) => assert_eq!(p.topic_data[0].name, "t"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_request_older_versions_cannot_say_is_not_sent_to_an_older_broker() {
    use crate::api::{ElectLeadersRequest, ListTransactionsRequest};

    // Kafka 3.7's table: ListTransactions v0 only (no duration filter),
    // and an ElectLeaders capped at v0 (always preferred).
    let table = vec![
        api(ApiKey::API_VERSIONS, 0, 4),
        api(ApiKey::LIST_TRANSACTIONS, 0, 0),
        api(ApiKey::ELECT_LEADERS, 0, 0),
    ];
    let now = t0();
    let mut conn = ready_connection_with(Config::default(), now, table);
    let _ = conn.poll_event();
    let plain = ListTransactionsRequest::default();
    assert_eq!(conn.version_to_send(&plain), Ok(0));
    let by_duration = ListTransactionsRequest {
        duration_filter: 60_000,
        ..Default::default()
    };
    let by_pattern = ListTransactionsRequest {
        transactional_id_pattern: Some("app-.*".into()),
        ..Default::default()
    };
    for request in [&by_duration, &by_pattern] {
        assert_eq!(
            conn.send(now, request),
            Err(ConnectionError::UnsupportedApi(ApiKey::LIST_TRANSACTIONS)),
            "{request:?}"
        );
    }
    let preferred = ElectLeadersRequest::default();
    assert_eq!(conn.version_to_send(&preferred), Ok(0));
    let unclean = ElectLeadersRequest {
        election_type: 1,
        ..Default::default()
    };
    assert_eq!(
        conn.send(now, &unclean),
        Err(ConnectionError::UnsupportedApi(ApiKey::ELECT_LEADERS))
    );
    assert!(requests(&mut conn).is_empty(), "nothing went out");
    // An empty pattern means no pattern (the schema's words), so v0 does.
    let empty_pattern = ListTransactionsRequest {
        transactional_id_pattern: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(conn.version_to_send(&empty_pattern), Ok(0));
}
