//! Record batches through the real broker, driving the sans-IO connection
//! over a plain TcpStream: Produce with every codec and Fetch them back,
//! and interop both ways with librdkafka (kcat) and Kafka's own Java
//! producer (`kafka-producer-perf-test`).

use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kafka_proto::api::create_topics::CreatableTopic;
use kafka_proto::api::fetch::{FetchPartition, FetchTopic};
use kafka_proto::api::produce::{PartitionProduceData, TopicProduceData};
use kafka_proto::api::{CreateTopicsRequest, FetchRequest, ProduceRequest};
use kafka_proto::compression::Compression;
use kafka_proto::record::{BatchOptions, BatchReader, RecordBatchBuilder};
use kafka_proto::{Config, ErrorCode, Uuid};
use mq_tests::kafka_wire::{self, WireClient, common_versions};
use mq_tests::tools::{check, kafka_java, kcat};
use mq_tests::{endpoints, names};

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// A message as the tests compare it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Msg {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// What a fetched batch said about itself, next to its records.
#[derive(Debug)]
struct Fetched {
    compression: Compression,
    first_offset: i64,
    msgs: Vec<Msg>,
}

fn connect() -> WireClient {
    WireClient::connect(endpoints::kafka_addr(), Config::default())
        .expect("Kafka must answer on the bootstrap port; run scripts/brokers up")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Creates a one-partition topic and returns its id once it can be fetched.
fn create_topic(client: &mut WireClient, name: &str) -> Uuid {
    // Led by the broker this client talks to, on a cluster of any size.
    let node = kafka_wire::node_id(client).expect("node id");
    let (_, resp) = client
        .call(&CreateTopicsRequest {
            topics: vec![CreatableTopic {
                name: name.to_owned(),
                num_partitions: -1,
                replication_factor: -1,
                assignments: kafka_wire::all_on(node, 1),
                ..Default::default()
            }],
            timeout_ms: 30_000,
            ..Default::default()
        })
        .expect("CreateTopics");
    let t = &resp.topics[0];
    assert_eq!(t.error_code, ErrorCode::NONE, "{t:?}");
    let id = t.topic_id;
    for _ in 0..100 {
        let (_, r) = client.call(&fetch_request(name, id, 0)).expect("Fetch");
        if r.responses[0].partitions[0].error_code == ErrorCode::NONE {
            return id;
        }
        sleep(Duration::from_millis(100));
    }
    panic!("{name} is not fetchable after 10 s");
}

fn fetch_request(topic: &str, topic_id: Uuid, offset: i64) -> FetchRequest {
    FetchRequest {
        replica_id: -1,
        max_wait_ms: 200,
        min_bytes: 1,
        max_bytes: 8 << 20,
        isolation_level: 0,
        topics: vec![FetchTopic {
            topic: topic.to_owned(),
            topic_id,
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: offset,
                partition_max_bytes: 8 << 20,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Encodes `msgs` as one batch with `codec` and produces it (acks = all).
/// Returns the base offset the broker assigned.
/// The topic is named by id (Produce v13 against Kafka 4.1+).
fn produce(
    client: &mut WireClient,
    (topic, topic_id): (&str, Uuid),
    codec: Compression,
    msgs: &[Msg],
) -> i64 {
    let options = BatchOptions {
        compression: codec,
        ..BatchOptions::default()
    };
    let mut builder = RecordBatchBuilder::with_capacity(options, 64 * 1024);
    let ts = now_ms();
    for m in msgs {
        let headers: Vec<(&str, Option<&[u8]>)> = m
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        builder
            .append_with_headers(ts, m.key.as_deref(), m.value.as_deref(), &headers)
            .expect("append");
    }
    let batch = builder.finish().expect("finish");
    let (version, resp) = client
        .call(&ProduceRequest {
            acks: -1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: topic.to_owned(),
                topic_id,
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(batch),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .expect("Produce");
    assert!(version >= 3);
    // One code path from the Kafka 4 floor up: the newest version both
    // sides support, which names the topic by id from v13.
    let newest = common_versions::<ProduceRequest>(client);
    assert_eq!(version, *newest.end());
    let t = &resp.responses[0];
    if version >= 13 {
        assert_eq!((t.name.as_str(), t.topic_id), ("", topic_id));
    } else {
        assert_eq!(t.name, topic);
    }
    let p = &resp.responses[0].partition_responses[0];
    assert_eq!(p.error_code, ErrorCode::NONE, "{codec:?}: {p:?}");
    p.base_offset
}

/// Fetches from `from` until `count` records have come, batch by batch.
fn fetch(client: &mut WireClient, topic: &str, id: Uuid, from: i64, count: usize) -> Vec<Fetched> {
    let mut out = Vec::new();
    let mut offset = from;
    let mut got = 0;
    for _ in 0..200 {
        if got >= count {
            return out;
        }
        let (_, resp) = client
            .call(&fetch_request(topic, id, offset))
            .expect("Fetch");
        let p = &resp.responses[0].partitions[0];
        assert_eq!(p.error_code, ErrorCode::NONE, "{p:?}");
        let blob = p.records.clone().unwrap_or_default();
        for batch in BatchReader::new(blob) {
            let batch = batch.expect("a whole batch decodes");
            offset = batch.next_offset();
            if batch.is_control() {
                continue;
            }
            let mut fetched = Fetched {
                compression: batch.compression(),
                first_offset: -1,
                msgs: Vec::new(),
            };
            let records = batch.records().expect("records");
            for r in records.iter() {
                let r = r.expect("record");
                if r.offset() < from {
                    continue;
                }
                if fetched.first_offset < 0 {
                    fetched.first_offset = r.offset();
                }
                fetched.msgs.push(Msg {
                    key: r.key().map(<[u8]>::to_vec),
                    value: r.value().map(<[u8]>::to_vec),
                    headers: r
                        .headers()
                        .map(|h| {
                            (
                                String::from_utf8_lossy(h.key()).into_owned(),
                                h.value().map(<[u8]>::to_vec),
                            )
                        })
                        .collect(),
                });
            }
            got += fetched.msgs.len();
            out.push(fetched);
        }
    }
    panic!("only {got} of {count} records came back from {topic}");
}

/// Compressible, varied messages: text values, a null key now and then,
/// headers with a repeated key and a null value.
fn sample(n: usize, tag: &str) -> Vec<Msg> {
    (0..n)
        .map(|i| Msg {
            key: (i % 7 != 3).then(|| format!("key-{i}").into_bytes()),
            value: Some(
                format!("{tag} order {i} for customer {} ", i % 13)
                    .repeat(3)
                    .into_bytes(),
            ),
            headers: vec![
                ("trace".to_owned(), Some(format!("t{i}").into_bytes())),
                ("dup".to_owned(), Some(b"first".to_vec())),
                ("dup".to_owned(), Some(b"second".to_vec())),
                ("empty".to_owned(), None),
            ],
        })
        .collect()
}

#[test]
fn produce_and_fetch_with_every_codec() {
    let mut client = connect();
    let topic = names::topic("proto-records");
    let id = create_topic(&mut client, &topic);
    for codec in CODECS {
        let msgs = sample(300, codec.name());
        let base = produce(&mut client, (&topic, id), codec, &msgs);
        let fetched = fetch(&mut client, &topic, id, base, msgs.len());
        let back: Vec<Msg> = fetched.iter().flat_map(|f| f.msgs.clone()).collect();
        assert_eq!(back.len(), msgs.len(), "{codec:?}");
        assert_eq!(back, msgs, "{codec:?}: what came back differs");
        assert_eq!(fetched[0].first_offset, base);
        for f in &fetched {
            assert_eq!(f.compression, codec, "the broker kept the producer's codec");
        }
    }
}

#[test]
fn kcat_reads_the_batches_we_produce() {
    let mut client = connect();
    for codec in CODECS {
        let topic = names::topic("proto-to-kcat");
        let id = create_topic(&mut client, &topic);
        let msgs: Vec<Msg> = (0..50)
            .map(|i| Msg {
                key: Some(format!("k{i}").into_bytes()),
                value: Some(format!("value {i} via {}", codec.name()).into_bytes()),
                headers: vec![
                    ("h".to_owned(), Some(format!("x{i}").into_bytes())),
                    ("h".to_owned(), Some(b"again".to_vec())),
                ],
            })
            .collect();
        produce(&mut client, (&topic, id), codec, &msgs);
        let out = kcat(
            &[
                "-C",
                "-b",
                &endpoints::kafka_bootstrap(),
                "-t",
                &topic,
                "-o",
                "beginning",
                "-e",
                "-q",
                "-f",
                "%k|%s|%h\n",
            ],
            b"",
        );
        check("kcat -C", &out);
        let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        let expected: Vec<String> = (0..50)
            .map(|i| format!("k{i}|value {i} via {}|h=x{i},h=again", codec.name()))
            .collect();
        assert_eq!(lines, expected, "{codec:?}");
    }
}

#[test]
fn we_read_what_kcat_produces_with_every_codec() {
    let mut client = connect();
    for codec in CODECS {
        let topic = names::topic("proto-from-kcat");
        let id = create_topic(&mut client, &topic);
        let input: String = (0..200)
            .map(|i| {
                format!(
                    "key-{i}\tlibrdkafka wrote message {i} {}\n",
                    "pad ".repeat(10)
                )
            })
            .collect();
        let out = kcat(
            &[
                "-P",
                "-b",
                &endpoints::kafka_bootstrap(),
                "-t",
                &topic,
                "-z",
                codec.name(),
                "-K",
                "\t",
                "-H",
                "source=kcat",
                "-H",
                "source=librdkafka",
                "-X",
                "linger.ms=50",
            ],
            input.as_bytes(),
        );
        check("kcat -P", &out);
        let fetched = fetch(&mut client, &topic, id, 0, 200);
        let msgs: Vec<Msg> = fetched.iter().flat_map(|f| f.msgs.clone()).collect();
        assert_eq!(msgs.len(), 200, "{codec:?}");
        for (i, m) in msgs.iter().enumerate() {
            assert_eq!(m.key.as_deref(), Some(format!("key-{i}").as_bytes()));
            let value = format!("librdkafka wrote message {i} {}", "pad ".repeat(10));
            assert_eq!(m.value.as_deref(), Some(value.as_bytes()));
            assert_eq!(
                m.headers,
                vec![
                    ("source".to_owned(), Some(b"kcat".to_vec())),
                    ("source".to_owned(), Some(b"librdkafka".to_vec())),
                ],
                "repeated header keys keep their order"
            );
        }
        assert!(
            fetched.iter().all(|f| f.compression == codec),
            "{codec:?}: kcat's batches came back as {:?}",
            fetched.iter().map(|f| f.compression).collect::<Vec<_>>()
        );
    }
}

#[test]
fn we_read_what_kafkas_java_producer_writes_with_every_codec() {
    let mut client = connect();
    let topics: Vec<(Compression, String, Uuid)> = CODECS
        .iter()
        .map(|&codec| {
            let topic = names::topic("proto-from-java");
            let id = create_topic(&mut client, &topic);
            (codec, topic, id)
        })
        .collect();
    // One JVM per codec, all at once: JVM start-up dominates.
    let runs: Vec<_> = topics
        .iter()
        .map(|(codec, topic, _)| {
            let topic = topic.clone();
            let codec = *codec;
            std::thread::spawn(move || {
                kafka_java(
                    "org.apache.kafka.tools.ProducerPerformance",
                    &[
                        "--topic",
                        &topic,
                        "--num-records",
                        "2000",
                        "--record-size",
                        "100",
                        "--throughput",
                        "-1",
                        "--producer-props",
                        &format!("bootstrap.servers={}", endpoints::kafka_bootstrap()),
                        &format!("compression.type={}", codec.name()),
                        "acks=all",
                        "linger.ms=20",
                    ],
                )
            })
        })
        .collect();
    for ((codec, topic, id), run) in topics.iter().zip(runs) {
        let out = run.join().expect("java thread");
        check("kafka-producer-perf-test", &out);
        let fetched = fetch(&mut client, topic, *id, 0, 2000);
        let msgs: Vec<&Msg> = fetched.iter().flat_map(|f| &f.msgs).collect();
        assert_eq!(msgs.len(), 2000, "{codec:?}");
        assert!(msgs.iter().all(|m| m.key.is_none()));
        assert!(
            msgs.iter()
                .all(|m| m.value.as_ref().is_some_and(|v| v.len() == 100)),
            "{codec:?}: every value is 100 bytes"
        );
        assert!(
            fetched.iter().all(|f| f.compression == *codec),
            "{codec:?}: Java's batches came back as {:?}",
            fetched.iter().map(|f| f.compression).collect::<Vec<_>>()
        );
    }
    // Offsets are dense from 0: nothing skipped between batches.
    let fetched = fetch(&mut client, &topics[0].1, topics[0].2, 0, 2000);
    assert_eq!(fetched[0].first_offset, 0);
}
