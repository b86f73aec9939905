//! Idempotence against a scripted broker (the real one cannot be made to
//! lose a producer's state on demand): UNKNOWN_PRODUCER_ID and an
//! OUT_OF_ORDER_SEQUENCE_NUMBER for the next expected batch make the
//! producer bump its epoch with InitProducerId (KIP-360) and resend the
//! batch renumbered from sequence 0 under the new epoch; a duplicate is
//! taken as delivered.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use kafka_proto::api::api_versions::ApiVersion;
use kafka_proto::api::metadata::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_proto::api::produce::{PartitionProduceResponse, TopicProduceResponse};
use kafka_proto::api::{
    AnyRequest, ApiKey, ApiVersionsResponse, InitProducerIdResponse, MetadataResponse,
    ProduceResponse,
};
use kafka_proto::connection::{FrameDecoder, read_request_frame, write_response_frame};
use kafka_proto::record::{Batch, BatchReader};
use kafka_proto::{ErrorCode, Message};
use mq_client::kafka::{Producer, ProducerRecord};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A produced batch as the broker saw it: (producer id, epoch, base
/// sequence, records).
type Seen = (i64, i16, i32, i32);

#[derive(Default)]
struct Script {
    /// Error codes for the next Produce requests, in order; then NONE.
    produce_errors: Vec<ErrorCode>,
    produced: Vec<Seen>,
    init_calls: Vec<(i64, i16)>,
    next_offset: i64,
}

async fn fake_broker(script: Arc<Mutex<Script>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(serve(socket, port, script.clone()));
        }
    });
    format!("127.0.0.1:{port}")
}

async fn serve(mut socket: TcpStream, port: u16, script: Arc<Mutex<Script>>) {
    let mut frames = FrameDecoder::new(1 << 20);
    let mut inbuf = BytesMut::new();
    loop {
        while let Ok(Some(frame)) = frames.decode(&mut inbuf) {
            let (header, request) = read_request_frame(frame).expect("request");
            let (id, v) = (header.correlation_id, header.request_api_version);
            let mut out = BytesMut::new();
            match request {
                AnyRequest::ApiVersions(_) => {
                    let api = |k: ApiKey, lo: i16, hi: i16| ApiVersion {
                        api_key: k,
                        min_version: lo,
                        max_version: hi,
                        ..Default::default()
                    };
                    let body = ApiVersionsResponse {
                        api_keys: vec![
                            api(ApiKey::PRODUCE, 3, 11),
                            api(ApiKey::METADATA, 0, 12),
                            api(ApiKey::API_VERSIONS, 0, 3),
                            api(ApiKey::INIT_PRODUCER_ID, 0, 5),
                        ],
                        ..Default::default()
                    };
                    respond(&mut out, id, v, &body);
                }
                AnyRequest::Metadata(_) => {
                    let body = MetadataResponse {
                        brokers: vec![MetadataResponseBroker {
                            node_id: 1,
                            host: "127.0.0.1".into(),
                            port: i32::from(port),
                            ..Default::default()
                        }],
                        controller_id: 1,
                        cluster_id: Some("fake".into()),
                        topics: vec![MetadataResponseTopic {
                            name: Some("t".into()),
                            partitions: vec![MetadataResponsePartition {
                                partition_index: 0,
                                leader_id: 1,
                                leader_epoch: 0,
                                replica_nodes: vec![1],
                                isr_nodes: vec![1],
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        ..Default::default()
                    };
                    respond(&mut out, id, v, &body);
                }
                AnyRequest::InitProducerId(r) => {
                    let mut s = script.lock().expect("script");
                    s.init_calls.push((r.producer_id, r.producer_epoch));
                    let (pid, epoch) = if r.producer_id < 0 {
                        (1000, 0)
                    } else {
                        (r.producer_id, r.producer_epoch + 1)
                    };
                    let body = InitProducerIdResponse {
                        producer_id: pid,
                        producer_epoch: epoch,
                        ..Default::default()
                    };
                    respond(&mut out, id, v, &body);
                }
                AnyRequest::Produce(r) => {
                    let mut s = script.lock().expect("script");
                    let mut partition_responses = Vec::new();
                    for t in &r.topic_data {
                        for p in &t.partition_data {
                            let records = p.records.clone().expect("records");
                            let Some(Ok(Batch::V2(b))) = BatchReader::new(records).next() else {
                                panic!("a v2 batch");
                            };
                            s.produced.push((
                                b.producer_id(),
                                b.producer_epoch(),
                                b.base_sequence(),
                                b.record_count(),
                            ));
                            let code = if s.produce_errors.is_empty() {
                                ErrorCode::NONE
                            } else {
                                s.produce_errors.remove(0)
                            };
                            let base_offset = if code.is_ok() {
                                let o = s.next_offset;
                                s.next_offset += i64::from(b.record_count());
                                o
                            } else {
                                -1
                            };
                            partition_responses.push(PartitionProduceResponse {
                                index: p.index,
                                error_code: code,
                                base_offset,
                                ..Default::default()
                            });
                        }
                    }
                    let body = ProduceResponse {
                        responses: vec![TopicProduceResponse {
                            name: "t".into(),
                            partition_responses,
                            ..Default::default()
                        }],
                        ..Default::default()
                    };
                    respond(&mut out, id, v, &body);
                }
                other => panic!("unexpected request {:?}", other.api_key()),
            }
            if socket.write_all(&out).await.is_err() {
                return;
            }
        }
        match socket.read_buf(&mut inbuf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn respond<M: Message>(out: &mut BytesMut, id: i32, version: i16, body: &M) {
    write_response_frame(out, id, version, body).expect("response");
}

async fn producer(addr: &str) -> Producer {
    Producer::builder(addr)
        .linger(Duration::from_millis(1))
        .retry_backoff(mq_client::backoff::BackoffConfig {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
            ..Default::default()
        })
        .build()
        .await
        .expect("producer")
}

async fn send(p: &Producer, value: &str) -> i64 {
    let (partition, offset) = tokio::time::timeout(
        Duration::from_secs(10),
        p.send(ProducerRecord::new("t").value(value)),
    )
    .await
    .expect("in time")
    .expect("delivered");
    assert_eq!(partition, 0);
    offset
}

#[tokio::test]
async fn unknown_producer_id_bumps_the_epoch_and_resends_from_sequence_zero() {
    let script = Arc::new(Mutex::new(Script {
        produce_errors: vec![ErrorCode::NONE, ErrorCode::UNKNOWN_PRODUCER_ID],
        ..Default::default()
    }));
    let addr = fake_broker(script.clone()).await;
    let p = producer(&addr).await;
    assert_eq!(send(&p, "a").await, 0);
    // The broker "loses" our state: the second batch is refused, the epoch
    // is bumped, and the batch goes again as sequence 0 of epoch 1.
    assert_eq!(send(&p, "b").await, 1);
    assert_eq!(send(&p, "c").await, 2);
    p.close().await.expect("close");
    let s = script.lock().expect("script");
    assert_eq!(
        s.init_calls,
        vec![(-1, -1), (1000, 0)],
        "InitProducerId, then a bump"
    );
    assert_eq!(
        s.produced,
        vec![
            (1000, 0, 0, 1),
            (1000, 0, 1, 1),
            (1000, 1, 0, 1),
            (1000, 1, 1, 1)
        ]
    );
}

#[tokio::test]
async fn out_of_order_for_the_next_batch_bumps_and_a_duplicate_counts_as_delivered() {
    let script = Arc::new(Mutex::new(Script {
        produce_errors: vec![
            ErrorCode::NONE,
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
            ErrorCode::DUPLICATE_SEQUENCE_NUMBER,
        ],
        ..Default::default()
    }));
    let addr = fake_broker(script.clone()).await;
    let p = producer(&addr).await;
    assert_eq!(send(&p, "a").await, 0);
    // Sequence 1 is the next one expected, yet refused: the broker lost
    // the state; after the bump it is resent as sequence 0 of epoch 1, and
    // the broker says it already has it (offset unknown).
    assert_eq!(send(&p, "b").await, -1);
    assert_eq!(send(&p, "c").await, 1);
    p.close().await.expect("close");
    let s = script.lock().expect("script");
    assert_eq!(s.init_calls, vec![(-1, -1), (1000, 0)]);
    assert_eq!(
        s.produced,
        vec![
            (1000, 0, 0, 1),
            (1000, 0, 1, 1),
            (1000, 1, 0, 1),
            (1000, 1, 1, 1)
        ]
    );
}
